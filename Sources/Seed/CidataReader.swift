import Foundation

/// Reads the files of the root directory of an ISO 9660 image, preferring Rock Ridge names. Enough to check a
/// seed (tests, and the simulator that "boots" with it), not a general ISO reader.
public struct CidataReader: Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case notISO9660
        case truncated
        public var description: String {
            switch self {
            case .notISO9660: "not an ISO 9660 image (no CD001 primary volume descriptor at sector 16)"
            case .truncated: "ISO 9660 image is truncated"
            }
        }
    }

    public let volumeID: String
    public let files: [String: Data]

    public init(_ image: Data) throws {
        let bytes = [UInt8](image)
        let pvd = 16 * 2048
        guard bytes.count >= pvd + 2048, bytes[pvd] == 1, Array(bytes[pvd + 1..<pvd + 6]) == Array("CD001".utf8) else {
            throw Failure.notISO9660
        }
        volumeID = String(decoding: bytes[pvd + 40..<pvd + 72], as: UTF8.self).trimmingCharacters(in: .whitespaces)
        func le32(_ o: Int) -> Int { (0..<4).reduce(0) { $0 | Int(bytes[o + $1]) << (8 * $1) } }
        let rootExtent = le32(pvd + 156 + 2) * 2048
        let rootSize = le32(pvd + 156 + 10)
        guard rootExtent + rootSize <= bytes.count else { throw Failure.truncated }
        var found: [String: Data] = [:]
        var offset = rootExtent
        while offset < rootExtent + rootSize {
            let length = Int(bytes[offset])
            if length == 0 {  // records never straddle sectors: skip to the next one
                offset = (offset / 2048 + 1) * 2048
                continue
            }
            let flags = bytes[offset + 25]
            let nameLength = Int(bytes[offset + 32])
            let identifier = Array(bytes[offset + 33..<offset + 33 + nameLength])
            if flags & 2 == 0 {
                var name = String(decoding: identifier, as: UTF8.self).lowercased()
                if let semicolon = name.firstIndex(of: ";") { name = String(name[..<semicolon]) }
                if name.hasSuffix(".") { name.removeLast() }
                var su = offset + 33 + nameLength + (nameLength % 2 == 0 ? 1 : 0)
                while su + 4 <= offset + length {
                    let entryLength = Int(bytes[su + 2])
                    guard entryLength >= 4 else { break }
                    if bytes[su] == UInt8(ascii: "N"), bytes[su + 1] == UInt8(ascii: "M") {
                        name = String(decoding: bytes[su + 5..<su + entryLength], as: UTF8.self)
                    }
                    su += entryLength
                }
                let extent = le32(offset + 2) * 2048, size = le32(offset + 10)
                guard extent + size <= bytes.count else { throw Failure.truncated }
                found[name] = Data(bytes[extent..<extent + size])
            }
            offset += length
        }
        files = found
    }
}
