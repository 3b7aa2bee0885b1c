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
    let fragments: RowFragments
    let refreshSeconds: Int

    /// Mounted at `/`.
    var routes: RouteCollection<MemberRequestContext> {
        let group = RouteCollection(context: MemberRequestContext.self)
        group.get("/") { request, context in try render(try await page(request, context), "dashboard") }
        group.get("/fragments/nodes") { request, context in try render(try await page(request, context), "node-rows") }
        return group
    }

    /// The page around a marker where the rows go, then the rows' fragments written in place into the answer's
    /// buffer: joining 280 KB of rows into a string, the string into the page and the page into a buffer were three
    /// copies of it per view.
    func render(_ page: DashboardPage, _ template: String) throws -> Response {
        let html = try pages.html(DashboardView(page), template)
        let rows = fragments.fragments(of: page.rows) { pages.library.render($0, withTemplate: "node-row") ?? "" }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(html.utf8.count + rows.reduce(0) { $0 + $1.utf8.count })
        if let marker = html.range(of: DashboardView.rowsMarker) {
            buffer.writeString(String(html[..<marker.lowerBound]))
            for row in rows { buffer.writeString(row) }
            buffer.writeString(String(html[marker.upperBound...]))
        } else {
            buffer.writeString(html)
        }
        return PageRenderer.htmlResponse(buffer)
    }

    func page(_ request: Request, _ context: MemberRequestContext) async throws -> DashboardPage {
        let filter = DashboardFilter(request.uri.queryParameters)
        let current = try await leases.notices()
        var page = DashboardPage(chrome: Chrome(title: "Nodes", identity: context.identity, section: "nodes"),
                                 statuses: await board.statuses, updatedAt: await board.updatedAt,
                                 holders: current.mapValues(\.slice), leases: current, returns: try await nodes.returnsOwed(),
                                 lastOperations: try await nodes.lastOperations(),
                                 images: (try? nodes.images()) ?? [], refreshSeconds: refreshSeconds)
        if filter.isActive {
            let mine = Set(try await leases.slices.visible(to: context.user).map(\.name))
            page.filter(filter, mine: mine)
        }
        page.form = DashboardPage.FilterForm(filter)
        return page
    }
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

    init(chrome: Chrome, statuses: [NodeStatus], updatedAt: Date?, holders: [String: String] = [:],
         leases: [String: LeaseNotice] = [:], returns: [String: String] = [:],
         lastOperations: [String: NodeOperation] = [:], images: [CatalogEntry], refreshSeconds: Int) {
        self.chrome = chrome
        rows = statuses.map {
            Row($0, holder: holders[$0.node], lease: leases[$0.node], returning: returns[$0.node], lastOperation: lastOperations[$0.node])
        }
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
