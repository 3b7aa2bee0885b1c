import NIOCore
import NIOHTTP1

/// `GET|HEAD /<images.path>/<name>.iso` and `/seeds/<id>.iso`: what the iDRAC's httpfs2 client reads.
///
/// Its constraints (from the public record of its behaviour): status line `HTTP/1.1 `, `HEAD` first answered 200 with
/// `Content-Length` and `Accept-Ranges: bytes`; each read a single `Range` answered 206 with `Content-Range`; the
/// whole header block within the first 1024 bytes — so these routes send a short, fixed set of headers.
/// This type decides the answer; `VmediaFastPath` sends it.
public struct VmediaRoutes: Sendable {
    let images: MediaLibrary
    let seeds: MediaLibrary
    /// `/<images.path>/`
    let imagesPrefix: String
    static let seedsPrefix = "/seeds/"

    public init(images: MediaLibrary, seeds: MediaLibrary, imagesPath: String) {
        self.images = images
        self.seeds = seeds
        let base = imagesPath.split(separator: "/").joined(separator: "/")
        imagesPrefix = "/\(base)/"
    }

    /// The library a request target belongs to and the name asked for; nil for a path that is not vmedia's. Every
    /// path under the two prefixes is ours: whatever is not a plain name there gets our 404, never the portal's.
    func target(of uri: String) -> (library: MediaLibrary, name: Substring)? {
        let path = uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { uri[..<$0] } ?? Substring(uri)
        if path.hasPrefix(imagesPrefix) { return (images, path.dropFirst(imagesPrefix.utf8.count)) }
        if path.hasPrefix(Self.seedsPrefix) { return (seeds, path.dropFirst(Self.seedsPrefix.utf8.count)) }
        return nil
    }

    /// What a vmedia request gets. Its header block is written by hand (`writeHead`): the set is short and fixed
    /// (the iDRAC reads the first 1024 bytes), every value is ours, and going through NIO's `HTTPHeaders` and
    /// response encoder was a sixth of a ranged read's CPU time (perf).
    struct Answer {
        enum Kind {
            case notAllowed, notFound, notModified, preconditionFailed, unsatisfiable, busy
            case content(partial: Bool)
        }

        var kind: Kind
        /// Kept by the sender until the body is written (its descriptor closes with the last user).
        var file: OpenMediaFile?
        /// The entity's part this answer is about (`Content-Length`, `Content-Range`).
        var range: Range<Int> = 0..<0
        /// False for HEAD: the header describes `range`, nothing follows.
        var sendsBody = false

        var bytesToSend: Range<Int> { sendsBody ? range : range.lowerBound..<range.lowerBound }

        var status: HTTPResponseStatus {
            switch kind {
            case .notAllowed: .methodNotAllowed
            case .notFound: .notFound
            case .notModified: .notModified
            case .preconditionFailed: .preconditionFailed
            case .unsatisfiable: .rangeNotSatisfiable
            case .busy: .serviceUnavailable
            case .content(let partial): partial ? .partialContent : .ok
            }
        }

        /// The status line and the header block, up to and including the blank line.
        func writeHead(keepAlive: Bool, into buffer: inout ByteBuffer) {
            switch kind {
            case .notAllowed: buffer.writeStaticString("HTTP/1.1 405 Method Not Allowed\r\n")
            case .notFound: buffer.writeStaticString("HTTP/1.1 404 Not Found\r\n")
            case .notModified: buffer.writeStaticString("HTTP/1.1 304 Not Modified\r\n")
            case .preconditionFailed: buffer.writeStaticString("HTTP/1.1 412 Precondition Failed\r\n")
            case .unsatisfiable: buffer.writeStaticString("HTTP/1.1 416 Range Not Satisfiable\r\n")
            case .busy: buffer.writeStaticString("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n")
            case .content(let partial):
                buffer.writeStaticString(partial ? "HTTP/1.1 206 Partial Content\r\n" : "HTTP/1.1 200 OK\r\n")
            }
            buffer.writeStaticString("Date: ")
            buffer.writeString(HTTPDate.now())
            switch kind {
            case .notAllowed:
                buffer.writeStaticString("\r\nAllow: GET, HEAD\r\nContent-Length: 0")
            case .notFound, .preconditionFailed, .busy:
                buffer.writeStaticString("\r\nContent-Length: 0")
            case .notModified, .unsatisfiable, .content:
                if let file {
                    buffer.writeStaticString("\r\nAccept-Ranges: bytes\r\nETag: ")
                    buffer.writeString(file.validators.etag)
                    buffer.writeStaticString("\r\nLast-Modified: ")
                    buffer.writeString(file.validators.lastModifiedHeader)
                }
                if case .unsatisfiable = kind {
                    buffer.writeStaticString("\r\nContent-Range: bytes */")
                    buffer.writeString(String(file?.size ?? 0))
                    buffer.writeStaticString("\r\nContent-Length: 0")
                } else if case .content(let partial) = kind {
                    if partial {
                        buffer.writeStaticString("\r\nContent-Range: bytes ")
                        buffer.writeString(String(range.lowerBound))
                        buffer.writeStaticString("-")
                        buffer.writeString(String(range.upperBound - 1))
                        buffer.writeStaticString("/")
                        buffer.writeString(String(file?.size ?? 0))
                    }
                    buffer.writeStaticString("\r\nContent-Type: application/octet-stream\r\nContent-Length: ")
                    buffer.writeString(String(range.count))
                }
            }
            buffer.writeStaticString(keepAlive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n")
        }
    }

    func answer(_ request: HTTPRequestHead, library: MediaLibrary, name: Substring) -> Answer {
        guard request.method == .GET || request.method == .HEAD else { return Answer(kind: .notAllowed) }
        guard let file = library.open(String(name)) else { return Answer(kind: .notFound) }
        let rangeHeader = request.headers.first(name: "Range")
        let outcome = Conditional.evaluate(
            ifMatch: request.headers.first(name: "If-Match"), ifUnmodifiedSince: request.headers.first(name: "If-Unmodified-Since"),
            ifNoneMatch: request.headers.first(name: "If-None-Match"), ifModifiedSince: request.headers.first(name: "If-Modified-Since"),
            ifRange: request.headers.first(name: "If-Range"), hasRange: rangeHeader != nil, validators: file.validators)
        let range: RangeDecision
        switch outcome {
        case .notModified: return Answer(kind: .notModified, file: file)
        case .preconditionFailed: return Answer(kind: .preconditionFailed)
        case .proceed(let honourRange): range = honourRange ? ByteRange.decide(rangeHeader, size: file.size) : .whole
        }
        let sendsBody = request.method == .GET
        switch range {
        case .unsatisfiable:
            return Answer(kind: .unsatisfiable, file: file)
        case .whole:
            return Answer(kind: .content(partial: false), file: file, range: 0..<file.size, sendsBody: sendsBody)
        case .partial(let r):
            return Answer(kind: .content(partial: true), file: file, range: r.lowerBound..<(r.upperBound + 1), sendsBody: sendsBody)
        }
    }
}
