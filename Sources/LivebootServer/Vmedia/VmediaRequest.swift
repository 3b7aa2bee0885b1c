import NIOCore
import NIOHTTP1

/// A vmedia request, however it was read: by `VmediaRequestParser` from the connection's bytes (the iDRAC's case),
/// or by NIO's decoder on a connection that has also carried requests for the router.
struct VmediaRequest {
    enum Method { case get, head, other }

    let method: Method
    let library: MediaLibrary
    let name: String
    let fields: Fields
    let keepAlive: Bool

    /// The header fields the answer depends on, as their bytes (the first of each name, as `HTTPHeaders.first`).
    struct Fields {
        var range: ByteBuffer?
        var ifMatch: ByteBuffer?
        var ifNoneMatch: ByteBuffer?
        var ifModifiedSince: ByteBuffer?
        var ifUnmodifiedSince: ByteBuffer?
        var ifRange: ByteBuffer?
    }

    /// From NIO's decoder; nil when the target is not vmedia's.
    init?(_ head: HTTPRequestHead, routes: VmediaRoutes) {
        guard let target = routes.target(of: head.uri) else { return nil }
        method = head.method == .GET ? .get : head.method == .HEAD ? .head : .other
        library = target.library
        name = target.name
        func field(_ name: String) -> ByteBuffer? { head.headers.first(name: name).map { ByteBuffer(string: $0) } }
        fields = Fields(range: field("Range"), ifMatch: field("If-Match"), ifNoneMatch: field("If-None-Match"),
                        ifModifiedSince: field("If-Modified-Since"), ifUnmodifiedSince: field("If-Unmodified-Since"),
                        ifRange: field("If-Range"))
        // Not NIO's `isKeepAlive`: it lets an HTTP/1.0 `keep-alive` win over a `close` beside it (bench/fuzz.sh's find).
        let tokens = head.headers[canonicalForm: "connection"].map { $0.lowercased() }
        keepAlive = Self.persists(http11: head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1),
                                  close: tokens.contains("close"), keepAlive: tokens.contains("keep-alive"))
    }

    /// RFC 9112 §9.3: `close` ends the connection whatever else is said; else HTTP/1.1 persists, and HTTP/1.0 only
    /// with `keep-alive`. Both readers of a request decide by it.
    static func persists(http11: Bool, close: Bool, keepAlive: Bool) -> Bool { !close && (http11 || keepAlive) }

    init(method: Method, library: MediaLibrary, name: String, fields: Fields, keepAlive: Bool) {
        self.method = method
        self.library = library
        self.name = name
        self.fields = fields
        self.keepAlive = keepAlive
    }
}

/// Reads the requests a BMC sends — `GET`/`HEAD` of a vmedia path, no body — straight from the connection's bytes.
///
/// NIO's decoder turns each request into a head with every header as a `String`, and that was a quarter of the CPU
/// time of a 32 KiB ranged read (perf), for six fields the answer uses. Anything this reader does not recognise in
/// full — another method or path, a body (`Content-Length`, `Transfer-Encoding`), `Expect`, `Upgrade`, a folded or
/// malformed line, a header block over 16 KiB — is not judged here: `VmediaFront` hands that request and every byte
/// after it to NIO's decoder, which answers or rejects it as before.
enum VmediaRequestParser {
    enum Outcome {
        /// The header block is not complete yet.
        case incomplete
        /// For NIO's decoder, from this request on.
        case notOurs
        /// A whole request, `length` bytes.
        case request(VmediaRequest, length: Int)
    }

    static let maxHeaderBlock = 16 * 1024

    /// Offsets into the buffer's readable bytes.
    private struct Scan {
        var method = VmediaRequest.Method.get
        var library: MediaLibrary?
        var name = ""
        var length = 0
        var http11 = true
        var closeToken = false
        var keepAliveToken = false
        var range: Range<Int>?, ifMatch: Range<Int>?, ifNoneMatch: Range<Int>?
        var ifModifiedSince: Range<Int>?, ifUnmodifiedSince: Range<Int>?, ifRange: Range<Int>?
    }

    private enum ScanResult {
        case incomplete, notOurs
        case head(Scan)
    }

    static func parse(_ buffer: ByteBuffer, routes: VmediaRoutes) -> Outcome {
        let result = buffer.withUnsafeReadableBytes { scan($0, routes: routes) }
        guard case .head(let scan) = result else {
            if case .incomplete = result, buffer.readableBytes <= maxHeaderBlock { return .incomplete }
            return .notOurs
        }
        func slice(_ range: Range<Int>?) -> ByteBuffer? {
            range.flatMap { buffer.getSlice(at: buffer.readerIndex + $0.lowerBound, length: $0.count) }
        }
        let fields = VmediaRequest.Fields(range: slice(scan.range), ifMatch: slice(scan.ifMatch),
                                          ifNoneMatch: slice(scan.ifNoneMatch), ifModifiedSince: slice(scan.ifModifiedSince),
                                          ifUnmodifiedSince: slice(scan.ifUnmodifiedSince), ifRange: slice(scan.ifRange))
        let keepAlive = VmediaRequest.persists(http11: scan.http11, close: scan.closeToken, keepAlive: scan.keepAliveToken)
        let request = VmediaRequest(method: scan.method, library: scan.library!, name: scan.name, fields: fields,
                                    keepAlive: keepAlive)
        return .request(request, length: scan.length)
    }

    private static let get = Array("GET /".utf8), head = Array("HEAD /".utf8), version = Array("HTTP/1.".utf8)

    private static func scan(_ bytes: UnsafeRawBufferPointer, routes: VmediaRoutes) -> ScanResult {
        var result = Scan()
        // The method, decided on the first bytes: a POST is handed on without waiting for its header block.
        let method: [UInt8]
        if bytes.first == UInt8(ascii: "G") { method = get } else if bytes.first == UInt8(ascii: "H") {
            method = head
            result.method = .head
        } else { return bytes.isEmpty ? .incomplete : .notOurs }
        for (index, expected) in method.enumerated() {
            guard index < bytes.count else { return .incomplete }
            guard bytes[index] == expected else { return .notOurs }
        }
        // Request line: target, one space, `HTTP/1.1` or `HTTP/1.0`, CRLF.
        let targetStart = method.count - 1
        var cursor = targetStart
        while cursor < bytes.count, bytes[cursor] != UInt8(ascii: " ") {
            guard bytes[cursor] > 0x20, bytes[cursor] < 0x7F else { return .notOurs }
            cursor += 1
        }
        guard cursor + 1 + version.count + 3 <= bytes.count else { return .incomplete }
        guard let target = routes.target(of: UnsafeRawBufferPointer(rebasing: bytes[targetStart..<cursor])) else { return .notOurs }
        result.library = target.library
        result.name = target.name
        cursor += 1
        for expected in version {
            guard bytes[cursor] == expected else { return .notOurs }
            cursor += 1
        }
        switch bytes[cursor] {
        case UInt8(ascii: "1"): result.http11 = true
        case UInt8(ascii: "0"): result.http11 = false
        default: return .notOurs
        }
        guard bytes[cursor + 1] == UInt8(ascii: "\r"), bytes[cursor + 2] == UInt8(ascii: "\n") else { return .notOurs }
        cursor += 3
        // Header lines up to the empty one.
        while true {
            guard cursor + 1 < bytes.count else { return .incomplete }
            if bytes[cursor] == UInt8(ascii: "\r") {
                guard bytes[cursor + 1] == UInt8(ascii: "\n") else { return .notOurs }
                result.length = cursor + 2
                return .head(result)
            }
            let nameStart = cursor
            while cursor < bytes.count, bytes[cursor] != UInt8(ascii: ":") {
                guard isTokenByte(bytes[cursor]) else { return .notOurs }  // also a fold's leading space, a bare LF
                cursor += 1
            }
            guard cursor < bytes.count else { return .incomplete }
            let nameEnd = cursor
            guard nameEnd > nameStart else { return .notOurs }
            cursor += 1
            var valueStart = cursor
            while cursor < bytes.count, bytes[cursor] != UInt8(ascii: "\r") {
                let byte = bytes[cursor]
                guard byte >= 0x20 || byte == 0x09, byte != 0x7F else { return .notOurs }
                cursor += 1
            }
            guard cursor + 1 < bytes.count else { return .incomplete }
            guard bytes[cursor + 1] == UInt8(ascii: "\n") else { return .notOurs }
            var valueEnd = cursor
            cursor += 2
            while valueStart < valueEnd, bytes[valueStart] == 0x20 || bytes[valueStart] == 0x09 { valueStart += 1 }
            while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { valueEnd -= 1 }
            let value = valueStart..<valueEnd
            let name = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<nameEnd])
            switch name.count {
            case 5 where matches(name, "range"): if result.range == nil { result.range = value }
            case 6 where matches(name, "expect"): return .notOurs
            case 7 where matches(name, "upgrade"): return .notOurs
            case 8 where matches(name, "if-match"): if result.ifMatch == nil { result.ifMatch = value }
            case 8 where matches(name, "if-range"): if result.ifRange == nil { result.ifRange = value }
            case 10 where matches(name, "connection"):
                connectionTokens(UnsafeRawBufferPointer(rebasing: bytes[value]), into: &result)
            case 13 where matches(name, "if-none-match"): if result.ifNoneMatch == nil { result.ifNoneMatch = value }
            case 14 where matches(name, "content-length"): return .notOurs
            case 17 where matches(name, "transfer-encoding"): return .notOurs
            case 17 where matches(name, "if-modified-since"): if result.ifModifiedSince == nil { result.ifModifiedSince = value }
            case 19 where matches(name, "if-unmodified-since"): if result.ifUnmodifiedSince == nil { result.ifUnmodifiedSince = value }
            default: break
            }
        }
    }

    /// `close` and `keep-alive` among a Connection field's comma-separated options.
    private static func connectionTokens(_ value: UnsafeRawBufferPointer, into result: inout Scan) {
        var start = 0
        while start <= value.count {
            var end = start
            while end < value.count, value[end] != UInt8(ascii: ",") { end += 1 }
            var lower = start, upper = end
            while lower < upper, value[lower] == 0x20 || value[lower] == 0x09 { lower += 1 }
            while upper > lower, value[upper - 1] == 0x20 || value[upper - 1] == 0x09 { upper -= 1 }
            let token = UnsafeRawBufferPointer(rebasing: value[lower..<upper])
            if matches(token, "close") { result.closeToken = true }
            if matches(token, "keep-alive") { result.keepAliveToken = true }
            start = end + 1
        }
    }

    /// Case-insensitive equality with a lowercase ASCII literal.
    private static func matches(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = lowercase.utf8Start
        for index in 0..<bytes.count {
            let byte = bytes[index]
            let folded = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
            guard folded == expected[index] else { return false }
        }
        return true
    }

    /// RFC 9110 §5.6.2 `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }
}
