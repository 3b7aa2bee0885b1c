import Foundation
import LivebootCore
import Yams

/// The web portal's settings (`portal:` in the configuration file): its listener, its database, its sessions and
/// tokens. The portal's own: the core reads nodes, images and timings, and hands the file on.
public struct PortalConfig: Sendable {
    /// The portal's own listener (`portal.listen`, `portal.port`, read by the core), apart from the vmedia one: the
    /// users' network.
    public var listen = PortalAddress().listen
    public var port = PortalAddress().port
    /// The SQLite database; relative paths are read from the config's folder.
    public var database: String = "/var/lib/liveboot/portal.sqlite"
    public var sessionHours: Double = 12
    /// Set when the portal is reached over TLS (a terminating proxy): cookies get `Secure`.
    public var secureCookies = false
    /// bcrypt cost of new password hashes.
    public var bcryptCost: Int = 12
    /// How long an API token lives.
    public var tokenDays: Double = 90
    /// Reverse proxies whose `X-Forwarded-For` is believed (their addresses, exactly): without them, the client's
    /// address behind a proxy would be the proxy's, and one throttle key would hold everyone.
    public var trustedProxies: [String] = []

    /// `portal.metrics-token`: the bearer token `GET /metrics` asks for; without it, metrics are for loopback only.
    public var metricsToken: String?

    /// `leases:`: what the end of a lease does to its node.
    public var leaseEnd = LeaseEndPolicy()

    public init() {}

    /// The `portal:` section of the configuration's file, checked; defaults where it says nothing.
    public init(_ config: LivebootConfig) throws {
        let path = config.path
        let section: Raw?
        do {
            let file = try YAMLDecoder().decode(File.self, from: config.source)
            section = file.portal
            if let leases = file.leases {
                leaseEnd.action = leases.onEnd ?? leaseEnd.action
                if let minutes = leases.warnMinutes {
                    guard minutes >= 0, minutes <= 24 * 60 else {
                        throw LivebootError.configInvalid(path: path, reason: "leases.warn-minutes must be between 0 and 1440")
                    }
                    leaseEnd.warning = .seconds(Int64(minutes * 60))
                }
                if let seconds = leases.retrySeconds {
                    guard seconds >= 0.01, seconds <= 3600 else {
                        throw LivebootError.configInvalid(path: path, reason: "leases.retry-seconds must be between 0.01 and 3600")
                    }
                    leaseEnd.firstRetry = .milliseconds(Int64(seconds * 1000))
                }
            }
        } catch let error as LivebootError {
            throw error
        } catch {
            throw LivebootError.configInvalid(path: path, reason: LivebootConfig.explain(error))
        }
        listen = config.portal.listen
        port = config.portal.port
        guard let p = section else { return }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        if let database = p.database {
            self.database = database.hasPrefix("/") ? database : directory.appendingPathComponent(database).path
        }
        sessionHours = p.sessionHours ?? sessionHours
        secureCookies = p.secureCookies ?? secureCookies
        trustedProxies = p.trustedProxies ?? trustedProxies
        if let token = p.metricsToken {
            guard token.count >= 16 else {
                throw LivebootError.configInvalid(path: path, reason: "portal.metrics-token must be at least 16 characters")
            }
            metricsToken = token
        }
        if let days = p.tokenDays {
            guard days > 0, days <= 3650 else {
                throw LivebootError.configInvalid(path: path, reason: "portal.token-days must be between 0 and 3650")
            }
            tokenDays = days
        }
        if let cost = p.bcryptCost {
            guard (4...31).contains(cost) else {
                throw LivebootError.configInvalid(path: path, reason: "portal.bcrypt-cost must be between 4 and 31")
            }
            bcryptCost = cost
        }
    }

    /// The database it names, opened.
    public func openDatabase() throws -> PortalDatabase {
        try PortalDatabase(path: database, bcryptCost: UInt8(bcryptCost), tokenDays: tokenDays)
    }

    private struct File: Decodable {
        let portal: Raw?
        let leases: Leases?
    }

    private struct Leases: Decodable {
        var onEnd: LeaseEndAction?
        var retrySeconds: Double?
        var warnMinutes: Double?
        enum CodingKeys: String, CodingKey { case onEnd = "on-end", retrySeconds = "retry-seconds", warnMinutes = "warn-minutes" }
    }

    private struct Raw: Decodable {
        var database: String?
        var sessionHours: Double?
        var secureCookies: Bool?
        var bcryptCost: Int?
        var tokenDays: Double?
        var trustedProxies: [String]?
        var metricsToken: String?
        enum CodingKeys: String, CodingKey {
            case database, sessionHours = "session-hours", secureCookies = "secure-cookies", bcryptCost = "bcrypt-cost"
            case tokenDays = "token-days", trustedProxies = "trusted-proxies", metricsToken = "metrics-token"
        }
    }
}

/// What the end of a lease does to the node (`leases:` in the configuration).
public struct LeaseEndPolicy: Sendable {
    public var action: LeaseEndAction = .diskboot
    /// The first pause after a failed return; each next one doubles, up to `longestRetry`.
    public var firstRetry: Duration = .seconds(30)
    public var longestRetry: Duration = .seconds(600)
    /// From this long before its end, a lease's pages say it is ending (`leases.warn-minutes`).
    public var warning: Duration = .seconds(15 * 60)

    /// The name returns are recorded under (operations, audit).
    public static let actor = "liveboot (lease end)"

    public init() {}

    public func retryDelay(after attempts: Int) -> Duration {
        var delay = firstRetry
        for _ in 0..<min(attempts, 16) where delay < longestRetry { delay = delay * 2 }
        return min(delay, longestRetry)
    }
}
