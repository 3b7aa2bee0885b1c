import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import PortalStore

/// Password guessing, slowed down without handing anyone a way to lock others out.
///
/// - Each (name, address) pair has 5 tries; then it waits 30 s, doubled at each further failure up to 15 min. Another
///   address is another pair: five wrong passwords from one place do not lock the account for its owner elsewhere.
/// - Each address has a budget of 30 failures per 5 minutes, whatever names it tries (password spraying).
/// - An attempt is counted *before* the bcrypt check is awaited: actor methods are reentrant at `await`, and a check
///   that counted after let 30 concurrent guesses all pass a limit of 5.
actor LoginThrottle {
    struct Policy: Sendable {
        var pairLimit = 5
        var firstWait: TimeInterval = 30
        var longestWait: TimeInterval = 900
        var addressLimit = 30
        var addressWindow: TimeInterval = 300
    }

    private struct PairState {
        var failures = 0
        var lockedUntil = Date.distantPast
        var lastFailure = Date.distantPast
        /// The current lockout has been refused (and audited) once.
        var lockoutReported = false
    }

    let policy: Policy
    private var pairs: [String: PairState] = [:]
    private var addressFailures: [String: [Date]] = [:]
    private var addressLockoutReported: Set<String> = []

    init(policy: Policy = Policy()) { self.policy = policy }

    enum Attempt: Sendable {
        /// `newLockout`: the first refusal of this lockout (worth one audit line, not one per try).
        case locked(retryAfter: Int, newLockout: Bool)
        case refused
        case accepted(User)
    }

    /// A password check counted against the (name, address) pair and the address (the login form and the API's
    /// token endpoint both go through here).
    func attempt(name: String, password: String, from address: String, users: any UserRepository,
                 now: Date = Date()) async throws -> Attempt {
        prune(now: now)
        let pairKey = String(name.lowercased().prefix(80)) + "|" + address
        if let locked = lockout(pair: pairKey, address: address, now: now) { return locked }
        // Counted now, taken back if the password is right.
        var pair = pairs[pairKey] ?? PairState()
        pair.failures += 1
        pair.lastFailure = now
        if pair.failures >= policy.pairLimit {
            let doublings = Double(pair.failures - policy.pairLimit)
            pair.lockedUntil = now.addingTimeInterval(min(policy.longestWait, policy.firstWait * pow(2, doublings)))
            pair.lockoutReported = false
        }
        pairs[pairKey] = pair
        addressFailures[address, default: []].append(now)

        let user: User?
        do {
            user = try await users.authenticate(name: name, password: password)
        } catch {
            forgive(pairKey, address: address, at: now)
            throw error
        }
        guard let user else { return .refused }
        pairs[pairKey] = nil
        forgive(nil, address: address, at: now)
        return .accepted(user)
    }

    private func lockout(pair key: String, address: String, now: Date) -> Attempt? {
        var waits: [TimeInterval] = []
        var newLockout = false
        if var pair = pairs[key], pair.lockedUntil > now {
            waits.append(pair.lockedUntil.timeIntervalSince(now))
            if !pair.lockoutReported {
                newLockout = true
                pair.lockoutReported = true
                pairs[key] = pair
            }
        }
        let recent = (addressFailures[address] ?? []).filter { now.timeIntervalSince($0) < policy.addressWindow }
        addressFailures[address] = recent.isEmpty ? nil : recent
        if recent.count >= policy.addressLimit, let oldest = recent.first {
            waits.append(policy.addressWindow - now.timeIntervalSince(oldest))
            if !addressLockoutReported.contains(address) {
                newLockout = true
                addressLockoutReported.insert(address)
            }
        } else {
            addressLockoutReported.remove(address)
        }
        guard let wait = waits.max() else { return nil }
        return .locked(retryAfter: max(1, Int(wait.rounded(.up))), newLockout: newLockout)
    }

    /// Takes back one counted failure (a right password, or a check that could not run).
    private func forgive(_ pairKey: String?, address: String, at date: Date) {
        if let pairKey, var pair = pairs[pairKey] {
            pair.failures -= 1
            if pair.failures < policy.pairLimit { pair.lockedUntil = .distantPast }
            pairs[pairKey] = pair.failures > 0 ? pair : nil
        }
        if var times = addressFailures[address], let index = times.lastIndex(of: date) {
            times.remove(at: index)
            addressFailures[address] = times.isEmpty ? nil : times
        }
    }

    /// Forgets pairs that have not failed for twice the longest wait, so that the table cannot grow without bound.
    private func prune(now: Date) {
        guard pairs.count > 10_000 || addressFailures.count > 10_000 else { return }
        pairs = pairs.filter { now.timeIntervalSince($0.value.lastFailure) < 2 * policy.longestWait }
        addressFailures = addressFailures.filter { $0.value.contains { now.timeIntervalSince($0) < policy.addressWindow } }
    }
}

/// The client's address: the peer's, or — when the peer is one of the configured reverse proxies — the rightmost
/// `X-Forwarded-For` entry that is not a proxy (entries to its left are the client's own claims).
struct ClientAddress: RouterMiddleware {
    typealias Context = PortalRequestContext
    let trustedProxies: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !trustedProxies.isEmpty, trustedProxies.contains(context.remoteAddress) else { return try await next(request, context) }
        var context = context
        context.remoteAddress = Self.client(forwardedFor: request.headers[values: .xForwardedFor], proxies: trustedProxies)
            ?? context.remoteAddress
        return try await next(request, context)
    }

    static func client(forwardedFor values: [String], proxies: Set<String>) -> String? {
        let hops = values.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        return hops.reversed().first { !$0.isEmpty && !proxies.contains($0) }.map { String($0.prefix(64)) }
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}

/// The login form's CSRF token. There is no session yet, so it is a double-submit cookie — signed with a key of
/// this process, so that a client cannot pick its own cookie/field pair (say, one planted by a sibling subdomain).
struct LoginTokens: Sendable {
    private let keyBytes: Data

    init() { keyBytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) } }

    func make() -> String {
        let nonce = PortalDatabase.randomToken()
        return nonce + "." + signature(of: nonce)
    }

    func isValid(_ token: String) -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 43 else { return false }
        return signature(of: String(parts[0])).constantTimeEquals(String(parts[1]))
    }

    private func signature(of nonce: String) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Data(nonce.utf8), using: SymmetricKey(data: keyBytes))).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
