import Foundation

/// Why an action was refused, in words for the person who asked. The portal maps each to its HTTP status; the CLI
/// prints it and exits 2.
public enum Refusal: Error, Sendable, CustomStringConvertible, Equatable {
    case notFound(String)
    case forbidden(String)
    case invalid(String)
    /// Not now: the target is in a state that forbids it for a while (a node being returned).
    case conflict(String)

    public var description: String {
        switch self { case .notFound(let m), .forbidden(let m), .invalid(let m), .conflict(let m): m }
    }
}

/// Who acts: a portal user, or an administrator at the gatekeeper's shell (`lb admin`, named `cli:<login>` in the
/// audit log). Both go through the same rules.
public struct Actor: Sendable, Equatable {
    public let name: String
    public let isAdmin: Bool

    public init(_ user: User) {
        name = user.name
        isAdmin = user.isAdmin
    }

    public static func shell(login: String) -> Actor { Actor(name: "cli:\(login)", isAdmin: true) }

    private init(name: String, isAdmin: Bool) {
        self.name = name
        self.isAdmin = isAdmin
    }
}

/// How far slice members (not admins) may book nodes themselves.
public struct LeaseRules: Sendable {
    /// Hours a slice may hold one node from now on, all its leases of that node counted: back-to-back 8-hour leases
    /// are one long lease.
    public var maxHours: Double = 8
    public var maxDaysAhead: Double = 14
    /// A start a little in the past is a form filled in slowly; more is booking the past.
    public var startSlack: TimeInterval = 300
    /// Nobody, admins included, books more than this at once.
    public var longest: TimeInterval = 366 * 86400

    public init() {}
}

/// Users, slices, memberships and leases, with their rules and their audit lines: one service for the Admin page,
/// the portal's booking form and `lb admin`, so that each rule and each audit line exists once.
public struct Administration: Sendable {
    let users: any UserRepository
    let slices: any SliceRepository
    let leases: any LeaseRepository
    let audit: any AuditLog
    public let rules: LeaseRules

    public init(users: any UserRepository, slices: any SliceRepository, leases: any LeaseRepository, audit: any AuditLog,
                rules: LeaseRules = LeaseRules()) {
        self.users = users
        self.slices = slices
        self.leases = leases
        self.audit = audit
        self.rules = rules
    }

    private func requireAdmin(_ actor: Actor) throws {
        guard actor.isAdmin else { throw Refusal.forbidden("administrators only") }
    }

    // MARK: people

    public func addUser(name: String, password: String, isAdmin: Bool, by actor: Actor) async throws -> User {
        try requireAdmin(actor)
        let user = try await users.createUser(name: name, password: password, isAdmin: isAdmin)
        try await audit.record(user: actor.name, slice: nil, node: nil, action: "add \(isAdmin ? "admin" : "user") \(user.name)", result: "ok")
        return user
    }

    public func addSlice(name: String, by actor: Actor) async throws -> Slice {
        try requireAdmin(actor)
        let slice = try await slices.createSlice(name: name)
        try await audit.record(user: actor.name, slice: slice.name, node: nil, action: "add slice", result: "ok")
        return slice
    }

    /// Adds an existing user to a slice; with `creatingSlice`, a slice that does not exist yet is made first.
    public func addMember(_ userName: String, to sliceName: String, creatingSlice: Bool = false, by actor: Actor) async throws -> (User, Slice) {
        try requireAdmin(actor)
        guard let user = try await users.user(named: userName) else { throw Refusal.invalid("no user named \(userName)") }
        var slice = try await slices.slice(named: sliceName)
        if slice == nil, creatingSlice { slice = try await addSlice(name: sliceName, by: actor) }
        guard let slice else { throw Refusal.invalid("no slice named \(sliceName)") }
        try await slices.addMember(user, to: slice)
        try await audit.record(user: actor.name, slice: slice.name, node: nil, action: "add member \(user.name)", result: "ok")
        return (user, slice)
    }

    public func setPassword(of userName: String, to password: String, by actor: Actor) async throws {
        try requireAdmin(actor)
        guard let user = try await users.user(named: userName) else { throw Refusal.invalid("no user named \(userName)") }
        try await users.changePassword(of: user, to: password, keepingSession: nil)
        try await audit.record(user: actor.name, slice: nil, node: nil, action: "set password of \(user.name)", result: "ok")
    }

    public func issueToken(for userName: String, by actor: Actor) async throws -> APIToken {
        try requireAdmin(actor)
        guard let user = try await users.user(named: userName) else { throw Refusal.invalid("no user named \(userName)") }
        let token = try await users.issueAPIToken(for: user)
        try await audit.record(user: actor.name, slice: nil, node: nil, action: "new API token for \(user.name)", result: "ok")
        return token
    }

    /// What the Admin page shows: every user with their slices, the slices, the latest audit lines.
    public struct Overview: Sendable {
        public let users: [(user: User, slices: [String])]
        public let slices: [String]
        public let audit: [AuditEntry]
    }

    public func overview(for actor: Actor, auditLines: Int = 100) async throws -> Overview {
        try requireAdmin(actor)
        var people: [(User, [String])] = []
        for user in try await users.users() { people.append((user, try await slices.slices(of: user).map(\.name))) }
        return Overview(users: people, slices: try await slices.slices().map(\.name), audit: try await audit.auditEntries(limit: auditLines))
    }

    // MARK: leases

    /// Extends a current lease by `hours`, within the booking rules: members for their own slices, the slice's hold
    /// on the node at most `rules.maxHours` from now; never over the next holder's lease (refused naming it).
    public func extend(lease id: Int64, byHours hours: Double, by actor: Actor, isMember: Bool, now: Date = Date()) async throws -> LeaseView {
        guard let lease = try await leases.lease(id: id) else { throw Refusal.notFound("no lease #\(id)") }
        guard actor.isAdmin || isMember else { throw Refusal.forbidden("you are not a member of slice \(lease.slice)") }
        guard hours.isFinite, hours > 0 else { throw Refusal.invalid("an extension lasts some time: hours is a number above 0") }
        guard lease.startsAt <= now, lease.endsAt > now else { throw Refusal.invalid("lease #\(id) is not current: only a current lease is extended") }
        let end = lease.endsAt.addingTimeInterval(hours * 3600)
        guard end.timeIntervalSince(lease.startsAt) <= rules.longest else {
            throw Refusal.invalid("a lease lasts at most \(Int(rules.longest / 86400)) days")
        }
        if !actor.isAdmin {
            let held = try await heldSeconds(node: lease.node, slice: lease.sliceId, from: now)
            guard held + hours * 3600 <= rules.maxHours * 3600 else {
                throw Refusal.forbidden("slice \(lease.slice) would hold \(lease.node) for more than \(Int(rules.maxHours)) hours from now "
                                        + "(it holds it for \(Self.hours(held)) already)")
            }
        }
        do {
            let extended = try await leases.extendLease(id: id, to: end)
            try await audit.record(user: actor.name, slice: lease.slice, node: lease.node, action: "extend lease #\(id)",
                                   result: "ok: until \(PortalStoreError.format(end))")
            return extended
        } catch let error as PortalStoreError {
            try await audit.record(user: actor.name, slice: lease.slice, node: lease.node, action: "extend lease #\(id)", result: "refused: \(error)")
            throw error
        }
    }

    /// How long the slice holds the node from `now` on, all its leases of it counted (the members' rule's measure).
    func heldSeconds(node: String, slice: Int64?, from now: Date) async throws -> TimeInterval {
        try await leases.leases(endingAfter: now)
            .filter { $0.node == node && $0.sliceId == slice }
            .reduce(0.0) { $0 + $1.endsAt.timeIntervalSince(max($1.startsAt, now)) }
    }

    static func hours(_ seconds: TimeInterval) -> String {
        seconds < 3600 ? "\(Int((seconds / 60).rounded(.up))) min" : String(format: "%.1f h", seconds / 3600)
    }

    /// Books `node` for `slice` from `from` for `hours`: members within `rules` and only for their own slices,
    /// admins for any slice and any time (up to `rules.longest`); overlaps are refused by the store, naming the
    /// holder. Every outcome is audited.
    public func book(node: String, slice sliceName: String, from: Date, hours: Double, by actor: Actor,
                     isMember: Bool, now: Date = Date()) async throws -> Lease {
        guard let slice = try await slices.slice(named: sliceName) else { throw Refusal.notFound("no slice named \(sliceName)") }
        guard actor.isAdmin || isMember else { throw Refusal.forbidden("you are not a member of slice \(sliceName)") }
        guard hours.isFinite, hours > 0 else { throw Refusal.invalid("a lease must last some time: hours is a number above 0") }
        guard hours * 3600 <= rules.longest else { throw Refusal.invalid("a lease lasts at most \(Int(rules.longest / 86400)) days") }
        let to = from.addingTimeInterval(hours * 3600)
        if !actor.isAdmin {
            guard from.timeIntervalSince(now) >= -rules.startSlack else { throw Refusal.forbidden("a lease cannot start in the past") }
            guard hours <= rules.maxHours else { throw Refusal.forbidden("slice members may book at most \(Int(rules.maxHours)) hours at a time") }
            guard from.timeIntervalSince(now) <= rules.maxDaysAhead * 86400 else {
                throw Refusal.forbidden("slice members may book at most \(Int(rules.maxDaysAhead)) days ahead")
            }
            let held = try await heldSeconds(node: node, slice: slice.id, from: now)
            guard held + to.timeIntervalSince(max(from, now)) <= rules.maxHours * 3600 else {
                throw Refusal.forbidden("slice \(slice.name) would hold \(node) for more than \(Int(rules.maxHours)) hours from now "
                                        + "(it holds it for \(Int((held / 3600).rounded(.up))) h already)")
            }
        }
        do {
            let lease = try await leases.book(node: node, for: slice, from: from, to: to, by: actor.name)
            try await audit.record(user: actor.name, slice: slice.name, node: node, action: "book lease", result: "#\(lease.id!)")
            return lease
        } catch let error as PortalStoreError {
            try await audit.record(user: actor.name, slice: slice.name, node: node, action: "book lease", result: "refused: \(error)")
            throw error
        }
    }
}
