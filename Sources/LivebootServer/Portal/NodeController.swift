import Foundation
import Hummingbird
import LivebootCore
import NIOCore
import PortalStore

/// A node's page, its actions (live boot, disk boot, power), and the live feed of an operation.
struct NodeController: Sendable {
    let actions: PortalActions
    let board: StatusBoard
    let pages: PageRenderer

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
        let canAct: Bool
        let denied: String?
        let images: [Image]
        let hasImages: Bool
        let current: OperationView?
        let currentSteps: [StepView]
        let history: [OperationView]
    }

    struct ActionForm: Decodable {
        let image: String?
    }

    func addRoutes(to group: RouterGroup<MemberRequestContext>) {
        group.get("/nodes/:node") { request, context in
            let name = try context.parameters.require("node")
            let requested = request.uri.queryParameters["operation"].flatMap { Int64(String($0)) }
            return try await page(name, operation: requested, context: context)
        }
        group.post("/nodes/:node/probe") { _, context in
            let node = try actions.node(named: try context.parameters.require("node"))
            _ = context.user
            await board.refresh(node, using: actions.liveboot)
            return PageRenderer.redirect("/nodes/\(node.name)")
        }
        group.post("/nodes/:node/:action") { request, context in
            let name = try context.parameters.require("node")
            guard let action = NodeAction(rawValue: try context.parameters.require("action")) else {
                throw HTTPError(.notFound)
            }
            var request = request
            let form = try await FormBody.decode(ActionForm.self, from: &request)
            let operation = try await actions.start(action, on: name, image: form.image, by: context.user)
            return PageRenderer.redirect("/nodes/\(name)?operation=\(operation.id!)")
        }
        group.get("/operations/:id/events") { _, context in
            guard let id = Int64(try context.parameters.require("id")) else { throw HTTPError(.notFound) }
            let operation = try await actions.operation(id, for: context.user)
            return try await OperationFeed.response(for: operation, runner: actions.runner, operations: actions.operations)
        }
    }

    func page(_ name: String, operation requested: Int64?, context: MemberRequestContext) async throws -> Response {
        let user = context.user
        let node = try actions.node(named: name)
        let known = await board.status(of: node, using: actions.liveboot, waitingAtMost: .seconds(3))
        let holders = try await actions.leases.holders(at: Date())
        let grant = try await actions.leases.grant(node: name, for: user, at: Date())
        let history = try await actions.operations.operations(node: name, limit: 20)
        // The operation to show live: the one asked for, else the running one.
        // Another slice's operation is not shown step by step (its seed URL is among the steps).
        var current: NodeOperation?
        if let running = history.first(where: { $0.state == .running }), try await actions.may(user, see: running) { current = running }
        if let requested, let asked = try? await actions.operation(requested, for: user), asked.node == name { current = asked }
        var steps: [OperationStep] = []
        if let current { steps = try await actions.operations.steps(of: current.id!) }
        let lastImage = history.first { $0.image != nil }?.image
        let images = ((try? actions.liveboot.catalog.list()) ?? []).map { entry in
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
            holder: holders[name], canAct: grant != nil,
            denied: grant == nil ? "\(name) is not leased to any of your slices right now: you can look, not act." : nil,
            images: images, hasImages: !images.isEmpty,
            current: current.map(OperationView.init), currentSteps: steps.map(StepView.init),
            history: history.map(OperationView.init))
        return try pages.render(page, "node")
    }
}

/// Server-Sent Events for one operation: the stored steps first, then each new one, then `done`.
enum OperationFeed {
    static func response(for operation: NodeOperation, runner: OperationRunner, operations: any OperationRepository) async throws -> Response {
        let id = operation.id!
        // Follow before reading the stored steps: nothing falls between the two; duplicates are dropped by step id.
        let live = await runner.follow(id)
        let stored = try await operations.steps(of: id)
        let finished = operation.state == .running ? nil : operation
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let body = ResponseBody { writer in
            var lastID: Int64 = 0
            func send(_ event: String, _ value: some Encodable, id: Int64? = nil) async throws {
                let json = String(decoding: try encoder.encode(value), as: UTF8.self)
                var text = "event: \(event)\n"
                if let id { text += "id: \(id)\n" }
                text += "data: \(json)\n\n"
                try await writer.write(ByteBuffer(string: text))
            }
            for step in stored {
                try await send("step", step, id: step.id)
                lastID = step.id ?? lastID
            }
            if let finished {
                try await send("done", finished)
            } else {
                // The operation may have ended between the read and the follow: check once more.
                if let now = try await operations.operation(id: id), now.state != .running {
                    for step in try await operations.steps(of: id) where (step.id ?? 0) > lastID { try await send("step", step, id: step.id) }
                    try await send("done", now)
                } else {
                    for await event in live {
                        switch event {
                        case .step(let step):
                            guard (step.id ?? Int64.max) > lastID else { continue }  // already sent from the table
                            try await send("step", step, id: step.id)
                        case .finished(let operation):
                            try await send("done", operation)
                        }
                    }
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok,
                        headers: [.contentType: "text/event-stream", .cacheControl: "no-store", .init("X-Accel-Buffering")!: "no"],
                        body: body)
    }
}
