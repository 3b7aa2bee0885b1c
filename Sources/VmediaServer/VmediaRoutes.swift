import NIOCore
import NIOHTTP1

/// Where each media path leads: `GET|HEAD <prefix><name>` is answered from the prefix's library, the first prefix
/// that matches wins. What the iDRAC's httpfs2 client reads goes through here.
public struct VmediaRoute: Sendable {
    /// `/images/`, `/seeds/`: starts and ends with a slash.
    public let prefix: String
    public let library: MediaLibrary
    /// Counts what each reader reads, if the route's paths name readers.
    public let tally: (MediaTally, ReaderKeying)?

    public init(prefix: String, library: MediaLibrary, tally: (MediaTally, ReaderKeying)? = nil) {
        precondition(prefix.hasPrefix("/") && prefix.hasSuffix("/"), "a media path prefix starts and ends with /")
        self.prefix = prefix
        self.library = library
        self.tally = tally
    }
}

/// Whose reading a request is: the tally it counts in and the reader's key there.
struct MediaReader {
    let tally: MediaTally
    let key: String
}

/// The answers of the vmedia listener.
///
/// The iDRAC's client constraints (from the public record of its behaviour): status line `HTTP/1.1 `, `HEAD` first
/// answered 200 with `Content-Length` and `Accept-Ranges: bytes`; each read a single `Range` answered 206 with
/// `Content-Range`; the whole header block within the first 1024 bytes — so these routes send a short, fixed set of
/// headers. This type decides the answer; `VmediaConnection` sends it.
public struct VmediaRoutes: Sendable {
    private let routes: [(prefix: [UInt8], library: MediaLibrary, tally: (MediaTally, ReaderKeying)?)]

    /// The longest reader key taken from a path; a longer one is not a reader's (404).
    static let maxReaderKey = 128

    public init(_ routes: [VmediaRoute]) {
        self.routes = routes.map { (Array($0.prefix.utf8), $0.library, $0.tally) }
    }

    /// What a request target asks for.
    struct Target {
        let library: MediaLibrary
        /// The name asked of the library: the path under the prefix, the reader's key taken out.
        let name: String
        let reader: MediaReader?
    }

    /// The library a request target belongs to and the name asked for; nil for a path that is not a media path.
    /// Every path under a prefix is ours: whatever is not a servable name there gets our 404.
    func target(of uri: String) -> Target? {
        var uri = uri
        return uri.withUTF8 { target(of: UnsafeRawBufferPointer($0)) }
    }

    /// On the target's bytes, as `VmediaRequestParser` reads them (the query, if any, is not part of the name). A
    /// request with a query is nobody's reading: the URLs BMCs are given have none, our own checks add one.
    func target(of uri: UnsafeRawBufferPointer) -> Target? {
        let end = uri.firstIndex(of: UInt8(ascii: "?")) ?? uri.count
        for route in routes {
            let prefix = route.prefix
            guard end >= prefix.count, prefix.withUnsafeBytes({ $0.elementsEqual(uri[..<prefix.count]) }) else { continue }
            let path = String(decoding: UnsafeRawBufferPointer(rebasing: uri[prefix.count..<end]), as: UTF8.self)
            guard let (tally, keying) = route.tally else { return Target(library: route.library, name: path, reader: nil) }
            let counted = end == uri.count
            switch keying {
            case .name:
                return Target(library: route.library, name: path, reader: counted ? MediaReader(tally: tally, key: path) : nil)
            case .leadingComponent:
                // A path without a reader, or with an oversized one, names nothing: the library's 404 (an empty name).
                guard let slash = path.utf8.firstIndex(of: UInt8(ascii: "/")), path.utf8.distance(from: path.utf8.startIndex, to: slash) <= Self.maxReaderKey,
                      slash != path.utf8.startIndex else {
                    return Target(library: route.library, name: "", reader: nil)
                }
                let key = String(path[..<slash]), name = String(path[path.index(after: slash)...])
                return Target(library: route.library, name: name, reader: counted ? MediaReader(tally: tally, key: key) : nil)
            }
        }
        return nil
    }

    /// What a vmedia request gets. Its header block is written by hand (`writeHead`): the set is short and fixed
    /// (the iDRAC reads the first 1024 bytes), every value is ours, and going through NIO's `HTTPHeaders` and
    /// response encoder was a sixth of a ranged read's CPU time (perf).
    struct Answer {
        enum Kind {
            case notAllowed, notFound, notModified, preconditionFailed, unsatisfiable, busy
            /// Not a request this listener takes (see `VmediaRequestParser.Refusal`).
            case badRequest
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
            case .badRequest: .badRequest
            case .content(let partial): partial ? .partialContent : .ok
            }
        }

        /// The status line and the header block, up to and including the blank line; at most `HeaderBlock.capacity`
        /// bytes, written in one go (a `ByteBuffer` write per field was a tenth of a ranged read's CPU time).
        func writeHead(keepAlive: Bool, date: [UInt8], into buffer: inout ByteBuffer) {
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: HeaderBlock.capacity) { space in
                var block = HeaderBlock(space)
                writeHead(keepAlive: keepAlive, date: date, into: &block)
                return block.count
            }
        }

        private func writeHead(keepAlive: Bool, date: [UInt8], into block: inout HeaderBlock) {
            switch kind {
            case .notAllowed: block.append("HTTP/1.1 405 Method Not Allowed\r\n")
            case .notFound: block.append("HTTP/1.1 404 Not Found\r\n")
            case .notModified: block.append("HTTP/1.1 304 Not Modified\r\n")
            case .preconditionFailed: block.append("HTTP/1.1 412 Precondition Failed\r\n")
            case .unsatisfiable: block.append("HTTP/1.1 416 Range Not Satisfiable\r\n")
            case .busy: block.append("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n")
            case .badRequest: block.append("HTTP/1.1 400 Bad Request\r\n")
            case .content(let partial): block.append(partial ? "HTTP/1.1 206 Partial Content\r\n" : "HTTP/1.1 200 OK\r\n")
            }
            block.append("Date: ")
            block.append(date)
            switch kind {
            case .notAllowed:
                block.append("\r\nAllow: GET, HEAD\r\nContent-Length: 0")
            case .notFound, .preconditionFailed, .busy, .badRequest:
                block.append("\r\nContent-Length: 0")
            case .notModified, .unsatisfiable, .content:
                if let file { block.append(file.validatorFields) }
                if case .unsatisfiable = kind {
                    block.append("\r\nContent-Range: bytes */")
                    block.append(decimal: file?.size ?? 0)
                    block.append("\r\nContent-Length: 0")
                } else if case .content(let partial) = kind {
                    if partial {
                        block.append("\r\nContent-Range: bytes ")
                        block.append(decimal: range.lowerBound)
                        block.append("-")
                        block.append(decimal: range.upperBound - 1)
                        block.append("/")
                        block.append(decimal: file?.size ?? 0)
                    }
                    if let file { block.append(file.contentTypeField) }
                    block.append("\r\nContent-Length: ")
                    block.append(decimal: range.count)
                }
            }
            block.append(keepAlive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n")
        }
    }

    /// Fills the space reserved for a header block. Every value in it is ours and short (the longest block is under
    /// 500 bytes), so running out of space is a programming error.
    struct HeaderBlock {
        static let capacity = 1024
        private let space: UnsafeMutableRawBufferPointer
        private(set) var count = 0

        init(_ space: UnsafeMutableRawBufferPointer) { self.space = space }

        private mutating func append(_ bytes: UnsafeRawBufferPointer) {
            precondition(count + bytes.count <= Self.capacity, "vmedia header block over \(Self.capacity) bytes")
            UnsafeMutableRawBufferPointer(rebasing: space[count...]).copyMemory(from: bytes)
            count += bytes.count
        }

        mutating func append(_ text: StaticString) {
            append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }

        mutating func append(_ bytes: [UInt8]) { bytes.withUnsafeBytes { append($0) } }

        /// A non-negative integer's decimal digits, without making a `String` of them first.
        mutating func append(decimal value: Int) {
            precondition(value >= 0 && count + 19 <= Self.capacity)
            var digits = 1, rest = value
            while rest >= 10 {
                digits += 1
                rest /= 10
            }
            rest = value
            for index in stride(from: count + digits - 1, through: count, by: -1) {
                space[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
            count += digits
        }
    }

    func answer(_ request: VmediaRequest) -> Answer {
        guard request.method != .other else { return Answer(kind: .notAllowed) }
        guard let file = request.library.open(request.name) else { return Answer(kind: .notFound) }
        let fields = request.fields
        // Strings only for the fields present: a BMC's ranged read has none of these.
        func text(_ field: ByteBuffer?) -> String? { field.map { String(buffer: $0) } }
        let outcome = Conditional.evaluate(
            ifMatch: text(fields.ifMatch), ifUnmodifiedSince: text(fields.ifUnmodifiedSince),
            ifNoneMatch: text(fields.ifNoneMatch), ifModifiedSince: text(fields.ifModifiedSince),
            ifRange: text(fields.ifRange), hasRange: fields.range != nil, validators: file.validators)
        let range: RangeDecision
        switch outcome {
        case .notModified: return Answer(kind: .notModified, file: file)
        case .preconditionFailed: return Answer(kind: .preconditionFailed)
        case .proceed(let honourRange):
            range = honourRange ? fields.range.map { ByteRange.decide($0, size: file.size) } ?? .whole : .whole
        }
        let sendsBody = request.method == .get
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
