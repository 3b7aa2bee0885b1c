import Foundation
import Seed
import LivebootCore

// The portal talks to storage through these protocols (the SQLite implementation is `PortalDatabase`).

/// Everything the portal stores, as one value: what `buildApplication` is given (the SQLite database in production).
public typealias PortalRepositories = UserRepository & SessionRepository & SliceRepository & LeaseRepository
    & OperationRepository & AuditLog & BootRegistry & FleetRevision

public protocol UserRepository: Sendable {
    func createUser(name: String, password: String, isAdmin: Bool) async throws -> User
    func user(named name: String) async throws -> User?
    func users() async throws -> [User]
    /// The user if the password matches; bcrypt runs on NIO's thread pool, off the event loops.
    func authenticate(name: String, password: String) async throws -> User?
    /// A new API token for the user (the previous one stops working). Returned once, stored hashed.
    func issueAPIToken(for user: User) async throws -> APIToken
    /// The token's user, if the token is known and not expired.
    func user(apiToken: String) async throws -> User?
    /// Sets a new password, revokes the API token and closes every session but `keepingSession` (a token).
    func changePassword(of user: User, to password: String, keepingSession: String?) async throws
}

/// An API token, shown once.
public struct APIToken: Sendable, Equatable {
    public let token: String
    public let expiresAt: Date
}

public protocol SessionRepository: Sendable {
    /// A new browser session; returns the cookie's token and the session's CSRF token.
    func openSession(for user: User, lifetime: Duration) async throws -> (token: String, csrf: String)
    func session(token: String, now: Date) async throws -> (user: User, csrf: String)?
    func closeSession(token: String) async throws
}

public protocol SliceRepository: Sendable {
    func createSlice(name: String) async throws -> Slice
    func slice(named name: String) async throws -> Slice?
    func slices() async throws -> [Slice]
    func slices(of user: User) async throws -> [Slice]
    func addMember(_ user: User, to slice: Slice) async throws
    func members(of slice: Slice) async throws -> [PublicUser]
    func isMember(_ user: User, of slice: Slice) async throws -> Bool
    func keys(of slice: Slice) async throws -> [SliceKey]
    /// Adds keys (a key already in the slice is skipped); returns those added.
    func addKeys(_ keys: [SSHPublicKey], to slice: Slice, by user: String) async throws -> [SliceKey]
    func deleteKey(id: Int64, from slice: Slice) async throws -> Bool
}

/// Who may act on a node now, and with which slice's keys.
public struct NodeGrant: Sendable, Equatable {
    public let node: String
    /// The slice that holds the node now (admins act with it too when there is one).
    public let slice: Slice?
}

/// A number that grows after each commit of this process that changes leases, slices or operations: a view computed
/// from them may be kept while it stays the same. Another process's writes (`lb admin lease`) are not counted, so such
/// a view also needs an age bound.
public protocol FleetRevision: Sendable {
    var fleetRevision: Int { get }
}

public protocol LeaseRepository: Sendable {
    /// Books `node` for `slice`; refuses an overlap naming the slice that holds it.
    func book(node: String, for slice: Slice, from: Date, to: Date, by user: String) async throws -> Lease
    func leases(endingAfter date: Date) async throws -> [LeaseView]
    func lease(id: Int64) async throws -> LeaseView?
    /// A current lease ends at `now` (its node is then returned); a future one is deleted; a past one is refused.
    func cancelLease(id: Int64, at now: Date) async throws -> LeaseView?
    /// Moves a lease's end to `end`; refused with `leaseConflict` (naming the next holder) when another lease of the
    /// node starts before it.
    func extendLease(id: Int64, to end: Date) async throws -> LeaseView
    /// Leases ended by `now` whose node has not been returned yet, oldest end first (due or waiting for a retry).
    func leasesToReturn(at now: Date) async throws -> [LeaseView]
    func markReturned(lease: Int64, at: Date) async throws
    /// A return that failed (the BMC did not answer): counted, with the error, tried again at `retryAt`.
    func markReturnFailed(lease: Int64, error: String, retryAt: Date) async throws
    /// The holder of each node at `now` (node name → slice name).
    func holders(at now: Date) async throws -> [String: String]
    /// The node, if `user` may act on it at `now`: admins always; others only when one of their slices holds
    /// a lease on it covering `now`. One query: the check cannot be skipped by a page that forgets it.
    func grant(node: String, for user: User, at now: Date) async throws -> NodeGrant?
    /// Mirrors the configured nodes (leases of removed nodes go with them).
    func syncNodes(_ names: [String]) async throws
}

public protocol OperationRepository: Sendable {
    /// Records a running operation; fails with `PortalStoreError.busy` when the node already has one.
    func startOperation(_ operation: NodeOperation) async throws -> NodeOperation
    /// Stores a step; returns it with its id (the order of an operation's steps).
    func addStep(_ step: OperationStep) async throws -> OperationStep
    func finishOperation(id: Int64, state: OperationState, message: String?, sshCommand: String?, hostKeys: [HostKey]?, media: [BootMediumRead]?,
                         bootID: String?,
                         at: Date) async throws
    func operation(id: Int64) async throws -> NodeOperation?
    /// Keeps a PNG of the server's screen with the operation (the last one taken).
    func attachScreenshot(_ png: Data, to operationID: Int64, at: Date) async throws
    func screenshot(of operationID: Int64) async throws -> Data?
    func steps(of operationID: Int64) async throws -> [OperationStep]
    func operations(node: String?, limit: Int) async throws -> [NodeOperation]
    /// The most recent operation of each node.
    func lastOperations() async throws -> [String: NodeOperation]
    /// Marks the operations left running by a previous process as interrupted; returns their nodes.
    func interruptRunningOperations(at date: Date) async throws -> [String]
}

public protocol AuditLog: Sendable {
    func record(user: String, slice: String?, node: String?, action: String, result: String) async throws
    func auditEntries(limit: Int) async throws -> [AuditEntry]
}

public enum PortalStoreError: Error, Equatable, CustomStringConvertible {
    case nameTaken(kind: String, name: String)
    case invalidName(kind: String, name: String)
    case weakPassword
    case unknownNode(String)
    case leaseConflict(node: String, slice: String, from: Date, to: Date)
    case badWindow
    case invalidLease(String)
    case passwordTooLong
    case busy(node: String, operation: Int64)

    public var description: String {
        switch self {
        case .nameTaken(let kind, let name): "a \(kind) named \(name) already exists"
        case .invalidName(let kind, let name):
            "\(kind) name \"\(name)\" is not valid: use 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        case .weakPassword: "the password must have at least 10 characters"
        case .unknownNode(let node): "no node named \(node)"
        case .leaseConflict(let node, let slice, let from, let to):
            "\(node) is already leased to slice \(slice) from \(Self.format(from)) to \(Self.format(to))"
        case .badWindow: "a lease must end after it starts"
        case .invalidLease(let why): why
        case .passwordTooLong: "the password must have at most 72 bytes (bcrypt reads no further)"
        case .busy(let node, let operation): "\(node) is busy with operation #\(operation); wait for it to finish"
        }
    }

    static func format(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }
}
