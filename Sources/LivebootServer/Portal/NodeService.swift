import Foundation
import Hummingbird
import LivebootCore
import PortalStore
import Seed

/// The nodes as the portal shows and acts on them: who holds which, their status and operations, and starting one
/// — with the authorization and the audit line of each action. Controllers read and act only through here.
struct NodeService: Sendable {
    let liveboot: Liveboot
    let leases: any LeaseRepository
    let operations: any OperationRepository
    let audit: any AuditLog
    let slices: SliceService
    let runner: OperationRunner
    let board: StatusBoard
    let clock: any PortalClock
    /// Counts this process's changes to leases, slices and operations (what the dashboard's rows show of the store).
    let storeRevision: any FleetRevision

    typealias Denied = Refusal

    var all: [Node] { liveboot.config.nodes }

    func node(named name: String) throws -> Node {
        guard let node = liveboot.config.nodes.first(where: { $0.name == name }) else {
            throw Denied.notFound("no node named \(name)")
        }
        return node
    }

    /// The node and the slice acting on it, if `user` may act on it now (the lease check is the database query).
    /// A refusal is audited with the action it refused.
    func authorize(_ user: User, on name: String, for action: String) async throws -> (Node, NodeGrant) {
        let node = try node(named: name)
        guard let grant = try await leases.grant(node: name, for: user, at: clock.now) else {
            try await audit.record(user: user.name, slice: nil, node: name, action: action, result: "refused: not leased to the user's slices")
            throw Denied.forbidden("\(name) is not leased to any of your slices right now")
        }
        return (node, grant)
    }

    /// An image the portal offers: a name `lb images` lists, never a path. Every other value gets the same answer,
    /// so that the field says nothing of which files exist.
    func listedImage(_ name: String) throws -> ResolvedImage {
        let listed = (try? liveboot.catalog.list()) ?? []
        guard MediaLayout.isPlainName(name), listed.contains(where: { $0.name == name || $0.shortNames.contains(name) }),
              let image = try? liveboot.catalog.resolve(name) else {
            throw Denied.invalid("unknown image: choose one of the images listed on the Images page")
        }
        return image
    }

    func start(_ action: NodeAction, on name: String, image: String?, by user: User) async throws -> NodeOperation {
        guard action.isUserAction else { throw Denied.notFound("no action \(action.rawValue)") }
        let (node, grant) = try await authorize(user, on: name, for: action.rawValue)
        // The next holder acts on a clean node: not before the previous lease's return is done.
        if let owed = try await leases.leasesToReturn(at: clock.now).last(where: { $0.node == name }) {
            try await audit.record(user: user.name, slice: grant.slice?.name, node: name, action: action.rawValue,
                                   result: "refused: being returned")
            throw Denied.conflict(Self.beingReturned(owed, now: clock.now))
        }
        var keys: [SSHPublicKey] = []
        var resolved: ResolvedImage?
        if action == .liveboot {
            guard let image, !image.isEmpty else { throw Denied.invalid("choose an image") }
            do {
                resolved = try listedImage(image)
            } catch {
                try await audit.record(user: user.name, slice: grant.slice?.name, node: name,
                                       action: "liveboot \(image.prefix(80))", result: "refused: unknown image")
                throw error
            }
            if let slice = grant.slice {
                keys = try await slices.keys(of: slice).compactMap { try? SSHPublicKey(line: $0.line) }
            }
        }
        do {
            let operation = try await runner.start(OperationRequest(action, image: resolved, keys: keys), node: node,
                                                   user: user.name, slice: grant.slice?.name)
            try await audit.record(user: user.name, slice: grant.slice?.name, node: name,
                                   action: action.rawValue + (resolved.map { " \($0.name)" } ?? ""), result: "started #\(operation.id!)")
            return operation
        } catch let error as PortalStoreError {
            try await audit.record(user: user.name, slice: grant.slice?.name, node: name, action: action.rawValue, result: "refused: \(error)")
            throw error
        }
    }

    /// One operation per node, all started together; a node that is refused (no lease, busy, being returned) does
    /// not stop the others, and says why.
    func start(_ action: NodeAction, on names: [String], image: String?, by user: User) async throws -> [BatchEntry] {
        guard !names.isEmpty else { throw Denied.invalid("choose at least one node") }
        guard names.count <= 500 else { throw Denied.invalid("at most 500 nodes at once") }
        var unique: [String] = []
        for name in names where !unique.contains(name) { unique.append(name) }
        return await withTaskGroup(of: (Int, BatchEntry).self) { group in
            for (index, name) in unique.enumerated() {
                group.addTask {
                    do {
                        return (index, BatchEntry(node: name, operation: try await start(action, on: name, image: image, by: user), refused: nil))
                    } catch {
                        return (index, BatchEntry(node: name, operation: nil, refused: "\(error)"))
                    }
                }
            }
            var entries: [(Int, BatchEntry)] = []
            for await entry in group { entries.append(entry) }
            return entries.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// "w1 is being returned after slice radio's lease ended: ready in about …", with the retry when the BMC failed.
    static func beingReturned(_ lease: LeaseView, now: Date) -> String {
        var text = "\(lease.node) is being returned after the lease of slice \(lease.slice) ended"
        if let retryAt = lease.returnRetryAt, retryAt > now {
            text += ": its BMC did not answer (\(lease.returnError ?? "no answer")); next try in \(Int(retryAt.timeIntervalSince(now).rounded(.up))) s"
        } else {
            text += ": ready in about a minute (media out, disk boot); try again then"
        }
        return text
    }

    /// The live boots of the last `days` days of each node (CLI and portal boots alike: the boot table).
    func bootStats(of names: [String], days: Int = 30) async throws -> [NodeBootStats] {
        try await liveboot.bootStats(of: names, days: days, now: clock.now)
    }

    /// An operation, visible to admins and to members of the slice it ran for.
    func operation(_ id: Int64, for user: User) async throws -> NodeOperation {
        guard let operation = try await operations.operation(id: id) else { throw Denied.notFound("no operation #\(id)") }
        if try await may(user, see: operation) { return operation }
        try await audit.record(user: user.name, slice: nil, node: operation.node, action: "view operation #\(id)",
                               result: "refused: another slice's")
        throw Denied.forbidden("operation #\(id) belongs to another slice")
    }

    /// The screen the operation's BMC showed when it failed, for whoever may see the operation.
    func screenshot(of operation: NodeOperation) async throws -> Response {
        guard let png = try await operations.screenshot(of: operation.id!) else {
            throw Denied.notFound("operation #\(operation.id!) has no screenshot")
        }
        return Response(status: .ok, headers: [.contentType: "image/png", .cacheControl: "private, max-age=3600",
                                               .init("X-Content-Type-Options")!: "nosniff"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: png)))
    }

    func may(_ user: User, see operation: NodeOperation) async throws -> Bool {
        if user.isAdmin || operation.user == user.name { return true }
        guard let sliceName = operation.slice else { return false }
        return try await slices.isMember(user, of: sliceName)
    }

    // MARK: reads

    /// Each node with its lease holder now and its last operation.
    func summaries() async throws -> [(node: Node, holder: String?, last: NodeOperation?)] {
        let holders = try await leases.holders(at: clock.now)
        let last = try await operations.lastOperations()
        return all.map { ($0, holders[$0.name], last[$0.name]) }
    }

    /// Nodes that owe a return after a lease ended, with what they wait for (the BMC's failure, the retry).
    func returnsOwed() async throws -> [String: String] {
        let now = clock.now
        let owed = try await leases.leasesToReturn(at: now)
        return Dictionary(owed.map { ($0.node, Self.beingReturned($0, now: now)) }, uniquingKeysWith: { _, last in last })
    }

    func lastOperations() async throws -> [String: NodeOperation] { try await operations.lastOperations() }

    /// The slice through which `user` may act on the node now, if any.
    func grant(_ name: String, for user: User) async throws -> NodeGrant? { try await leases.grant(node: name, for: user, at: clock.now) }
    func history(of name: String, limit: Int = 20) async throws -> [NodeOperation] { try await operations.operations(node: name, limit: limit) }
    func steps(of operation: NodeOperation) async throws -> [OperationStep] { try await operations.steps(of: operation.id!) }

    /// The live feed of an operation the caller may see (Server-Sent Events).
    func feed(_ operation: NodeOperation) async throws -> Response {
        try await OperationFeed.response(for: operation, runner: runner, operations: operations)
    }

    func images() throws -> [CatalogEntry] { try liveboot.catalog.list() }

    /// The status as the board knows it, probing the node (at most `limit`) when it does not yet.
    func status(of node: Node, waitingAtMost limit: Duration) async -> (status: NodeStatus, at: Date)? {
        await board.status(of: node, using: liveboot, waitingAtMost: limit)
    }

    @discardableResult
    func refreshStatus(of node: Node) async -> NodeStatus { await board.refresh(node, using: liveboot) }
    func statuses() async -> [NodeStatus] { await board.statuses }
}

/// One node of a multi-node action: its operation, or why it was refused.
struct BatchEntry: Encodable, Sendable {
    let node: String
    let operation: NodeOperation?
    let refused: String?
}
