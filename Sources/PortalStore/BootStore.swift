import Foundation
import GRDB
import LivebootCore

// MARK: Boots

/// Boots and their reports. The CLI and `liveboot serve` open the same database file (WAL: both see each other's
/// writes), so a report the server receives reaches a boot started from the CLI.
extension PortalDatabase: BootRegistry {
    public func register(_ ticket: BootTicket) async throws {
        try await writer.write { db in
            try Self.end(node: ticket.node, at: ticket.startedAt, db)
            try db.execute(sql: "INSERT INTO boot (id, node, startedAt, seedFile) VALUES (?, ?, ?, ?)",
                           arguments: [ticket.id, ticket.node, ticket.startedAt, ticket.seedFile])
        }
    }

    public func report(for bootID: String) async throws -> BootReport? {
        // Mapped inside the read, for the reason `latestBoot` gives.
        try await writer.read { db in try Row.fetchOne(db, sql: "SELECT * FROM boot WHERE id = ?", arguments: [bootID]).flatMap(Self.report) }
    }

    /// One UPDATE that only an open boot passes: two reports racing, one is recorded.
    public func record(bootID: String, hostKeys: [HostKey], hostname: String?, fqdn: String?, from: String?, at date: Date)
        async throws -> BootReportOutcome {
        let keys = String(decoding: try JSONEncoder().encode(hostKeys), as: UTF8.self)
        return try await writer.write { db in
            try db.execute(sql: """
                UPDATE boot SET closedAt = ?, reportedAt = ?, hostKeys = ?, hostname = ?, fqdn = ?, reportedFrom = ?
                WHERE id = ? AND closedAt IS NULL
                """, arguments: [date, date, keys, hostname, fqdn, from, bootID])
            if db.changesCount == 1, let row = try Row.fetchOne(db, sql: "SELECT * FROM boot WHERE id = ?", arguments: [bootID]),
               let report = Self.report(row) {
                return .recorded(report)
            }
            return try Bool.fetchOne(db, sql: "SELECT 1 FROM boot WHERE id = ?", arguments: [bootID]) == true ? .closed : .unknownBoot
        }
    }

    public func latestBoot(of node: String) async throws -> BootRecordState? {
        // Rows are mapped inside the read: a `Row` is not Sendable, and a read that returns one is GRDB's synchronous
        // `read`, which blocks a thread of the concurrency pool while it waits for a reader — under 100 concurrent
        // boots, every thread of the pool, and the server froze (bench/fleet.sh).
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM boot WHERE node = ? ORDER BY startedAt DESC, rowid DESC LIMIT 1", arguments: [node])
                .map { row in
                    BootRecordState(ticket: BootTicket(id: row["id"], node: row["node"], startedAt: row["startedAt"]),
                                    report: Self.report(row), isOpen: (row["closedAt"] as Date?) == nil,
                                    hasEnded: (row["endedAt"] as Date?) != nil)
                }
        }
    }

    public func closeBoots(of node: String) async throws {
        try await writer.write { db in
            try Self.end(node: node, at: Date(), db)
        }
    }

    public func recordOutcome(bootID: String, _ outcome: BootOutcome) async throws {
        try await writer.write { db in
            switch outcome {
            case .ready(let at):
                try db.execute(sql: "UPDATE boot SET readyAt = ? WHERE id = ? AND readyAt IS NULL AND failedAt IS NULL",
                               arguments: [at, bootID])
            case .failed(let at, let message):
                try db.execute(sql: "UPDATE boot SET failedAt = ?, failure = ? WHERE id = ? AND readyAt IS NULL AND failedAt IS NULL",
                               arguments: [at, String(message.prefix(2000)), bootID])
            }
        }
    }

    public func bootHistory(since date: Date, nodes: [String]?) async throws -> [BootHistoryEntry] {
        try await writer.read { db in
            var sql = "SELECT node, startedAt, readyAt, failedAt, failure FROM boot WHERE startedAt >= ?"
            var arguments: StatementArguments = [date]
            if let nodes {
                sql += " AND node IN (\(databaseQuestionMarks(count: nodes.count)))"
                arguments += StatementArguments(nodes)
            }
            return try Row.fetchAll(db, sql: sql + " ORDER BY startedAt", arguments: arguments).map { row in
                BootHistoryEntry(node: row["node"], startedAt: row["startedAt"], readyAt: row["readyAt"],
                                 failedAt: row["failedAt"], failure: row["failure"])
            }
        }
    }

    public func addMediaReads(_ counts: [BootMediumReadCount]) async throws -> [BootMediumReadCount] {
        guard !counts.isEmpty else { return [] }
        return try await writer.write { db in
            var unknown: [BootMediumReadCount] = []
            for count in counts {
                let read = count.read
                // The boot is found by its id (image) or its seed's file (seed); totals add up across the counts.
                let boot = read.medium == .image ? "id = ?" : "seedFile = ?"
                try db.execute(sql: """
                    INSERT INTO bootMediumRead (bootId, medium, name, bytes, firstReadAt, lastReadAt, activeSeconds)
                    SELECT id, ?, ?, ?, ?, ?, ? FROM boot WHERE \(boot)
                    ON CONFLICT (bootId, medium) DO UPDATE SET bytes = bytes + excluded.bytes,
                        firstReadAt = MIN(firstReadAt, excluded.firstReadAt), lastReadAt = MAX(lastReadAt, excluded.lastReadAt),
                        activeSeconds = activeSeconds + excluded.activeSeconds
                    """, arguments: [read.medium.rawValue, read.name, read.bytes, read.firstReadAt, read.lastReadAt,
                                     read.activeSeconds, count.key])
                if db.changesCount == 0 { unknown.append(count) }
            }
            return unknown
        }
    }

    public func mediaReads(bootID: String) async throws -> [BootMediumRead] {
        // Mapped inside the read, for the reason `latestBoot` gives.
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM bootMediumRead WHERE bootId = ? ORDER BY medium", arguments: [bootID])
                .compactMap { row in
                    guard let medium = BootMedium(rawValue: row["medium"]) else { return nil }
                    return BootMediumRead(medium: medium, name: row["name"], bytes: row["bytes"], firstReadAt: row["firstReadAt"],
                                          lastReadAt: row["lastReadAt"], activeSeconds: row["activeSeconds"])
                }
        }
    }

    public func recordConsoleLog(bootID: String, _ log: ConsoleLog) async throws {
        try await writer.write { db in
            try db.execute(sql: """
                INSERT INTO bootConsole (bootId, log, totalBytes, unavailable) VALUES (?, ?, ?, ?)
                ON CONFLICT (bootId) DO UPDATE SET log = excluded.log, totalBytes = excluded.totalBytes,
                                                   unavailable = excluded.unavailable
                """, arguments: [bootID, log.bytes, log.totalBytes, log.unavailable])
        }
    }

    public func consoleLog(bootID: String) async throws -> ConsoleLog? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM bootConsole WHERE bootId = ?", arguments: [bootID]).map { row in
                ConsoleLog(bytes: row["log"], totalBytes: row["totalBytes"], unavailable: row["unavailable"])
            }
        }
    }

    /// The node's boots take no more reports, and their sessions are over.
    static func end(node: String, at date: Date, _ db: Database) throws {
        try db.execute(sql: "UPDATE boot SET closedAt = COALESCE(closedAt, ?), endedAt = ? WHERE node = ? AND endedAt IS NULL",
                       arguments: [date, date, node])
    }

    static func report(_ row: Row) -> BootReport? {
        guard let at: Date = row["reportedAt"], let json: String = row["hostKeys"],
              let keys = try? JSONDecoder().decode([HostKey].self, from: Data(json.utf8)) else { return nil }
        return BootReport(bootID: row["id"], node: row["node"], hostKeys: keys, hostname: row["hostname"], fqdn: row["fqdn"],
                          reportedAt: at, from: row["reportedFrom"])
    }
}
