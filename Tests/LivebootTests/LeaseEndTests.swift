import Foundation
import Hummingbird
import HummingbirdTesting
import IDRACSimulator
import LivebootCore
@testable import LivebootServer
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

/// A lease about to end is said so (node page, dashboard, slice page, API, `lb status`), and its holder extends it
/// within the booking rules — from the portal, the API and `lb admin lease --extend` — never over the next holder.
final class LeaseExtensionTests: XCTestCase {
    var testbed: Testbed!
    let password = "a-long-enough-password"

    override func setUp() async throws {
        testbed = try Testbed()
        try await testbed.start([("w1", .fast), ("w2", .fast)])
        try await testbed.seedPeople(password: password)
    }

    override func tearDown() async throws { await testbed.stop() }

    func testAnEndingLeaseIsSaidAndItsHolderExtendsIt() async throws {
        let config = try LivebootConfig.load(path: testbed.configPath)
        var options = Testbed.serveOptions()
        options.clock = testbed.clock
        let app = try await LivebootServer.buildApplication(config: config, options: options, logger: Logger(label: "test-portal"))
        // Radio's lease of w1 (1 h from a minute ago) has 10 minutes left.
        testbed.clock.advance(by: 3600 - 600)
        let (password, testbed) = (self.password, self.testbed!)
        try await app.test(.router) { client in
            let alice = PortalClient(client)
            assertStatus(try await alice.login("alice", password), 303)
            let page = try await alice.get("/nodes/w1")
            XCTAssertTrue(page.body.contains("The lease of slice radio ends in <strong>10 min</strong>"), page.body)
            XCTAssertTrue(page.body.contains(#"action="/leases/1/extend""#), "the holder may extend it")
            let rows = try await alice.get("/fragments/nodes")
            XCTAssertTrue(rows.body.contains(#"<small class="ending">ends in 10 min</small>"#), rows.body)
            let slice = try await alice.get("/slices/radio")
            XCTAssertTrue(slice.body.contains(#"<a href="/nodes/w1">w1</a>"#) && slice.body.contains(#"<span class="badge na">ending</span>"#), slice.body)

            // The Leases page draws it, and a free stretch prefills the form.
            let leasesPage = try await alice.get("/leases")
            XCTAssertTrue(leasesPage.body.contains(#"<g class="row" data-node="w1">"#), leasesPage.body)
            XCTAssertTrue(leasesPage.body.contains(#"<rect class="lease mine""#), leasesPage.body)
            let link = try XCTUnwrap(leasesPage.body.range(of: #"/leases\?node=w2&amp;start=[0-9T:-]+#book"#, options: .regularExpression))
            let prefilled = try await alice.get(String(leasesPage.body[link]).replacingOccurrences(of: "&amp;", with: "&"))
            XCTAssertTrue(prefilled.body.contains("<option selected>w2</option>"), prefilled.body)
            XCTAssertTrue(prefilled.body.contains(#"name="start" type="datetime-local" value="20"#), prefilled.body)

            let extended = try await alice.post("/leases/1/extend", [("hours", "2"), ("back", "/slices/radio")])
            XCTAssertEqual(extended.code, 303, extended.body)
            XCTAssertEqual(extended.headers[.location], "/slices/radio")
            let now = testbed.clock.now
            let leaseFound = try await testbed.portalDatabase().lease(id: 1)
            let lease = try XCTUnwrap(leaseFound)
            XCTAssertEqual(lease.endsAt.timeIntervalSince(now), 2 * 3600 + 600, accuracy: 5)
            let calm = try await alice.get("/nodes/w1")
            XCTAssertFalse(calm.body.contains("ends in <strong>"), "2 h 10 min left is not ending")
            // Members hold a node at most 8 hours from now.
            let greedy = try await alice.post("/leases/1/extend", [("hours", "6")])
            XCTAssertEqual(greedy.code, 403)
            XCTAssertTrue(greedy.body.contains("would hold w1 for more than 8 hours from now"), greedy.body)
            // Another slice's lease: refused.
            let bob = PortalClient(client)
            assertStatus(try await bob.login("bob", password), 303)
            _ = try await bob.get("/nodes/w2")
            assertStatus(try await bob.post("/leases/1/extend", [("hours", "1")]), 403)

            // The API: the lease with the node, then PATCH; over the next holder's lease, refused naming it.
            let optics = try await testbed.portalDatabase().slice(named: "optics")
            _ = try await testbed.portalDatabase().book(node: "w1", for: XCTUnwrap(optics), from: lease.endsAt + 1800,
                                                          to: lease.endsAt + 5400, by: "ada")
            let script = PortalClient(client)
            let answer = try await script.send(.post, "/api/v1/token", json: #"{"name":"alice","password":"\#(password)"}"#)
            struct Token: Decodable { let token: String }
            let token = try JSONDecoder().decode(Token.self, from: Data(answer.body.utf8)).token
            let auth: HTTPFields = [.authorization: "Bearer \(token)"]
            let node = try await script.send(.get, "/api/v1/nodes/w1", headers: auth)
            struct NodeAnswer: Decodable { struct Lease: Decodable { let id: Int64; let slice: String; let secondsLeft: Int; let endingSoon: Bool }; let lease: Lease? }
            let held = try XCTUnwrap(try JSONDecoder().decode(NodeAnswer.self, from: Data(node.body.utf8)).lease)
            XCTAssertEqual(held.slice, "radio")
            XCTAssertFalse(held.endingSoon)
            XCTAssertEqual(Double(held.secondsLeft), 2 * 3600 + 600, accuracy: 5)
            let patched = try await script.send(.patch, "/api/v1/leases/1", json: #"{"hours":0.5}"#, headers: auth)
            XCTAssertEqual(patched.code, 200, patched.body)
            let over = try await script.send(.put, "/api/v1/leases/1", json: #"{"hours":1}"#, headers: auth)
            XCTAssertEqual(over.code, 409, over.body)
            XCTAssertTrue(over.body.contains("w1 is already leased to slice optics"), over.body)
        }
        // The gatekeeper: `lb status` says who holds the node until when; an admin extends from the shell.
        let status = try await testbed.lb("status", "w1")
        XCTAssertTrue(status.stdout.contains("lease         radio until "), status.stdout)
        let admin = try await testbed.lb("admin", "lease", "w2", "--slice", "radio", "--extend", "1")
        XCTAssertEqual(admin.status, 2, "radio holds no lease of w2: \(admin.all)")
        XCTAssertTrue(admin.stderr.contains("slice radio holds no current lease of w2"), admin.stderr)
        let radioFound = try await testbed.portalDatabase().slice(named: "radio")
        _ = try await testbed.portalDatabase().book(node: "w2", for: XCTUnwrap(radioFound), from: Date() - 60, to: Date() + 3600, by: "ada")
        let extendedByAdmin = try await testbed.lb("admin", "lease", "w2", "--slice", "radio", "--extend", "0.25")
        XCTAssertEqual(extendedByAdmin.status, 0, extendedByAdmin.all)
        XCTAssertTrue(extendedByAdmin.stdout.contains("w2: the lease of radio now ends"), extendedByAdmin.stdout)
        let list = try await testbed.lb("admin", "leases")
        XCTAssertEqual(list.status, 0, list.all)
        XCTAssertTrue(list.stdout.contains("  radio  ") && list.stdout.contains("current, ") && list.stdout.contains("  optics  "), list.stdout)
        XCTAssertTrue(list.stdout.contains("future"), list.stdout)
    }
}

/// The Leases page's timeline: nodes × 7 days, leases as blocks (the viewer's own apart), now marked, free stretches
/// that prefill the booking form.
final class LeaseTimelineTests: XCTestCase {
    func testBlocksFreeStretchesAndNowAtAHundredNodes() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let today = calendar.startOfDay(for: Date())
        let now: Date = today + TimeInterval(10 * 3600)  // 10:00 UTC
        let nodes = (1...100).map { "n\($0)" }
        func lease(_ id: Int64, _ slice: String, _ from: Date, _ to: Date) -> LeaseView {
            LeaseView(id: id, sliceId: id, slice: slice, node: "n1", startsAt: from, endsAt: to, createdBy: "ada")
        }
        let tomorrow8: Date = today + TimeInterval(86400 + 8 * 3600)
        let leases: [LeaseView] = [lease(1, "radio", now - 3600, now + 5 * 3600), lease(2, "optics", tomorrow8, tomorrow8 + 6 * 3600)]
        let timeline = LeaseTimeline(nodes: nodes, leases: leases, now: now, mine: ["radio"])
        XCTAssertEqual(timeline.rows.count, 100)
        XCTAssertEqual(Set(timeline.rows.map(\.y)).count, 100, "one row per node")
        XCTAssertEqual(timeline.days.count, 7)
        let hour = LeaseTimeline.hourWidth, gutter = LeaseTimeline.gutter
        XCTAssertEqual(timeline.nowX, gutter + 10 * hour)
        let n1 = timeline.rows[0]
        XCTAssertEqual(n1.blocks.map(\.label), ["radio", "optics"])
        XCTAssertEqual(n1.blocks.map(\.mine), [true, false])
        XCTAssertEqual(n1.blocks[0].x, gutter + 9 * hour)
        XCTAssertEqual(n1.blocks[0].width, 6 * hour)
        // Today is free from the end of radio's lease (15:00), never before now; tomorrow around optics'.
        XCTAssertEqual(n1.free.first?.x, gutter + 15 * hour)
        XCTAssertTrue(n1.free.first?.href.contains("node=n1&start=\(Self.day(today))T15:00") == true, n1.free.first?.href ?? "")
        let tomorrow = n1.free.filter { $0.x >= gutter + 24 * hour && $0.x < gutter + 48 * hour }
        XCTAssertEqual(tomorrow.map(\.x), [gutter + 24 * hour, gutter + 38 * hour])
        // A node without leases: free from now, every day.
        XCTAssertEqual(timeline.rows[99].free.count, 7)
        XCTAssertEqual(timeline.rows[99].free.first?.x, timeline.nowX)
    }

    static func day(_ date: Date) -> String {
        let format = DateFormatter()
        format.timeZone = TimeZone(identifier: "UTC")
        format.dateFormat = "yyyy-MM-dd"
        return format.string(from: date)
    }
}

/// A slice's nodes at once: one operation per node from the slice page (and the API), followed on one grid; the
/// failed ones retried, exactly those.
final class BatchTests: XCTestCase {
    var testbed: Testbed!
    let password = "a-long-enough-password"

    override func setUp() async throws {
        testbed = try Testbed()
        try await testbed.start([("w1", .fast), ("w2", .fast), ("w3", .fast)])
        try await testbed.seedPeople(password: password)
        let database = try testbed.portalDatabase()
        try await database.syncNodes(["w1", "w2", "w3"])
        let radioFound = try await database.slice(named: "radio")
        let radio = try XCTUnwrap(radioFound)
        for node in ["w2", "w3"] { _ = try await database.book(node: node, for: radio, from: Date() - 60, to: Date() + 3600, by: "ada") }
    }

    override func tearDown() async throws { await testbed.stop() }

    static func finished(_ client: PortalClient, _ grid: String) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            let page = try await client.get(grid)
            if page.body.contains("data-done") || ContinuousClock.now > deadline { return page.body }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    static func state(of node: String, in html: String) -> String? {
        guard let range = html.range(of: #"<tr data-node="\#(node)" data-state="([a-z]+)""#, options: .regularExpression) else { return nil }
        return html[range].split(separator: "\"").dropFirst(3).first.map(String.init)
    }

    func testThreeNodesBootTogetherAndTheFailedOneIsRetried() async throws {
        let w3Found = await testbed.simulator.node("w3")
        let w3 = try XCTUnwrap(w3Found)
        await w3.setOutage(true)
        let config = try LivebootConfig.load(path: testbed.configPath)
        let app = try await LivebootServer.buildApplication(config: config, options: Testbed.serveOptions(), logger: Logger(label: "test-portal"))
        let password = self.password
        try await app.test(.router) { client in
            let alice = PortalClient(client)
            assertStatus(try await alice.login("alice", password), 303)
            let slice = try await alice.get("/slices/radio")
            for node in ["w1", "w2", "w3"] {
                XCTAssertTrue(slice.body.contains(#"<input type="checkbox" name="nodes[]" value="\#(node)""#), slice.body)
            }
            let started = try await alice.post("/slices/radio/run", [("action", "liveboot"), ("image", "u22"),
                                                                     ("nodes[]", "w1"), ("nodes[]", "w2"), ("nodes[]", "w3")])
            XCTAssertEqual(started.code, 200, started.body)
            let refresh = try XCTUnwrap(started.body.range(of: #"/operations/grid\?ids=[0-9,]+"#, options: .regularExpression))
            let grid = String(started.body[refresh])
            XCTAssertEqual(grid.split(separator: "=").last?.split(separator: ",").count, 3, "one operation per node")
            let done = try await Self.finished(alice, grid)
            XCTAssertEqual(Self.state(of: "w1", in: done), "succeeded", done)
            XCTAssertEqual(Self.state(of: "w2", in: done), "succeeded", done)
            XCTAssertEqual(Self.state(of: "w3", in: done), "failed", done)
            XCTAssertTrue(done.contains(#"<input type="hidden" name="nodes[]" value="w3">"#), done)
            XCTAssertFalse(done.contains(#"name="nodes[]" value="w1""#), "only the failed ones are retried")

            await w3.setOutage(false)
            _ = try await alice.get("/slices/radio")
            let retried = try await alice.post("/slices/radio/run", [("action", "liveboot"), ("image", "ubuntu-22.04-liveboot.iso"), ("nodes[]", "w3")])
            XCTAssertEqual(retried.code, 200, retried.body)
            let again = try XCTUnwrap(retried.body.range(of: #"/operations/grid\?ids=[0-9,]+"#, options: .regularExpression))
            let second = try await Self.finished(alice, String(retried.body[again]))
            XCTAssertEqual(Self.state(of: "w3", in: second), "succeeded", second)
            XCTAssertNil(Self.state(of: "w1", in: second))

            // The API: a list of nodes, one answer per node; one the slice does not hold is refused, the others start.
            let script = PortalClient(client)
            let answer = try await script.send(.post, "/api/v1/token", json: #"{"name":"alice","password":"\#(password)"}"#)
            struct Token: Decodable { let token: String }
            let token = try JSONDecoder().decode(Token.self, from: Data(answer.body.utf8)).token
            let batch = try await script.send(.post, "/api/v1/operations", json: #"{"action":"on","nodes":["w1","w2","nope"]}"#,
                                             headers: [.authorization: "Bearer \(token)"])
            XCTAssertEqual(batch.code, 202, batch.body)
            struct Entry: Decodable { let node: String; let operation: NodeOperation?; let refused: String? }
            let entries = try JSONDecoder.iso.decode([Entry].self, from: Data(batch.body.utf8))
            XCTAssertEqual(entries.map(\.node), ["w1", "w2", "nope"])
            XCTAssertNotNil(entries[0].operation)
            XCTAssertNotNil(entries[1].operation)
            XCTAssertEqual(entries[2].refused, "no node named nope")
        }
    }
}

extension JSONDecoder {
    static var iso: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
