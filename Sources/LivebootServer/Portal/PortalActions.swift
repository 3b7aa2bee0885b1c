import Foundation
import Hummingbird
import LivebootCore
import PortalStore
import Seed

/// Every portal action, with its authorization, for both faces of the portal: the HTML controllers and the JSON
/// API call these and only differ in how they answer.
struct PortalActions: Sendable {
    let users: any UserRepository
    let slices: any SliceRepository
    let leases: any LeaseRepository
    let operations: any OperationRepository
    let audit: any AuditLog
    let runner: OperationRunner
    let liveboot: Liveboot
    let administration: Administration
    var rules: LeaseRules { administration.rules }

    /// Keys per slice, at most: every seed and every slice page carries them all (11,277 keys made a 5 MB page).
    static let maxKeysPerSlice = 100

    typealias Denied = Refusal

    // MARK: Nodes

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
        guard let grant = try await leases.grant(node: name, for: user, at: Date()) else {
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
        let (node, grant) = try await authorize(user, on: name, for: action.rawValue)
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

    /// An operation, visible to admins and to members of the slice it ran for.
    func operation(_ id: Int64, for user: User) async throws -> NodeOperation {
        guard let operation = try await operations.operation(id: id) else { throw Denied.notFound("no operation #\(id)") }
        if try await may(user, see: operation) { return operation }
        try await audit.record(user: user.name, slice: nil, node: operation.node, action: "view operation #\(id)",
                               result: "refused: another slice's")
        throw Denied.forbidden("operation #\(id) belongs to another slice")
    }

    func may(_ user: User, see operation: NodeOperation) async throws -> Bool {
        if user.isAdmin || operation.user == user.name { return true }
        guard let sliceName = operation.slice, let slice = try await slices.slice(named: sliceName) else { return false }
        return try await slices.isMember(user, of: slice)
    }

    // MARK: Slices and keys

    /// A slice the user may see and change: admins any, members their own.
    func slice(named name: String, for user: User) async throws -> Slice {
        guard let slice = try await slices.slice(named: name) else { throw Denied.notFound("no slice named \(name)") }
        let member = try await slices.isMember(user, of: slice)
        guard user.isAdmin || member else {
            try await audit.record(user: user.name, slice: slice.name, node: nil, action: "open slice", result: "refused: not a member")
            throw Denied.forbidden("you are not a member of slice \(name)")
        }
        return slice
    }

    struct KeyUpload: Sendable {
        let added: [SliceKey]
        let duplicates: Int
        let errors: [(line: Int, message: String)]
    }

    /// Adds the valid keys of `text` (one key per line, `authorized_keys` style) and reports each bad line.
    /// Nothing is added when any line is bad: the user fixes the file and sends it again.
    func addKeys(_ text: String, to sliceName: String, by user: User) async throws -> KeyUpload {
        let slice = try await slice(named: sliceName, for: user)
        let parsed = SSHPublicKey.parseMany(text)
        if parsed.keys.isEmpty && parsed.errors.isEmpty { throw Denied.invalid("no key found: paste or choose a .pub file") }
        guard parsed.errors.isEmpty else { return KeyUpload(added: [], duplicates: 0, errors: parsed.errors) }
        let existing = Set(try await slices.keys(of: slice).map(\.fingerprint))
        let new = Set(parsed.keys.map(\.fingerprint)).subtracting(existing)
        guard existing.count + new.count <= Self.maxKeysPerSlice else {
            throw Denied.invalid("a slice holds at most \(Self.maxKeysPerSlice) keys: it has \(existing.count), "
                                 + "this adds \(new.count); remove keys no one uses first")
        }
        let added = try await slices.addKeys(parsed.keys, to: slice, by: user.name)
        try await audit.record(user: user.name, slice: slice.name, node: nil, action: "add keys",
                               result: added.map(\.fingerprint).joined(separator: " ").ifEmpty("nothing new"))
        return KeyUpload(added: added, duplicates: parsed.keys.count - added.count, errors: [])
    }

    func deleteKey(_ id: Int64, from sliceName: String, by user: User) async throws {
        let slice = try await slice(named: sliceName, for: user)
        guard try await slices.deleteKey(id: id, from: slice) else { throw Denied.notFound("no key #\(id) in slice \(sliceName)") }
        try await audit.record(user: user.name, slice: slice.name, node: nil, action: "delete key #\(id)", result: "ok")
    }

    // MARK: Leases

    func book(node name: String, slice sliceName: String, from: Date, hours: Double, by user: User) async throws -> Lease {
        _ = try node(named: name)
        let slice = try await slice(named: sliceName, for: user)  // refuses (and audits) another slice's
        return try await administration.book(node: name, slice: slice.name, from: from, hours: hours, by: Actor(user), isMember: true)
    }

    func cancelLease(_ id: Int64, by user: User) async throws {
        guard let lease = try await leases.lease(id: id) else {
            throw Denied.notFound("no lease #\(id)")
        }
        _ = try await slice(named: lease.slice, for: user)
        _ = try await leases.cancelLease(id: id)
        try await audit.record(user: user.name, slice: lease.slice, node: lease.node, action: "cancel lease #\(id)", result: "ok")
    }

}

extension Refusal {
    var status: HTTPResponse.Status {
        switch self { case .notFound: .notFound; case .forbidden: .forbidden; case .invalid: .badRequest }
    }
}

extension String {
    func ifEmpty(_ replacement: String) -> String { isEmpty ? replacement : self }
}
