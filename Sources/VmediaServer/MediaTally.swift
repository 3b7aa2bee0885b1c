import Foundation
import NIOConcurrencyHelpers

/// Bytes answered per reader: how much one boot's BMC read of a medium, and over how many seconds — the figure that
/// explains a slow boot on a real iDRAC (its virtual media reads at a few MiB/s). A reader is named by the request
/// path (`/boot/<key>/u22.iso`, or a per-boot seed's file name), since every BMC of a testbed may read the same
/// image at once, and simulated ones all read from one address.
///
/// Whoever owns the boots takes the changes now and then (`takeChanges`) and stores them; the tally itself keeps at
/// most `capacity` readers, and forgets one that has read nothing for `idleExpiry` — a path anybody may ask for must
/// not grow memory without bound. A reader that arrives while the tally is full takes the place of the reader read
/// longest ago among those whose counts were taken, which loses nothing (the owner has the counts; a reader that reads
/// again comes back): made-up paths hold a place only until the next take, never the 15 minutes of their idle expiry,
/// so they cannot keep the boots that arrive after them uncounted. Only when every reader holds an untaken count is
/// the newcomer not counted (its bytes are still served).
public final class MediaTally: Sendable {
    /// What a reader read over some period.
    public struct Reading: Sendable, Equatable {
        /// The file read (the name asked for under the route, the reader key taken out).
        public var name: String
        public var bytes: Int
        public var firstRead: Date
        public var lastRead: Date
        /// Whole seconds (of the wall clock) in which at least one answer was sent: the time spent reading, idle gaps
        /// left out — a live OS reads its image in bursts, and bytes over the whole span would hide the rate.
        public var activeSeconds: Int

        public init(name: String, bytes: Int, firstRead: Date, lastRead: Date, activeSeconds: Int) {
            self.name = name
            self.bytes = bytes
            self.firstRead = firstRead
            self.lastRead = lastRead
            self.activeSeconds = activeSeconds
        }
    }

    private struct Entry {
        let name: String
        /// Since the last `takeChanges`; nil when nothing was read since.
        var pending: Reading?
        var lastSecond: Int
        var lastRead: Date
    }

    public let capacity: Int
    public let idleExpiry: TimeInterval
    private let entries = NIOLockedValueBox<[String: Entry]>([:])

    public init(capacity: Int = 1024, idleExpiry: Duration = .seconds(15 * 60)) {
        self.capacity = capacity
        self.idleExpiry = TimeInterval(idleExpiry.components.seconds)
    }

    /// Counts an answer's bytes for `key`. One lock and one dictionary lookup: next to a ranged read's `sendfile`,
    /// nothing (bench/vmedia.sh).
    func add(_ bytes: Int, key: String, name: String, at now: Date = Date()) {
        let second = Int(now.timeIntervalSince1970)
        entries.withLockedValue { entries in
            if var entry = entries[key] {
                var reading = entry.pending ?? Reading(name: entry.name, bytes: 0, firstRead: now, lastRead: now, activeSeconds: 0)
                reading.bytes += bytes
                reading.lastRead = now
                if second != entry.lastSecond { reading.activeSeconds += 1 }
                entry.pending = reading
                entry.lastSecond = second
                entry.lastRead = now
                entries[key] = entry
            } else {
                if entries.count >= capacity, let taken = Self.readLongestAgo(amongTaken: entries) { entries[taken] = nil }
                guard entries.count < capacity else { return }
                entries[key] = Entry(name: name, pending: Reading(name: name, bytes: bytes, firstRead: now, lastRead: now, activeSeconds: 1),
                                     lastSecond: second, lastRead: now)
            }
        }
    }

    /// The reader whose counts were all taken and that was read longest ago: one pass over the readers, paid only by a
    /// new reader of a full tally.
    private static func readLongestAgo(amongTaken entries: [String: Entry]) -> String? {
        var oldest: (key: String, lastRead: Date)?
        for (key, entry) in entries where entry.pending == nil && entry.lastRead < (oldest?.lastRead ?? .distantFuture) {
            oldest = (key, entry.lastRead)
        }
        return oldest?.key
    }

    /// What each reader read since the previous call (readers that read nothing are left out), to be added to what
    /// was stored before; readers idle for `idleExpiry` are forgotten.
    public func takeChanges(now: Date = Date()) -> [String: Reading] {
        entries.withLockedValue { entries in
            var changes: [String: Reading] = [:]
            for (key, entry) in entries {
                if let pending = entry.pending {
                    changes[key] = pending
                    entries[key]?.pending = nil
                } else if now.timeIntervalSince(entry.lastRead) >= idleExpiry {
                    entries[key] = nil
                }
            }
            return changes
        }
    }
}

/// Where a route finds the reader of a request, if it counts per reader.
public enum ReaderKeying: Sendable {
    /// `<key>/<name>`: the first path component names the reader and is not part of the file's name (per-boot
    /// image paths).
    case leadingComponent
    /// The file's name is the reader's (a seed published for one boot).
    case name
}
