import Foundation
import Hummingbird
import LivebootCore
import NIOCore
import PortalStore

/// `GET /`: every node with its last status, lease holder and last operation; `GET /fragments/nodes` gives the
/// table's rows alone, which the page's script fetches to refresh itself without a reload.
struct DashboardController: Sendable {
    let nodes: NodeService
    let leases: LeaseService
    let board: StatusBoard
    let pages: PageRenderer
    let fleetRows: FleetRows
    let refreshSeconds: Int

    /// Mounted at `/`.
    var routes: RouteCollection<MemberRequestContext> {
        let group = RouteCollection(context: MemberRequestContext.self)
        group.get("/") { request, context in try await render(request, context, "dashboard") }
        group.get("/fragments/nodes") { request, context in try await render(request, context, "node-rows") }
        return group
    }

    /// The page around a marker where the rows go, then the rows' HTML written in place into the answer's buffer:
    /// joining 280 KB of rows into a string, the string into the page and the page into a buffer were three copies of
    /// it per view.
    func render(_ request: Request, _ context: MemberRequestContext, _ template: String) async throws -> Response {
        let (page, rows) = try await page(request, context)
        let html = try pages.html(DashboardView(page), template)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(html.utf8.count + rows.readableBytes)
        if let marker = html.range(of: DashboardView.rowsMarker) {
            buffer.writeString(String(html[..<marker.lowerBound]))
            buffer.writeImmutableBuffer(rows)
            buffer.writeString(String(html[marker.upperBound...]))
        } else {
            buffer.writeString(html)
        }
        return PageRenderer.htmlResponse(buffer)
    }

    /// The page and its rows' HTML: every row, as the last view built them while nothing they show has changed.
    func page(_ request: Request, _ context: MemberRequestContext) async throws -> (DashboardPage, ByteBuffer) {
        let filter = DashboardFilter(request.uri.queryParameters)
        let key = FleetRows.Key(board: await board.revision, store: nodes.storeRevision.fleetRevision,
                                second: Int(nodes.clock.now.timeIntervalSince1970.rounded(.down)))
        // The key is read before what it stands for: a change in between is built again at the next view.
        let fleet = try await fleetRows.snapshot(for: key, render: renderRow) {
            let current = try await leases.notices()
            let rows = DashboardPage.rows(statuses: await board.statuses, holders: current.mapValues(\.slice), leases: current,
                                          returns: try await nodes.returnsOwed(), lastOperations: try await nodes.lastOperations())
            return (rows, await board.updatedAt)
        }
        var page = DashboardPage(chrome: Chrome(title: "Nodes", identity: context.identity, section: "nodes"),
                                 rows: fleet.rows, updatedAt: fleet.updatedAt, images: (try? nodes.images()) ?? [],
                                 refreshSeconds: refreshSeconds)
        var rows = fleet.html
        if filter.isActive {
            let mine = Set(try await leases.slices.visible(to: context.user).map(\.name))
            page.filter(filter, mine: mine)
            rows = fleetRows.html(of: page.rows, render: renderRow)
        }
        page.form = DashboardPage.FilterForm(filter)
        return (page, rows)
    }

    func renderRow(_ row: DashboardPage.Row) -> String { pages.library.render(row, withTemplate: "node-row") ?? "" }
}

/// What a person needs to read a fleet's table: by state, by lease holder, by name; kept in the URL (`?state=live&
/// holder=mine&q=r7`), so a filtered view is a link and the refreshed rows keep it.
struct DashboardFilter: Sendable, Equatable {
    enum State: String, CaseIterable { case any, on, off, live, failed }
    enum Holder: String, CaseIterable { case any, mine, free }

    var state: State = .any
    var holder: Holder = .any
    var text = ""

    init(state: State = .any, holder: Holder = .any, text: String = "") {
        self.state = state
        self.holder = holder
        self.text = text
    }

    init(_ query: Parameters) {
        state = query["state"].flatMap { State(rawValue: String($0)) } ?? .any
        holder = query["holder"].flatMap { Holder(rawValue: String($0)) } ?? .any
        text = String(query["q"].map(String.init)?.trimmingCharacters(in: .whitespaces).prefix(64) ?? "")
    }

    var isActive: Bool { state != .any || holder != .any || !text.isEmpty }

    /// `state=live&holder=mine&q=r7`, for the refreshed rows' URL.
    var query: String {
        var parts: [String] = []
        if state != .any { parts.append("state=\(state.rawValue)") }
        if holder != .any { parts.append("holder=\(holder.rawValue)") }
        if !text.isEmpty { parts.append("q=" + (text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")) }
        return parts.joined(separator: "&")
    }

    func matches(_ row: DashboardPage.Row, mine: Set<String>) -> Bool {
        if !text.isEmpty, !row.name.localizedCaseInsensitiveContains(text) { return false }
        switch holder {
        case .any: break
        case .free: if row.holder != nil { return false }
        case .mine: if !(row.holder.map(mine.contains) ?? false) { return false }
        }
        switch state {
        case .any: return true
        case .on: return row.power == "On"
        case .off: return row.power == "Off"
        case .live: return row.lastOperation.map { $0.kind == "liveboot" && $0.state == "succeeded" } ?? false
        case .failed: return row.error != nil || row.lastOperation?.state == "failed"
        }
    }
}

/// What the dashboard template shows: one struct per page, never a dictionary.
struct DashboardPage {
    struct Row: Equatable, Sendable {
        let name: String
        let power: String
        let powerClass: String
        let bios: String
        let slots: [Slot]
        let ping: String
        let pingClass: String
        let ssh: String
        let sshClass: String
        let bootOnce: String?
        let error: String?
        let holder: String?
        /// The node owes a return after a lease ended: what it waits for.
        let returning: String?
        /// The holder's lease, when it ends soon: the time left.
        let endingIn: String?
        let lastOperation: OperationView?

        /// A node's status as the dashboard's row and the node page's status card show it.
        init(_ status: NodeStatus, holder: String? = nil, lease: LeaseNotice? = nil, returning: String? = nil,
             lastOperation: NodeOperation? = nil) {
            func css(_ probe: ProbeResult) -> String {
                switch probe { case .ok: "ok"; case .ko: "ko"; case .unavailable: "na" }
            }
            name = status.node
            power = status.power ?? "unknown"
            powerClass = status.power == "On" ? "ok" : status.power == "Off" ? "off" : "na"
            bios = status.bios.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
            slots = status.vmedia.map {
                Slot(id: $0.id, image: $0.image.map { URL(string: $0)?.lastPathComponent ?? $0 } ?? "not connected", inserted: $0.image != nil)
            }
            ping = status.ping.description
            pingClass = css(status.ping)
            ssh = status.ssh.description
            sshClass = css(status.ssh)
            bootOnce = status.bootOverride
            error = status.error
            self.holder = holder
            self.returning = returning
            endingIn = lease.flatMap { $0.endingSoon ? $0.left : nil }
            self.lastOperation = lastOperation.map { OperationView($0) }
        }
    }

    struct Slot: Equatable, Sendable {
        let id: String
        let image: String
        let inserted: Bool
    }

    struct Image {
        let name: String
        let shortNames: String
        let os: String
        let size: String
    }

    struct Choice { let value: String; let selected: Bool }
    struct FilterForm {
        let states: [Choice]
        let holders: [Choice]
        let text: String
        let query: String
        let active: Bool

        init(_ filter: DashboardFilter) {
            states = DashboardFilter.State.allCases.map { Choice(value: $0.rawValue, selected: $0 == filter.state) }
            holders = DashboardFilter.Holder.allCases.map { Choice(value: $0.rawValue, selected: $0 == filter.holder) }
            text = filter.text
            query = filter.query
            active = filter.isActive
        }
    }

    let chrome: Chrome
    private(set) var rows: [Row]
    private(set) var hasRows: Bool
    /// Rows shown out of all, when a filter hides some.
    private(set) var shown: String?
    var form = FilterForm(DashboardFilter())
    let images: [Image]
    let updated: String
    let refreshSeconds: Int

    /// Each node's row, in the board's order.
    static func rows(statuses: [NodeStatus], holders: [String: String], leases: [String: LeaseNotice],
                     returns: [String: String], lastOperations: [String: NodeOperation]) -> [Row] {
        statuses.map {
            Row($0, holder: holders[$0.node], lease: leases[$0.node], returning: returns[$0.node], lastOperation: lastOperations[$0.node])
        }
    }

    init(chrome: Chrome, rows: [Row], updatedAt: Date?, images: [CatalogEntry], refreshSeconds: Int) {
        self.chrome = chrome
        self.rows = rows
        hasRows = !rows.isEmpty
        self.images = images.map {
            Image(name: $0.name, shortNames: $0.shortNames.joined(separator: ", "),
                  os: [$0.os, $0.version].compactMap { $0 }.joined(separator: " "), size: Format.size($0.size))
        }
        updated = updatedAt.map { Format.date($0) } ?? "not yet (the first status round is running)"
        self.refreshSeconds = refreshSeconds
    }
}

/// What the dashboard's templates read: the page without its rows (they are written in at `rowsMarker`). The template
/// engine finds a name by reflecting on the value, so a page that carried 500 rows paid for them at every lookup.
struct DashboardView {
    /// Where the rows go in the rendered page (a NUL never comes out of a template or an escaped value).
    static let rowsMarker = "\u{0}rows\u{0}"

    let chrome: Chrome
    let rowsHTML = Self.rowsMarker
    let hasRows: Bool
    let shown: String?
    let form: DashboardPage.FilterForm
    let images: [DashboardPage.Image]
    let updated: String
    let refreshSeconds: Int

    init(_ page: DashboardPage) {
        chrome = page.chrome
        hasRows = page.hasRows
        shown = page.shown
        form = page.form
        images = page.images
        updated = page.updated
        refreshSeconds = page.refreshSeconds
    }
}

extension DashboardPage {
    mutating func filter(_ filter: DashboardFilter, mine: Set<String>) {
        let all = rows.count
        rows = rows.filter { filter.matches($0, mine: mine) }
        hasRows = !rows.isEmpty
        shown = "\(rows.count) of \(all) nodes"
    }
}

/// Every node's row and their HTML, kept from one view to the next while nothing they show can have changed: the
/// store's revision (this process's writes to leases, slices and operations) and the portal clock's second are the
/// same, and the snapshot is younger than a second (another process's writes, `lb admin lease`, show within it).
/// A status published since is shown once the snapshot is `boardLag` old: a round publishes 500 statuses over five
/// seconds, each already up to an interval old, and rebuilding at each of them left the cache useless for the round.
/// Under 10 viewers of 500 nodes, reading the leases, owed returns and last operations, copying the statuses and
/// building and comparing 500 rows were a third of the server's time (perf). `bench/fleet.sh`, 10 viewers: mean 33 →
/// 16 ms and p99 65 → 58 ms with the snapshot rebuilt at every status, p99 22–30 ms with the board's lag.
final class FleetRows: Sendable {
    struct Key: Equatable, Sendable {
        let board: Int
        let store: Int
        let second: Int
    }

    struct Snapshot: Sendable {
        let key: Key
        let taken: ContinuousClock.Instant
        let rows: [DashboardPage.Row]
        let updatedAt: Date?
        let html: ByteBuffer

        func isValid(for current: Key, at now: ContinuousClock.Instant) -> Bool {
            let age = now - taken
            return current.store == key.store && current.second == key.second && age < FleetRows.maximumAge
                && (current.board == key.board || age < FleetRows.boardLag)
        }
    }

    static let maximumAge = Duration.seconds(1)
    static let boardLag = Duration.milliseconds(250)
    private let last = Locked<Snapshot?>(nil)
    private let fragments = RowFragments()

    /// The snapshot for `key`, built by `build` when the last one is for another key or too old.
    func snapshot(for key: Key, render: (DashboardPage.Row) -> String,
                  build: () async throws -> (rows: [DashboardPage.Row], updatedAt: Date?)) async throws -> Snapshot {
        let now = ContinuousClock.now
        if let kept = last.withLock({ $0 }), kept.isValid(for: key, at: now) { return kept }
        let built = try await build()
        let snapshot = Snapshot(key: key, taken: now,
                                rows: built.rows, updatedAt: built.updatedAt, html: html(of: built.rows, render: render))
        last.withLock { $0 = snapshot }
        return snapshot
    }

    /// The rows' HTML, each row's fragment rendered again only if the row changed.
    func html(of rows: [DashboardPage.Row], render: (DashboardPage.Row) -> String) -> ByteBuffer {
        let parts = fragments.fragments(of: rows, render: render)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(parts.reduce(0) { $0 + $1.utf8.count })
        for part in parts { buffer.writeString(part) }
        return buffer
    }
}

/// Each node's dashboard row as HTML, rendered again only when what the row shows changed: a view of 500 nodes is a
/// comparison per row, where rendering every row through the template (reflection on each field) took
/// ~220 ms of server time per view (release build, `bench/fleet.sh`).
final class RowFragments: Sendable {
    private let cache = Locked<[String: (row: DashboardPage.Row, html: String)]>([:])

    /// Each row's HTML, in order.
    func fragments(of rows: [DashboardPage.Row], render: (DashboardPage.Row) -> String) -> [String] {
        let known = cache.withLock { $0 }
        var fresh: [String: (row: DashboardPage.Row, html: String)] = [:]
        var parts: [String] = []
        parts.reserveCapacity(rows.count)
        for row in rows {
            if let cached = known[row.name], cached.row == row {
                parts.append(cached.html)
            } else {
                let html = render(row)
                fresh[row.name] = (row, html)
                parts.append(html)
            }
        }
        if !fresh.isEmpty { cache.withLock { $0.merge(fresh) { _, new in new } } }
        return parts
    }
}
