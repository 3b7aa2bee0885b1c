import Foundation
import LivebootCore
import Logging
import ServiceLifecycle
import VmediaServer

/// Stores what each boot's BMC read, once a second, with the boot (`BootRegistry.addMediaReads`): the boot's wait
/// reads it from there when it ends, whichever process runs it — a boot from the CLI reads media from this
/// listener too.
///
/// A boot registers once its media are in, after the BMC's first reads at insert; counts naming no boot yet are
/// kept and tried again for `unmatchedRetention`, then dropped (paths anybody may ask for name no boot ever; a database
/// that refuses writes for that long loses them too).
struct BootMediaRecorder: Service {
    let tallies: BootMediaTallies
    let boots: any BootRegistry
    let interval: Duration
    let logger: Logger
    var unmatchedRetention: Duration = .seconds(120)

    func run() async throws {
        let unmatched = try await cancelWhenGracefulShutdown {
            var unmatched: [Pending] = []
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                unmatched = await record(unmatched)
            }
            return unmatched
        }
        // What was read since the last round is not lost with the stop.
        _ = await record(unmatched)
    }

    struct Pending: Sendable {
        let count: BootMediumReadCount
        let since: Date
    }

    /// One round: the tallies' changes, with the counts that named no boot before, merged by reader.
    func record(_ carried: [Pending], now: Date = Date()) async -> [Pending] {
        var byReader: [String: Pending] = [:]
        func add(_ count: BootMediumReadCount, since: Date) {
            let reader = "\(count.read.medium.rawValue) \(count.key)"
            if let earlier = byReader[reader] {
                byReader[reader] = Pending(count: BootMediumReadCount(key: count.key, read: earlier.count.read.adding(count.read)),
                                           since: earlier.since)
            } else {
                byReader[reader] = Pending(count: count, since: since)
            }
        }
        for pending in carried { add(pending.count, since: pending.since) }
        for (medium, tally) in [(BootMedium.image, tallies.images), (.seed, tallies.seeds)] {
            for (key, reading) in tally.takeChanges(now: now) {
                add(BootMediumReadCount(key: key, read: BootMediumRead(medium: medium, name: reading.name, bytes: reading.bytes,
                                                                       firstReadAt: reading.firstRead, lastReadAt: reading.lastRead,
                                                                       activeSeconds: reading.activeSeconds)), since: now)
            }
        }
        guard !byReader.isEmpty else { return [] }
        let pending = Array(byReader.values)
        let cutoff = now.addingTimeInterval(-Double(unmatchedRetention.components.seconds))
        do {
            let unknown = try await boots.addMediaReads(pending.map(\.count))
            let since = Dictionary(pending.map { ("\($0.count.read.medium.rawValue) \($0.count.key)", $0.since) }, uniquingKeysWith: min)
            return unknown.compactMap { count in
                let first = since["\(count.read.medium.rawValue) \(count.key)"] ?? now
                return first >= cutoff ? Pending(count: count, since: first) : nil
            }
        } catch {
            logger.warning("cannot store the boots' media reads (kept for the next round): \(error)")
            return pending.filter { $0.since >= cutoff }
        }
    }
}
