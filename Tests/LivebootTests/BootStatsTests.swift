import AsyncHTTPClient
import Foundation
import LivebootCore
import PortalStore
import XCTest

/// A node's live boots over 30 days — boots, ready, failed, success rate, median and p90 time to ready, the last
/// failure — from what the CLI and the portal recorded: `lb stats`, the node page, the admin page's flaky nodes.
final class BootStatsTests: XCTestCase {
    var testbed: Testbed!

    override func setUp() async throws { testbed = try Testbed() }
    override func tearDown() async throws { await testbed.stop() }

    func fetch(_ path: String, cookie: String) async throws -> String {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(testbed.portalPort)\(path)")
        request.headers.add(name: "Cookie", value: cookie)
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        XCTAssertEqual(response.status.code, 200, path)
        return String(buffer: try await response.body.collect(upTo: 1 << 20))
    }

    func testStatsCountReadyAndFailedBootsAndFindTheFlakyNode() async throws {
        try testbed.addUnbootableImage()
        try await testbed.start([("w1", .fast), ("w2", .fast), ("w3", .fast)], serveImages: false)
        try await testbed.startImageServer()
        try await testbed.writeConfig()  // the CLI's, with the ports the server got
        let ready = try await testbed.lb("liveboot", "w1", "-i", "u22", "--wait")
        XCTAssertEqual(ready.status, 0, ready.all)
        let fallback = try await testbed.lb("liveboot", "w1", "-i", "data-only.iso", "--wait")
        XCTAssertEqual(fallback.status, 1, fallback.all)
        let unwaited = try await testbed.lb("liveboot", "w2", "-i", "u22")
        XCTAssertEqual(unwaited.status, 0, unwaited.all)

        let json = try await testbed.lb("stats", "w1-3", "--json")
        XCTAssertEqual(json.status, 0, json.all)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let stats = try decoder.decode([NodeBootStats].self, from: Data(json.stdout.utf8))
        XCTAssertEqual(stats.map(\.node), ["w1", "w2", "w3"])
        let w1 = stats[0]
        XCTAssertEqual([w1.boots, w1.ready, w1.failed], [2, 1, 1])
        XCTAssertEqual(w1.successRate, 0.5)
        let median = try XCTUnwrap(w1.medianSecondsToReady)
        XCTAssertGreaterThan(median, 0)
        XCTAssertEqual(w1.p90SecondsToReady, median, "one ready boot: its time is every percentile")
        XCTAssertTrue(w1.lastFailure?.message.contains("answered ssh but the live session never reported") ?? false,
                      "\(String(describing: w1.lastFailure))")
        XCTAssertEqual([stats[1].boots, stats[1].ready, stats[1].failed], [1, 0, 0], "a boot nobody waited for is neither")
        XCTAssertNil(stats[1].successRate)
        XCTAssertEqual(stats[2].boots, 0)

        let text = try await testbed.lb("stats", "w1")
        XCTAssertEqual(text.status, 0, text.all)
        let line = try XCTUnwrap(text.stdout.split(separator: "\n").first { $0.hasPrefix("w1 ") }, text.stdout)
        XCTAssertTrue(line.contains("50 %") && line.contains("never reported"), String(line))
        let refused = try await testbed.lb("stats", "--days", "0")
        XCTAssertEqual(refused.status, 64, refused.all)  // EX_USAGE, as every bad flag
        XCTAssertTrue(refused.stderr.contains("--days must be between 1 and 366"), refused.stderr)

        // One more failed boot of w1, recorded as the core records it: 1 ready of 3 is a flaky node.
        let database = try testbed.portalDatabase()
        try await database.register(BootTicket(id: "w1-late-\(UUID().uuidString)", node: "w1", startedAt: Date()))
        let late = try await database.bootHistory(since: Date() - 60, nodes: ["w1"]).last!
        XCTAssertNil(late.failedAt)
        let lateID = try await database.latestBoot(of: "w1")!.ticket.id
        try await database.recordOutcome(bootID: lateID, .failed(at: Date(), message: "not ready within 240 s"))
        try await database.recordOutcome(bootID: lateID, .ready(at: Date()))  // an outcome is recorded once
        let admin = try await database.createUser(name: "root-admin", password: "a-long-password", isAdmin: true)
        let cookie = "lb_session=" + (try await database.openSession(for: admin, lifetime: .seconds(600))).token
        let page = try await fetch("/nodes/w1", cookie: cookie)
        XCTAssertTrue(page.contains("Live boots, last 30 days"), page)
        XCTAssertTrue(page.contains("<dt>boots</dt><dd>3</dd>") && page.contains("<dt>success rate</dt><dd>33 %</dd>"), page)
        XCTAssertTrue(page.contains("Last failure, ") && page.contains("not ready within 240 s"), page)
        let quiet = try await fetch("/nodes/w3", cookie: cookie)
        XCTAssertTrue(quiet.contains("No live boot of w3 in the last 30 days"), quiet)
        let adminPage = try await fetch("/admin", cookie: cookie)
        let flaky = try XCTUnwrap(adminPage.components(separatedBy: "id=\"flaky\"").last?.components(separatedBy: "</section>").first)
        XCTAssertTrue(flaky.contains("<a href=\"/nodes/w1\">w1</a>") && flaky.contains("33 %"), flaky)
        XCTAssertFalse(flaky.contains("/nodes/w2") || flaky.contains("/nodes/w3"), flaky)
    }

    /// The percentiles are times some boot took (nearest rank), and a node is flaky only over enough ended boots.
    func testPercentilesAndTheFlakyRule() {
        let start = Date(timeIntervalSince1970: 1_000_000)
        let entries = (1...10).map { BootHistoryEntry(node: "w1", startedAt: start, readyAt: start + Double($0 * 10)) }
            + [BootHistoryEntry(node: "w1", startedAt: start, failedAt: start + 5, failure: "x")]
        let stats = NodeBootStats(node: "w1", entries: entries)
        XCTAssertEqual(stats.medianSecondsToReady, 50)
        XCTAssertEqual(stats.p90SecondsToReady, 90)
        XCTAssertEqual(stats.successRate!, 10.0 / 11.0, accuracy: 1e-9)
        XCTAssertFalse(stats.isFlaky(threshold: 0.2))
        XCTAssertTrue(stats.isFlaky(threshold: 0.05))
        let two = NodeBootStats(node: "w2", entries: [BootHistoryEntry(node: "w2", startedAt: start, failedAt: start, failure: "x"),
                                                      BootHistoryEntry(node: "w2", startedAt: start, failedAt: start, failure: "y")])
        XCTAssertFalse(two.isFlaky(threshold: 0.2), "two boots say little")
    }
}
