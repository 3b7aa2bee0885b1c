import Foundation
import Hummingbird
import MultipartKit
import NIOCore

/// Decodes an HTML form body, `application/x-www-form-urlencoded` or `multipart/form-data` (key file uploads).
enum FormBody {
    static let limit = 256 * 1024

    static func decode<T: Decodable>(_ type: T.Type, from request: inout Request) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch {
            throw HTTPError(.contentTooLarge, message: "the form is larger than \(limit / 1024) KiB")
        }
        let text = String(buffer: buffer)
        let contentType = request.headers[.contentType] ?? ""
        do {
            if contentType.lowercased().hasPrefix("multipart/form-data") {
                guard let boundary = boundary(of: contentType) else { throw HTTPError(.badRequest, message: "multipart form without a boundary") }
                return try FormDataDecoder().decode(T.self, from: text, boundary: boundary)
            }
            return try URLEncodedFormDecoder().decode(T.self, from: text)
        } catch let error as HTTPError {
            throw error
        } catch {
            throw HTTPError(.badRequest, message: "the form is incomplete or malformed")
        }
    }

    static func boundary(of contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
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
