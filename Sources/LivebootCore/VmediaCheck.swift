import Foundation
import NIOCore
import NIOPosix

/// One HTTP/1.1 exchange as seen on the wire: what the iDRAC's client checks.
public struct RawHTTPResponse: Sendable {
    public let statusLine: String
    public let status: Int
    public let headerBytes: Int
    public let headers: [(name: String, value: String)]
    public let body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// A keep-alive HTTP/1.1 connection over plain TCP that reads responses byte-exactly (status line, header block
/// size, body length), as the iDRAC's `httpfs2` client does. Not a general client: no chunked bodies.
public final class RawHTTPConnection: @unchecked Sendable {
    private let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var pending: [UInt8] = []
    let host: String

    public static func connect(host: String, port: Int) async throws -> RawHTTPConnection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        return RawHTTPConnection(channel: channel, host: "\(host):\(port)")
    }

    private init(channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, host: String) {
        self.channel = channel
        self.host = host
        // The stream is consumed by this one iterator for the connection's life.
        inbound = channel.inbound.makeAsyncIterator()
        outbound = channel.outbound
    }

    /// A connection dropped on an error path still finishes its writer (NIO traps on one left open).
    deinit { outbound.finish() }

    public func close() async {
        outbound.finish()
        try? await channel.channel.close()
    }

    public enum Failure: Error, CustomStringConvertible {
        case closed
        case malformed(String)
        public var description: String {
            switch self {
            case .closed: "the server closed the connection"
            case .malformed(let why): "malformed HTTP answer: \(why)"
            }
        }
    }

    /// Sends `method path` with extra headers and reads one response (no body for HEAD).
    public func request(_ method: String, _ path: String, headers: [(String, String)] = []) async throws -> RawHTTPResponse {
        try await send(Self.requestText(method, path, host: host, headers: headers))
        return try await readResponse(toHEAD: method == "HEAD")
    }

    public static func requestText(_ method: String, _ path: String, host: String, headers: [(String, String)] = []) -> String {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        return text + "\r\n"
    }

    /// Shuts down the sending side, as `printf … | nc` does after its request; answers may still come.
    public func finishSending() async throws {
        try await channel.channel.close(mode: .output)
    }

    /// Writes raw bytes: several requests at once to test pipelining.
    public func send(_ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }

    /// Reads bytes until the server closes the connection or `limit` passes; how many came, and whether it closed.
    public func drain(for limit: Duration) async -> (bytes: Int, closed: Bool) {
        var count = pending.count
        pending = []
        let deadline = ContinuousClock.now + limit
        let channel = channel.channel
        // The iterator has no timeout of its own: past the deadline the channel is closed under it.
        let watchdog = Task {
            try? await Task.sleep(until: deadline)
            try? await channel.close()
        }
        defer { watchdog.cancel() }
        while true {
            do {
                guard let chunk = try await inbound.next() else { return (count, ContinuousClock.now < deadline) }
                count += chunk.readableBytes
            } catch {
                return (count, ContinuousClock.now < deadline)
            }
        }
    }

    /// Reads one response (no body for HEAD or 304).
    public func readResponse(toHEAD: Bool) async throws -> RawHTTPResponse {
        let headerEnd = try await fill { bytes in Self.find([13, 10, 13, 10], in: bytes).map { $0 + 4 } }
        let head = String(decoding: pending[..<headerEnd], as: UTF8.self)
        pending.removeFirst(headerEnd)
        var lines = head.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw Failure.malformed("empty header block") }
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { throw Failure.malformed("status line \(statusLine)") }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        var response = RawHTTPResponse(statusLine: statusLine, status: status, headerBytes: headerEnd, headers: headers, body: [])
        let length = Int(response.header("Content-Length") ?? "0") ?? 0
        if !toHEAD && status != 304 && length > 0 {
            _ = try await fill { $0.count >= length ? length : nil }
            response = RawHTTPResponse(statusLine: statusLine, status: status, headerBytes: headerEnd, headers: headers,
                                       body: Array(pending[..<length]))
            pending.removeFirst(length)
        }
        return response
    }

    /// Reads until `ready` finds what it needs in the buffered bytes.
    private func fill(_ ready: ([UInt8]) -> Int?) async throws -> Int {
        while true {
            if let found = ready(pending) { return found }
            guard var chunk = try await inbound.next() else { throw Failure.closed }
            pending += chunk.readBytes(length: chunk.readableBytes) ?? []
        }
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] && Array(haystack[i..<i + needle.count]) == needle {
            return i
        }
        return nil
    }
}

/// Plays the iDRAC's virtual-media HTTP client against a URL and says whether a BMC could mount it.
public struct VmediaCheck: Sendable {
    public struct Finding: Sendable, Codable, Equatable {
        public let check: String
        public let ok: Bool
        public let detail: String
    }

    public struct Report: Sendable, Codable {
        public let url: String
        public let size: Int?
        public let findings: [Finding]
        public var ok: Bool { findings.allSatisfy(\.ok) }
        public var firstProblem: Finding? { findings.first { !$0.ok } }
    }

    /// The iDRAC's client reads the first 1024 bytes for the whole header block.
    public static let maxHeaderBytes = 1024

    /// What a check of our own listener adds to the path it asks for: the listener counts no request with a query as
    /// a BMC's read (the URLs BMCs are given have none), so a boot's check of its seed is not in what its BMC read.
    public static let probeQuery = "?probe"

    /// HEAD, then ranged GETs on the same connection: the start, the ISO 9660 volume descriptor, the last bytes.
    /// `asProbe`: the requests carry `probeQuery` (for our own listener's URLs).
    public static func run(_ url: String, asProbe: Bool = false) async -> Report {
        var findings: [Finding] = []
        func note(_ check: String, _ ok: Bool, _ detail: String) { findings.append(Finding(check: check, ok: ok, detail: detail)) }
        guard let parsed = URL(string: url), let host = parsed.host, parsed.scheme == "http" else {
            note("URL", false, "an http:// URL is needed (the check speaks plain HTTP/1.1 as the iDRAC does)")
            return Report(url: url, size: nil, findings: findings)
        }
        let urlPath = parsed.path.isEmpty ? "/" : parsed.path
        if urlPath.unicodeScalars.contains(where: { !($0.properties.isAlphabetic && $0.isASCII) && !"0123456789._-/".unicodeScalars.contains($0) }) {
            note("path", false, "the iDRAC sends paths verbatim: use only [A-Za-z0-9._-] in \(urlPath)")
        }
        let path = asProbe ? urlPath + probeQuery : urlPath
        let connection: RawHTTPConnection
        do {
            connection = try await RawHTTPConnection.connect(host: host, port: parsed.port ?? 80)
        } catch {
            note("connect", false, "\(error)".lowercased().contains("refused") ? "connection refused" : "\(error)")
            return Report(url: url, size: nil, findings: findings)
        }
        var size: Int?
        do {
            let head = try await connection.request("HEAD", path)
            checkCommon(head, "HEAD", &findings)
            note("HEAD status", head.status == 200, "HEAD answered \(head.status)" + (head.status / 100 == 3 ? " (redirects are not followed)" : ""))
            if head.status == 200 {
                size = head.header("Content-Length").flatMap(Int.init)
                note("HEAD Content-Length", size != nil, size.map { "\($0) bytes" } ?? "missing")
            }
            if let size, size > 0, head.status == 200 {
                var ranges = [0...min(2047, size - 1)]
                if size > 34815 { ranges.append(32768...34815) }
                ranges.append(max(0, size - 512)...(size - 1))
                for range in ranges {
                    let label = "GET bytes=\(range.lowerBound)-\(range.upperBound)"
                    let answer = try await connection.request("GET", path, headers: [("Range", "bytes=\(range.lowerBound)-\(range.upperBound)")])
                    checkCommon(answer, label, &findings)
                    let expected = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)"
                    note("\(label) status", answer.status == 206, "answered \(answer.status)")
                    note("\(label) Content-Range", answer.header("Content-Range") == expected,
                         answer.header("Content-Range").map { "\($0) (expected \(expected))" } ?? "missing")
                    note("\(label) body", answer.body.count == range.count, "\(answer.body.count) bytes")
                }
            }
        } catch {
            note("exchange", false, "\(error)")
        }
        await connection.close()
        return Report(url: url, size: size, findings: findings)
    }

    static func checkCommon(_ response: RawHTTPResponse, _ label: String, _ findings: inout [Finding]) {
        findings.append(Finding(check: "\(label) status line", ok: response.statusLine.hasPrefix("HTTP/1.1 "),
                                detail: response.statusLine))
        findings.append(Finding(check: "\(label) header size", ok: response.headerBytes <= maxHeaderBytes,
                                detail: "\(response.headerBytes) bytes (the iDRAC reads \(maxHeaderBytes))"))
        findings.append(Finding(check: "\(label) Accept-Ranges", ok: response.header("Accept-Ranges")?.lowercased() == "bytes",
                                detail: response.header("Accept-Ranges") ?? "missing"))
    }
}

/// Checks that cloud-init's NoCloud HTTP source answers: `<url>meta-data` and `<url>user-data` with 200.
public enum NoCloudCheck {
    public static func check(_ url: String) async throws {
        guard let parsed = URL(string: url), let host = parsed.host, parsed.scheme == "http" else {
            throw LivebootError.imageNotServed(url: url, reason: "an http:// URL is needed")
        }
        do {
            let connection = try await RawHTTPConnection.connect(host: host, port: parsed.port ?? 80)
            defer { Task { await connection.close() } }
            for file in ["meta-data", "user-data"] {
                // URL.path drops the trailing slash, so the file's URL is built from the string.
                let answer = try await connection.request("GET", URL(string: url + file)?.path ?? "/")
                guard answer.status == 200 else {
                    throw LivebootError.imageNotServed(url: url + file, reason: "GET answered \(answer.status)")
                }
            }
        } catch let error as LivebootError {
            throw error
        } catch {
            throw LivebootError.imageNotServed(url: url, reason: "\(error)")
        }
    }
}
