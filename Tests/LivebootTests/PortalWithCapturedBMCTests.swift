import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LivebootCore
import LivebootServer
import Logging
import PortalStore
import XCTest

/// The portal through its one seam, `buildApplication`, given its repositories and a BMC factory: no simulator, no
/// server socket for the BMC — a node's BMC answers from the captured iDRAC 9.
final class PortalWithCapturedBMCTests: XCTestCase {
    func testANodePageAndTheAPIReadTheCapturedIDRAC() async throws {
        _ = try Fixtures.folder(Fixtures.dell)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("captured-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("images"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try LivebootConfig.parse("""
            nodes:
              r750: {hostname: "127.0.0.1:1", drac: "https://captured.invalid", drac-password: never-shown}
            images: {proto: http, ip: 127.0.0.1, port: 0, path: images, absolute-path: \(folder.path)/images}
            authorized-keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMXl/wzGybfXj2lMrWlB6k89taQ4ufIbSzJGzgqzivmX admin@gatekeeper"]
            timing: {probe: 0.2, connect: 0.5}
            """, path: folder.appendingPathComponent("liveboot.yaml").path)
        let database = try PortalDatabase(path: folder.appendingPathComponent("portal.sqlite").path, bcryptCost: 4)
        let admin = try await database.createUser(name: "root-admin", password: "a-long-password", isAdmin: true)
        let token = try await database.issueAPIToken(for: admin).token
        let bmc = CapturedBMC(fixture: Fixtures.dell)
        let app = try await LivebootServer.buildApplication(config: config, options: Testbed.serveOptions(), logger: Logger(label: "test"),
                                                            repositories: database, bmcs: { _ in bmc })
        try await app.test(.router) { client in
            let answer = try await client.execute(uri: "/api/v1/nodes/r750", method: .get,
                                                  headers: [.authorization: "Bearer \(token)"])
            XCTAssertEqual(answer.status, .ok)
            let body = String(buffer: answer.body)
            let status = try JSONDecoder().decode(NodeAnswer.self, from: Data(body.utf8)).status
            XCTAssertEqual(status.power, "On", body)
            XCTAssertEqual(status.vmedia.map(\.id), ["1", "2"], body)
            XCTAssertNil(status.error, body)
            XCTAssertFalse(body.contains("never-shown"), "a BMC password in the API")
        }
        XCTAssertTrue(bmc.sent("GET").contains { $0.path.hasPrefix("/redfish/v1/Systems/System.Embedded.1") })
        XCTAssertTrue(bmc.sent("DELETE").contains { $0.path.hasPrefix("/redfish/v1/SessionService/Sessions/") }, "the session is closed")
    }

    struct NodeAnswer: Decodable {
        struct Status: Decodable {
            struct Slot: Decodable { let id: String }
            let power: String?
            let vmedia: [Slot]
            let error: String?
        }
        let status: Status
    }
}
