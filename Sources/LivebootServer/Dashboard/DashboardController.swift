import Foundation
import Hummingbird
import LivebootCore
import PortalStore

/// `GET /`: every node with its last status, lease holder and last operation; `GET /fragments/nodes` gives the
/// table's rows alone, which the page's script fetches to refresh itself without a reload.
struct DashboardController: Sendable {
    let nodes: NodeService
    let leases: LeaseService
    let board: StatusBoard
    let pages: PageRenderer
    let refreshSeconds: Int

    /// Mounted at `/`.
    var routes: RouteCollection<MemberRequestContext> {
        let group = RouteCollection(context: MemberRequestContext.self)
        group.get("/") { _, context in try pages.render(try await page(context), "dashboard") }
        group.get("/fragments/nodes") { _, context in try pages.render(try await page(context), "node-rows") }
        return group
    }

    func page(_ context: MemberRequestContext) async throws -> DashboardPage {
        DashboardPage(chrome: Chrome(title: "Nodes", identity: context.identity, section: "nodes"),
                      statuses: await board.statuses, updatedAt: await board.updatedAt,
                      holders: try await nodes.holders(), leases: try await leases.notices(), returns: try await nodes.returnsOwed(),
                      lastOperations: try await nodes.lastOperations(),
                      images: (try? nodes.images()) ?? [], refreshSeconds: refreshSeconds)
    }
}

/// What the dashboard template shows: one struct per page, never a dictionary.
struct DashboardPage {
    struct Row {
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

    struct Slot {
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

    let chrome: Chrome
    let rows: [Row]
    let hasRows: Bool
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
