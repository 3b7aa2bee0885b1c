import Crypto
import Foundation

/// One OpenSSH public key line (`type base64 [comment]`), checked the way sshd would read it.
public struct SSHPublicKey: Sendable, Hashable, CustomStringConvertible {
    public let type: String
    public let blob: Data
    public let comment: String

    public static let acceptedTypes: Set<String> = [
        "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    ]
    public static let maxLineLength = 8192

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case empty
        case tooLong(Int)
        case controlCharacters
        case optionsPrefix(String)
        case unknownType(String)
        case badBase64
        case typeMismatch(declared: String, inner: String)
        case rsaTooShort(bits: Int)
        case truncated

        public var description: String {
            switch self {
            case .empty: "empty key"
            case .tooLong(let n): "key line is \(n) characters long; at most \(SSHPublicKey.maxLineLength) are accepted"
            case .controlCharacters: "key line contains control characters"
            case .optionsPrefix(let o): "authorized_keys options (\(o)) are not accepted; paste the bare public key"
            case .unknownType(let t): "unsupported key type \"\(t)\" (accepted: ssh-ed25519, ecdsa-sha2-*, ssh-rsa ≥ 2048 bits, sk-*)"
            case .badBase64: "the key data is not valid base64"
            case .typeMismatch(let d, let i): "the key says \(d) but its data is a \(i) key"
            case .rsaTooShort(let bits): "RSA key of \(bits) bits is too weak; at least 2048 are required"
            case .truncated: "the key data is truncated"
            }
        }
    }

    public init(line: String) throws {
        guard line.count <= Self.maxLineLength else { throw Failure.tooLong(line.count) }
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw Failure.empty }
        guard !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && $0 != "\t" }) else {
            throw Failure.controlCharacters
        }
        let fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let first = fields.first else { throw Failure.empty }
        guard Self.acceptedTypes.contains(first) else {
            if first.contains("=") || first.contains(",") || ["no-pty", "restrict", "cert-authority"].contains(first) {
                throw Failure.optionsPrefix(first)
            }
            throw Failure.unknownType(first)
        }
        guard fields.count >= 2, let blob = Data(base64Encoded: fields[1]) else { throw Failure.badBase64 }
        var reader = WireReader(blob)
        guard let inner = reader.string() else { throw Failure.truncated }
        guard inner == first else { throw Failure.typeMismatch(declared: first, inner: inner) }
        if first == "ssh-rsa" {
            guard reader.bytes() != nil, let modulus = reader.bytes() else { throw Failure.truncated }
            let significant = modulus.drop { $0 == 0 }
            let bits = significant.isEmpty ? 0 : (significant.count - 1) * 8 + (8 - significant.first!.leadingZeroBitCount)
            guard bits >= 2048 else { throw Failure.rsaTooShort(bits: bits) }
        } else if first == "ssh-ed25519" {
            guard let key = reader.bytes(), key.count == 32 else { throw Failure.truncated }
        }
        type = first
        self.blob = blob
        // Comments are kept for people, but only printable characters of a reasonable length.
        comment = String(fields.dropFirst(2).joined(separator: " ")
            .unicodeScalars.filter { !$0.properties.generalCategory.isControlLike }.map(Character.init).prefix(200))
    }

    /// `SHA256:…` as `ssh-keygen -lf` prints it.
    public var fingerprint: String {
        "SHA256:" + Data(SHA256.hash(data: blob)).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    /// The line written into `authorized_keys`.
    public var line: String { comment.isEmpty ? "\(type) \(blob.base64EncodedString())" : "\(type) \(blob.base64EncodedString()) \(comment)" }
    public var description: String { line }

    /// Parses an `authorized_keys`-like text: one key a line, `#` comments and blank lines skipped.
    /// - Returns: the keys, and a message for each refused line (1-based line numbers).
    public static func parseMany(_ text: String) -> (keys: [SSHPublicKey], errors: [(line: Int, message: String)]) {
        var keys: [SSHPublicKey] = []
        var errors: [(Int, String)] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            do { keys.append(try SSHPublicKey(line: String(line))) } catch { errors.append((index + 1, "\(error)")) }
        }
        return (keys, errors)
    }
}

private extension Unicode.GeneralCategory {
    var isControlLike: Bool { self == .control || self == .format || self == .lineSeparator || self == .paragraphSeparator }
}

/// RFC 4251 wire format: uint32 length-prefixed strings.
struct WireReader {
    let data: [UInt8]
    var offset = 0
    init(_ data: Data) { self.data = [UInt8](data) }

    mutating func bytes() -> [UInt8]? {
        guard offset + 4 <= data.count else { return nil }
        let length = data[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        offset += 4
        guard length >= 0, offset + length <= data.count else { return nil }
        defer { offset += length }
        return Array(data[offset..<offset + length])
    }

    mutating func string() -> String? { bytes().map { String(decoding: $0, as: UTF8.self) } }
}
