import Foundation
import LivebootCore
@testable import LivebootServer
import NIOCore
@testable import VmediaServer
import XCTest

/// What the vmedia listener reads from a connection's bytes, and what it refuses.
final class VmediaRequestParserTests: XCTestCase {
    let routes = VmediaRoutes(layout: MediaLayout(images: ImagesConfig(ip: "10.0.0.1", port: 8080, path: "bootable-images",
                                                                        folder: "/nonexistent/images")))

    func parse(_ text: String) -> VmediaRequestParser.Outcome {
        VmediaRequestParser.parse(ByteBuffer(string: text), routes: routes)
    }

    func request(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> (VmediaRequest, Int)? {
        guard case .request(let request, let length) = parse(text) else {
            XCTFail("not read as a vmedia request: \(text.debugDescription)", file: file, line: line)
            return nil
        }
        return (request, length)
    }

    func string(_ field: ByteBuffer?) -> String? { field.map { String(buffer: $0) } }

    /// A BMC's request arrives in pieces: every prefix waits for more, the whole is read with each field, and the
    /// bytes after it (a pipelined request) are not part of it.
    func testEveryPrefixWaitsAndTheWholeIsRead() throws {
        let text = "GET /bootable-images/u22.iso?x=1 HTTP/1.1\r\nHost: 10.0.0.1\r\nrange:  bytes=5-9 \r\n"
            + "If-Range: \"abc\"\r\nX-Other: a:b\r\nIF-NONE-MATCH: \"x\", \"y\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            + "If-Match: *\r\nIf-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\nRange: bytes=0-0\r\nConnection: close\r\n\r\n"
        let bytes = Array(text.utf8)
        for end in 0..<bytes.count {
            let prefix = String(decoding: bytes[..<end], as: UTF8.self)
            guard case .incomplete = parse(prefix) else { return XCTFail("prefix of \(end) bytes not incomplete") }
        }
        let (read, length) = try XCTUnwrap(request(text + "GET /bootable-images/u22.iso HTTP/1.1\r\n"))
        XCTAssertEqual(length, bytes.count)
        XCTAssertEqual(read.method, .get)
        XCTAssertEqual(read.name, "u22.iso", "the query is not part of the name")
        XCTAssertEqual(read.library.folder, "/nonexistent/images")
        XCTAssertEqual(string(read.fields.range), "bytes=5-9", "the first Range, without its surrounding spaces")
        XCTAssertEqual(string(read.fields.ifRange), "\"abc\"")
        XCTAssertEqual(string(read.fields.ifNoneMatch), "\"x\", \"y\"")
        XCTAssertEqual(string(read.fields.ifModifiedSince), "Sun, 06 Nov 1994 08:49:37 GMT")
        XCTAssertEqual(string(read.fields.ifMatch), "*")
        XCTAssertEqual(string(read.fields.ifUnmodifiedSince), "Sun, 06 Nov 1994 08:49:37 GMT")
        XCTAssertFalse(read.keepAlive)
    }

    func testSeedsAndHeadAndOtherNames() throws {
        let (seed, _) = try XCTUnwrap(request("HEAD /seeds/abc-1.iso HTTP/1.1\r\n\r\n"))
        XCTAssertEqual(seed.method, .head)
        XCTAssertEqual(seed.library.folder, "/nonexistent/images/seeds")
        XCTAssertEqual(seed.name, "abc-1.iso")
        XCTAssertNil(seed.fields.range)
        XCTAssertNil(seed.fields.ifMatch)
        XCTAssertNil(seed.fields.ifNoneMatch)
        XCTAssertNil(seed.fields.ifModifiedSince)
        XCTAssertNil(seed.fields.ifUnmodifiedSince)
        XCTAssertNil(seed.fields.ifRange)
        // Every name under the prefixes is the vmedia routes' to refuse (404), never the portal's.
        let (traversal, _) = try XCTUnwrap(request("GET /bootable-images/../etc/passwd HTTP/1.1\r\n\r\n"))
        XCTAssertEqual(traversal.name, "../etc/passwd")
        XCTAssertNil(read(traversal))
    }

    func read(_ request: VmediaRequest) -> OpenMediaFile? { request.library.open(request.name) }

    /// NoCloud seed files: `/seed/<node>/<file>`, the node a plain name and the file one cloud-init reads.
    func testNoCloudPaths() throws {
        let (meta, _) = try XCTUnwrap(request("GET /seed/w1/meta-data HTTP/1.1\r\n\r\n"))
        XCTAssertEqual(meta.library.folder, "/nonexistent/images/seeds/nocloud")
        XCTAssertEqual(meta.name, "w1/meta-data")
        XCTAssertEqual(MediaLayout.candidates(for: meta.name, kind: .noCloud), ["w1/meta-data"])
        for name in ["w1/passwd", ".w1/user-data", "w1/../w2/user-data", "w1", "w1/user-data/x", "../images/u22.iso"] {
            XCTAssertEqual(MediaLayout.candidates(for: name, kind: .noCloud), [], name)
        }
    }

    /// RFC 9112 §9.3, as NIO's `isKeepAlive` reads it.
    func testPersistence() throws {
        let cases: [(String, String?, Bool)] = [
            ("1.1", nil, true), ("1.1", "close", false), ("1.1", "Keep-Alive, CLOSE", false), ("1.1", "keep-alive", true),
            ("1.0", nil, false), ("1.0", "keep-alive", true), ("1.0", " Keep-Alive ,TE", true), ("1.0", "close", false),
        ]
        for (version, connection, expected) in cases {
            let text = "GET /bootable-images/a.iso HTTP/\(version)\r\n" + (connection.map { "Connection: \($0)\r\n" } ?? "") + "\r\n"
            let (read, _) = try XCTUnwrap(request(text))
            XCTAssertEqual(read.keepAlive, expected, "HTTP/\(version) Connection: \(connection ?? "-")")
        }
    }

    /// Refused, with the connection: anything not plainly a body-less GET or HEAD of a media path — 405 for another
    /// method, 404 for another path (a portal page asked of the wrong port), 400 for the rest.
    func testWhatIsRefused() {
        let image = "/bootable-images/a.iso"
        let cases: [(String, VmediaRequestParser.Refusal)] = [
            ("POST \(image) HTTP/1.1\r\nContent-Length: 0\r\n\r\n", .method),
            ("PUT ", .method),  // decided on the method alone
            ("GET /healthz HTTP/1.1\r\n\r\n", .notMediaPath),
            ("GET /login HTTP/1.1\r\n", .notMediaPath),  // decided on the request line alone
            ("GET /images/a.iso HTTP/1.1\r\n\r\n", .notMediaPath),  // not this configuration's images path
            ("\u{16}\u{3}\u{1}\u{2}", .malformed),  // a TLS hello
            ("GET http://host\(image) HTTP/1.1\r\n\r\n", .malformed),
            ("GET \(image) HTTP/2.0\r\n\r\n", .malformed),
            ("GET \(image) HTTP/1.1 \r\n\r\n", .malformed),
            ("GET  \(image) HTTP/1.1\r\n\r\n", .malformed),
            ("GET \(image) HTTP/1.1\nHost: a\n\n", .malformed),
            ("GET \(image) HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", .malformed),
            ("GET \(image) HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", .malformed),
            ("GET \(image) HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", .malformed),
            ("GET \(image) HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", .malformed),
            ("GET \(image) HTTP/1.1\r\nRange: bytes=0-1\r\n folded\r\n\r\n", .malformed),
            ("GET \(image) HTTP/1.1\r\nRange : bytes=0-1\r\n\r\n", .malformed),
            ("GET \(image) HTTP/1.1\r\nNo-Colon\r\n\r\n", .malformed),
            ("GET \(image) HTTP/1.1\r\nX: a\u{1}b\r\n\r\n", .malformed),
            ("GET \(image) HTTP/1.1\r\nX: a\rb\r\n\r\n", .malformed),
            ("GET \(image) HTTP/1.1\r\n" + String(repeating: "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", count: 300), .malformed),
        ]
        for (text, expected) in cases {
            guard case .refused(let refusal) = parse(text) else { return XCTFail("not refused: \(text.prefix(80).debugDescription)") }
            XCTAssertEqual(refusal, expected, text.prefix(80).debugDescription)
        }
        guard case .incomplete = parse("PATC") else { return XCTFail("a method not yet whole waits for its end") }
    }
}
