import Foundation
import Hummingbird
import LivebootCore
import PortalStore
import Seed

/// Leases: who holds which node when, booking within the rules (the administration's), cancelling.
struct LeaseService: Sendable {
    let leases: any LeaseRepository
    let audit: any AuditLog
    let slices: SliceService
    let administration: Administration
    let nodes: [String]
    let clock: any PortalClock
    /// From this long before its end, a lease is said to be ending.
    let warning: Duration

    typealias Denied = Refusal
    var rules: LeaseRules { administration.rules }

    func node(named name: String) throws {
        guard nodes.contains(name) else { throw Denied.notFound("no node named \(name)") }
    }

    /// Current and future leases.
    func upcoming() async throws -> [LeaseView] { try await leases.leases(endingAfter: clock.now) }

    func book(node name: String, slice sliceName: String, from: Date, hours: Double, by user: User) async throws -> Lease {
        try node(named: name)
        let slice = try await slices.slice(named: sliceName, for: user)  // refuses (and audits) another slice's
        return try await administration.book(node: name, slice: slice.name, from: from, hours: hours, by: Actor(user), isMember: true,
                                             now: clock.now)
    }

    /// Extends a current lease of one of the user's slices by `hours` (admins: any), within the booking rules.
    func extend(_ id: Int64, byHours hours: Double, by user: User) async throws -> LeaseView {
        guard let lease = try await leases.lease(id: id) else { throw Denied.notFound("no lease #\(id)") }
        _ = try await slices.slice(named: lease.slice, for: user)  // refuses (and audits) another slice's
        return try await administration.extend(lease: id, byHours: hours, by: Actor(user), isMember: true, now: clock.now)
    }

    /// The lease that holds each node now, as the pages say it (its slice is the node's holder).
    func notices() async throws -> [String: LeaseNotice] {
        try await LeaseNotice.current(leases, at: clock.now, warning: warning)
    }

    func cancelLease(_ id: Int64, by user: User) async throws {
        guard let lease = try await leases.lease(id: id) else {
            throw Denied.notFound("no lease #\(id)")
        }
        _ = try await slices.slice(named: lease.slice, for: user)
        let now = clock.now
        do {
            _ = try await leases.cancelLease(id: id, at: now)
        } catch let error as PortalStoreError {
            throw Denied.invalid("\(error)")
        }
        let current = lease.startsAt <= now
        try await audit.record(user: user.name, slice: lease.slice, node: lease.node, action: "cancel lease #\(id)",
                               result: current ? "ok: ended now, the node is returned" : "ok")
    }
}

extension Refusal {
    var status: HTTPResponse.Status {
        switch self { case .notFound: .notFound; case .forbidden: .forbidden; case .invalid: .badRequest; case .conflict: .conflict }
    }
}

/// The portal's services, one per area; controllers are given the ones they need.
struct PortalServices: Sendable {
    let nodes: NodeService
    let slices: SliceService
    let leases: LeaseService
    let administration: Administration
}
