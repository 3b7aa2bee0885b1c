import Foundation
import GRDB
import LivebootCore

// One struct per table. They are `Codable` records for GRDB and the values the portal and its JSON API hand out.

public struct User: Codable, Sendable, Hashable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "user"
    public var id: Int64?
    public var name: String
    /// bcrypt; never leaves this module's queries (`Encodable` output goes through `PublicUser`).
    var passwordHash: String
    public var isAdmin: Bool
    /// SHA-256 of the user's API token: the token itself is shown once and never stored.
    var apiTokenHash: String?
    public var createdAt: Date
    /// When the API token stops working.
    public var apiTokenExpiresAt: Date?

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
    public var publicView: PublicUser { PublicUser(id: id ?? 0, name: name, isAdmin: isAdmin) }
}

/// A user as pages and the API show it: no hash of anything.
public struct PublicUser: Codable, Sendable, Hashable {
    public let id: Int64
    public let name: String
    public let isAdmin: Bool
}

public struct Slice: Codable, Sendable, Hashable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "slice"
    public var id: Int64?
    public var name: String
    public var createdAt: Date
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

struct Membership: Codable, Sendable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "membership"
    var userId: Int64
    var sliceId: Int64
}

/// A slice's ssh key, as validated by `SSHPublicKey`.
public struct SliceKey: Codable, Sendable, Hashable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "sshKey"
    public var id: Int64?
    public var sliceId: Int64
    public var type: String
    /// The canonical `type base64 comment` line that goes into the seeds.
    public var line: String
    public var fingerprint: String
    public var comment: String
    public var addedBy: String
    public var addedAt: Date
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A slice holds a node over `[startsAt, endsAt)`.
public struct Lease: Codable, Sendable, Hashable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "lease"
    public var id: Int64?
    public var sliceId: Int64
    public var node: String
    public var startsAt: Date
    public var endsAt: Date
    public var createdBy: String
    /// When the node was returned after the lease ended (nil: not yet, or not ended).
    public var returnedAt: Date? = nil
    public var returnAttempts = 0
    public var returnRetryAt: Date? = nil
    public var returnError: String? = nil
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A lease with its slice's name, as lists show it.
public struct LeaseView: Codable, Sendable, Hashable, FetchableRecord {
    public var id: Int64
    public var sliceId: Int64
    public var slice: String
    public var node: String
    public var startsAt: Date
    public var endsAt: Date
    public var createdBy: String
    public var returnedAt: Date?
    public var returnAttempts: Int
    public var returnRetryAt: Date?
    public var returnError: String?

    public init(id: Int64, sliceId: Int64, slice: String, node: String, startsAt: Date, endsAt: Date, createdBy: String,
                returnedAt: Date? = nil, returnAttempts: Int = 0, returnRetryAt: Date? = nil, returnError: String? = nil) {
        self.id = id
        self.sliceId = sliceId
        self.slice = slice
        self.node = node
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.createdBy = createdBy
        self.returnedAt = returnedAt
        self.returnAttempts = returnAttempts
        self.returnRetryAt = returnRetryAt
        self.returnError = returnError
    }
}

public enum OperationState: String, Codable, Sendable, DatabaseValueConvertible {
    case running, succeeded, failed
    /// The server stopped while the operation ran; the node was re-probed at the next start.
    case interrupted
}

/// One action on a node started from the portal or its API (live boot, disk boot, power).
public struct NodeOperation: Codable, Sendable, Hashable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "operation"
    public var id: Int64?
    public var node: String
    public var kind: String
    public var image: String?
    public var user: String
    public var slice: String?
    public var state: OperationState
    /// The last error (with the BMC's own message) or the outcome.
    public var message: String?
    /// `ssh root@host -p port` once ssh answers after a live boot.
    public var sshCommand: String?
    /// The live session's host keys, as it reported them (JSON in the row).
    public var hostKeys: [HostKey]?
    /// A live boot's: what its BMC read of each medium, and how fast (JSON in the row).
    public var media: [BootMediumRead]?
    /// A live boot's id, once its console log is kept (shown on the operation's page).
    public var bootId: String?
    /// When the screenshot of the server's screen was taken (a failed boot), if one was.
    public var screenshotAt: Date?
    public var startedAt: Date
    public var endedAt: Date?

    public init(id: Int64? = nil, node: String, kind: String, image: String?, user: String, slice: String?,
                state: OperationState = .running, message: String? = nil, sshCommand: String? = nil,
                startedAt: Date = Date(), endedAt: Date? = nil) {
        self.id = id
        self.node = node
        self.kind = kind
        self.image = image
        self.user = user
        self.slice = slice
        self.state = state
        self.message = message
        self.sshCommand = sshCommand
        self.startedAt = startedAt
        self.endedAt = endedAt
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct OperationStep: Codable, Sendable, Hashable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "operationStep"
    public var id: Int64?
    public var operationId: Int64
    /// Seconds since the operation started.
    public var elapsed: Double
    public var message: String
    public var isError: Bool

    public init(id: Int64? = nil, operationId: Int64, elapsed: Double, message: String, isError: Bool = false) {
        self.id = id
        self.operationId = operationId
        self.elapsed = elapsed
        self.message = message
        self.isError = isError
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct AuditEntry: Codable, Sendable, Hashable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "audit"
    public var id: Int64?
    public var at: Date
    public var user: String
    public var slice: String?
    public var node: String?
    public var action: String
    public var result: String
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

struct WebSession: Codable, Sendable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "webSession"
    /// SHA-256 of the cookie's token: a stolen database file does not give live sessions.
    var tokenHash: String
    var userId: Int64
    var csrfToken: String
    var createdAt: Date
    var expiresAt: Date
}

/// What the portal knows of the configured nodes: synced from the config at every start, so that the
/// authorization check can be one query joining nodes, leases and memberships.
struct NodeRow: Codable, Sendable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "node"
    var name: String
}

/// A current lease as pages and the API show it: until when and, from `leases.warn-minutes` before its end, that it
/// is ending, with the time left.
public struct LeaseNotice: Encodable, Sendable {
    public let id: Int64
    public let node: String
    public let slice: String
    public let endsAt: Date
    public let secondsLeft: Int
    public let endingSoon: Bool

    public init(_ lease: LeaseView, now: Date, warning: Duration) {
        id = lease.id
        node = lease.node
        slice = lease.slice
        endsAt = lease.endsAt
        secondsLeft = max(0, Int(lease.endsAt.timeIntervalSince(now)))
        endingSoon = Double(secondsLeft) <= Double(warning.components.seconds)
    }

    /// "12 min", "1 h 05 min".
    public var left: String {
        let minutes = (secondsLeft + 59) / 60
        return minutes < 60 ? "\(minutes) min" : String(format: "%d h %02d min", minutes / 60, minutes % 60)
    }

    /// The current lease of each node at `now`, said so.
    public static func current(_ leases: any LeaseRepository, at now: Date, warning: Duration) async throws -> [String: LeaseNotice] {
        let current = try await leases.leases(endingAfter: now).filter { $0.startsAt <= now }
        return Dictionary(current.map { ($0.node, LeaseNotice($0, now: now, warning: warning)) }, uniquingKeysWith: { first, _ in first })
    }

    /// `2026-12-03 14:00 UTC`, as every page and `lb` say a time.
    /// Civil time from the epoch seconds (`gmtime_r`): a `DateFormatter` made per call was a tenth of a 500-row
    /// dashboard's server time, and one shared would need a lock.
    public static func utc(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        guard gmtime_r(&seconds, &parts) != nil else { return "\(date) UTC" }
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)) UTC"
    }

    enum CodingKeys: String, CodingKey { case id, slice, endsAt, secondsLeft, endingSoon }
}
