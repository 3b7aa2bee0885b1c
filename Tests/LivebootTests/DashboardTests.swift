import AsyncHTTPClient
import Foundation
import IDRACSimulator
import PortalStore
import XCTest
@testable import LivebootCore
@testable import LivebootServer

/// `GET /` of `liveboot serve`: the read-only dashboard, fed by the background status rounds.
final class DashboardTests: XCTestCase {
    var testbed: Testbed!

    override func setUp() async throws { testbed = try Testbed() }
    override func tearDown() async throws { await testbed.stop() }

    /// A browser session of an administrator, minted in the database the server uses.
    var cookie: String?

    func fetch(_ path: String) async throws -> (Int, String, String?) {
        if cookie == nil {
            let database = try testbed.portalDatabase()
            let admin = try await database.createUser(name: "root-admin", password: "a-long-password", isAdmin: true)
            cookie = "lb_session=" + (try await database.openSession(for: admin, lifetime: .seconds(600))).token
        }
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(testbed.portalPort)\(path)")
        request.headers.add(name: "Cookie", value: cookie!)
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: body), response.headers.first(name: "Content-Type"))
    }

    /// The page once the first background status round shows these nodes (within 10 s).
    func waitForPage(showing nodes: [String]) async throws -> String {
        var page = ""
        for _ in 0..<100 {
            let (status, body, type) = try await fetch("/")
            XCTAssertEqual(status, 200)
            XCTAssertEqual(type, "text/html; charset=utf-8")
            page = body
            if nodes.allSatisfy({ page.contains(">\($0)<") }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return page
    }

    func testDashboardShowsEveryNodeAndNoSecret() async throws {
        try await testbed.start([("w1", .fast), ("w2", .fast)], serveImages: false)
        // w3's BMC is down: its row says so, the others still render.
        var yaml = try String(contentsOfFile: testbed.configPath, encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "nodes:\n", with: "nodes:\n  w3: {hostname: \"127.0.0.1:1\", drac: \"http://127.0.0.1:1\", drac-password: topsecret}\n")
        try yaml.write(toFile: testbed.configPath, atomically: true, encoding: .utf8)
        try await testbed.startImageServer(statusInterval: .seconds(1))
        let page = try await waitForPage(showing: ["w1", "w3"])
        XCTAssertTrue(page.contains("<th scope=\"row\"><a href=\"/nodes/w1\">w1</a></th>"), page)
        XCTAssertTrue(page.contains("<th scope=\"row\"><a href=\"/nodes/w2\">w2</a></th>"), page)
        XCTAssertTrue(page.contains("<span class=\"badge ok\">On</span>"), page)
        XCTAssertTrue(page.contains("is unreachable: connection refused"), page)
        XCTAssertTrue(page.contains("ubuntu-22.04-liveboot.iso"), "the image catalogue is listed")
        XCTAssertTrue(page.contains(#"<a href="/" class="here">Nodes</a>"#), "the navigation marks the page's tab")
        let admin = try await fetch("/admin").1
        XCTAssertTrue(admin.contains(#"<a href="/admin" class="here">Admin</a>"#), admin)
        XCTAssertFalse(page.contains("topsecret") || page.contains(Testbed.password), "a BMC password is on the page")
        let (cssStatus, css, _) = try await fetch("/public/liveboot.css")
        XCTAssertEqual(cssStatus, 200)
        XCTAssertTrue(css.contains(".badge"))
    }

    /// The filters a fleet needs, kept in the URL and in the refreshed rows' URL: by state, by lease holder, by name.
    func testFiltersByStateHolderAndName() async throws {
        try await testbed.start([("w1", .fast), ("w2", .fast), ("r7", .fast)], serveImages: false)
        try await testbed.startImageServer(statusInterval: .seconds(1))
        _ = try await waitForPage(showing: ["w1", "w2", "r7"])
        let database = try testbed.portalDatabase()
        try await database.syncNodes(["w1", "w2", "r7"])
        let radio = try await database.createSlice(name: "radio")
        _ = try await database.book(node: "w2", for: radio, from: Date() - 60, to: Date() + 3600, by: "ada")
        // r7 is off.
        let off = try await testbed.lb("off", "r7", "--force")
        XCTAssertEqual(off.status, 0, off.all)
        var offPage = ""
        for _ in 0..<50 {
            offPage = try await fetch("/fragments/nodes?state=off").1
            if offPage.contains(">r7<") { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        XCTAssertTrue(offPage.contains(">r7<") && !offPage.contains(">w1<"), offPage)
        let (_, on, _) = try await fetch("/?state=on")
        XCTAssertTrue(on.contains(">w1<") && on.contains(">w2<") && !on.contains(">r7<"), on)
        XCTAssertTrue(on.contains(#"data-refresh="/fragments/nodes?state=on""#), "the refreshed rows keep the filter")
        XCTAssertTrue(on.contains("2 of 3 nodes"), on)
        XCTAssertTrue(on.contains("<option selected>on</option>"), on)
        let (_, free, _) = try await fetch("/?holder=free")
        XCTAssertTrue(free.contains(">w1<") && !free.contains(">w2<"), free)
        let (_, named, _) = try await fetch("/?q=R7")
        XCTAssertTrue(named.contains(">r7<") && !named.contains(">w1<"), named)
        let (_, none, _) = try await fetch("/fragments/nodes?q=nothing-like-this")
        XCTAssertTrue(none.contains("No node matches the filter."), none)
    }

    func testPageEscapesWhatBMCsSay() async throws {
        try await testbed.start([("w1", .fast)], serveImages: false)
        var yaml = try String(contentsOfFile: testbed.configPath, encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "status:\n  bios: [SysProfile, ProcCStates]", with: "status:\n  bios: [\"<script>x</script>\"]")
        try yaml.write(toFile: testbed.configPath, atomically: true, encoding: .utf8)
        try await testbed.startImageServer(statusInterval: .seconds(1))
        _ = try await waitForPage(showing: ["w1"])
        let (status, page, _) = try await fetch("/nodes/w1")
        XCTAssertEqual(status, 200)
        XCTAssertFalse(page.contains("<script>x</script>"), page)
        XCTAssertTrue(page.contains("&lt;script&gt;"), page)
    }
}

/// The dashboard's rows are rendered once and reused until what a row shows changes.
final class RowFragmentsTests: XCTestCase {
    func row(_ name: String, power: String = "On", holder: String? = nil) -> DashboardPage.Row {
        var status = NodeStatus(node: name, ping: .ok, ssh: .ko("refused"))
        status.power = power
        return DashboardPage.Row(status, holder: holder)
    }

    /// A view of the same key within the age bound reuses the snapshot (no read, no row built); a change of the store
    /// or of the clock's second, or the bound passed, builds it again; a status published since shows after the
    /// board's lag.
    func testFleetRowsAreKeptForTheSameKeyAndNoLongerThanTheirAge() async throws {
        let fleet = FleetRows()
        let builds = Locked(0)
        func view(_ key: FleetRows.Key, power: String = "On") async throws -> String {
            let snapshot = try await fleet.snapshot(for: key, render: { "<tr>\($0.name) \($0.power)</tr>" }) {
                builds.withLock { $0 += 1 }
                return ((1...3).map { self.row("w\($0)", power: power) }, nil)
            }
            return snapshot.html.getString(at: 0, length: snapshot.html.readableBytes) ?? ""
        }
        let key = FleetRows.Key(board: 1, store: 1, second: 100)
        var html = try await view(key)
        XCTAssertEqual(html, "<tr>w1 On</tr><tr>w2 On</tr><tr>w3 On</tr>")
        html = try await view(key, power: "Off")
        XCTAssertEqual(html, "<tr>w1 On</tr><tr>w2 On</tr><tr>w3 On</tr>", "the same key: kept")
        XCTAssertEqual(builds.withLock { $0 }, 1)
        html = try await view(FleetRows.Key(board: 2, store: 1, second: 100), power: "Off")
        XCTAssertEqual(html, "<tr>w1 On</tr><tr>w2 On</tr><tr>w3 On</tr>", "a status younger than the board's lag waits")
        try await Task.sleep(for: FleetRows.boardLag + .milliseconds(50))
        html = try await view(FleetRows.Key(board: 2, store: 1, second: 100), power: "Off")
        XCTAssertEqual(html, "<tr>w1 Off</tr><tr>w2 Off</tr><tr>w3 Off</tr>", "the board's lag passed")
        for changed in [FleetRows.Key(board: 2, store: 2, second: 100), FleetRows.Key(board: 2, store: 2, second: 101)] {
            let power = html.contains("On") ? "Off" : "On"
            html = try await view(changed, power: power)
            XCTAssertEqual(html, "<tr>w1 \(power)</tr><tr>w2 \(power)</tr><tr>w3 \(power)</tr>", "\(changed)")
            _ = try await view(changed, power: "Unknown")
        }
        XCTAssertEqual(builds.withLock { $0 }, 4)
        try await Task.sleep(for: FleetRows.maximumAge + .milliseconds(100))
        html = try await view(FleetRows.Key(board: 2, store: 2, second: 101), power: "Unknown")
        XCTAssertEqual(html, "<tr>w1 Unknown</tr><tr>w2 Unknown</tr><tr>w3 Unknown</tr>", "too old: built again")
        XCTAssertEqual(builds.withLock { $0 }, 5)
    }

    func testOnlyChangedRowsAreRenderedAgain() {
        let fragments = RowFragments()
        var rendered: [String] = []
        let render: (DashboardPage.Row) -> String = { row in
            rendered.append(row.name)
            return "<tr>\(row.name) \(row.power) \(row.holder ?? "free")</tr>"
        }
        let fleet = (1...500).map { row("w\($0)") }
        let first = fragments.fragments(of: fleet, render: render).joined()
        XCTAssertEqual(rendered.count, 500)
        XCTAssertTrue(first.hasPrefix("<tr>w1 On free</tr><tr>w2 On free</tr>"))
        rendered = []
        XCTAssertEqual(fragments.fragments(of: fleet, render: render).joined(), first, "an unchanged fleet is the same HTML")
        XCTAssertEqual(rendered, [], "nothing changed, nothing rendered")
        var changed = fleet
        changed[6] = row("w7", power: "Off")
        changed[41] = row("w42", holder: "radio")
        let second = fragments.fragments(of: changed, render: render).joined()
        XCTAssertEqual(rendered, ["w7", "w42"])
        XCTAssertTrue(second.contains("<tr>w7 Off free</tr>") && second.contains("<tr>w42 On radio</tr>"), second)
        XCTAssertFalse(second.contains("<tr>w7 On free</tr>"))
        rendered = []
        // A filtered view (a subset, in order) reuses the same fragments.
        XCTAssertEqual(fragments.fragments(of: [changed[41], changed[0]], render: render).joined(), "<tr>w42 On radio</tr><tr>w1 On free</tr>")
        XCTAssertEqual(rendered, [])
    }
}
