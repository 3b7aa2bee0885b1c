import NIOCore

/// A request for a media file, as `VmediaRequestParser` read it from the connection's bytes.
struct VmediaRequest {
    enum Method { case get, head, other }

    let method: Method
    let library: MediaLibrary
    let name: String
    /// Whose reading this is, where the route counts per reader.
    let reader: MediaReader?
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

    /// RFC 9112 §9.3: `close` ends the connection whatever else is said; else HTTP/1.1 persists, and HTTP/1.0 only
    /// with `keep-alive`.
    static func persists(http11: Bool, close: Bool, keepAlive: Bool) -> Bool { !close && (http11 || keepAlive) }

    init(method: Method, library: MediaLibrary, name: String, reader: MediaReader? = nil, fields: Fields, keepAlive: Bool) {
        self.method = method
        self.library = library
        self.name = name
        self.reader = reader
        self.fields = fields
        self.keepAlive = keepAlive
    }
}

/// Reads the requests a BMC sends — `GET`/`HEAD` of a vmedia path, no body — straight from the connection's bytes.
///
/// NIO's decoder turns each request into a head with every header as a `String`, and that was a quarter of the CPU
/// time of a 32 KiB ranged read (perf), for six fields the answer uses. The listener takes nothing else, so anything
/// this reader does not recognise in full is refused, with the connection: another method, a path that is not a
/// media path, a body (`Content-Length`, `Transfer-Encoding`), `Expect`, `Upgrade`, a folded or malformed line, a
/// header block over 16 KiB. (The fuzzer checks that what it accepts, NIO's decoder reads the same way.)
enum VmediaRequestParser {
    enum Outcome {
        /// The header block is not complete yet.
        case incomplete
        /// Not a request this listener answers: a fixed answer, then the connection closes.
        case refused(Refusal)
        /// A whole request, `length` bytes.
        case request(VmediaRequest, length: Int)
    }

    enum Refusal: Equatable {
        /// 405: a method other than GET and HEAD.
        case method
        /// 404: GET or HEAD of a path outside the media paths (a portal page asked of the wrong port).
        case notMediaPath
        /// 400: anything else — a body, an upgrade, a malformed or oversized head.
        case malformed
    }

    static let maxHeaderBlock = 16 * 1024

    /// Offsets into the buffer's readable bytes.
    private struct Scan {
        var method = VmediaRequest.Method.get
        var library: MediaLibrary?
        var name = ""
        var reader: MediaReader?
        var length = 0
        var http11 = true
        var closeToken = false
        var keepAliveToken = false
        var range: Range<Int>?, ifMatch: Range<Int>?, ifNoneMatch: Range<Int>?
        var ifModifiedSince: Range<Int>?, ifUnmodifiedSince: Range<Int>?, ifRange: Range<Int>?
    }

    private enum ScanResult {
        case incomplete
        case refused(Refusal)
        case head(Scan)
    }

    static func parse(_ buffer: ByteBuffer, routes: VmediaRoutes) -> Outcome {
        let result = buffer.withUnsafeReadableBytes { Self.scan($0, routes: routes) }
        let scan: Scan
        switch result {
        case .incomplete: return buffer.readableBytes <= maxHeaderBlock ? .incomplete : .refused(.malformed)
        case .refused(let refusal): return .refused(refusal)
        case .head(let scanned): scan = scanned
        }
        func slice(_ range: Range<Int>?) -> ByteBuffer? {
            range.flatMap { buffer.getSlice(at: buffer.readerIndex + $0.lowerBound, length: $0.count) }
        }
        let fields = VmediaRequest.Fields(range: slice(scan.range), ifMatch: slice(scan.ifMatch),
                                          ifNoneMatch: slice(scan.ifNoneMatch), ifModifiedSince: slice(scan.ifModifiedSince),
                                          ifUnmodifiedSince: slice(scan.ifUnmodifiedSince), ifRange: slice(scan.ifRange))
        let keepAlive = VmediaRequest.persists(http11: scan.http11, close: scan.closeToken, keepAlive: scan.keepAliveToken)
        let request = VmediaRequest(method: scan.method, library: scan.library!, name: scan.name, reader: scan.reader, fields: fields,
                                    keepAlive: keepAlive)
        return .request(request, length: scan.length)
    }

    private static let get = Array("GET /".utf8), head = Array("HEAD /".utf8), version = Array("HTTP/1.".utf8)

    private static func scan(_ bytes: UnsafeRawBufferPointer, routes: VmediaRoutes) -> ScanResult {
        var result = Scan()
        // The method, decided on the first bytes: a POST is refused without waiting for its header block.
        let method: [UInt8]
        if bytes.first == UInt8(ascii: "G") { method = get } else if bytes.first == UInt8(ascii: "H") {
            method = head
            result.method = .head
        } else { return bytes.isEmpty ? .incomplete : otherMethod(bytes) }
        for (index, expected) in method.enumerated() {
            guard index < bytes.count else { return .incomplete }
            guard bytes[index] == expected else { return otherMethod(bytes) }
        }
        // Request line: target, one space, `HTTP/1.1` or `HTTP/1.0`, CRLF.
        let targetStart = method.count - 1
        var cursor = targetStart
        while cursor < bytes.count, bytes[cursor] != UInt8(ascii: " ") {
            guard bytes[cursor] > 0x20, bytes[cursor] < 0x7F else { return .refused(.malformed) }
            cursor += 1
        }
        guard cursor + 1 + version.count + 3 <= bytes.count else { return .incomplete }
        guard let target = routes.target(of: UnsafeRawBufferPointer(rebasing: bytes[targetStart..<cursor])) else {
            return .refused(.notMediaPath)
        }
        result.library = target.library
        result.name = target.name
        result.reader = target.reader
        cursor += 1
        for expected in version {
            guard bytes[cursor] == expected else { return .refused(.malformed) }
            cursor += 1
        }
        switch bytes[cursor] {
        case UInt8(ascii: "1"): result.http11 = true
        case UInt8(ascii: "0"): result.http11 = false
        default: return .refused(.malformed)
        }
        guard bytes[cursor + 1] == UInt8(ascii: "\r"), bytes[cursor + 2] == UInt8(ascii: "\n") else { return .refused(.malformed) }
        cursor += 3
        // Header lines up to the empty one.
        while true {
            guard cursor + 1 < bytes.count else { return .incomplete }
            if bytes[cursor] == UInt8(ascii: "\r") {
                guard bytes[cursor + 1] == UInt8(ascii: "\n") else { return .refused(.malformed) }
                result.length = cursor + 2
                return .head(result)
            }
            let nameStart = cursor
            while cursor < bytes.count, bytes[cursor] != UInt8(ascii: ":") {
                guard isTokenByte(bytes[cursor]) else { return .refused(.malformed) }  // also a fold's leading space, a bare LF
                cursor += 1
            }
            guard cursor < bytes.count else { return .incomplete }
            let nameEnd = cursor
            guard nameEnd > nameStart else { return .refused(.malformed) }
            cursor += 1
            var valueStart = cursor
            while cursor < bytes.count, bytes[cursor] != UInt8(ascii: "\r") {
                let byte = bytes[cursor]
                guard byte >= 0x20 || byte == 0x09, byte != 0x7F else { return .refused(.malformed) }
                cursor += 1
            }
            guard cursor + 1 < bytes.count else { return .incomplete }
            guard bytes[cursor + 1] == UInt8(ascii: "\n") else { return .refused(.malformed) }
            var valueEnd = cursor
            cursor += 2
            while valueStart < valueEnd, bytes[valueStart] == 0x20 || bytes[valueStart] == 0x09 { valueStart += 1 }
            while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { valueEnd -= 1 }
            let value = valueStart..<valueEnd
            let name = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<nameEnd])
            switch name.count {
            case 5 where matches(name, "range"): if result.range == nil { result.range = value }
            case 6 where matches(name, "expect"): return .refused(.malformed)
            case 7 where matches(name, "upgrade"): return .refused(.malformed)
            case 8 where matches(name, "if-match"): if result.ifMatch == nil { result.ifMatch = value }
            case 8 where matches(name, "if-range"): if result.ifRange == nil { result.ifRange = value }
            case 10 where matches(name, "connection"):
                connectionTokens(UnsafeRawBufferPointer(rebasing: bytes[value]), into: &result)
            case 13 where matches(name, "if-none-match"): if result.ifNoneMatch == nil { result.ifNoneMatch = value }
            case 14 where matches(name, "content-length"): return .refused(.malformed)
            case 17 where matches(name, "transfer-encoding"): return .refused(.malformed)
            case 17 where matches(name, "if-modified-since"): if result.ifModifiedSince == nil { result.ifModifiedSince = value }
            case 19 where matches(name, "if-unmodified-since"): if result.ifUnmodifiedSince == nil { result.ifUnmodifiedSince = value }
            default: break
            }
        }
    }

    /// A request line that is not GET or HEAD: 405 for a method token followed by a space (`POST /…`), 400 for
    /// bytes that are no request at all (a TLS hello on the plain port).
    private static func otherMethod(_ bytes: UnsafeRawBufferPointer) -> ScanResult {
        for (index, byte) in bytes.enumerated() {
            if byte == UInt8(ascii: " ") {
                // `GET http://…` (absolute form) is a GET all the same, not another method.
                let isOurs = index == 3 && bytes[0] == UInt8(ascii: "G") || index == 4 && bytes[0] == UInt8(ascii: "H")
                return index > 0 && !isOurs ? .refused(.method) : .refused(.malformed)
            }
            guard isTokenByte(byte) else { return .refused(.malformed) }
            if index >= 32 { break }
        }
        return bytes.count > 32 ? .refused(.malformed) : .incomplete
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
