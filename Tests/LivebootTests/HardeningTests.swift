import Foundation
import HTTPTypes
import Crypto
import Hummingbird
import HummingbirdTesting
import LivebootCore
@testable import LivebootServer
import Logging
@testable import PortalStore
@testable import VmediaServer
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// What keeps `liveboot serve` answering for a month and its guards closed: each test here failed before its fix.
final class HardeningTests: XCTestCase {
    var testbed: Testbed!
    let password = "a-long-enough-password"

    override func setUp() async throws { testbed = try Testbed() }
    override func tearDown() async throws { await testbed.stop() }

    static func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    static func residentBytes() -> Int {
        let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
        let pages = statm.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    // MARK: descriptors, memory, timeouts

    func testStatusRoundsLeaveNoDescriptorBehind() async throws {
        try await testbed.start([("w1", .fast), ("w2", .fast)])
        let config = try LivebootConfig.load(path: testbed.configPath)
        let liveboot = Liveboot(config: config, logger: Logger(label: "test"))
        for node in config.nodes { _ = await liveboot.status(node) }  // warm-up: pools, caches
        let before = Self.openDescriptors()
        for _ in 0..<20 {
            for node in config.nodes { _ = await liveboot.status(node) }
        }
        let ping = await Probes.ping("127.0.0.1", timeout: .seconds(1))
        let after = Self.openDescriptors()
        XCTAssertLessThanOrEqual(after - before, 4, "40 status probes (ping: \(ping)) left \(after - before) descriptors open")
    }

    /// Heap bytes in use, from glibc's `malloc_info` (all arenas, mmapped chunks included, free chunks excluded): what
    /// the process retains, without RSS's noise of pages touched once and kept by the allocator.
    static func heapInUse() -> Int {
        typealias MallocInfo = @convention(c) (CInt, UnsafeMutablePointer<FILE>?) -> CInt
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "malloc_info") else { return -1 }
        var text: UnsafeMutablePointer<CChar>?
        var length = 0
        guard let stream = open_memstream(&text, &length) else { return -1 }
        _ = unsafeBitCast(symbol, to: MallocInfo.self)(0, stream)
        fclose(stream)
        defer { free(text) }
        let xml = text.map { String(cString: $0) } ?? ""
        // The document ends with the totals of every arena: free chunks by kind, then the memory taken from the system.
        let tail = xml.range(of: "</heap>", options: .backwards).map { String(xml[$0.upperBound...]) } ?? xml
        func size(_ kind: String) -> Int {
            guard let range = tail.range(of: "type=\"\(kind)\" ") else { return 0 }
            let rest = tail[range.upperBound...]
            guard let sizeRange = rest.range(of: "size=\"") else { return 0 }
            return Int(rest[sizeRange.upperBound...].prefix { $0.isNumber }) ?? 0
        }
        return size("current") + size("mmap") - size("fast") - size("rest")
    }

    func testStatusRoundsRetainNoMemory() async throws {
        try await testbed.start([("w1", .fast), ("w2", .fast)])
        let config = try LivebootConfig.load(path: testbed.configPath)
        let liveboot = Liveboot(config: config, logger: Logger(label: "test"))
        for _ in 0..<20 { for node in config.nodes { _ = await liveboot.status(node) } }  // warm-up: pools, caches
        try await Task.sleep(for: .seconds(1))
        let before = Self.heapInUse()
        for _ in 0..<300 { for node in config.nodes { _ = await liveboot.status(node) } }
        // The ssh probe's cancelled 3 s timers are freed when they would have fired (a property of Task.sleep).
        try await Task.sleep(for: .seconds(4))
        let grown = Self.heapInUse() - before
        // With a client kept per session and a `Process` per probe, 600 statuses retained 6.9 MB; now ≈ 0.3 MB.
        XCTAssertGreaterThan(before, 0, "malloc_info answered")
        XCTAssertLessThan(grown, 1536 << 10, "600 statuses retained \(grown >> 10) KiB")
    }

    func testPipelinedRangesNeverReadKeepMemoryBounded() async throws {
        try await testbed.start([])
        let socket = try BlockingSocket(port: testbed.imagesPort, receiveBuffer: 4096)
        let request = "GET /images/ubuntu-22.04-liveboot.iso HTTP/1.1\r\nHost: x\r\nRange: bytes=0-65535\r\n\r\n"
        let burst = String(repeating: request, count: 500)
        let before = Self.residentBytes()
        // 8000 requests (≈ 500 MB of answers if each were held); the socket is never read.
        for _ in 0..<16 { _ = socket.send(burst, timeout: 2) }
        try await Task.sleep(for: .seconds(1))
        let grown = Self.residentBytes() - before
        XCTAssertLessThan(grown, 48 << 20, "pipelined ranges grew the process by \(grown >> 20) MiB")
        socket.close()
    }

    func testSlowHeadersAndIdleConnectionsAreClosed() async throws {
        // The vmedia server reads the timeouts from the config it starts with.
        try await testbed.writeConfig(extraYAML: "  header-timeout: 1\n  idle-timeout: 2\n")
        try await testbed.startImageServer()
        let slow = try BlockingSocket(port: testbed.imagesPort)
        let idle = try BlockingSocket(port: testbed.imagesPort)
        XCTAssertTrue(slow.send("GET /images/u22.iso HTTP/1.1\r\n", timeout: 1))
        // One byte a little under every second: a slowloris the idle clock alone would never close.
        for byte in ["H", "o", "s"] {
            try await Task.sleep(for: .milliseconds(700))
            _ = slow.send(byte, timeout: 1)
        }
        XCTAssertTrue(slow.waitsForClose(within: 3), "a head still incomplete after its header timeout is closed")
        XCTAssertTrue(idle.waitsForClose(within: 5), "an idle connection is closed after the idle timeout")
        // A connection in use stays open: a request, its answer, then still a keep-alive answer.
        let used = try BlockingSocket(port: testbed.imagesPort)
        XCTAssertTrue(used.send("HEAD /images/u22.iso HTTP/1.1\r\nHost: x\r\n\r\n", timeout: 1))
        XCTAssertTrue(used.receive(timeout: 2).hasPrefix("HTTP/1.1 200"))
    }

    // MARK: the login paths

    func testMultipartHeaderNamesOutsideASCIIAreRefusedNotFatal() throws {
        // bench/fuzz.sh's find: MultipartKit traps on a header name byte from 0x80 up (the whole server stopped).
        let bad = ByteBuffer(bytes: Array("--XX\r\nContent-D".utf8) + [0xff, 0xff]
                                + Array("isposition: form-data; name=\"name\"\r\n\r\nbob\r\n--XX--\r\n".utf8))
        XCTAssertFalse(FormBody.partHeaderNamesAreASCII(bad, boundary: "XX"))
        XCTAssertThrowsError(try FormBody.decodeMultipart(AccountController.LoginForm.self, from: bad, boundary: "XX")) { error in
            XCTAssertEqual((error as? HTTPError)?.status, .badRequest)
        }
        // UTF-8 in a value (a browser's file name) is fine, and the form reads.
        let good = ByteBuffer(string: "--XX\r\nContent-Disposition: form-data; name=\"name\"; filename=\"résumé.pub\"\r\n\r\nbob\r\n"
            + "--XX\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\npw\r\n--XX--\r\n")
        XCTAssertTrue(FormBody.partHeaderNamesAreASCII(good, boundary: "XX"))
        XCTAssertEqual(try FormBody.decodeMultipart(AccountController.LoginForm.self, from: good, boundary: "XX").name, "bob")
    }

    func makeApp(extraYAML: String = "") async throws -> some ApplicationProtocol {
        try await testbed.start([("w1", .fast), ("w2", .fast)], extraYAML: extraYAML, serveImages: false)
        let config = try LivebootConfig.load(path: testbed.configPath)
        let options = Testbed.serveOptions()
        return try await LivebootServer.buildApplication(config: config, options: options, logger: Logger(label: "test-portal"))
    }

    func seedPeople() async throws { try await testbed.seedPeople(password: password) }

    func testLoginTakesSmallUrlEncodedFormsOnlyAndSignedTokens() async throws {
        let app = try await makeApp()
        try await seedPeople()
        let password = self.password
        try await app.test(.router) { client in
            let browser = PortalClient(client)
            _ = try await browser.get("/login")
            let multipart = try await browser.send(.post, "/login", headers: [.contentType: "multipart/form-data; boundary=x"])
            XCTAssertEqual(multipart.code, 415)
            let huge = try await browser.post("/login", [("name", String(repeating: "a", count: 9000)), ("password", "x")])
            XCTAssertEqual(huge.code, 413)
            // A cookie/field pair the client made up is refused, even when the two agree.
            let forger = PortalClient(client)
            forger.cookies["lb_login"] = "forged"
            forger.csrf = "forged"
            let forged = try await forger.post("/login", [("name", "alice"), ("password", password)])
            XCTAssertEqual(forged.code, 403)
            let answer1 = try await browser.login("alice", password)
            XCTAssertEqual(answer1.code, 303)
        }
    }

    func testAfterLoginOnlyPlainLocalPaths() {
        for bad in ["//evil.example/", "/\t/evil.example/", "/\\evil.example", "https://evil.example", "/%09/x\n",
                    "/a\r\nSet-Cookie: x", String(repeating: "/a", count: 300), "/ évil"] {
            XCTAssertEqual(AccountController.safeNext(bad), "/", bad)
            // The same check sends an extended lease's form back (`back`): never to another site.
            XCTAssertNil(AccountController.localPath(bad), bad)
        }
        for good in ["/", "/nodes/w1", "/slices/radio?tab=keys", "/leases?node=w1&from=2026-12-02T10:00"] {
            XCTAssertEqual(AccountController.safeNext(good), good)
            XCTAssertEqual(AccountController.localPath(good), good)
        }
    }

    /// Counts password checks, each taking a while (as bcrypt does).
    final class CountingUsers: UserRepository, @unchecked Sendable {
        let lock = NSLock()
        private var checks = 0
        var count: Int { lock.withLock { checks } }
        let user = User(id: 1, name: "alice", passwordHash: "", isAdmin: false, apiTokenHash: nil, createdAt: Date())
        func createUser(name: String, password: String, isAdmin: Bool) async throws -> User { user }
        func user(named name: String) async throws -> User? { user }
        func users() async throws -> [User] { [user] }
        func authenticate(name: String, password: String) async throws -> User? {
            lock.withLock { checks += 1 }
            try await Task.sleep(for: .milliseconds(50))
            return password == "right" ? user : nil
        }
        func issueAPIToken(for user: User) async throws -> APIToken { APIToken(token: "", expiresAt: Date()) }
        func user(apiToken: String) async throws -> User? { nil }
        func changePassword(of user: User, to password: String, keepingSession: String?) async throws {}
    }

    func testThrottleCannotBeRacedOrTurnedAgainstTheOwner() async throws {
        let throttle = LoginThrottle()
        let users = CountingUsers()
        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<30 {
                group.addTask {
                    let attempt = try? await throttle.attempt(name: "alice", password: index == 29 ? "right" : "wrong",
                                                              from: "10.0.0.66", users: users)
                    if case .accepted = attempt { return true }
                    return false
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        XCTAssertLessThanOrEqual(users.count, 5, "30 concurrent guesses: only 5 may reach the password check")
        XCTAssertLessThanOrEqual(results.filter { $0 }.count, 1)
        // The owner, from elsewhere, is not locked out by the attacker's failures.
        let owner = try await throttle.attempt(name: "alice", password: "right", from: "192.0.2.1", users: users)
        guard case .accepted = owner else { return XCTFail("the owner was locked out: \(owner)") }
        // The attacker's address has a budget across names too (spraying).
        var sprayLocked = false
        for index in 0..<40 {
            if case .locked = try await throttle.attempt(name: "user\(index)", password: "wrong", from: "10.0.0.99", users: users) {
                sprayLocked = true
                break
            }
        }
        XCTAssertTrue(sprayLocked, "one address spraying 40 names is slowed down")
    }

    func testTrustedProxyNamesTheClient() {
        let proxies: Set = ["127.0.0.1"]
        XCTAssertEqual(ClientAddress.client(forwardedFor: ["198.51.100.7, 203.0.113.9"], proxies: proxies), "203.0.113.9")
        XCTAssertEqual(ClientAddress.client(forwardedFor: ["198.51.100.7", "203.0.113.9, 127.0.0.1"], proxies: proxies), "203.0.113.9")
        XCTAssertNil(ClientAddress.client(forwardedFor: [], proxies: proxies))
    }

    // MARK: files, errors, audit

    func testOnlyFilesThatAreIsosAreServed() throws {
        let folder = testbed.imagesFolder
        try "notes".write(to: folder.appendingPathComponent("notes"), atomically: true, encoding: .utf8)
        try "yaml".write(to: folder.appendingPathComponent("images.yaml"), atomically: true, encoding: .utf8)
        let library = MediaLibrary(folder: folder.path, naming: LayoutNaming(kind: .image))
        XCTAssertNil(library.open("notes.iso"))
        XCTAssertNil(library.open("images.yaml.iso"))
        XCTAssertNotNil(library.open("u22.iso"), "a short name for a real ISO still works")
        XCTAssertNotNil(library.open("ubuntu-22.04-liveboot.iso"))
    }

    func testClientErrorsAre4xxInOurWordsAndRefusalsAreAudited() async throws {
        let app = try await makeApp()
        try await seedPeople()
        let (password, testbed) = (self.password, self.testbed!)
        try await app.test(.router) { client in
            let token = try await client.execute(uri: "/api/v1/token", method: .post, headers: [.contentType: "application/json"],
                                                 body: ByteBuffer(string: #"{"name":"alice","password":"\#(password)"}"#))
            XCTAssertEqual(token.status, .ok)
            struct Token: Decodable { let token: String; let expiresAt: String }
            let bearer = try JSONDecoder().decode(Token.self, from: Data(buffer: token.body)).token
            let auth: HTTPFields = [.authorization: "Bearer \(bearer)", .contentType: "application/json"]
            let cases: [(String, HTTPRequest.Method, String, String, Int)] = [
                ("body over 256 KiB", .post, "/api/v1/leases", "{\"x\": \"" + String(repeating: "a", count: 300_000) + "\"}", 413),
                ("bad JSON on keys", .post, "/api/v1/slices/radio/keys", "{not json", 400),
                ("hours 1e12", .post, "/api/v1/leases", #"{"node":"w1","slice":"radio","hours":1e12}"#, 400),
                ("negative hours", .post, "/api/v1/leases", #"{"node":"w2","slice":"radio","hours":-1}"#, 400),
                ("image as a path", .post, "/api/v1/nodes/w1/liveboot", #"{"image":"/etc/shadow"}"#, 400),
                ("image missing", .post, "/api/v1/nodes/w1/liveboot", #"{"image":"/nonexistent/x.iso"}"#, 400),
                ("wrong types", .post, "/api/v1/leases", #"{"node":7,"slice":[],"hours":"x"}"#, 400),
            ]
            var messages: [String: String] = [:]
            for (label, method, path, body, expected) in cases {
                let answer = try await client.execute(uri: path, method: method, headers: auth, body: ByteBuffer(string: body))
                let text = String(buffer: answer.body)
                XCTAssertEqual(answer.status.code, expected, "\(label): \(text.prefix(200))")
                XCTAssertLessThan(answer.status.code, 500, label)
                for leak in ["SQL", "DecodingError", "NIOTooManyBytes", "INSERT", "/etc/shadow"] {
                    XCTAssertFalse(text.contains(leak), "\(label) shows internals: \(text.prefix(200))")
                }
                messages[label] = text
            }
            XCTAssertEqual(messages["image as a path"], messages["image missing"], "the image field does not tell which files exist")
            // Refusals leave a row; an anonymous 20 KB name leaves a short one.
            let bob = PortalClient(client)
            let answer2 = try await bob.login("bob", password)
            XCTAssertEqual(answer2.code, 303)
            _ = try await bob.get("/")
            let answer3 = try await bob.post("/nodes/w1/on")
            XCTAssertEqual(answer3.code, 403)
            let stranger = PortalClient(client)
            let answer4 = try await stranger.login(String(repeating: "n", count: 5000), "x")
            XCTAssertEqual(answer4.code, 401)
            let audit = try await testbed.portalDatabase().auditEntries(limit: 50)
            XCTAssertTrue(audit.contains { $0.user == "bob" && $0.node == "w1" && $0.result.hasPrefix("refused") }, "\(audit)")
            XCTAssertTrue(audit.allSatisfy { $0.user.count <= 80 && $0.action.count <= 300 && $0.result.count <= 600 })
        }
    }

    func testPagesCarrySecurityHeadersAndHeadIsAnswered() async throws {
        let app = try await makeApp()
        try await app.test(.router) { client in
            let login = try await client.execute(uri: "/login", method: .get)
            XCTAssertEqual(login.headers[.xFrameOptions], "DENY")
            XCTAssertEqual(login.headers[.xContentTypeOptions], "nosniff")
            XCTAssertTrue(login.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
            XCTAssertEqual(login.headers[.referrerPolicy], "same-origin")
            let head = try await client.execute(uri: "/healthz", method: .head)
            XCTAssertEqual(head.status, .ok)
        }
    }

    // MARK: accounts, keys, leases

    func testPasswordsNamesAndTokensHaveRules() async throws {
        let database = try PortalDatabase(path: nil, bcryptCost: 4, tokenDays: 0.00001)
        for weak in [String(repeating: " ", count: 10), "short"] {
            do {
                _ = try await database.createUser(name: "u1", password: weak, isAdmin: false)
                XCTFail("\(weak.debugDescription) accepted")
            } catch let error as PortalStoreError { XCTAssertEqual(error, .weakPassword) }
        }
        do {
            _ = try await database.createUser(name: "u1", password: String(repeating: "p", count: 73), isAdmin: false)
            XCTFail("73 bytes accepted: bcrypt would ignore the last")
        } catch let error as PortalStoreError { XCTAssertEqual(error, .passwordTooLong) }
        let alice = try await database.createUser(name: "Alice", password: password, isAdmin: false)
        do {
            _ = try await database.createUser(name: "alice", password: password, isAdmin: false)
            XCTFail("alice beside Alice")
        } catch let error as PortalStoreError { XCTAssertEqual(error, .nameTaken(kind: "user", name: "alice")) }
        let token = try await database.issueAPIToken(for: alice)
        try await Task.sleep(for: .seconds(1.5))
        let expired = try await database.user(apiToken: token.token)
        XCTAssertNil(expired, "an expired token is refused")
        try await database.changePassword(of: alice, to: "another-long-password", keepingSession: nil)
        let changed = try await database.authenticate(name: "alice", password: "another-long-password")
        XCTAssertEqual(changed?.name, "Alice")
    }

    func testMembersCannotChainLeasesOrBookThePastAndKeysAreCapped() async throws {
        let app = try await makeApp()
        try await seedPeople()
        let password = self.password
        try await app.test(.router) { client in
            let login = try await client.execute(uri: "/api/v1/token", method: .post, headers: [.contentType: "application/json"],
                                                 body: ByteBuffer(string: #"{"name":"alice","password":"\#(password)"}"#))
            struct Token: Decodable { let token: String }
            let bearer = try JSONDecoder().decode(Token.self, from: Data(buffer: login.body)).token
            let auth: HTTPFields = [.authorization: "Bearer \(bearer)", .contentType: "application/json"]
            func lease(_ start: Date, hours: Double) async throws -> Int {
                let body = #"{"node":"w2","slice":"radio","start":"\#(start.formatted(.iso8601))","hours":\#(hours)}"#
                return try await client.execute(uri: "/api/v1/leases", method: .post, headers: auth, body: ByteBuffer(string: body)).status.code
            }
            let now = Date()
            let past = try await lease(now - 86_400, hours: 2)
            XCTAssertEqual(past, 403, "booking yesterday")
            let first = try await lease(now + 60, hours: 8)
            XCTAssertEqual(first, 201)
            let chained = try await lease(now + 60 + 8 * 3600, hours: 8)
            XCTAssertEqual(chained, 403, "a second 8-hour lease right after the first")

            // Keys: 100 fit in a slice, the 101st is refused and nothing of that upload is added.
            func keyLines(_ count: Int) -> String {
                (0..<count).map { _ in
                    let raw = Curve25519.Signing.PrivateKey().publicKey.rawRepresentation
                    var blob = Data([0, 0, 0, 11]) + Data("ssh-ed25519".utf8)
                    blob += Data([0, 0, 0, UInt8(raw.count)]) + raw
                    return "ssh-ed25519 \(blob.base64EncodedString()) k"
                }.joined(separator: "\n")
            }
            let text: HTTPFields = [.authorization: "Bearer \(bearer)", .contentType: "text/plain"]
            let hundred = try await client.execute(uri: "/api/v1/slices/radio/keys", method: .post, headers: text,
                                                   body: ByteBuffer(string: keyLines(100)))
            XCTAssertEqual(hundred.status, .created, String(buffer: hundred.body).prefix(300).description)
            let more = try await client.execute(uri: "/api/v1/slices/radio/keys", method: .post, headers: text,
                                                body: ByteBuffer(string: keyLines(1)))
            XCTAssertEqual(more.status, .badRequest)
            XCTAssertTrue(String(buffer: more.body).contains("at most 100 keys"))
        }
        let keys = try await testbed.portalDatabase().keys(of: try await testbed.portalDatabase().slice(named: "radio")!)
        XCTAssertEqual(keys.count, 100)
    }

    // MARK: stopping, hanging BMCs

    func testSigtermAndSigintStopTheServerCleanly() async throws {
        try await testbed.start([("w1", .fast)], serveImages: false)
        for signal in [SIGTERM, SIGINT] {
            let port = try SushyEmulator.freePort()
            let process = Process()
            process.executableURL = try CLI.binary
            process.arguments = ["serve", "--config", testbed.configPath, "--host", "127.0.0.1", "--port", "\(port)",
                                 "--templates", Fixtures.packageRoot.appendingPathComponent("Templates").path,
                                 "--public-folder", Fixtures.packageRoot.appendingPathComponent("Public").path]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            var up = false
            for _ in 0..<100 where !up {
                try await Task.sleep(for: .milliseconds(100))
                up = (try? BlockingSocket(port: port)).map { socket in socket.close(); return true } ?? false
            }
            XCTAssertTrue(up, "the server did not start")
            // One request answered, and no connection left open, before the signal. A connection open at the stop
            // once made the process trap on an unfinished NIO writer (exit 4, once in about 20 runs under load, cause
            // not pinned down): a known gap, noted on issue 14, that this test does not cover.
            let check = try BlockingSocket(port: port)
            XCTAssertTrue(check.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout: 2))
            XCTAssertTrue(check.receive(timeout: 5).hasPrefix("HTTP/1.1 200"))
            check.close()
            try await Task.sleep(for: .milliseconds(300))
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertEqual(process.terminationStatus, 0, "signal \(signal): \(text.prefix(2500))")
            XCTAssertFalse(text.contains("CancellationError"), text)
        }
    }

    func testAHangingBMCIsReportedAfterTheStatusDeadline() async throws {
        try await testbed.start([("w1", .fast), ("hang", .fast.with { $0.latency = 10 })], extraYAML: "  status-deadline: 1\n",
                                serveImages: false)
        let config = try LivebootConfig.load(path: testbed.configPath)
        let liveboot = Liveboot(config: config, logger: Logger(label: "test"))
        let hung = await liveboot.status(config.nodes.first { $0.name == "hang" }!)
        XCTAssertTrue(hung.error?.contains("no answer from the BMC of hang within 1 s") == true, hung.error ?? "no error")
        let fine = await liveboot.status(config.nodes.first { $0.name == "w1" }!)
        XCTAssertNil(fine.error)
    }
}

/// A plain blocking client socket: sends what it is told, reads only when asked (or never).
final class BlockingSocket: @unchecked Sendable {
    let descriptor: Int32

    struct Refused: Error {}

    init(port: Int, receiveBuffer: Int? = nil) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer.map(Int32.init) {
            setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            throw Refused()
        }
    }

    private func setTimeout(_ option: Int32, _ seconds: Double) {
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1e6))
        setsockopt(descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    /// False if not all was sent within the timeout (the peer stopped reading) or the connection is gone.
    @discardableResult
    func send(_ text: String, timeout: Double) -> Bool {
        setTimeout(SO_SNDTIMEO, timeout)
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    func receive(timeout: Double) -> String {
        setTimeout(SO_RCVTIMEO, timeout)
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = recv(descriptor, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : ""
    }

    /// True if the server closes the connection (end of file or reset) within `seconds`, reading what comes first.
    func waitsForClose(within seconds: Double) -> Bool {
        let deadline = Date() + seconds
        setTimeout(SO_RCVTIMEO, 0.2)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            let n = recv(descriptor, &buffer, buffer.count, 0)
            if n == 0 { return true }
            if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK { return true }
        }
        return false
    }

    func close() { Glibc.close(descriptor) }
    deinit { Glibc.close(descriptor) }
}
