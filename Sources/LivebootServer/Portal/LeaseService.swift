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

    /// The lease that holds each node now, as the pages say it.
    func notices() async throws -> [String: LeaseNotice] {
        let now = clock.now
        return try await current().mapValues { LeaseNotice($0, now: now, warning: warning) }
    }

    /// The lease that holds each node now.
    func current() async throws -> [String: LeaseView] {
        let now = clock.now
        let leases = try await leases.leases(endingAfter: now).filter { $0.startsAt <= now }
        return Dictionary(leases.map { ($0.node, $0) }, uniquingKeysWith: { first, _ in first })
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

/// A current lease as pages and the API show it: until when and, from `leases.warn-minutes` before its end, that it
/// is ending, with the time left.
struct LeaseNotice: Encodable, Sendable {
    let id: Int64
    let node: String
    let slice: String
    let endsAt: Date
    let secondsLeft: Int
    let endingSoon: Bool

    init(_ lease: LeaseView, now: Date, warning: Duration) {
        id = lease.id
        node = lease.node
        slice = lease.slice
        endsAt = lease.endsAt
        secondsLeft = max(0, Int(lease.endsAt.timeIntervalSince(now)))
        endingSoon = Double(secondsLeft) <= Double(warning.components.seconds)
    }

    /// "12 min", "1 h 05 min".
    var left: String {
        let minutes = (secondsLeft + 59) / 60
        return minutes < 60 ? "\(minutes) min" : String(format: "%d h %02d min", minutes / 60, minutes % 60)
    }

    enum CodingKeys: String, CodingKey { case id, slice, endsAt, secondsLeft, endingSoon }
}

/// The portal's services, one per area; controllers are given the ones they need.
struct PortalServices: Sendable {
    let nodes: NodeService
    let slices: SliceService
    let leases: LeaseService
    let administration: Administration
}
