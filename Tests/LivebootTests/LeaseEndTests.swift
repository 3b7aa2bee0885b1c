import Foundation
import Hummingbird
import HummingbirdTesting
import IDRACSimulator
import LivebootCore
import LivebootServer
import Logging
import PortalStore
import XCTest

/// The end of a lease, driven by the testbed's clock (moved, not slept through): the node comes back clean, the
/// former slice loses it, and nothing is lost when the BMC is down or the server is stopped across the end.
final class LeaseEndTests: XCTestCase {
    var testbed: Testbed!
    let password = "a-long-enough-password"

    override func setUp() async throws {
        testbed = try Testbed()
        testbed.leaseCheckInterval = .seconds(3600)
    }

    override func tearDown() async throws { await testbed.stop() }

    /// The portal as a test drives it, on the testbed's clock: it runs the operations and returns the nodes (the
    /// testbed's server, which serves the media and receives the reports, leaves the returns to it).
    func makeApp() async throws -> some ApplicationProtocol {
        let config = try LivebootConfig.load(path: testbed.configPath)
        var options = Testbed.serveOptions()
        options.clock = testbed.clock
        options.leaseCheckInterval = .milliseconds(100)
        return try await LivebootServer.buildApplication(config: config, options: options, logger: Logger(label: "test-portal"))
    }

    /// Polls the lease until `done`, for at most `seconds`.
    static func lease(_ id: Int64, of testbed: Testbed, within seconds: Double = 30, until done: (LeaseView) -> Bool) async throws -> LeaseView {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while true {
            let found = try await testbed.portalDatabase().lease(id: id)
            let lease = try XCTUnwrap(found)
            if done(lease) { return lease }
            guard ContinuousClock.now < deadline else {
                XCTFail("lease #\(id) not as expected within \(seconds) s: \(lease)")
                return lease
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    static func operations(of node: String, in testbed: Testbed) async throws -> [NodeOperation] {
        try await testbed.portalDatabase().operations(node: node, limit: 20)
    }

    /// A lease ends while its slice's live boot is still waiting: the boot is cut (recorded as such), the node's media
    /// are ejected and it boots its disk, the live session's keys are no longer offered, the former slice can no
    /// longer act, and the audit says who did what when.
    func testALeaseEndCutsTheBootAndReturnsTheNode() async throws {
        try await testbed.start([("w1", SimulatorBehaviour.fast.with { $0.sshDelay = 60 })])
        try await testbed.seedPeople(password: password)
        let (password, testbed) = (self.password, self.testbed!)
        try await makeApp().test(.router) { client in
            let alice = PortalClient(client)
            assertStatus(try await alice.login("alice", password), 303)
            _ = try await alice.get("/nodes/w1")
            let started = try await alice.post("/nodes/w1/liveboot", [("image", "u22")])
            let boot = try XCTUnwrap(started.headers[.location]?.split(separator: "=").last.flatMap { Int64(String($0)) })
            // The boot is waiting for its session (ssh comes only after a minute) when the hour is up.
            let waiting = ContinuousClock.now + .seconds(20)
            while try await testbed.portalDatabase().steps(of: boot).contains(where: { $0.message.hasPrefix("waiting for the live session") }) == false {
                guard ContinuousClock.now < waiting else { return XCTFail("the boot never got to its wait") }
                try await Task.sleep(for: .milliseconds(100))
            }
            testbed.clock.advance(by: 3600)
            let returned = try await Self.lease(1, of: testbed) { $0.returnedAt != nil }
            XCTAssertEqual(returned.returnAttempts, 0)

            let cutFound = try await testbed.portalDatabase().operation(id: boot)
            let cut = try XCTUnwrap(cutFound)
            XCTAssertEqual(cut.state, .interrupted)
            XCTAssertEqual(cut.message, "cut: the lease of slice radio ended")
            let releaseFound = try await Self.operations(of: "w1", in: testbed).first
            let release = try XCTUnwrap(releaseFound)
            XCTAssertEqual(release.kind, "release")
            XCTAssertEqual(release.state, .succeeded, release.message ?? "")
            XCTAssertEqual(release.slice, "radio")
            let steps = try await testbed.portalDatabase().steps(of: release.id!).map(\.message)
            XCTAssertEqual(steps.first, "the lease ended: returning the node")
            XCTAssertTrue(steps.contains { $0.hasPrefix("one-time boot on the disk") }, "\(steps)")

            let state = try await testbed.state("w1")
            XCTAssertEqual(state.slots.values.compactMap { $0 }, [], "every slot ejected: \(state.slots)")
            // The power cycle is asked for; the node comes up from its disk a moment later.
            var mode = state.boots.last?.mode
            for _ in 0..<50 where mode != "disk" {
                try await Task.sleep(for: .milliseconds(100))
                mode = try await testbed.state("w1").boots.last?.mode
            }
            XCTAssertEqual(mode, "disk")
            let latest = try await testbed.portalDatabase().latestBoot(of: "w1")
            XCTAssertEqual(latest?.hasEnded, true, "the live session is over: its host keys are not offered")

            // Alice's slice no longer holds w1.
            _ = try await alice.get("/nodes/w1")
            let refused = try await alice.post("/nodes/w1/on")
            XCTAssertEqual(refused.code, 403)
            let audit = try await testbed.portalDatabase().auditEntries(limit: 50)
            XCTAssertTrue(audit.contains { $0.user == LeaseEndPolicy.actor && $0.node == "w1" && $0.action == "return after lease #1"
                && $0.result.hasPrefix("ok: returned: media ejected, booting its disk") }, "\(audit)")
            XCTAssertTrue(audit.contains { $0.user == "alice" && $0.action == "on" && $0.result.hasPrefix("refused") })
        }
    }

    /// The BMC is down when the lease ends: the return fails, is tried again with backoff, and the next holder
    /// is told the node is being returned (with why) until it is; then the return is done and the next holder acts.
    func testAReturnWhileTheBMCIsDownIsRetriedAndTheNextHolderWaits() async throws {
        try await testbed.start([("w1", .fast)], extraYAML: "leases: {on-end: diskboot, retry-seconds: 0.5}\n")
        try await testbed.seedPeople(password: password)
        let database = try testbed.portalDatabase()
        let opticsFound = try await database.slice(named: "optics")
        let optics = try XCTUnwrap(opticsFound)
        let now = testbed.clock.now
        // Back to back: optics holds w1 from the end of radio's lease.
        let radioFound = try await database.leases(endingAfter: now).first
        let radio = try XCTUnwrap(radioFound)
        _ = try await database.book(node: "w1", for: optics, from: radio.endsAt, to: radio.endsAt + 3600, by: "ada")
        let nodeFound = await testbed.simulator.node("w1")
        let node = try XCTUnwrap(nodeFound)
        await node.setOutage(true)
        let (password, testbed) = (self.password, self.testbed!)
        try await makeApp().test(.router) { client in
            testbed.clock.advance(by: radio.endsAt.timeIntervalSince(now) + 1)
            let failed = try await Self.lease(radio.id, of: testbed, within: 60) { $0.returnAttempts >= 1 }
            XCTAssertNil(failed.returnedAt)
            XCTAssertTrue(failed.returnError?.contains("503") == true, failed.returnError ?? "")
            XCTAssertNotNil(failed.returnRetryAt)
            let bob = PortalClient(client)
            assertStatus(try await bob.login("bob", password), 303)
            _ = try await bob.get("/nodes/w1")
            let early = try await bob.post("/nodes/w1/on")
            XCTAssertEqual(early.code, 409)
            XCTAssertTrue(early.body.contains("w1 is being returned after the lease of slice radio ended"), early.body)
            // The dashboard and the node page say so, with why.
            let dashboard = try await bob.get("/fragments/nodes")
            XCTAssertTrue(dashboard.body.contains("being returned</span>"), dashboard.body)
            let page = try await bob.get("/nodes/w1")
            XCTAssertTrue(page.body.contains(#"<p class="flash ko" id="returning">w1 is being returned"#), page.body)

            await node.setOutage(false)
            let returned = try await Self.lease(radio.id, of: testbed, within: 60) { $0.returnedAt != nil }
            XCTAssertGreaterThanOrEqual(returned.returnAttempts, 1)
            XCTAssertNil(returned.returnError)
            _ = try await bob.get("/nodes/w1")
            let accepted = try await bob.post("/nodes/w1/on")
            XCTAssertEqual(accepted.code, 303, accepted.body)
            let audit = try await testbed.portalDatabase().auditEntries(limit: 50)
            XCTAssertTrue(audit.contains { $0.action == "return after lease #\(radio.id)" && $0.result.hasPrefix("failed (attempt 1") })
            XCTAssertTrue(audit.contains { $0.action == "return after lease #\(radio.id)" && $0.result.hasPrefix("ok") })
        }
    }

    /// The server is stopped when the lease ends: the return is owed in the database and done at the next start.
    /// Cancelling a current lease ends it now: its node is returned the same way.
    func testAnEndWhileTheServerIsStoppedIsHandledAtStartAndACancelReturnsToo() async throws {
        try await testbed.start([("w1", .fast), ("w2", .fast)], extraYAML: "leases: {on-end: \"off\"}\n")
        try await testbed.seedPeople(password: password)
        let database = try testbed.portalDatabase()
        let radioFound = try await database.slice(named: "radio")
        let radio = try XCTUnwrap(radioFound)
        let second = try await database.book(node: "w2", for: radio, from: testbed.clock.now - 60, to: testbed.clock.now + 7200, by: "ada")
        // No portal runs when radio's lease on w1 ends: the return is owed, in the database.
        testbed.clock.advance(by: 3601)
        let owed = try await database.leasesToReturn(at: testbed.clock.now)
        XCTAssertEqual(owed.map(\.node), ["w1"])

        let (password, testbed) = (self.password, self.testbed!)
        try await makeApp().test(.router) { client in
            // The first round after the start returns it.
            _ = try await Self.lease(1, of: testbed) { $0.returnedAt != nil }
            let w1 = try await testbed.state("w1")
            XCTAssertEqual(w1.power, "Off", "leases.on-end: off")

            let alice = PortalClient(client)
            assertStatus(try await alice.login("alice", password), 303)
            _ = try await alice.get("/leases")
            let cancelled = try await alice.post("/leases/\(second.id!)/cancel")
            XCTAssertEqual(cancelled.code, 303, cancelled.body)
            let ended = try await Self.lease(second.id!, of: testbed) { $0.returnedAt != nil }
            XCTAssertLessThanOrEqual(ended.endsAt, testbed.clock.now)
            let w2 = try await testbed.state("w2")
            XCTAssertEqual(w2.power, "Off")
        }
    }
}
