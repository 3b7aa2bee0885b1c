import Crypto
import Foundation
import GRDB
import HummingbirdBcrypt
import LivebootCore
import NIOPosix
import Seed

/// The portal's SQLite database: every repository protocol, over one GRDB writer.
public final class PortalDatabase: Sendable {
    let writer: any DatabaseWriter
    /// bcrypt cost of new password hashes (12 in production: ~0.3 s per verify on this class of machine).
    let bcryptCost: UInt8
    /// How long an API token works.
    let tokenLifetime: TimeInterval
    private let revision = Locked(0)
    /// Kept for the observation's sake: it ends when this is released (AnyDatabaseCancellable cancels on deinit).
    private let fleetObservation: AnyDatabaseCancellable

    /// Opens (creating if needed) the database at `path` and migrates it; `nil` gives a private in-memory one.
    public init(path: String?, bcryptCost: UInt8 = 12, tokenDays: Double = 90) throws {
        tokenLifetime = tokenDays * 86_400
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        // A busy writer (a boot's step, an audit line) makes readers wait a little rather than fail.
        configuration.busyMode = .timeout(5)
        if let path {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            writer = try DatabasePool(path: path, configuration: configuration)
        } else {
            writer = try DatabaseQueue(configuration: configuration)
        }
        self.bcryptCost = bcryptCost
        try Migrations.migrator.migrate(writer)
        // Told on the writer's queue after each commit touching these tables, before the write returns to its caller.
        let revision = self.revision
        fleetObservation = DatabaseRegionObservation(tracking: Table("lease"), Table("slice"), Table("operation"))
            .start(in: writer, onError: { _ in }, onChange: { _ in revision.withLock { $0 += 1 } })
    }

    static let namePattern = #"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"#

    /// At least 10 characters, not only blanks; at most 72 bytes, since bcrypt ignores what comes after.
    static func checkPassword(_ password: String) throws {
        guard password.count >= 10, password.contains(where: { !$0.isWhitespace }) else { throw PortalStoreError.weakPassword }
        guard password.utf8.count <= 72 else { throw PortalStoreError.passwordTooLong }
    }

    static func checkName(_ name: String, kind: String) throws {
        guard name.range(of: namePattern, options: .regularExpression) != nil else {
            throw PortalStoreError.invalidName(kind: kind, name: name)
        }
    }

    /// 256 random bits, URL-safe base64: session cookies, CSRF and API tokens.
    public static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func digest(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Turns SQLite's unique-constraint failure into the portal's "already exists".
    static func uniquely<T>(kind: String, name: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw PortalStoreError.nameTaken(kind: kind, name: name)
        }
    }
}

// MARK: Users and sessions

extension PortalDatabase: FleetRevision {
    public var fleetRevision: Int { revision.withLock { $0 } }
}

extension PortalDatabase: UserRepository, SessionRepository {
    public func createUser(name: String, password: String, isAdmin: Bool) async throws -> User {
        try Self.checkName(name, kind: "user")
        try Self.checkPassword(password)
        let cost = bcryptCost
        let hash = try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
        return try await writer.write { db in
            var user = User(id: nil, name: name, passwordHash: hash, isAdmin: isAdmin, apiTokenHash: nil, createdAt: Date())
            try Self.uniquely(kind: "user", name: name) { try user.insert(db) }
            return user
        }
    }

    /// Names are matched whatever their case: `Alice` and `alice` are one user.
    public func user(named name: String) async throws -> User? {
        try await writer.read { db in try User.filter(sql: "name = ? COLLATE NOCASE", arguments: [name]).fetchOne(db) }
    }

    public func users() async throws -> [User] {
        try await writer.read { db in try User.order(Column("name")).fetchAll(db) }
    }

    public func authenticate(name: String, password: String) async throws -> User? {
        let found = try await user(named: name)
        // Unknown users cost a verify too, so that timing does not tell which names exist.
        let hash = found?.passwordHash
        let cost = bcryptCost
        let matches = try await NIOThreadPool.singleton.runIfActive {
            Bcrypt.verify(password, hash: hash ?? DecoyHash.shared.value(cost: cost))
        }
        return matches ? found : nil
    }

    public func issueAPIToken(for user: User) async throws -> APIToken {
        let token = "lbt_" + Self.randomToken()
        let digest = Self.digest(token)
        let expiresAt = Date().addingTimeInterval(tokenLifetime)
        try await writer.write { db in
            try db.execute(sql: "UPDATE user SET apiTokenHash = ?, apiTokenExpiresAt = ? WHERE id = ?",
                           arguments: [digest, expiresAt, user.id])
        }
        return APIToken(token: token, expiresAt: expiresAt)
    }

    public func user(apiToken: String) async throws -> User? {
        let digest = Self.digest(apiToken)
        let now = Date()
        return try await writer.read { db in
            try User.filter(Column("apiTokenHash") == digest && Column("apiTokenExpiresAt") > now).fetchOne(db)
        }
    }

    public func changePassword(of user: User, to password: String, keepingSession: String?) async throws {
        try Self.checkPassword(password)
        let cost = bcryptCost
        let hash = try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
        let kept = keepingSession.map(Self.digest) ?? ""
        try await writer.write { db in
            try db.execute(sql: "UPDATE user SET passwordHash = ?, apiTokenHash = NULL, apiTokenExpiresAt = NULL WHERE id = ?",
                           arguments: [hash, user.id])
            try db.execute(sql: "DELETE FROM webSession WHERE userId = ? AND tokenHash != ?", arguments: [user.id, kept])
        }
    }

    public func openSession(for user: User, lifetime: Duration) async throws -> (token: String, csrf: String) {
        let token = Self.randomToken(), csrf = Self.randomToken()
        let now = Date()
        let session = WebSession(tokenHash: Self.digest(token), userId: user.id!, csrfToken: csrf, createdAt: now,
                                 expiresAt: now.addingTimeInterval(Double(lifetime.components.seconds)))
        try await writer.write { db in
            try WebSession.filter(Column("expiresAt") < now).deleteAll(db)
            try session.insert(db)
        }
        return (token, csrf)
    }

    public func session(token: String, now: Date) async throws -> (user: User, csrf: String)? {
        let digest = Self.digest(token)
        return try await writer.read { db -> (user: User, csrf: String)? in
            guard let session = try WebSession.filter(Column("tokenHash") == digest && Column("expiresAt") > now).fetchOne(db),
                  let user = try User.fetchOne(db, key: session.userId) else { return nil }
            return (user, session.csrfToken)
        }
    }

    public func closeSession(token: String) async throws {
        let digest = Self.digest(token)
        _ = try await writer.write { db in try WebSession.deleteOne(db, key: digest) }
    }
}

/// A real hash at the configured cost to verify against when the user does not exist (made once, on first use).
final class DecoyHash: @unchecked Sendable {
    static let shared = DecoyHash()
    private let lock = NSLock()
    private var hashes: [UInt8: String] = [:]

    func value(cost: UInt8) -> String {
        lock.lock()
        defer { lock.unlock() }
        if let hash = hashes[cost] { return hash }
        let hash = Bcrypt.hash(PortalDatabase.randomToken(), cost: cost)
        hashes[cost] = hash
        return hash
    }
}

// MARK: Slices and keys

extension PortalDatabase: SliceRepository {
    public func createSlice(name: String) async throws -> Slice {
        try Self.checkName(name, kind: "slice")
        return try await writer.write { db in
            var slice = Slice(id: nil, name: name, createdAt: Date())
            try Self.uniquely(kind: "slice", name: name) { try slice.insert(db) }
            return slice
        }
    }

    public func slice(named name: String) async throws -> Slice? {
        try await writer.read { db in try Slice.filter(sql: "name = ? COLLATE NOCASE", arguments: [name]).fetchOne(db) }
    }

    public func slices() async throws -> [Slice] {
        try await writer.read { db in try Slice.order(Column("name")).fetchAll(db) }
    }

    public func slices(of user: User) async throws -> [Slice] {
        try await writer.read { db in
            try Slice.fetchAll(db, sql: """
                SELECT slice.* FROM slice JOIN membership ON membership.sliceId = slice.id
                WHERE membership.userId = ? ORDER BY slice.name
                """, arguments: [user.id])
        }
    }

    public func addMember(_ user: User, to slice: Slice) async throws {
        try await writer.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO membership (userId, sliceId) VALUES (?, ?)", arguments: [user.id, slice.id])
        }
    }

    public func members(of slice: Slice) async throws -> [PublicUser] {
        try await writer.read { db in
            try User.fetchAll(db, sql: """
                SELECT user.* FROM user JOIN membership ON membership.userId = user.id
                WHERE membership.sliceId = ? ORDER BY user.name
                """, arguments: [slice.id]).map(\.publicView)
        }
    }

    public func isMember(_ user: User, of slice: Slice) async throws -> Bool {
        try await writer.read { db in
            try Membership.filter(Column("userId") == user.id && Column("sliceId") == slice.id).fetchCount(db) > 0
        }
    }

    public func keys(of slice: Slice) async throws -> [SliceKey] {
        try await writer.read { db in
            try SliceKey.filter(Column("sliceId") == slice.id).order(Column("addedAt"), Column("id")).fetchAll(db)
        }
    }

    public func addKeys(_ keys: [SSHPublicKey], to slice: Slice, by user: String) async throws -> [SliceKey] {
        try await writer.write { db in
            var added: [SliceKey] = []
            for key in keys {
                var record = SliceKey(id: nil, sliceId: slice.id!, type: key.type, line: key.line, fingerprint: key.fingerprint,
                                      comment: key.comment, addedBy: user, addedAt: Date())
                guard try SliceKey.filter(Column("sliceId") == slice.id && Column("fingerprint") == key.fingerprint)
                    .fetchCount(db) == 0 else { continue }
                try record.insert(db)
                added.append(record)
            }
            return added
        }
    }

    public func deleteKey(id: Int64, from slice: Slice) async throws -> Bool {
        try await writer.write { db in
            try SliceKey.filter(Column("id") == id && Column("sliceId") == slice.id).deleteAll(db) > 0
        }
    }
}

// MARK: Leases and the authorization query

extension PortalDatabase: LeaseRepository {
    static let leaseViewSQL = """
        SELECT lease.id, lease.sliceId, slice.name AS slice, lease.node, lease.startsAt, lease.endsAt, lease.createdBy,
               lease.returnedAt, lease.returnAttempts, lease.returnRetryAt, lease.returnError
        FROM lease JOIN slice ON slice.id = lease.sliceId
        """

    public func book(node: String, for slice: Slice, from: Date, to: Date, by user: String) async throws -> Lease {
        guard to > from else { throw PortalStoreError.badWindow }
        // Dates SQLite and Foundation both hold exactly; beyond these a lease is a typo, not a plan.
        guard to.timeIntervalSince(from) <= 366 * 86_400 else { throw PortalStoreError.invalidLease("a lease lasts at most 366 days") }
        guard from.timeIntervalSinceNow < 10 * 366 * 86_400 else {
            throw PortalStoreError.invalidLease("a lease starts within the next ten years")
        }
        return try await writer.write { db in
            guard try NodeRow.exists(db, key: node) else { throw PortalStoreError.unknownNode(node) }
            // Checked and inserted in one write transaction: two bookings cannot both pass the check.
            if let conflict = try LeaseView.fetchOne(db, sql: Self.leaseViewSQL + """
                 WHERE lease.node = ? AND lease.startsAt < ? AND lease.endsAt > ? ORDER BY lease.startsAt LIMIT 1
                """, arguments: [node, to, from]) {
                throw PortalStoreError.leaseConflict(node: node, slice: conflict.slice, from: conflict.startsAt, to: conflict.endsAt)
            }
            var lease = Lease(id: nil, sliceId: slice.id!, node: node, startsAt: from, endsAt: to, createdBy: user)
            try lease.insert(db)
            return lease
        }
    }

    public func leases(endingAfter date: Date) async throws -> [LeaseView] {
        try await writer.read { db in
            try LeaseView.fetchAll(db, sql: Self.leaseViewSQL + " WHERE lease.endsAt > ? ORDER BY lease.startsAt, lease.node",
                                   arguments: [date])
        }
    }

    public func lease(id: Int64) async throws -> LeaseView? {
        try await writer.read { db in try LeaseView.fetchOne(db, sql: Self.leaseViewSQL + " WHERE lease.id = ?", arguments: [id]) }
    }

    public func cancelLease(id: Int64, at now: Date) async throws -> LeaseView? {
        try await writer.write { db in
            guard let lease = try LeaseView.fetchOne(db, sql: Self.leaseViewSQL + " WHERE lease.id = ?", arguments: [id]) else {
                return nil
            }
            if lease.startsAt <= now && lease.endsAt > now {
                // Current: it ends now, and its node is returned like at any end.
                try db.execute(sql: "UPDATE lease SET endsAt = ? WHERE id = ?", arguments: [now, id])
            } else if lease.startsAt > now {
                try Lease.deleteOne(db, key: id)
            } else {
                throw PortalStoreError.invalidLease("lease #\(id) is over already")
            }
            return lease
        }
    }

    public func extendLease(id: Int64, to end: Date) async throws -> LeaseView {
        try await writer.write { db in
            guard let lease = try LeaseView.fetchOne(db, sql: Self.leaseViewSQL + " WHERE lease.id = ?", arguments: [id]) else {
                throw PortalStoreError.invalidLease("no lease #\(id)")
            }
            guard end > lease.endsAt else { throw PortalStoreError.invalidLease("an extension ends later than the lease") }
            // Checked and written in one transaction, like a booking.
            if let next = try LeaseView.fetchOne(db, sql: Self.leaseViewSQL + """
                 WHERE lease.node = ? AND lease.id != ? AND lease.startsAt < ? AND lease.endsAt > ? ORDER BY lease.startsAt LIMIT 1
                """, arguments: [lease.node, id, end, lease.endsAt]) {
                throw PortalStoreError.leaseConflict(node: lease.node, slice: next.slice, from: next.startsAt, to: next.endsAt)
            }
            try db.execute(sql: "UPDATE lease SET endsAt = ? WHERE id = ?", arguments: [end, id])
            var extended = lease
            extended.endsAt = end
            return extended
        }
    }

    public func leasesToReturn(at now: Date) async throws -> [LeaseView] {
        try await writer.read { db in
            try LeaseView.fetchAll(db, sql: Self.leaseViewSQL + """
                 WHERE lease.endsAt <= ? AND lease.returnedAt IS NULL ORDER BY lease.endsAt, lease.node
                """, arguments: [now])
        }
    }

    public func markReturned(lease id: Int64, at date: Date) async throws {
        try await writer.write { db in
            try db.execute(sql: "UPDATE lease SET returnedAt = ?, returnRetryAt = NULL, returnError = NULL WHERE id = ?",
                           arguments: [date, id])
        }
    }

    public func markReturnFailed(lease id: Int64, error: String, retryAt: Date) async throws {
        try await writer.write { db in
            try db.execute(sql: """
                UPDATE lease SET returnAttempts = returnAttempts + 1, returnError = ?, returnRetryAt = ? WHERE id = ?
                """, arguments: [error, retryAt, id])
        }
    }

    public func holders(at now: Date) async throws -> [String: String] {
        try await writer.read { db in
            let rows = try LeaseView.fetchAll(db, sql: Self.leaseViewSQL + " WHERE lease.startsAt <= ? AND lease.endsAt > ?",
                                              arguments: [now, now])
            return Dictionary(rows.map { ($0.node, $0.slice) }, uniquingKeysWith: { first, _ in first })
        }
    }

    public func grant(node: String, for user: User, at now: Date) async throws -> NodeGrant? {
        try await writer.read { db in
            // The node row, its current holder if any, and whether the user may act: admin, or member of the holder.
            let row = try Row.fetchOne(db, sql: """
                SELECT node.name AS node, slice.id AS sliceId, slice.name AS sliceName, slice.createdAt AS sliceCreatedAt
                FROM node
                JOIN user ON user.id = :user
                LEFT JOIN lease ON lease.node = node.name AND lease.startsAt <= :now AND lease.endsAt > :now
                LEFT JOIN slice ON slice.id = lease.sliceId
                WHERE node.name = :node
                  AND (user.isAdmin OR EXISTS (SELECT 1 FROM membership
                                               WHERE membership.userId = user.id AND membership.sliceId = lease.sliceId))
                """, arguments: ["user": user.id, "now": now, "node": node])
            guard let row else { return nil }
            let sliceID: Int64? = row["sliceId"]
            let slice = sliceID.map { Slice(id: $0, name: row["sliceName"], createdAt: row["sliceCreatedAt"]) }
            return NodeGrant(node: row["node"], slice: slice)
        }
    }

    public func syncNodes(_ names: [String]) async throws {
        try await writer.write { db in
            for name in names { try NodeRow(name: name).insert(db, onConflict: .ignore) }
            try NodeRow.filter(!names.contains(Column("name"))).deleteAll(db)
        }
    }
}

// MARK: Operations

extension PortalDatabase: OperationRepository {
    public func startOperation(_ operation: NodeOperation) async throws -> NodeOperation {
        try await writer.write { db in
            var operation = operation
            do {
                try operation.insert(db)
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                let running = try NodeOperation.filter(Column("node") == operation.node && Column("state") == OperationState.running)
                    .fetchOne(db)
                throw PortalStoreError.busy(node: operation.node, operation: running?.id ?? 0)
            }
            return operation
        }
    }

    public func addStep(_ step: OperationStep) async throws -> OperationStep {
        try await writer.write { db in
            var step = step
            try step.insert(db)
            return step
        }
    }

    public func finishOperation(id: Int64, state: OperationState, message: String?, sshCommand: String?, hostKeys: [HostKey]?,
                                media: [BootMediumRead]?, bootID: String?, at: Date) async throws {
        let keys = try hostKeys.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        // Encoded as the record decodes its JSON columns (GRDB's encoder: dates in milliseconds).
        let reads = try media.map { String(decoding: try NodeOperation.databaseJSONEncoder(for: "media").encode($0), as: UTF8.self) }
        try await writer.write { db in
            try db.execute(sql: "UPDATE operation SET state = ?, message = ?, sshCommand = ?, hostKeys = ?, media = ?, bootId = ?, endedAt = ? WHERE id = ?",
                           arguments: [state, message, sshCommand, keys, reads, bootID, at, id])
        }
    }

    public func operation(id: Int64) async throws -> NodeOperation? {
        try await writer.read { db in try NodeOperation.fetchOne(db, key: id) }
    }

    public func attachScreenshot(_ png: Data, to operationID: Int64, at date: Date) async throws {
        try await writer.write { db in
            try db.execute(sql: """
                INSERT INTO operationScreenshot (operationId, png, takenAt) VALUES (?, ?, ?)
                ON CONFLICT(operationId) DO UPDATE SET png = excluded.png, takenAt = excluded.takenAt
                """, arguments: [operationID, png, date])
            try db.execute(sql: "UPDATE operation SET screenshotAt = ? WHERE id = ?", arguments: [date, operationID])
        }
    }

    public func screenshot(of operationID: Int64) async throws -> Data? {
        try await writer.read { db in
            try Data.fetchOne(db, sql: "SELECT png FROM operationScreenshot WHERE operationId = ?", arguments: [operationID])
        }
    }

    public func steps(of operationID: Int64) async throws -> [OperationStep] {
        try await writer.read { db in
            try OperationStep.filter(Column("operationId") == operationID).order(Column("id")).fetchAll(db)
        }
    }

    public func operations(node: String?, limit: Int) async throws -> [NodeOperation] {
        try await writer.read { db in
            var request = NodeOperation.order(Column("id").desc).limit(limit)
            if let node { request = request.filter(Column("node") == node) }
            return try request.fetchAll(db)
        }
    }

    public func lastOperations() async throws -> [String: NodeOperation] {
        try await writer.read { db in
            let rows = try NodeOperation.fetchAll(db, sql: """
                SELECT * FROM operation WHERE id IN (SELECT MAX(id) FROM operation GROUP BY node)
                """)
            return Dictionary(rows.map { ($0.node, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    public func interruptRunningOperations(at date: Date) async throws -> [String] {
        try await writer.write { db in
            let running = try NodeOperation.filter(Column("state") == OperationState.running).fetchAll(db)
            try db.execute(sql: """
                UPDATE operation SET state = ?, endedAt = ?, message = 'interrupted: the server stopped during the operation'
                WHERE state = ?
                """, arguments: [OperationState.interrupted, date, OperationState.running])
            return running.map(\.node)
        }
    }
}

// MARK: Audit

extension PortalDatabase: AuditLog {
    /// Fields are cut to a bounded length: a failed login's name is whatever an anonymous client sent.
    public func record(user: String, slice: String?, node: String?, action: String, result: String) async throws {
        let entry = AuditEntry(id: nil, at: Date(), user: Self.cut(user, 80), slice: slice.map { Self.cut($0, 80) },
                               node: node.map { Self.cut($0, 80) }, action: Self.cut(action, 300), result: Self.cut(result, 600))
        try await writer.write { db in
            var entry = entry
            try entry.insert(db)
        }
    }

    static func cut(_ text: String, _ limit: Int) -> String { text.count <= limit ? text : String(text.prefix(limit - 1)) + "…" }

    public func auditEntries(limit: Int) async throws -> [AuditEntry] {
        try await writer.read { db in try AuditEntry.order(Column("id").desc).limit(limit).fetchAll(db) }
    }
}
