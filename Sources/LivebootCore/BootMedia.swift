import Foundation

/// Which of a boot's media a BMC read.
public enum BootMedium: String, Sendable, Codable, CaseIterable {
    /// The live image, in slot 1 (read at `/boot/<boot id>/<image>`).
    case image
    /// The boot's cidata seed, in slot 2 (one file per boot).
    case seed
}

/// What a boot's BMC read of one medium from the vmedia listener: bytes, when, and how fast while it was reading —
/// the number that explains a slow boot on a real iDRAC (its virtual media channel reads at a few MiB/s).
public struct BootMediumRead: Sendable, Codable, Hashable {
    public let medium: BootMedium
    /// The file read: the image's name, the seed's file.
    public let name: String
    public let bytes: Int
    public let firstReadAt: Date
    public let lastReadAt: Date
    /// Whole seconds in which at least one answer was sent: the time spent reading, the idle gaps left out.
    public let activeSeconds: Int

    public init(medium: BootMedium, name: String, bytes: Int, firstReadAt: Date, lastReadAt: Date, activeSeconds: Int) {
        self.medium = medium
        self.name = name
        self.bytes = bytes
        self.firstReadAt = firstReadAt
        self.lastReadAt = lastReadAt
        self.activeSeconds = activeSeconds
    }

    /// Mean rate while reading; nil before anything was read.
    public var bytesPerSecond: Double? { activeSeconds > 0 ? Double(bytes) / Double(activeSeconds) : nil }

    /// `image u22.iso: 12.3 MiB in 4 s of reading, 3.1 MiB/s`.
    public var text: String {
        "\(medium.rawValue) \(name): \(Self.size(bytes)) in \(activeSeconds) s of reading"
            + (bytesPerSecond.map { ", \(Self.size(Int($0.rounded())))/s" } ?? "")
    }

    public static func size(_ bytes: Int) -> String {
        switch bytes {
        case ..<1024: "\(bytes) B"
        case ..<(1 << 20): String(format: "%.1f KiB", Double(bytes) / 1024)
        case ..<(1 << 30): String(format: "%.1f MiB", Double(bytes) / 1_048_576)
        default: String(format: "%.2f GiB", Double(bytes) / 1_073_741_824)
        }
    }

    /// Two periods of reading of the same medium as one.
    public func adding(_ other: BootMediumRead) -> BootMediumRead {
        BootMediumRead(medium: medium, name: name, bytes: bytes + other.bytes, firstReadAt: min(firstReadAt, other.firstReadAt),
                       lastReadAt: max(lastReadAt, other.lastReadAt), activeSeconds: activeSeconds + other.activeSeconds)
    }
}

/// Reading counted by the vmedia listener since its last count, for the boot it names: `key` is the boot's id for
/// its image, the seed's file name for its seed.
public struct BootMediumReadCount: Sendable, Equatable {
    public let key: String
    public let read: BootMediumRead

    public init(key: String, read: BootMediumRead) {
        self.key = key
        self.read = read
    }
}

extension Liveboot {
    /// What the boot's BMC read of its media, as counted by the vmedia listener so far (`serve` stores its counts
    /// every second, so the last second may be missing). Empty when nothing is known; never fails the caller.
    func mediaReads(of bootID: String) async -> [BootMediumRead] {
        (try? await bootRegistry().mediaReads(bootID: bootID)) ?? []
    }
}
