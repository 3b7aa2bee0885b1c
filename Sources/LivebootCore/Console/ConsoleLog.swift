import Foundation

/// The last bytes a console showed, bounded: a ring that keeps the newest `capacity` bytes and counts what it let
/// go. Used for the replay a new viewer gets and for a boot's console log.
public struct ConsoleTail: Sendable, Equatable {
    public let capacity: Int
    private var storage: [UInt8] = []
    /// Where the oldest byte is, once the ring has wrapped.
    private var start = 0
    /// Every byte ever appended, kept or not.
    public private(set) var total = 0

    public init(capacity: Int) { self.capacity = max(1, capacity) }

    public mutating func append(_ bytes: [UInt8]) {
        total += bytes.count
        let incoming = bytes.count > capacity ? Array(bytes.suffix(capacity)) : bytes
        for byte in incoming {
            if storage.count < capacity {
                storage.append(byte)
            } else {
                storage[start] = byte
                start = (start + 1) % capacity
            }
        }
    }

    /// The kept bytes, oldest first.
    public var bytes: [UInt8] { Array(storage[start...] + storage[..<start]) }
    public var dropped: Int { total - storage.count }
}

/// What a boot's serial console showed from its power cycle to the end of the wait: the last `limit` bytes, ANSI
/// kept (a terminal replays them), and how much came in all.
public struct ConsoleLog: Codable, Sendable, Equatable {
    public static let limit = 1 << 20
    public let bytes: Data
    public let totalBytes: Int
    /// Why nothing was recorded (a BMC without a console, a refusal), when nothing could be.
    public let unavailable: String?

    public init(bytes: Data, totalBytes: Int, unavailable: String? = nil) {
        self.bytes = bytes
        self.totalBytes = totalBytes
        self.unavailable = unavailable
    }

    public var truncated: Bool { totalBytes > bytes.count }
    /// The log for a person to read: escape sequences and control characters removed, lines as `\n`.
    public var text: String { ConsoleText.plain(Array(bytes)) }
    /// The last non-empty lines of `text`: what a failed boot's page shows first.
    public func tail(lines count: Int) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: true).suffix(count).joined(separator: "\n")
    }
}

/// Terminal output as text.
public enum ConsoleText {
    /// Drops CSI (`ESC [ … final`), OSC (`ESC ] … BEL` or `ESC \`), other two-byte escapes and control characters
    /// but newline and tab; `\r\n` and a lone `\r` end a line. Invalid UTF-8 becomes U+FFFD.
    public static func plain(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case 0x1B:
                index += 1
                guard index < bytes.count else { break }
                if bytes[index] == UInt8(ascii: "[") {
                    index += 1
                    while index < bytes.count, !(0x40...0x7E).contains(bytes[index]) { index += 1 }
                } else if bytes[index] == UInt8(ascii: "]") {
                    while index < bytes.count, bytes[index] != 0x07, !(bytes[index] == 0x1B && index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "\\")) {
                        index += 1
                    }
                    if index < bytes.count, bytes[index] == 0x1B { index += 1 }
                }
            case 0x0D:
                if index + 1 < bytes.count, bytes[index + 1] == 0x0A { index += 1 }
                out.append(0x0A)
            case 0x0A, 0x09:
                out.append(byte)
            case 0x08:
                if let last = out.last, last != 0x0A { out.removeLast() }
            case 0x00..<0x20, 0x7F:
                break
            default:
                out.append(byte)
            }
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
