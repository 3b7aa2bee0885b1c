import Foundation
import Hummingbird
import LivebootCore
import PortalStore

/// Many nodes at once: the slice page's selection started as one operation per node, followed on one page as a grid
/// of per-node progress (step, elapsed time, result), with "retry the failed ones".
struct BatchController: Sendable {
    let nodes: NodeService
    let pages: PageRenderer

    struct RunForm: Decodable {
        let action: String
        let image: String?
        let nodes: [String]?
    }

    struct BatchPage {
        let chrome: Chrome
        let grid: BatchGrid
        let refresh: String

        /// The page of these operations, refreshing its grid from `/operations/grid`.
        init(_ grid: BatchGrid, of entries: [BatchEntry]) {
            chrome = grid.chrome
            self.grid = grid
            refresh = "/operations/grid?ids=" + entries.compactMap { $0.operation?.id }.map(String.init).joined(separator: ",")
        }
    }

    /// The grid alone is also the page's refreshed fragment.
    struct BatchGrid {
        struct Row {
            let node: String
            let id: Int64?
            let state: String
            let stateClass: String
            let step: String
            let elapsed: String
            let message: String?
        }
        let chrome: Chrome
        let rows: [Row]
        let slice: String?
        let action: String
        let image: String?
        let failed: [String]
        let failedCount: Int
        let hasFailed: Bool
        let nodeCount: Int
        let done: Bool
    }

    /// Mounted at `/slices`: `POST /slices/{slice}/run`.
    var sliceRoutes: RouteCollection<MemberRequestContext> {
        let group = RouteCollection(context: MemberRequestContext.self)
        group.post("/:slice/run") { request, context in
            var request = request
            let form = try await FormBody.decode(RunForm.self, from: &request)
            guard let action = NodeAction(rawValue: form.action), action.isUserAction else {
                throw Refusal.invalid("unknown action \(form.action)")
            }
            let image = action == .liveboot ? form.image : nil
            let entries = try await nodes.start(action, on: form.nodes ?? [], image: image, by: context.user)
            let grid = try await self.grid(entries, action: action, image: image, context: context)
            return try pages.render(BatchPage(grid, of: entries), "batch",
                                    status: entries.contains { $0.operation != nil } ? .ok : .forbidden)
        }
        return group
    }

    /// Mounted at `/operations`: `GET /operations?ids=1,2,3` (the page) and `/operations/grid?ids=…` (its rows).
    var routes: RouteCollection<MemberRequestContext> {
        let group = RouteCollection(context: MemberRequestContext.self)
        group.get("") { request, context in
            let (entries, action, image) = try await self.entries(request, context: context)
            let grid = try await self.grid(entries, action: action, image: image, context: context)
            return try pages.render(BatchPage(grid, of: entries), "batch")
        }
        group.get("/grid") { request, context in
            let (entries, action, image) = try await self.entries(request, context: context)
            return try pages.render(try await self.grid(entries, action: action, image: image, context: context), "batch-grid")
        }
        return group
    }

    /// The operations named in `ids` that the user may see (at most 500).
    func entries(_ request: Request, context: MemberRequestContext) async throws -> ([BatchEntry], NodeAction, String?) {
        let ids = (request.uri.queryParameters["ids"].map(String.init) ?? "").split(separator: ",").prefix(500).compactMap { Int64($0) }
        var entries: [BatchEntry] = []
        for id in ids {
            guard let operation = try? await nodes.operation(id, for: context.user) else { continue }
            entries.append(BatchEntry(node: operation.node, operation: operation, refused: nil))
        }
        guard let first = entries.first?.operation else { throw Refusal.notFound("no such operations") }
        return (entries, NodeAction(rawValue: first.kind) ?? .liveboot, first.image)
    }

    func grid(_ entries: [BatchEntry], action: NodeAction, image: String?, context: MemberRequestContext) async throws -> BatchGrid {
        let now = Date()
        var rows: [BatchGrid.Row] = []
        for entry in entries {
            guard let operation = entry.operation else {
                rows.append(.init(node: entry.node, id: nil, state: "refused", stateClass: "ko", step: "", elapsed: "", message: entry.refused))
                continue
            }
            let view = OperationView(operation)
            let last = try await nodes.steps(of: operation).last
            let seconds = (operation.endedAt ?? now).timeIntervalSince(operation.startedAt)
            rows.append(.init(node: entry.node, id: operation.id, state: view.state, stateClass: view.stateClass,
                              step: last?.message ?? "", elapsed: String(format: "%.0f s", max(0, seconds)),
                              message: operation.state == .running ? nil : operation.message))
        }
        let failed = zip(entries, rows).filter { ["failed", "interrupted", "refused"].contains($0.1.state) }.map(\.0.node)
        let slice = entries.compactMap { $0.operation?.slice }.first
        return BatchGrid(chrome: Chrome(title: "\(action.rawValue) on \(entries.count) nodes", identity: context.identity, section: "slices"),
                         rows: rows, slice: slice, action: action.rawValue, image: image, failed: failed, failedCount: failed.count,
                         hasFailed: !failed.isEmpty && slice != nil, nodeCount: rows.count,
                         done: !rows.contains { $0.state == "running" })
    }
}
