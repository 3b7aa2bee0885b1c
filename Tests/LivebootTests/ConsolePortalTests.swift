import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import LivebootCore
import LivebootServer
import Logging
import NIOCore
import PortalStore
import XCTest

/// The console in the portal over real sockets: the WebSocket relay to the simulated iDRAC's console, who may open
/// it and type, an administrator taking the keyboard, another slice refused at the upgrade, and the lease's end.
final class ConsolePortalTests: XCTestCase {
    let password = "a-long-enough-password"

    func testTheConsoleRelayInThePortal() async throws {
        let testbed = try Testbed()
        try await testbed.start([("w1", .fast), ("w2", .fast)], serveImages: false)
        try await testbed.seedPeople(password: password)
        let config = try LivebootConfig.load(path: testbed.configPath)
        var options = Testbed.serveOptions()
        options.leaseCheckInterval = .milliseconds(100)
        let app = try await LivebootServer.buildApplication(config: config, options: options, logger: Logger(label: "test-console"))
        let password = self.password
        try await app.test(.live) { client in
            let port = try XCTUnwrap(client.port)
            var cookies: [String: String] = [:]
            for name in ["alice", "bob", "ada"] {
                let browser = PortalClient(client)
                assertStatus(try await browser.login(name, password), 303)
                cookies[name] = browser.cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
            }
            // Another slice's member: no upgrade (hummingbird-websocket answers a refused upgrade 400, empty), and the
            // same URL says why, 403; a page of another site gets no upgrade either, and 403.
            let refused = try await Self.upgrade(port: port, path: "/nodes/w1/console/ws", cookie: cookies["bob"]!)
            XCTAssertEqual(refused.status, 400, refused.body)
            let why = try await Self.upgrade(port: port, path: "/nodes/w1/console/ws", cookie: cookies["bob"]!, upgrade: false)
            XCTAssertEqual(why.status, 403)
            XCTAssertTrue(why.body.contains("not leased to any of your slices"), why.body)
            let crossSite = try await Self.upgrade(port: port, path: "/nodes/w1/console/ws", cookie: cookies["alice"]!,
                                                   origin: "http://evil.example")
            XCTAssertEqual(crossSite.status, 400)
            let crossSiteWhy = try await Self.upgrade(port: port, path: "/nodes/w1/console/ws", cookie: cookies["alice"]!,
                                                      origin: "http://evil.example", upgrade: false)
            XCTAssertEqual(crossSiteWhy.status, 403)
            XCTAssertTrue(crossSiteWhy.body.contains("the console opens from this portal"), crossSiteWhy.body)

            // The holder's member opens it: told it is connected, has the keyboard, sees the node, types to it.
            let alice = ConsoleSocket(port: port, node: "w1", cookie: cookies["alice"]!)
            try await alice.waitFor("notice") { $0.notice?.hasPrefix("connected to the serial console of w1") == true }
            try await alice.waitFor("her keyboard") { $0.keyboard?.mine == true }
            await testbed.simulator.node("w1")?.writeToSerialPort("Ubuntu 24.04 LTS w1-live ttyS1")
            try await alice.waitFor("the node's line") { $0.output.contains("Ubuntu 24.04 LTS w1-live ttyS1") }
            alice.type("root\r")
            try await eventually("her keys reach the node") { try await testbed.state("w1").consoleTyped == "root\r" }

            // An administrator takes the keyboard over: she is told, and her keys no longer go through.
            let ada = ConsoleSocket(port: port, node: "w1", cookie: cookies["ada"]!, query: "?takeover=1")
            try await ada.waitFor("the keyboard") { $0.keyboard?.mine == true }
            try await alice.waitFor("the take-over") { $0.notice == "ada (administrator) took the keyboard from alice" }
            try await alice.waitFor("read-only") { $0.keyboard?.mine == false && $0.keyboard?.holder == "ada" }
            alice.type("x")
            ada.type("y")
            try await eventually("only the holder's keys reach the node") { try await testbed.state("w1").consoleTyped == "root\ry" }
            let sessions = try await testbed.state("w1").consoleSessionsOpened
            XCTAssertEqual(sessions, 1, "one BMC session for every viewer")

            // The lease ends mid-session: everyone of the slice is told and disconnected.
            let database = try testbed.portalDatabase()
            let current = try await database.leases(endingAfter: Date())
            let lease = try XCTUnwrap(current.first { $0.node == "w1" })
            _ = try await database.cancelLease(id: lease.id, at: Date())
            try await alice.waitFor("the end") { $0.ended == "the lease of slice radio ended" }
            try await alice.closed()
            try await eventually("the BMC session closes") { try await !testbed.state("w1").consoleAttached }
            let audit = try await database.auditEntries(limit: 50).filter { $0.action == "console" }
            XCTAssertEqual(audit.map(\.result).sorted(), ["opened", "opened, keyboard taken over",
                                                          "refused: not leased to the user's slices", "refused: not leased to the user's slices"])
        }
        await testbed.stop()
    }

    /// A WebSocket upgrade request, as a browser sends it: the answer when the portal refuses it.
    static func upgrade(port: Int, path: String, cookie: String, origin: String? = nil, upgrade: Bool = true) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        if upgrade {
            request.headers.add(name: "Connection", value: "Upgrade")
            request.headers.add(name: "Upgrade", value: "websocket")
            request.headers.add(name: "Sec-WebSocket-Version", value: "13")
            request.headers.add(name: "Sec-WebSocket-Key", value: "dGhlIHNhbXBsZSBub25jZQ==")
        } else {
            // Not kept for the next upgrade: an upgrade on a connection already used for HTTP is redirected.
            request.headers.add(name: "Connection", value: "close")
        }
        request.headers.add(name: "Cookie", value: cookie)
        request.headers.add(name: "Origin", value: origin ?? "http://127.0.0.1:\(port)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 16)
        return (Int(response.status.code), String(buffer: body))
    }
}

/// A browser's console socket: what it received (bytes as text, control messages decoded), and a way to type.
final class ConsoleSocket: @unchecked Sendable {
    struct Control: Decodable {
        struct Keyboard: Decodable { let mine: Bool; let holder: String? }
        let notice: String?
        let keyboard: Keyboard?
        let ended: String?
    }
    struct Seen {
        var output = ""
        var notice: String?
        var keyboard: Control.Keyboard?
        var ended: String?
    }

    private let lock = NSLock()
    private var received: [Seen] = []
    private var text = ""
    private var finished = false
    private var failure: String?
    private let typed: AsyncStream<String>.Continuation
    private var task: Task<Void, Never>!

    init(port: Int, node: String, cookie: String, query: String = "") {
        let (keys, sink) = AsyncStream.makeStream(of: String.self)
        typed = sink
        var configuration = WebSocketClientConfiguration()
        configuration.additionalHeaders = [.cookie: cookie]
        task = Task { [configuration] in
            do { _ = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/nodes/\(node)/console/ws\(query)",
                                                   configuration: configuration, logger: Logger(label: "test-ws")) { inbound, outbound, _ in
                let writer = Task {
                    for await key in keys { try? await outbound.write(.binary(ByteBuffer(string: key))) }
                }
                defer { writer.cancel() }
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    switch message {
                    case .binary(let buffer): self.record { $0.output = String(buffer: buffer) }
                    case .text(let json):
                        let control = try JSONDecoder().decode(Control.self, from: Data(json.utf8))
                        self.record { $0.notice = control.notice; $0.keyboard = control.keyboard; $0.ended = control.ended }
                    }
                }
            } } catch { self.lock.withLock { self.failure = "\(error)" } }
            self.lock.withLock { self.finished = true }
        }
    }

    private func record(_ fill: (inout Seen) -> Void) {
        var seen = Seen()
        fill(&seen)
        lock.withLock {
            text += seen.output
            seen.output = text
            received.append(seen)
        }
    }

    func type(_ keys: String) { typed.yield(keys) }

    /// Waits for a message that matches (for output: the text received so far).
    func waitFor(_ what: String, file: StaticString = #filePath, line: UInt = #line, _ match: (Seen) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        var index = 0
        while ContinuousClock.now < deadline {
            let pending = lock.withLock { Array(received[index...]) }
            index += pending.count
            if pending.contains(where: match) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTFail("no \(what) on the console socket (\(lock.withLock { failure ?? "open" })); got \(lock.withLock { received.map { $0.notice ?? $0.ended ?? "…" } })", file: file, line: line)
    }

    func closed() async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if lock.withLock({ finished }) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTFail("the console socket stayed open")
    }
}
