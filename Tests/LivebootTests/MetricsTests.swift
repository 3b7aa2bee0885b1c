import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IDRACSimulator
import LivebootCore
import LivebootServer
import Logging
import PortalStore
import XCTest

/// `GET /metrics`: the Prometheus text format, what operators need (operations, time to ready, BMC requests by node,
/// status rounds), open to loopback only or to a bearer token, never a secret in it.
final class MetricsTests: XCTestCase {
    var testbed: Testbed!
    let password = "a-long-enough-password"

    override func setUp() async throws {
        testbed = try Testbed()
        try await testbed.start([("w1", .fast)])
        try await testbed.seedPeople(password: password)
    }

    override func tearDown() async throws { await testbed.stop() }

    func app(extraPortal: String = "") async throws -> some ApplicationProtocol {
        if !extraPortal.isEmpty {
            let yaml = try String(contentsOfFile: testbed.configPath, encoding: .utf8)
            try yaml.replacingOccurrences(of: "portal: {", with: "portal: {\(extraPortal), ")
                .write(toFile: testbed.configPath, atomically: true, encoding: .utf8)
        }
        let config = try LivebootConfig.load(path: testbed.configPath)
        return try await LivebootServer.buildApplication(config: config, options: Testbed.serveOptions(), logger: Logger(label: "test-portal"))
    }

    func testABootShowsInTheMetricsOnLoopback() async throws {
        let password = self.password
        try await app().test(.live) { client in
            let alice = PortalClient(client)
            assertStatus(try await alice.login("alice", password), 303)
            _ = try await alice.get("/nodes/w1")
            let started = try await alice.post("/nodes/w1/liveboot", [("image", "u22")])
            let id = try XCTUnwrap(started.headers[.location]?.split(separator: "=").last.map(String.init))
            let events = try await alice.get("/operations/\(id)/events")
            XCTAssertTrue(events.body.contains(#""state":"succeeded""#), events.body)

            let metrics = try await PortalClient(client).get("/metrics")
            XCTAssertEqual(metrics.code, 200, metrics.body)
            XCTAssertTrue(metrics.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = metrics.body
            XCTAssertTrue(text.contains(#"liveboot_operations_total{kind="liveboot",result="succeeded"}"#), text)
            XCTAssertTrue(text.contains("liveboot_time_to_ready_seconds_bucket"), text)
            XCTAssertNotNil(text.range(of: #"liveboot_bmc_requests_total\{node="w1",method="POST",status="20[14]"\} [1-9]"#,
                                       options: .regularExpression), text)
            XCTAssertTrue(text.contains("liveboot_bmc_request_duration_seconds_bucket"), text)
            // Each step of the boot lasted until the next: counted by action and step kind.
            for step in ["slotWaiting", "waitingForLiveSession", "liveSessionReported", "ready"] {
                XCTAssertNotNil(text.range(of: #"liveboot_step_duration_seconds_count\{action="liveboot",step="\#(step)"\} [1-9]"#,
                                           options: .regularExpression), "\(step): \(text)")
            }
            // What the BMC read over virtual media: the image by its file, every seed as one line.
            XCTAssertNotNil(text.range(of: #"liveboot_vmedia_bytes_total\{medium="ubuntu-22.04-liveboot.iso"\} [1-9][0-9]{4,}"#,
                                       options: .regularExpression), text)
            XCTAssertNotNil(text.range(of: #"liveboot_vmedia_bytes_total\{medium="seeds"\} [1-9][0-9]{3,}"#,
                                       options: .regularExpression), text)
            XCTAssertNotNil(text.range(of: #"liveboot_vmedia_active_streams\{medium="ubuntu-22.04-liveboot.iso"\} 0"#,
                                       options: .regularExpression), "no answer is being sent any more: \(text)")
            XCTAssertFalse(text.contains(Testbed.password), "a BMC password in the metrics")
        }
    }

    func testMetricsNeedLoopbackOrTheToken() async throws {
        // Router tests have no peer address: not loopback.
        try await app().test(.router) { client in
            let refused = try await PortalClient(client).get("/metrics")
            XCTAssertEqual(refused.code, 403, refused.body)
            XCTAssertTrue(refused.body.contains("loopback only"), refused.body)
        }
        let token = "metrics-0123456789abcdef"
        try await app(extraPortal: "metrics-token: \(token)").test(.live) { client in
            let anonymous = try await PortalClient(client).get("/metrics")
            XCTAssertEqual(anonymous.code, 401, "a token is set: loopback is not enough")
            let wrong = try await PortalClient(client).send(.get, "/metrics", headers: [.authorization: "Bearer metrics-0123456789abcdeX"])
            XCTAssertEqual(wrong.code, 401)
            let right = try await PortalClient(client).send(.get, "/metrics", headers: [.authorization: "Bearer \(token)"])
            XCTAssertEqual(right.code, 200, right.body)
            XCTAssertFalse(right.body.contains(token))
        }
    }
}
