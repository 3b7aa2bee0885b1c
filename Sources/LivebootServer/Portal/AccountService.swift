import Foundation
import PortalStore

/// Logging in, sessions, API tokens and passwords, with the throttle and the audit line of each: for the login form,
/// the Account page and the API's token endpoint alike.
struct AccountService: Sendable {
    let users: any UserRepository
    let sessions: any SessionRepository
    let slices: SliceService
    let audit: any AuditLog
    let throttle: LoginThrottle

    enum Check: Sendable {
        case locked(retryAfter: Int)
        case refused
        case accepted(User)
    }

    /// A password check, throttled; refusals and the first refusal of a lockout are audited under `action`.
    func check(name: String, password: String, from address: String, for action: String) async throws -> Check {
        switch try await throttle.attempt(name: name, password: password, from: address, users: users) {
        case .locked(let wait, let newLockout):
            if newLockout {
                try await audit.record(user: name, slice: nil, node: nil, action: action, result: "locked out for \(wait) s from \(address)")
            }
            return .locked(retryAfter: wait)
        case .refused:
            try await audit.record(user: name, slice: nil, node: nil, action: action, result: "refused from \(address)")
            return .refused
        case .accepted(let user):
            return .accepted(user)
        }
    }

    func openSession(for user: User, lifetime: Duration, from address: String) async throws -> (token: String, csrf: String) {
        let session = try await sessions.openSession(for: user, lifetime: lifetime)
        try await audit.record(user: user.name, slice: nil, node: nil, action: "login", result: "ok from \(address)")
        return session
    }

    func closeSession(_ identity: Identity) async throws {
        if case .session(let token) = identity.means { try await sessions.closeSession(token: token) }
    }

    func issueToken(for user: User) async throws -> APIToken {
        let token = try await users.issueAPIToken(for: user)
        try await audit.record(user: user.name, slice: nil, node: nil, action: "new API token", result: "ok")
        return token
    }

    /// Changes the caller's own password after checking the current one; their other sessions close.
    func changePassword(of identity: Identity, current: String, to password: String, from address: String) async throws -> Check {
        let user = identity.user
        let checked = try await check(name: user.name, password: current, from: address, for: "change password")
        guard case .accepted = checked else { return checked }
        var kept: String?
        if case .session(let token) = identity.means { kept = token }
        try await users.changePassword(of: user, to: password, keepingSession: kept)
        try await audit.record(user: user.name, slice: nil, node: nil, action: "change password", result: "ok")
        return checked
    }

    func slices(of user: User) async throws -> [String] { try await slices.visible(to: user).map(\.name) }
}
