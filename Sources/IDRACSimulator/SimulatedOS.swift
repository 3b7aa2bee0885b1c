import Crypto
import Foundation

/// One virtual-media slot: what it is connected to, and what a GET reads back (which lags behind).
struct Slot: Sendable {
    let id: String
    var connected: String?
    var shown: String?

    init(id: String) { self.id = id }
}

/// What a firmware looks for to boot a CD image: an ISO 9660 primary volume descriptor in sector 16 and an El Torito
/// boot record in sector 17 (ECMA-119 §8; El Torito 1.0 §2.0). A cidata seed has neither boot record nor boot
/// catalog, so a one-time `Cd` boot on it falls through to the disk.
public enum ElTorito {
    static let sector = 2048

    public static func isBootable(_ image: Data) -> Bool {
        let bytes = [UInt8](image.prefix(18 * sector))
        guard bytes.count >= 17 * sector + 39 else { return false }
        let primary = 16 * sector, boot = 17 * sector
        let cd001 = Array("CD001".utf8)
        return bytes[primary] == 1 && Array(bytes[primary + 1..<primary + 6]) == cd001
            && bytes[boot] == 0 && Array(bytes[boot + 1..<boot + 6]) == cd001 && bytes[boot + 6] == 1
            && Array(bytes[boot + 7..<boot + 30]) == Array("EL TORITO SPECIFICATION".utf8)
    }

    /// A stand-in for a live image, `size` bytes: the two descriptors a firmware checks, the rest filler. For demos
    /// and tests, where a real ISO would be hundreds of megabytes.
    public static func standInImage(size: Int) -> Data {
        var bytes = [UInt8](repeating: 0, count: max(size, 18 * sector))
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        let primary = 16 * sector, boot = 17 * sector
        bytes.replaceSubrange(primary..<primary + 7, with: [1] + Array("CD001".utf8) + [1])
        bytes.replaceSubrange(boot..<boot + sector, with: [UInt8](repeating: 0, count: sector))
        bytes.replaceSubrange(boot..<boot + 30, with: [0] + Array("CD001".utf8) + [1] + Array("EL TORITO SPECIFICATION".utf8))
        return Data(bytes)
    }
}

/// Host keys of a simulated OS, made fresh at each boot as a live image's first boot makes them.
enum SimulatedHostKeys {
    static func fresh(comment: String) -> [String] {
        let ed25519 = wire("ssh-ed25519") + wire(Curve25519.Signing.PrivateKey().publicKey.rawRepresentation)
        let ecdsa = wire("ecdsa-sha2-nistp256") + wire("nistp256") + wire(P256.Signing.PrivateKey().publicKey.x963Representation)
        return ["ecdsa-sha2-nistp256 \(ecdsa.base64EncodedString()) \(comment)",
                "ssh-ed25519 \(ed25519.base64EncodedString()) \(comment)"]
    }

    /// An SSH wire-format string (RFC 4251 §5): a 32-bit length, then the bytes.
    static func wire(_ text: String) -> Data { wire(Data(text.utf8)) }
    static func wire(_ bytes: Data) -> Data {
        var out = Data()
        withUnsafeBytes(of: UInt32(bytes.count).bigEndian) { out.append(contentsOf: $0) }
        return out + bytes
    }

    /// `application/x-www-form-urlencoded` as Python's `urlencode` writes it (what cloud-init's requests sends):
    /// unreserved characters as they are, spaces as `+`, the rest percent-encoded.
    static func formEncode(_ fields: [(String, String)]) -> String {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~ ")
        func encode(_ text: String) -> String {
            (text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "").replacingOccurrences(of: " ", with: "+")
        }
        return fields.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }
}
