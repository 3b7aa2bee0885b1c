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

    /// What a vmedia request gets: status, the short header set, and the open file and bytes to send (if any).
    struct Answer {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        /// Kept by the sender until the body is written (its descriptor closes with the last user).
        var file: OpenMediaFile?
        var bytes: Range<Int> = 0..<0
    }

    func answer(_ request: HTTPRequestHead, library: MediaLibrary, name: Substring) -> Answer {
        var headers = HTTPHeaders()
        headers.reserveCapacity(9)
        headers.add(name: "Date", value: HTTPDate.now())
        guard request.method == .GET || request.method == .HEAD else {
            headers.add(name: "Allow", value: "GET, HEAD")
            headers.add(name: "Content-Length", value: "0")
            return Answer(status: .methodNotAllowed, headers: headers)
        }
        guard let file = library.open(String(name)) else {
            headers.add(name: "Content-Length", value: "0")
            return Answer(status: .notFound, headers: headers)
        }
        headers.add(name: "Accept-Ranges", value: "bytes")
        headers.add(name: "ETag", value: file.validators.etag)
        headers.add(name: "Last-Modified", value: file.lastModifiedHeader)
        let rangeHeader = request.headers.first(name: "Range")
        let outcome = Conditional.evaluate(
            ifMatch: request.headers.first(name: "If-Match"), ifUnmodifiedSince: request.headers.first(name: "If-Unmodified-Since"),
            ifNoneMatch: request.headers.first(name: "If-None-Match"), ifModifiedSince: request.headers.first(name: "If-Modified-Since"),
            ifRange: request.headers.first(name: "If-Range"), hasRange: rangeHeader != nil, validators: file.validators)
        let range: RangeDecision
        switch outcome {
        case .notModified:
            return Answer(status: .notModified, headers: headers)
        case .preconditionFailed:
            return Answer(status: .preconditionFailed, headers: ["Date": headers.first(name: "Date")!, "Content-Length": "0"])
        case .proceed(let honourRange):
            range = honourRange ? ByteRange.decide(rangeHeader, size: file.size) : .whole
        }
        let status: HTTPResponseStatus
        let bytes: Range<Int>
        switch range {
        case .unsatisfiable:
            headers.add(name: "Content-Range", value: "bytes */\(file.size)")
            headers.add(name: "Content-Length", value: "0")
            return Answer(status: .rangeNotSatisfiable, headers: headers)
        case .whole:
            status = .ok
            bytes = 0..<file.size
        case .partial(let r):
            status = .partialContent
            bytes = r.lowerBound..<(r.upperBound + 1)
            headers.add(name: "Content-Range", value: "bytes \(r.lowerBound)-\(r.upperBound)/\(file.size)")
        }
        headers.add(name: "Content-Type", value: "application/octet-stream")
        headers.add(name: "Content-Length", value: String(bytes.count))
        if request.method == .HEAD || bytes.isEmpty {
            return Answer(status: status, headers: headers)
        }
        return Answer(status: status, headers: headers, file: file, bytes: bytes)
    }
}
