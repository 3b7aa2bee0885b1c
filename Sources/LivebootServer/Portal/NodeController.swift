import Foundation
import Hummingbird
import LivebootCore
import NIOCore
import PortalStore

/// A node's page, its actions (live boot, disk boot, power), and the live feed of an operation.
struct NodeController: Sendable {
    let nodes: NodeService
    let leases: LeaseService
    let consoles: ConsoleService
    let pages: PageRenderer
    /// xterm.js is installed (libjs-xterm): the console panel can show a terminal.
    let hasTerminal: Bool

    struct NodePage {
        struct Image {
            let name: String
            let label: String
            let selected: Bool
        }

        let chrome: Chrome
        let name: String
        let host: String
        let sshPort: Int
        let status: DashboardPage.Row?
        let statusAt: String?
        let vendor: String?
        let model: String?
        let firmware: String?
        let holder: String?
        /// The current lease: until when, and whether it ends soon (then its holder may extend it here).
        let lease: LeaseNoticeView?
        /// The node owes a return after a lease ended: what it waits for.
        let returning: String?
        let canAct: Bool
        let denied: String?
        let images: [Image]
        let hasImages: Bool
        let current: OperationView?
        let currentSteps: [StepView]
        let history: [OperationView]
        /// The last 30 days of live boots.
        let stats: BootStatsView
        /// The console panel: for whoever may act on the node; administrators may take the keyboard.
        let console: ConsolePanel?
        /// The shown operation's console log: its last lines first (a failed boot's), the whole as text.
        let consoleLog: ConsoleLogView?
    }

    struct ConsolePanel {
        let socket: String
        let hasTerminal: Bool
        let isAdmin: Bool
    }

    struct ConsoleLogView {
        let tail: String
        let size: String
        let textURL: String
        let unavailable: String?
        let failed: Bool
    }

    struct ActionForm: Decodable {
        let image: String?
    }

    /// Mounted at `/nodes`.
    var routes: RouteCollection<MemberRequestContext> {
        let group = RouteCollection(context: MemberRequestContext.self)
        group.get("/:node") { request, context in
            let name = try context.parameters.require("node")
            let requested = request.uri.queryParameters["operation"].flatMap { Int64(String($0)) }
            return try await page(name, operation: requested, context: context)
        }
        group.post("/:node/probe") { _, context in
            let node = try nodes.node(named: try context.parameters.require("node"))
            _ = context.user
            await nodes.refreshStatus(of: node)
            return PageRenderer.redirect("/nodes/\(node.name)")
        }
        group.post("/:node/:action") { request, context in
            let name = try context.parameters.require("node")
            guard let action = NodeAction(rawValue: try context.parameters.require("action")) else {
                throw HTTPError(.notFound)
            }
            var request = request
            let form = try await FormBody.decode(ActionForm.self, from: &request)
            let operation = try await nodes.start(action, on: name, image: form.image, by: context.user)
            return PageRenderer.redirect("/nodes/\(name)?operation=\(operation.id!)")
        }
        return group
    }

    /// Mounted at `/operations`: an operation's live feed, for its page.
    var operationRoutes: RouteCollection<MemberRequestContext> {
        let group = RouteCollection(context: MemberRequestContext.self)
        group.get("/:id/events") { _, context in
            guard let id = Int64(try context.parameters.require("id")) else { throw HTTPError(.notFound) }
            let operation = try await nodes.operation(id, for: context.user)
            return try await nodes.feed(operation)
        }
        group.get("/:id/screenshot.png") { _, context in
            guard let id = Int64(try context.parameters.require("id")) else { throw HTTPError(.notFound) }
            return try await nodes.screenshot(of: try await nodes.operation(id, for: context.user))
        }
        return group
    }

    func consoleLog(of operation: NodeOperation?) async throws -> ConsoleLogView? {
        guard let operation, let log = try await consoles.log(of: operation) else { return nil }
        return ConsoleLogView(tail: log.tail(lines: 25), size: Format.size(Int64(log.totalBytes)),
                              textURL: "/operations/\(operation.id!)/console.txt", unavailable: log.unavailable,
                              failed: operation.state == .failed)
    }

    func page(_ name: String, operation requested: Int64?, context: MemberRequestContext) async throws -> Response {
        let user = context.user
        let node = try nodes.node(named: name)
        let known = await nodes.status(of: node, waitingAtMost: .seconds(3))
        let lease = try await leases.notices()[name]
        let grant = try await nodes.grant(name, for: user)
        let history = try await nodes.history(of: name)
        // The operation to show live: the one asked for, else the running one.
        // Another slice's operation is not shown step by step (its seed URL is among the steps).
        var current: NodeOperation?
        if let running = history.first(where: { $0.state == .running }), try await nodes.may(user, see: running) { current = running }
        if let requested, let asked = try? await nodes.operation(requested, for: user), asked.node == name { current = asked }
        var steps: [OperationStep] = []
        if let current { steps = try await nodes.steps(of: current) }
        let lastImage = history.first { $0.image != nil }?.image
        let images = ((try? nodes.images()) ?? []).map { entry in
            NodePage.Image(name: entry.name,
                           label: [entry.name, [entry.os, entry.version].compactMap { $0 }.joined(separator: " "), Format.size(entry.size)]
                            .filter { !$0.isEmpty }.joined(separator: " · "),
                           selected: entry.name == lastImage)
        }
        let page = NodePage(
            chrome: Chrome(title: name, identity: context.identity, section: "nodes"),
            name: name, host: node.host, sshPort: node.sshPort, status: known.map { DashboardPage.Row($0.status) },
            statusAt: known.map { Format.date($0.at) },
            vendor: known?.status.vendor, model: known?.status.model, firmware: known?.status.firmware,
            holder: lease?.slice, lease: lease.map(LeaseNoticeView.init), returning: try await nodes.returnsOwed()[name], canAct: grant != nil,
            denied: grant == nil ? "\(name) is not leased to any of your slices right now: you can look, not act." : nil,
            images: images, hasImages: !images.isEmpty,
            current: current.map { OperationView($0, at: node) }, currentSteps: steps.map(StepView.init),
            history: history.map { OperationView($0, at: node) },
            stats: BootStatsView(try await nodes.bootStats(of: [name])[0]),
            console: grant == nil ? nil : ConsolePanel(socket: "/nodes/\(name)/console/ws", hasTerminal: hasTerminal, isAdmin: user.isAdmin),
            consoleLog: try await consoleLog(of: current))
        return try pages.render(page, "node")
    }
}
