import Foundation
import Hummingbird
import MultipartKit
import NIOCore

/// A request body collected up to a limit: larger ones are the client's error (413), said in our words.
enum RequestBody {
    static let limit = 256 * 1024

    /// `what` names the body in the 413's message ("the form").
    static func collect(_ request: inout Request, upTo limit: Int = limit, what: String = "the request body") async throws -> ByteBuffer {
        do {
            return try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw HTTPError(.contentTooLarge, message: "\(what) is larger than \(limit / 1024) KiB")
        }
    }
}

/// Decodes an HTML form body, `application/x-www-form-urlencoded` or, where a file upload is expected,
/// `multipart/form-data` (key files).
enum FormBody {
    static let limit = RequestBody.limit
    /// The login form: a name, a password and two tokens. Anonymous, so small.
    static let loginLimit = 8 * 1024
    /// Parts of a multipart form, at most, counted before parsing: 4,600 parts of a 256 KiB login took a second of
    /// CPU, unauthenticated.
    static let maxParts = 16

    enum Encodings {
        case urlEncoded
        case urlEncodedOrMultipart
    }

    static func decode<T: Decodable>(_ type: T.Type, from request: inout Request, accepting encodings: Encodings = .urlEncoded,
                                     limit: Int = limit) async throws -> T {
        let contentType = request.headers[.contentType] ?? ""
        let multipart = contentType.lowercased().hasPrefix("multipart/form-data")
        if multipart, encodings == .urlEncoded {
            throw HTTPError(.unsupportedMediaType, message: "this form takes application/x-www-form-urlencoded only")
        }
        let buffer = try await RequestBody.collect(&request, upTo: limit, what: "the form")
        let text = String(buffer: buffer)
        do {
            if multipart {
                guard let boundary = boundary(of: contentType) else { throw HTTPError(.badRequest, message: "multipart form without a boundary") }
                return try decodeMultipart(T.self, from: buffer, boundary: boundary)
            }
            return try URLEncodedFormDecoder().decode(T.self, from: text)
        } catch let error as HTTPError {
            throw error
        } catch {
            throw HTTPError(.badRequest, message: "the form is incomplete or malformed")
        }
    }

    /// A multipart body, checked before MultipartKit parses it: the part count (its cost), and header names of ASCII
    /// only — MultipartKit 4.7.1 looks a header name's byte up in a 128-entry table, so a byte from 0x80 up traps the
    /// whole process (found by bench/fuzz.sh: one logged-in request stopped the server).
    static func decodeMultipart<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer, boundary: String) throws -> T {
        guard parts(of: buffer, boundary: boundary) <= maxParts + 1 else {
            throw HTTPError(.contentTooLarge, message: "the form has more than \(maxParts) parts")
        }
        guard partHeaderNamesAreASCII(buffer, boundary: boundary) else {
            throw HTTPError(.badRequest, message: "the form is incomplete or malformed")
        }
        return try FormDataDecoder().decode(T.self, from: String(buffer: buffer), boundary: boundary)
    }

    /// Whether every part's header block, read as MultipartKit reads it, has header names of ASCII only. A block runs
    /// from a delimiter to the next empty line; lines end at CRLF only, and a bare CR or LF in a block (which
    /// MultipartKit would read into a value, making the next bytes a name) refuses the body, as does a byte from 0x80
    /// up on the delimiter's own line or before a line's first colon. Every occurrence of the delimiter counts, even one
    /// MultipartKit would read as content: checking more than it parses is safe, less would not be.
    static func partHeaderNamesAreASCII(_ body: ByteBuffer, boundary: String) -> Bool {
        let delimiter = Array("--\(boundary)".utf8)
        let cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n"), colon = UInt8(ascii: ":")
        return body.withUnsafeReadableBytes { bytes in
            var index = 0
            while let start = find(delimiter, in: bytes, from: index) {
                index = start + delimiter.count
                var position = index
                // The delimiter's line.
                while position < bytes.count, !(bytes[position] == cr && position + 1 < bytes.count && bytes[position + 1] == lf) {
                    if bytes[position] >= 0x80 { return false }
                    position += 1
                }
                position += 2
                // Its header lines, up to the empty one.
                while position < bytes.count {
                    let lineStart = position
                    var inName = true
                    while position < bytes.count {
                        let byte = bytes[position]
                        if byte == cr {
                            guard position + 1 < bytes.count, bytes[position + 1] == lf else { return false }
                            break
                        }
                        if byte == lf { return false }
                        if byte == colon { inName = false }
                        if inName && byte >= 0x80 { return false }
                        position += 1
                    }
                    let empty = position == lineStart
                    position += 2
                    if empty { break }
                }
            }
            return true
        }
    }

    private static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard let first = needle.first, bytes.count >= needle.count else { return nil }
        var index = start
        while index <= bytes.count - needle.count {
            if bytes[index] == first, bytes[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    /// How many times the boundary delimiter occurs (parts + 1 in a well-formed body): a cheap byte scan.
    static func parts(of body: ByteBuffer, boundary: String) -> Int {
        let delimiter = Array("--\(boundary)".utf8)
        return body.withUnsafeReadableBytes { bytes in
            var count = 0, index = 0
            while let found = find(delimiter, in: bytes, from: index) {
                count += 1
                index = found + delimiter.count
            }
            return count
        }
    }

    static func boundary(of contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                let value = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                return value.isEmpty || value.utf8.count > 70 ? nil : value  // RFC 2046: 1 to 70 characters
            }
        }
        return nil
    }
}

/// The CSRF field every form carries.
struct CSRFField: Decodable {
    let _csrf: String?
}

extension String {
    /// Compares without an early exit, so that timing does not reveal how much of a token was right.
    func constantTimeEquals(_ other: String) -> Bool {
        let a = Array(utf8), b = Array(other.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
