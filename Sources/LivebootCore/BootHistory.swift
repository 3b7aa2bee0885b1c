import Foundation

extension Liveboot {
    /// Each node's live boots of the last `days` days before `now`, from the boot registry (CLI and portal boots alike).
    public func bootStats(of nodes: [String], days: Int, now: Date = Date()) async throws -> [NodeBootStats] {
        let history = try await bootRegistry().bootHistory(since: now.addingTimeInterval(-Double(days) * 86_400), nodes: nodes)
        return NodeBootStats.of(nodes, from: history)
    }
}

/// How a live boot's wait ended, recorded with the boot: what the history of a node is made of.
public enum BootOutcome: Sendable, Equatable {
    /// The live session reported and its ssh answered.
    case ready(at: Date)
    /// The wait failed, with what the user was told.
    case failed(at: Date, message: String)
}

/// One boot of the history: started, and ready or failed if its wait ended (a boot nobody waited for is neither).
public struct BootHistoryEntry: Sendable, Equatable, Codable {
    public let node: String
    public let startedAt: Date
    public let readyAt: Date?
    public let failedAt: Date?
    public let failure: String?

    public init(node: String, startedAt: Date, readyAt: Date? = nil, failedAt: Date? = nil, failure: String? = nil) {
        self.node = node
        self.startedAt = startedAt
        self.readyAt = readyAt
        self.failedAt = failedAt
        self.failure = failure
    }

    public var secondsToReady: Double? { readyAt.map { $0.timeIntervalSince(startedAt) } }
}

/// A node's live boots over a period: how many, how many got ready, how fast, and the last failure — the numbers
/// that find the node failing one boot in three. The node page, the admin page and `lb stats` show these.
public struct NodeBootStats: Sendable, Equatable, Codable {
    public struct Failure: Sendable, Equatable, Codable {
        public let at: Date
        public let message: String
    }

    public let node: String
    public let boots: Int
    public let ready: Int
    public let failed: Int
    /// Ready out of the boots whose wait ended (ready or failed); nil when none did.
    public let successRate: Double?
    public let medianSecondsToReady: Double?
    public let p90SecondsToReady: Double?
    public let lastFailure: Failure?

    public init(node: String, entries: [BootHistoryEntry]) {
        self.node = node
        boots = entries.count
        let times = entries.compactMap(\.secondsToReady).sorted()
        ready = times.count
        let failures = entries.filter { $0.failedAt != nil }
        failed = failures.count
        successRate = ready + failed == 0 ? nil : Double(ready) / Double(ready + failed)
        medianSecondsToReady = Self.percentile(0.5, of: times)
        p90SecondsToReady = Self.percentile(0.9, of: times)
        lastFailure = failures.max { $0.failedAt! < $1.failedAt! }.map { Failure(at: $0.failedAt!, message: $0.failure ?? "") }
    }

    /// The nearest-rank percentile (the value at rank ⌈p·n⌉): always a time some boot took.
    static func percentile(_ p: Double, of sorted: [Double]) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count - 1, rank - 1))]
    }

    /// Fails more often than `threshold` (a rate of failures, 0…1) over at least `minimumBoots` ended boots.
    public func isFlaky(threshold: Double, minimumBoots: Int = 3) -> Bool {
        guard let successRate, ready + failed >= minimumBoots else { return false }
        return 1 - successRate > threshold
    }

    /// As the CLI and the pages say them: `-` where there is nothing to say.
    public var successText: String { successRate.map { String(format: "%.0f %%", $0 * 100) } ?? "-" }
    public var medianText: String { Self.seconds(medianSecondsToReady) }
    public var p90Text: String { Self.seconds(p90SecondsToReady) }
    static func seconds(_ value: Double?) -> String { value.map { String(format: "%.0f s", $0) } ?? "-" }

    /// Every node of `nodes` (in that order), with the entries of each.
    public static func of(_ nodes: [String], from entries: [BootHistoryEntry]) -> [NodeBootStats] {
        let byNode = Dictionary(grouping: entries, by: \.node)
        return nodes.map { NodeBootStats(node: $0, entries: byNode[$0] ?? []) }
    }
}
