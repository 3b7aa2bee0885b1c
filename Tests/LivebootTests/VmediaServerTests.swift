import Foundation
#if canImport(Glibc)
import Glibc
#endif
import LivebootCore
import XCTest

/// `liveboot serve`'s vmedia listener over real sockets, read byte-exactly as the iDRAC's client reads them.
final class VmediaServerTests: XCTestCase {
    var testbed: Testbed!
    static let bigSize = 64 << 20

    override func setUp() async throws {
        testbed = try Testbed()
        // 64 MiB of position-dependent bytes, so any misplaced range shows.
        var block = [UInt8](repeating: 0, count: 1 << 20)
        let handle = try FileHandle(forWritingTo: {
            let url = testbed.imagesFolder.appendingPathComponent("big.iso")
            FileManager.default.createFile(atPath: url.path, contents: nil)
            return url
        }())
        for b in 0..<(Self.bigSize >> 20) {
            for i in block.indices { block[i] = Self.byte(at: b << 20 | i) }
            handle.write(Data(block))
        }
        try handle.close()
        try await testbed.startImageServer()
    }

    override func tearDown() async throws {
        await testbed.stop()
    }

    static func byte(at position: Int) -> UInt8 { UInt8(truncatingIfNeeded: (position &* 2_654_435_761) >> 13) }

    func connect() async throws -> RawHTTPConnection {
        try await RawHTTPConnection.connect(host: "127.0.0.1", port: testbed.imagesPort)
    }

    func testHeadAnswersWhatTheIDRACNeeds() async throws {
        let connection = try await connect()
        let head = try await connection.request("HEAD", "/images/big.iso")
        await connection.close()
        XCTAssertEqual(head.statusLine, "HTTP/1.1 200 OK")
        XCTAssertEqual(head.header("Content-Length"), String(Self.bigSize))
        XCTAssertEqual(head.header("Accept-Ranges"), "bytes")
        XCTAssertNotNil(head.header("ETag"))
        XCTAssertNotNil(head.header("Last-Modified"))
        XCTAssertLessThan(head.headerBytes, 1024)
        XCTAssertTrue(head.body.isEmpty)
    }

    func testRandomRangesAreByteExactOverOneKeptAliveConnection() async throws {
        let connection = try await connect()
        var rng = SeedPropertyTests.SplitMix(state: 42)
        for round in 0..<1000 {
            let length = round % 10 == 0 ? Int.random(in: 1...(1 << 20), using: &rng) : Int.random(in: 1...65536, using: &rng)
            let start = Int.random(in: 0...(Self.bigSize - length), using: &rng)
            let end = start + length - 1
            let answer = try await connection.request("GET", "/images/big.iso", headers: [("Range", "bytes=\(start)-\(end)")])
            XCTAssertEqual(answer.status, 206)
            XCTAssertEqual(answer.header("Content-Range"), "bytes \(start)-\(end)/\(Self.bigSize)")
            XCTAssertEqual(answer.header("Content-Length"), String(length))
            XCTAssertEqual(answer.header("Accept-Ranges"), "bytes")
            XCTAssertLessThan(answer.headerBytes, 1024)
            XCTAssertEqual(answer.body.count, length)
            // Spot-check bytes along the slice (every byte for small ones).
            let step = max(1, length / 512)
            for i in stride(from: 0, to: length, by: step) where answer.body[i] != Self.byte(at: start + i) {
                XCTFail("byte \(start + i) differs in round \(round)")
                break
            }
            if answer.body.last != Self.byte(at: end) { XCTFail("last byte of \(start)-\(end) differs") }
        }
        await connection.close()
    }

    /// Around the size where an answer stops being one copied write and continues with `sendfile` (its first bytes
    /// still copied next to the header): every byte, for every length near the edge.
    func testEveryByteAroundTheCopyLimit() async throws {
        let connection = try await connect()
        for length in [65535, 65536, 65537, 65536 + 300, 65536 + 4096, 3 << 20] {
            for start in [0, 12345, Self.bigSize - length] {
                let answer = try await connection.request("GET", "/images/big.iso", headers: [("Range", "bytes=\(start)-\(start + length - 1)")])
                XCTAssertEqual(answer.header("Content-Length"), String(length))
                XCTAssertEqual(answer.body, (start..<(start + length)).map(Self.byte(at:)), "\(length) bytes from \(start)")
            }
        }
        let whole = try await connection.request("GET", "/images/big.iso")
        XCTAssertEqual(whole.body.count, Self.bigSize)
        XCTAssertTrue(whole.body.indices.allSatisfy { whole.body[$0] == Self.byte(at: $0) }, "the whole file, byte for byte")
        await connection.close()
    }

    /// Ranges the page cache does not hold take the thread-pool path (the non-blocking read finds nothing or part):
    /// the bytes are the same.
    func testRangesOutsideThePageCacheAreByteExact() async throws {
        let path = testbed.imagesFolder.appendingPathComponent("big.iso").path
        let fd = open(path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        fsync(fd)
        XCTAssertEqual(posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED)), 0)
        close(fd)
        let connection = try await connect()
        var rng = SeedPropertyTests.SplitMix(state: 7)
        for _ in 0..<200 {
            let length = Int.random(in: 1...(256 << 10), using: &rng)
            let start = Int.random(in: 0...(Self.bigSize - length), using: &rng)
            let answer = try await connection.request("GET", "/images/big.iso", headers: [("Range", "bytes=\(start)-\(start + length - 1)")])
            XCTAssertEqual(answer.status, 206)
            XCTAssertEqual(answer.body.count, length)
            for i in stride(from: 0, to: length, by: max(1, length / 256)) where answer.body[i] != Self.byte(at: start + i) {
                XCTFail("byte \(start + i) differs")
                break
            }
            XCTAssertEqual(answer.body.last, Self.byte(at: start + length - 1))
        }
        await connection.close()
    }

    /// Many connections at once, spread over the event loops, each reading its own ranges. A file descriptor handle
    /// shared by two event loops once made NIO fail writes (EBUSY) and drop connections under load.
    func testConcurrentConnectionsReadByteExactly() async throws {
        let port = testbed.imagesPort, size = Self.bigSize
        try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<16 {
                group.addTask {
                    let connection = try await RawHTTPConnection.connect(host: "127.0.0.1", port: port)
                    var rng = SeedPropertyTests.SplitMix(state: UInt64(100 + worker))
                    var good = 0
                    for _ in 0..<150 {
                        let length = Int.random(in: 1...(128 << 10), using: &rng)
                        let start = Int.random(in: 0...(size - length), using: &rng)
                        let answer = try await connection.request("GET", "/images/big.iso",
                                                                  headers: [("Range", "bytes=\(start)-\(start + length - 1)")])
                        if answer.status == 206, answer.body.count == length, answer.body.first == Self.byte(at: start),
                           answer.body[length / 2] == Self.byte(at: start + length / 2), answer.body.last == Self.byte(at: start + length - 1) {
                            good += 1
                        }
                    }
                    await connection.close()
                    return good
                }
            }
            var total = 0
            for try await good in group { total += good }
            XCTAssertEqual(total, 16 * 150, "every answer on every connection complete and exact")
        }
    }

    /// Pipelined requests get their answers in order, whichever way each is answered (from memory, `sendfile`, 404).
    func testPipelinedAnswersKeepTheirOrder() async throws {
        let connection = try await connect()
        let host = "127.0.0.1:\(testbed.imagesPort)"
        try await connection.send(RawHTTPConnection.requestText("GET", "/images/big.iso", host: host, headers: [("Range", "bytes=5-14")])
            + RawHTTPConnection.requestText("HEAD", "/images/big.iso", host: host)
            + RawHTTPConnection.requestText("GET", "/images/big.iso", host: host, headers: [("Range", "bytes=0-200000")])
            + RawHTTPConnection.requestText("GET", "/images/nope.iso", host: host)
            + RawHTTPConnection.requestText("GET", "/images/big.iso", host: host, headers: [("Range", "bytes=-1")]))
        let range = try await connection.readResponse(toHEAD: false)
        let head = try await connection.readResponse(toHEAD: true)
        let large = try await connection.readResponse(toHEAD: false)
        let missing = try await connection.readResponse(toHEAD: false)
        let last = try await connection.readResponse(toHEAD: false)
        await connection.close()
        XCTAssertEqual(range.status, 206)
        XCTAssertEqual(range.body, (5...14).map(Self.byte(at:)))
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("Content-Length"), String(Self.bigSize))
        XCTAssertEqual(large.body.count, 200_001)
        XCTAssertEqual(large.body.last, Self.byte(at: 200_000))
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing.header("Connection"), nil, "an unknown image keeps the connection (the BMC may ask again)")
        XCTAssertEqual(last.body, [Self.byte(at: Self.bigSize - 1)])
    }

    /// The vmedia listener takes media reads only: a portal page, a body, an upgrade or another method gets a fixed
    /// 4xx and the connection closes — after the answers before it, and without a reset that would lose the answer.
    func testThePortalIsNotOnTheVmediaListener() async throws {
        let cases: [(String, Int)] = [
            (RawHTTPConnection.requestText("GET", "/healthz", host: "x"), 404),
            (RawHTTPConnection.requestText("GET", "/login", host: "x"), 404),
            (RawHTTPConnection.requestText("GET", "/public/liveboot.css", host: "x"), 404),
            (RawHTTPConnection.requestText("POST", "/login", host: "x", headers: [("Content-Length", "9")]) + "name=evil", 405),
            (RawHTTPConnection.requestText("POST", "/images/big.iso", host: "x", headers: [("Content-Length", "4")]) + "abcd", 405),
            ("GET /images/big.iso HTTP/1.1\r\nRange: bytes=3-3\r\nContent-Length: 5\r\n\r\nhello", 400),
            ("GET /images/big.iso HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400),
            ("GET /images/big.iso HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 400),
            ("GET /images/big.iso HTTP/1.1\r\nRange: bytes=7-8\r\nX-Folded: a\r\n b\r\n\r\n", 400),
        ]
        for (request, status) in cases {
            let connection = try await connect()
            // A media read first: it is answered, then the refusal, then the end.
            try await connection.send(RawHTTPConnection.requestText("GET", "/images/big.iso", host: "x", headers: [("Range", "bytes=0-0")])
                + request + RawHTTPConnection.requestText("GET", "/images/big.iso", host: "x", headers: [("Range", "bytes=1-1")]))
            let first = try await connection.readResponse(toHEAD: false)
            let refused = try await connection.readResponse(toHEAD: false)
            let after = await connection.drain(for: .seconds(5))
            await connection.close()
            XCTAssertEqual(first.body, [Self.byte(at: 0)])
            XCTAssertEqual(refused.status, status, request.prefix(60).debugDescription)
            XCTAssertEqual(refused.header("Connection"), "close")
            XCTAssertEqual(refused.body, [])
            XCTAssertTrue(after.closed, "the connection ends after a refusal")
            XCTAssertEqual(after.bytes, 0, "nothing after the refusal is answered")
        }
    }

    /// Both listeners run: the portal answers on its own port, and media are not served there.
    func testThePortalHasItsOwnListener() async throws {
        XCTAssertNotEqual(testbed.portalPort, testbed.imagesPort)
        let portal = try await RawHTTPConnection.connect(host: "127.0.0.1", port: testbed.portalPort)
        let health = try await portal.request("GET", "/healthz")
        let image = try await portal.request("GET", "/images/big.iso", headers: [("Range", "bytes=0-0")])
        await portal.close()
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.body, Array("ok\n".utf8))
        XCTAssertEqual(image.status, 404, "the portal does not serve media")
    }

    /// A client that half-closes after its requests (as `printf … | nc` does) still gets every answer.
    func testAnswersOutliveTheClientsHalfClose() async throws {
        let connection = try await connect()
        let host = "127.0.0.1:\(testbed.imagesPort)"
        try await connection.send(RawHTTPConnection.requestText("GET", "/images/big.iso", host: host, headers: [("Range", "bytes=0-32767")])
            + RawHTTPConnection.requestText("GET", "/images/big.iso", host: host, headers: [("Range", "bytes=1000-8389607")]))
        try await connection.finishSending()
        try await Task.sleep(for: .milliseconds(200))
        let small = try await connection.readResponse(toHEAD: false)
        let large = try await connection.readResponse(toHEAD: false)
        await connection.close()
        XCTAssertEqual(small.body.count, 32768)
        XCTAssertEqual(small.body.last, Self.byte(at: 32767))
        XCTAssertEqual(large.body.count, 8_388_608)
        XCTAssertEqual(large.body.last, Self.byte(at: 8_389_607))
    }

    /// The same with answers sent from memory (slices up to 64 KiB): more of them than the socket buffers hold, so
    /// they are still being written when the half-close arrives.
    func testManySmallAnswersOutliveTheClientsHalfClose() async throws {
        let connection = try await connect()
        let host = "127.0.0.1:\(testbed.imagesPort)"
        let count = 200, slice = 65536
        try await connection.send((0..<count).map { index in
            RawHTTPConnection.requestText("GET", "/images/big.iso", host: host,
                                          headers: [("Range", "bytes=\(index * slice)-\(index * slice + slice - 1)")])
        }.joined())
        try await connection.finishSending()
        try await Task.sleep(for: .milliseconds(300))
        for index in 0..<count {
            let answer = try await connection.readResponse(toHEAD: false)
            XCTAssertEqual(answer.status, 206)
            XCTAssertEqual(answer.body.count, slice)
            XCTAssertEqual(answer.body.last, Self.byte(at: index * slice + slice - 1))
        }
        await connection.close()
    }

    /// A request may arrive in pieces.
    func testSplitRequests() async throws {
        let connection = try await connect()
        let request = RawHTTPConnection.requestText("GET", "/images/big.iso", host: "127.0.0.1", headers: [("Range", "bytes=100-199")])
        let bytes = Array(request.utf8)
        for piece in [bytes[..<7], bytes[7..<30], bytes[30...]] {
            try await connection.send(String(decoding: piece, as: UTF8.self))
            try await Task.sleep(for: .milliseconds(50))
        }
        let split = try await connection.readResponse(toHEAD: false)
        await connection.close()
        XCTAssertEqual(split.body, (100...199).map(Self.byte(at:)))
    }

    /// HTTP/1.0 closes after each answer unless it asks to keep the connection.
    func testHTTP10Persistence() async throws {
        let keeping = try await connect()
        try await keeping.send("GET /images/big.iso HTTP/1.0\r\nConnection: keep-alive\r\nRange: bytes=0-0\r\n\r\n"
            + "GET /images/big.iso HTTP/1.0\r\nRange: bytes=1-1\r\n\r\n"
            + "GET /images/big.iso HTTP/1.0\r\nRange: bytes=2-2\r\n\r\n")
        let first = try await keeping.readResponse(toHEAD: false)
        let second = try await keeping.readResponse(toHEAD: false)
        let after = await keeping.drain(for: .seconds(5))
        await keeping.close()
        XCTAssertEqual(first.body, [Self.byte(at: 0)])
        XCTAssertNil(first.header("Connection"))
        XCTAssertEqual(second.body, [Self.byte(at: 1)])
        XCTAssertEqual(second.header("Connection"), "close")
        XCTAssertTrue(after.closed)
        XCTAssertEqual(after.bytes, 0, "nothing is answered after the closing answer")
    }

    /// A graceful stop (SIGTERM) lets an answer being written finish, then closes the connection: a BMC mid-read
    /// gets whole answers, not a cut one.
    func testGracefulStopFinishesTheAnswerBeingWritten() async throws {
        let connection = try await connect()
        let length = 32 << 20
        try await connection.send(RawHTTPConnection.requestText("GET", "/images/big.iso", host: "127.0.0.1",
                                                                headers: [("Range", "bytes=0-\(length - 1)")]))
        // This client reads nothing yet: the answer stalls once the socket buffers are full.
        try await Task.sleep(for: .milliseconds(300))
        await testbed.beginGracefulShutdown()
        let (bytes, closed) = await connection.drain(for: .seconds(20))
        await connection.close()
        XCTAssertTrue(closed, "the connection ends once the answer is out")
        XCTAssertGreaterThan(bytes, length, "the whole body came (\(bytes) bytes with the header)")
        XCTAssertLessThan(bytes, length + 1024)
    }

    /// An image cut shorter while being sent (overwritten in place with `cp`): `sendfile` then sends nothing and never
    /// fails, so without a check the answer would hang for as long as the client waits. The connection is closed.
    func testAFileCutShortWhileServedEndsTheConnection() async throws {
        let url = testbed.imagesFolder.appendingPathComponent("cut.iso")
        try Data(repeating: 0x43, count: 48 << 20).write(to: url)
        let connection = try await connect()
        try await connection.send(RawHTTPConnection.requestText("GET", "/images/cut.iso", host: "127.0.0.1"))
        // This client reads nothing yet: the answer stalls once the socket buffers are full.
        try await Task.sleep(for: .milliseconds(500))
        XCTAssertEqual(truncate(url.path, 1 << 20), 0)
        let (bytes, closed) = await connection.drain(for: .seconds(20))
        await connection.close()
        XCTAssertTrue(closed, "the server ends an answer it can no longer complete (\(bytes) bytes came)")
        XCTAssertLessThan(bytes, 48 << 20)
    }

    func testConnectionClose() async throws {
        let closing = try await connect()
        let answer = try await closing.request("GET", "/images/big.iso", headers: [("Range", "bytes=0-3"), ("Connection", "close")])
        XCTAssertEqual(answer.body, (0...3).map(Self.byte(at:)))
        XCTAssertEqual(answer.header("Connection"), "close")
        let after = await closing.drain(for: .seconds(5))
        await closing.close()
        XCTAssertTrue(after.closed, "the server closes after a Connection: close answer")
        XCTAssertEqual(after.bytes, 0)
    }

    /// A file replaced under its name (a new image, a new inode) is served anew once its cached entry expires.
    func testAReplacedFileIsServedAnew() async throws {
        let url = testbed.imagesFolder.appendingPathComponent("swap.iso")
        try Data(repeating: 0x41, count: 4096).write(to: url)
        let connection = try await connect()
        let first = try await connection.request("GET", "/images/swap.iso", headers: [("Range", "bytes=0-3")])
        XCTAssertEqual(Array(first.body), Array("AAAA".utf8))
        let fresh = testbed.imagesFolder.appendingPathComponent("swap.new")
        try Data(repeating: 0x42, count: 8192).write(to: fresh)
        XCTAssertEqual(rename(fresh.path, url.path), 0)
        try await Task.sleep(for: .milliseconds(1100))
        let second = try await connection.request("GET", "/images/swap.iso", headers: [("Range", "bytes=0-3")])
        await connection.close()
        XCTAssertEqual(Array(second.body), Array("BBBB".utf8))
        XCTAssertEqual(second.header("Content-Range"), "bytes 0-3/8192")
        XCTAssertNotEqual(first.header("ETag"), second.header("ETag"))
    }

    func testSuffixOpenAndUnsatisfiableRanges() async throws {
        let connection = try await connect()
        let suffix = try await connection.request("GET", "/images/big.iso", headers: [("Range", "bytes=-5")])
        XCTAssertEqual(suffix.status, 206)
        XCTAssertEqual(suffix.header("Content-Range"), "bytes \(Self.bigSize - 5)-\(Self.bigSize - 1)/\(Self.bigSize)")
        XCTAssertEqual(suffix.body, (Self.bigSize - 5..<Self.bigSize).map(Self.byte(at:)))
        let open = try await connection.request("GET", "/images/big.iso", headers: [("Range", "bytes=\(Self.bigSize - 3)-")])
        XCTAssertEqual(open.body, (Self.bigSize - 3..<Self.bigSize).map(Self.byte(at:)))
        let past = try await connection.request("GET", "/images/big.iso", headers: [("Range", "bytes=\(Self.bigSize)-")])
        XCTAssertEqual(past.status, 416)
        XCTAssertEqual(past.header("Content-Range"), "bytes */\(Self.bigSize)")
        XCTAssertEqual(past.header("Content-Length"), "0")
        // Malformed: ignored, whole entity (HEAD to keep the test small).
        let malformed = try await connection.request("HEAD", "/images/big.iso", headers: [("Range", "bytes=5-1")])
        XCTAssertEqual(malformed.status, 200)
        let several = try await connection.request("HEAD", "/images/big.iso", headers: [("Range", "bytes=0-1,10-11")])
        XCTAssertEqual(several.status, 200)
        XCTAssertEqual(several.header("Content-Length"), String(Self.bigSize))
        await connection.close()
    }

    func testConditionalRequests() async throws {
        let connection = try await connect()
        let head = try await connection.request("HEAD", "/images/big.iso")
        let etag = try XCTUnwrap(head.header("ETag"))
        let modified = try XCTUnwrap(head.header("Last-Modified"))
        let notModified = try await connection.request("GET", "/images/big.iso", headers: [("If-None-Match", etag)])
        XCTAssertEqual(notModified.status, 304)
        XCTAssertTrue(notModified.body.isEmpty)
        let sinceDate = try await connection.request("GET", "/images/big.iso", headers: [("If-Modified-Since", modified)])
        XCTAssertEqual(sinceDate.status, 304)
        let sameRange = try await connection.request("GET", "/images/big.iso", headers: [("Range", "bytes=0-9"), ("If-Range", etag)])
        XCTAssertEqual(sameRange.status, 206)
        let staleRange = try await connection.request("HEAD", "/images/big.iso", headers: [("Range", "bytes=0-9"), ("If-Range", "\"stale\"")])
        XCTAssertEqual(staleRange.status, 200, "a stale If-Range gets the whole, current entity")
        let failed = try await connection.request("GET", "/images/big.iso", headers: [("If-Match", "\"stale\"")])
        XCTAssertEqual(failed.status, 412)
        await connection.close()
    }

    func testShortNamesAndSeeds() async throws {
        try FileManager.default.createDirectory(at: testbed.imagesFolder.appendingPathComponent("seeds"), withIntermediateDirectories: true)
        try Data("seed".utf8).write(to: testbed.imagesFolder.appendingPathComponent("seeds/cidata-0123.iso"))
        let connection = try await connect()
        let short = try await connection.request("HEAD", "/images/u22.iso")
        XCTAssertEqual(short.status, 200)
        XCTAssertEqual(short.header("Content-Length"), String(300 * 1024))
        let seed = try await connection.request("GET", "/seeds/cidata-0123.iso")
        XCTAssertEqual(seed.body, Array("seed".utf8))
        await connection.close()
    }

    /// A boot's BMC reads its image at `/boot/<boot id>/…` and its seed under its own name: the listener counts what
    /// each read, and `serve` stores it with the boot — also reads made before the boot registered (the BMC reads at
    /// insert, the boot registers after). Reads of the shared path, or of a path naming no boot, are nobody's.
    func testEachBootsReadsAreCountedAndStoredWithTheBoot() async throws {
        let seed = Data((0..<5000).map { UInt8(truncatingIfNeeded: $0) })
        try FileManager.default.createDirectory(at: testbed.imagesFolder.appendingPathComponent("seeds"), withIntermediateDirectories: true)
        try seed.write(to: testbed.imagesFolder.appendingPathComponent("seeds/cidata-t1.iso"))
        let connection = try await connect()
        let shared = try await connection.request("HEAD", "/images/big.iso")
        let own = try await connection.request("HEAD", "/boot/liveboot-t1/big.iso")
        XCTAssertEqual(own.status, 200)
        XCTAssertEqual(own.header("ETag"), shared.header("ETag"), "the same file, whoever reads it")
        var expected = 0
        for start in stride(from: 0, to: 1 << 20, by: 64 << 10) {
            let answer = try await connection.request("GET", "/boot/liveboot-t1/big.iso", headers: [("Range", "bytes=\(start)-\(start + 65535)")])
            XCTAssertEqual(answer.status, 206)
            XCTAssertEqual(answer.body.first, Self.byte(at: start))
            expected += answer.body.count
        }
        let seedAnswer = try await connection.request("GET", "/seeds/cidata-t1.iso")
        XCTAssertEqual(seedAnswer.body, Array(seed))
        _ = try await connection.request("GET", "/images/big.iso", headers: [("Range", "bytes=0-99999")])
        _ = try await connection.request("GET", "/boot/liveboot-nobody/big.iso", headers: [("Range", "bytes=0-99999")])
        // Registered after its reads, as a boot is after its media are in.
        try await Task.sleep(for: .milliseconds(1200))
        let database = try testbed.portalDatabase()
        try await database.register(BootTicket(id: "liveboot-t1", node: "w1", startedAt: Date(), seedFile: "cidata-t1.iso"))
        // Read again, after registering: added to what was read before.
        let late = try await connection.request("GET", "/boot/liveboot-t1/big.iso", headers: [("Range", "bytes=0-999")])
        expected += late.body.count
        await connection.close()
        var reads: [BootMediumRead] = []
        for _ in 0..<50 {
            reads = try await database.mediaReads(bootID: "liveboot-t1")
            if reads.map(\.bytes) == [expected, seed.count] { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertEqual(reads.map(\.medium), [.image, .seed])
        XCTAssertEqual(reads.map(\.name), ["big.iso", "cidata-t1.iso"])
        XCTAssertEqual(reads.map(\.bytes), [expected, seed.count])
        let image = try XCTUnwrap(reads.first)
        XCTAssertGreaterThanOrEqual(image.activeSeconds, 2, "read in two seconds at least, 1.2 s apart")
        XCTAssertLessThanOrEqual(image.firstReadAt, image.lastReadAt)
        XCTAssertEqual(try XCTUnwrap(image.bytesPerSecond), Double(expected) / Double(image.activeSeconds), accuracy: 0.001)
        XCTAssertTrue(image.text.hasPrefix("image big.iso: 1.0 MiB in \(image.activeSeconds) s of reading, "), image.text)
        let nobody = try await database.mediaReads(bootID: "liveboot-nobody")
        XCTAssertEqual(nobody, [])
    }

    /// Nothing outside the folders, nothing but .iso names, and a 404 that says nothing more.
    func testConfinement() async throws {
        let outside = testbed.directory.appendingPathComponent("secret.iso")
        try Data("secret".utf8).write(to: outside)
        try FileManager.default.createSymbolicLink(atPath: testbed.imagesFolder.appendingPathComponent("escape.iso").path,
                                                   withDestinationPath: outside.path)
        try Data("hidden".utf8).write(to: testbed.imagesFolder.appendingPathComponent(".hidden.iso"))
        try Data("text".utf8).write(to: testbed.imagesFolder.appendingPathComponent("notes.txt"))
        let attempts = ["/images/escape.iso", "/images/../secret.iso", "/images/..%2Fsecret.iso", "/images/%2e%2e%2fsecret.iso",
                        "/images/.hidden.iso", "/images/notes.txt", "/images/big.iso%00.txt", "/seeds/../images/big.iso",
                        "/images//etc/passwd", "/images/big.ISO", "/seeds/big.iso", "/images/seeds",
                        // A boot's own path names a reader, then an image: never a way out of the folder.
                        "/boot/b1/escape.iso", "/boot/b1/../secret.iso", "/boot/b1/../../secret.iso", "/boot/../images/big.iso",
                        "/boot/big.iso", "/boot//big.iso", "/boot/b1/seeds/x.iso", "/boot/b1/.hidden.iso",
                        "/boot/\(String(repeating: "k", count: 129))/big.iso"]
        let connection = try await connect()
        for path in attempts {
            let answer = try await connection.request("GET", path)
            XCTAssertEqual(answer.status, 404, path)
            XCTAssertFalse(String(decoding: answer.body, as: UTF8.self).contains("secret"), path)
            XCTAssertNil(answer.header("ETag"), path)
        }
        await connection.close()
    }

    func testVmediaCheckCommandJudgesServers() async throws {
        let good = try await CLI.run(["vmedia", "check", "http://127.0.0.1:\(testbed.imagesPort)/images/big.iso"])
        XCTAssertEqual(good.status, 0, good.all)
        XCTAssertTrue(good.stdout.contains("OK, a BMC can mount it (\(Self.bigSize) bytes)"), good.stdout)
        XCTAssertTrue(good.stdout.contains("GET bytes=\(Self.bigSize - 512)-\(Self.bigSize - 1)"), good.stdout)
        let missing = try await CLI.run(["vmedia", "check", "--json", "http://127.0.0.1:\(testbed.imagesPort)/images/nope.iso"])
        XCTAssertEqual(missing.status, 1)
        let reports = try JSONDecoder().decode([VmediaCheck.Report].self, from: Data(missing.stdout.utf8))
        XCTAssertEqual(reports.first?.firstProblem?.check, "HEAD Accept-Ranges")
        let closed = try await CLI.run(["vmedia", "check", "http://127.0.0.1:1/x.iso"])
        XCTAssertTrue(closed.stdout.contains("connection refused"), closed.stdout)
    }
}
