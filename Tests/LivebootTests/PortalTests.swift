import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IDRACSimulator
import LivebootCore
import LivebootServer
import Logging
import PortalStore
import Seed
import XCTest

/// The portal through Hummingbird's test framework (`.router` and `.live`), over simulated iDRACs and a real
/// vmedia server (the boots fetch real URLs).
final class PortalTests: XCTestCase {
    var testbed: Testbed!
    let password = "a-long-enough-password"

    override func setUp() async throws {
        testbed = try Testbed()
        try await testbed.start([("w1", .fast), ("w2", .fast)])
    }

    override func tearDown() async throws { await testbed.stop() }

    func makeApp() async throws -> some ApplicationProtocol {
        let config = try LivebootConfig.load(path: testbed.configPath)
        let options = Testbed.serveOptions()
        return try await LivebootServer.buildApplication(config: config, options: options, logger: Logger(label: "test-portal"))
    }

    func seedPeople() async throws { try await testbed.seedPeople(password: password) }

    func testLoginSetsAStrictHttpOnlySessionAndIsThrottled() async throws {
        try await seedPeople()
        let password = self.password
        try await makeApp().test(.router) { client in
            let browser = PortalClient(client)
            let home = try await browser.get("/")
            XCTAssertEqual(home.code, 303)
            XCTAssertEqual(home.headers[.location], "/login?next=/")
            let wrong = try await browser.login("alice", "not-her-password")
            XCTAssertEqual(wrong.code, 401)
            XCTAssertTrue(wrong.body.contains("Unknown user or wrong password."), wrong.body)
            let ok = try await browser.login("alice", password)
            XCTAssertEqual(ok.code, 303)
            let cookie = ok.headers[values: .setCookie].first { $0.hasPrefix("lb_session=") } ?? ""
            XCTAssertTrue(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), cookie)
            XCTAssertFalse(cookie.contains("Secure"), "plain HTTP here: \(cookie)")
            let page = try await browser.get("/")
            XCTAssertEqual(page.code, 200)
            XCTAssertTrue(page.body.contains(">alice</a>"), "the page says who is logged in")
            // Logging out ends the session on the server, not only in the browser.
            let stolen = browser.cookies
            assertStatus(try await browser.post("/logout"), 303)
            browser.cookies = stolen
            assertStatus(try await browser.get("/"), 303)

            // A login form without its token is refused; five failures for one name lock it for a while.
            let intruder = PortalClient(client)
            let noToken = try await intruder.send(.post, "/login", form: [("name", "bob"), ("password", "x")], csrfField: false)
            XCTAssertEqual(noToken.code, 403)
            for _ in 0..<5 { assertStatus(try await intruder.login("bob", "guess"), 401) }
            let locked = try await intruder.login("bob", password)
            XCTAssertEqual(locked.code, 429)
            XCTAssertNotNil(locked.headers[.retryAfter])
        }
    }

    func testAuthorizationMatrix() async throws {
        try await seedPeople()
        let (password, testbed) = (self.password, self.testbed!)
        try await makeApp().test(.router) { client in
            var browsers: [String: PortalClient] = ["anonymous": PortalClient(client)]
            for name in ["alice", "bob", "ada"] {
                let browser = PortalClient(client)
                assertStatus(try await browser.login(name, password), 303)
                _ = try await browser.get("/")  // the page's CSRF token
                browsers[name] = browser
            }
            let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMXl/wzGybfXj2lMrWlB6k89taQ4ufIbSzJGzgqzivmX matrix@test"
            struct Case { let label: String; let method: HTTPRequest.Method; let path: String; let form: [(String, String)]
                          let expected: [String: Int] }
            let login = 303  // anonymous browsers are sent to the login page
            // Members book at most 14 days ahead: the windows below start in two days (UTC, as the form sends).
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyy-MM-dd'T'HH:mm"
            formatter.timeZone = TimeZone(identifier: "UTC")
            func inTwoDays(_ hours: Double) -> String { formatter.string(from: Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 3600).rounded(.down) * 3600 + 2 * 86400 + hours * 3600)) }
            let cases = [
                Case(label: "dashboard", method: .get, path: "/", form: [], expected: ["anonymous": login, "alice": 200, "bob": 200, "ada": 200]),
                Case(label: "node page", method: .get, path: "/nodes/w1", form: [], expected: ["anonymous": login, "alice": 200, "bob": 200, "ada": 200]),
                Case(label: "power on w1 (leased to radio)", method: .post, path: "/nodes/w1/on", form: [],
                     expected: ["anonymous": login, "bob": 403, "alice": 303]),
                Case(label: "power on w2 (free)", method: .post, path: "/nodes/w2/on", form: [],
                     expected: ["anonymous": login, "alice": 403, "bob": 403, "ada": 303]),
                Case(label: "live boot w2 (free)", method: .post, path: "/nodes/w2/liveboot", form: [("image", "u22")],
                     expected: ["alice": 403, "bob": 403]),
                Case(label: "unknown node", method: .post, path: "/nodes/w9/on", form: [], expected: ["alice": 404, "ada": 404]),
                Case(label: "slice page", method: .get, path: "/slices/radio", form: [], expected: ["anonymous": login, "alice": 200, "bob": 403, "ada": 200]),
                Case(label: "add key", method: .post, path: "/slices/radio/keys", form: [("keys", key)],
                     expected: ["anonymous": login, "alice": 200, "bob": 403, "ada": 200]),
                Case(label: "book w2 for radio", method: .post, path: "/leases", form: [("node", "w2"), ("slice", "radio"), ("start", inTwoDays(0)), ("hours", "2")],
                     expected: ["anonymous": login, "bob": 403, "alice": 303]),
                Case(label: "book w2 for radio, overlapping", method: .post, path: "/leases", form: [("node", "w2"), ("slice", "radio"), ("start", inTwoDays(1)), ("hours", "2")],
                     expected: ["ada": 409]),
                Case(label: "members book at most 8 h", method: .post, path: "/leases", form: [("node", "w2"), ("slice", "optics"), ("start", inTwoDays(24)), ("hours", "48")],
                     expected: ["bob": 403, "ada": 303]),
                Case(label: "admin page", method: .get, path: "/admin", form: [], expected: ["anonymous": login, "alice": 403, "bob": 403, "ada": 200]),
                Case(label: "add slice", method: .post, path: "/admin/slices", form: [("name", "newslice")],
                     expected: ["anonymous": login, "alice": 403, "bob": 403, "ada": 303]),
                Case(label: "API nodes", method: .get, path: "/api/v1/nodes", form: [], expected: ["anonymous": 401, "alice": 200, "ada": 200]),
            ]
            for test in cases {
                for (who, expected) in test.expected.sorted(by: { $0.key < $1.key }) {
                    let browser = browsers[who]!
                    let answer = test.method == .get ? try await browser.get(test.path)
                                                     : try await browser.send(test.method, test.path, form: test.form)
                    XCTAssertEqual(answer.code, expected, "\(test.label) as \(who): \(answer.body.prefix(300))")
                    if who == "anonymous" && expected == 303 {
                        XCTAssertTrue(answer.headers[.location]?.hasPrefix("/login") == true, "\(test.label): \(answer.headers)")
                    }
                }
            }
            // The refusal says why, and the conflicting lease names its slice.
            let conflict = try await browsers["ada"]!.send(.post, "/leases", form: [("node", "w2"), ("slice", "optics"), ("start", inTwoDays(1.5)), ("hours", "1")])
            XCTAssertEqual(conflict.code, 409)
            XCTAssertTrue(conflict.body.contains("already leased to slice radio"), conflict.body)

            // CSRF: a missing or wrong token is refused, and nothing happens.
            let alice = browsers["alice"]!
            let missing = try await alice.send(.post, "/nodes/w1/reboot", form: [], csrfField: false)
            XCTAssertEqual(missing.code, 403)
            let wrong = try await alice.send(.post, "/nodes/w1/reboot", form: [("_csrf", "forged")], csrfField: false)
            XCTAssertEqual(wrong.code, 403)
            XCTAssertTrue(wrong.body.contains("CSRF"), wrong.body)
            let operations = try await testbed.portalDatabase().operations(node: "w1", limit: 10)
            XCTAssertFalse(operations.contains { $0.kind == "reboot" }, "a forged request started an operation")

            // Every action is in the audit log, refusals included.
            let audit = try await testbed.portalDatabase().auditEntries(limit: 100)
            XCTAssertTrue(audit.contains { $0.user == "alice" && $0.action == "on" && $0.node == "w1" && $0.result.hasPrefix("started") })
            XCTAssertTrue(audit.contains { $0.user == "ada" && $0.action == "book lease" && $0.result.contains("refused") })
        }
    }

    func testBootFromThePortalStreamsStepsAndPutsTheSliceKeysInTheSeed() async throws {
        try await seedPeople()
        let (password, testbed) = (self.password, self.testbed!)
        try await makeApp().test(.router) { client in
            let alice = PortalClient(client)
            assertStatus(try await alice.login("alice", password), 303)
            // Keys: one good and one bad line → nothing added, each bad line named.
            _ = try await alice.get("/slices/radio")
            let bad = try await alice.post("/slices/radio/keys", [("keys", testbed.sliceKey + "\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 short\nfrom=\"x\" ssh-ed25519 AAAA")])
            XCTAssertEqual(bad.code, 422)
            XCTAssertTrue(bad.body.contains("line 2:") && bad.body.contains("line 3:"), bad.body)
            XCTAssertFalse(bad.body.contains("line 1:"), bad.body)
            let radio = try await testbed.portalDatabase().slice(named: "radio")
            let none = try await testbed.portalDatabase().keys(of: XCTUnwrap(radio))
            XCTAssertTrue(none.isEmpty)
            let good = try await alice.post("/slices/radio/keys", [("keys", testbed.sliceKey)])
            XCTAssertEqual(good.code, 200)
            XCTAssertTrue(good.body.contains("1 key added"), good.body)
            XCTAssertTrue(good.body.contains("alice@slice"))

            _ = try await alice.get("/nodes/w1")
            let started = try await alice.post("/nodes/w1/liveboot", [("image", "u22")])
            XCTAssertEqual(started.code, 303)
            let location = try XCTUnwrap(started.headers[.location])
            let id = try XCTUnwrap(location.split(separator: "=").last.map(String.init))
            // A second operation on the same node while this one runs: a clear "busy".
            let busy = try await alice.post("/nodes/w1/diskboot")
            XCTAssertEqual(busy.code, 409)
            XCTAssertTrue(busy.body.contains("w1 is busy with operation #\(id)"), busy.body)

            let events = try await alice.get("/operations/\(id)/events")
            XCTAssertEqual(events.headers[.contentType], "text/event-stream")
            let messages = events.body.components(separatedBy: "\n").filter { $0.hasPrefix("data: ") }
            let stored = messages.compactMap { line -> OperationStep? in
                guard let data = line.dropFirst(6).data(using: .utf8),
                      let step = try? JSONDecoder().decode(OperationStep.self, from: data), step.operationId > 0 else { return nil }
                return step
            }
            let steps = stored.map(\.message)
            XCTAssertFalse(stored.contains(where: \.isError), "a boot that succeeded has no error step: \(steps)")
            // The same words as the CLI prints: the core's typed steps, rendered once.
            let expected = [NodeStep.started(.liveboot, image: "ubuntu-22.04-liveboot.iso").text, "image http", "seed http",
                            "slot 1 ←", "slot 2 ←", "one-time boot", "power", "waiting for the live session", "seed withdrawn",
                            "ready: ssh root@"]
            var index = 0
            for step in steps where index < expected.count && step.hasPrefix(expected[index]) { index += 1 }
            XCTAssertEqual(index, expected.count, "steps in order: \(steps)")
            // Ready only once both came, in whichever order: the live session's report and its ssh.
            let ready = try XCTUnwrap(steps.firstIndex { $0.hasPrefix("ready:") })
            for part in ["ssh answers", "the live session reported as w1-live"] {
                XCTAssertLessThan(try XCTUnwrap(steps.firstIndex { $0.hasPrefix(part) }, "\(part): \(steps)"), ready)
            }
            XCTAssertTrue(events.body.contains("event: done"), events.body)
            XCTAssertTrue(events.body.contains(#""sshCommand":"ssh root@127.0.0.1 -p "#), events.body)

            // The node booted the seed with alice's slice key and the testbed's key, and reported its own host keys.
            let state = try await testbed.state("w1")
            let boot = try XCTUnwrap(state.boots.last)
            XCTAssertEqual(boot.mode, "live")
            XCTAssertEqual(boot.reported, 200)
            XCTAssertEqual(Set(boot.authorizedKeys), [testbed.sliceKey, testbed.testbedKey])
            XCTAssertNil(state.slots["2"] ?? nil, "the seed is withdrawn once the session reported")
            let ed25519 = try SSHPublicKey(line: XCTUnwrap(boot.hostKeys.first { $0.hasPrefix("ssh-ed25519 ") }))
            XCTAssertTrue(steps[ready].contains(ed25519.fingerprint), steps[ready])

            let page = try await alice.get("/nodes/w1?operation=\(id)")
            XCTAssertTrue(page.body.contains("ssh root@127.0.0.1 -p"), page.body)
            XCTAssertTrue(page.body.contains("<code>\(ed25519.fingerprint)</code> (ssh-ed25519)"), page.body)
            let node = try XCTUnwrap(LivebootConfig.load(path: testbed.configPath).nodes.first { $0.name == "w1" })
            XCTAssertTrue(page.body.contains("[127.0.0.1]:\(node.sshPort) ssh-ed25519 \(ed25519.blob.base64EncodedString())"), page.body)
            XCTAssertTrue(page.body.contains("succeeded"))
            XCTAssertFalse(page.body.contains(Testbed.password), "a BMC password is on the page")
            let api = try await alice.get("/api/v1/nodes")
            XCTAssertFalse(api.body.contains(Testbed.password), "a BMC password is in the API")
        }
    }

    /// An image the firmware cannot boot: the node falls back to its disk, which answers ssh and never reports. The
    /// operation ends `failed` with the screenshot of the iDRAC attached: shown first on its page, served to its
    /// slice, refused to another slice.
    func testADiskFallbackBootEndsFailedWithTheScreenshotAttached() async throws {
        try testbed.addUnbootableImage()
        try await seedPeople()
        let (password, testbed) = (self.password, self.testbed!)
        try await makeApp().test(.router) { client in
            let alice = PortalClient(client)
            assertStatus(try await alice.login("alice", password), 303)
            _ = try await alice.get("/nodes/w1")
            let started = try await alice.post("/nodes/w1/liveboot", [("image", "data-only.iso")])
            XCTAssertEqual(started.code, 303)
            let id = try XCTUnwrap(started.headers[.location]?.split(separator: "=").last.map(String.init))
            let events = try await alice.get("/operations/\(id)/events")
            XCTAssertTrue(events.body.contains("answered ssh but the live session never reported"), events.body)
            XCTAssertTrue(events.body.contains("screenshot of the server's screen taken"), events.body)
            XCTAssertTrue(events.body.contains(#""state":"failed""#), events.body)
            XCTAssertTrue(events.body.contains(#""screenshotAt":"#), "the done event says there is one: \(events.body)")

            // What the BMC read: the image at insert (whole, it is small) and nothing as it booted — it found no boot
            // record and went on to the disk. The first thing to know of a boot that did not come up.
            XCTAssertTrue(events.body.contains("the BMC read image data-only.iso: 300.0 KiB in "), events.body)
            let operation = try await testbed.portalDatabase().operation(id: XCTUnwrap(Int64(id)))
            XCTAssertEqual(operation?.state, .failed)
            XCTAssertNotNil(operation?.screenshotAt)
            XCTAssertEqual(operation?.media?.map(\.medium), [.image, .seed])
            XCTAssertEqual(operation?.media?.first?.bytes, 300 * 1024)
            let page = try await alice.get("/nodes/w1?operation=\(id)")
            let picture = try XCTUnwrap(page.body.range(of: #"<img src="/operations/\#(id)/screenshot.png""#), page.body)
            let error = try XCTUnwrap(page.body.range(of: "the node most likely booted its disk"), page.body)
            let steps = try XCTUnwrap(page.body.range(of: #"<ol class="steps""#))
            XCTAssertLessThan(error.lowerBound, steps.lowerBound, "the failure comes first")
            XCTAssertLessThan(picture.lowerBound, steps.lowerBound, "then the screen, before the steps")
            XCTAssertTrue(page.body.contains(#"<table class="media-read" id="media-read" >"#), page.body)
            XCTAssertTrue(page.body.contains("<td>image</td><td><code>data-only.iso</code></td><td>300.0 KiB</td>"), page.body)

            let shot = try await alice.get("/operations/\(id)/screenshot.png")
            XCTAssertEqual(shot.code, 200)
            XCTAssertEqual(shot.headers[.contentType], "image/png")
            let png = try await PNGCheck.inspect(shot.bytes)
            XCTAssertTrue(png.description.contains("w1 login:"), png.description)

            let bob = PortalClient(client)
            assertStatus(try await bob.login("bob", password), 303)
            assertStatus(try await bob.get("/operations/\(id)/screenshot.png"), 403)
            // An operation that did not fail has none.
            _ = try await alice.get("/nodes/w1")
            let reboot = try await alice.post("/nodes/w1/reboot")
            let rebootID = try XCTUnwrap(reboot.headers[.location]?.split(separator: "=").last.map(String.init))
            let done = try await alice.get("/operations/\(rebootID)/events")
            XCTAssertTrue(done.body.contains(#""state":"succeeded""#), done.body)
            assertStatus(try await alice.get("/operations/\(rebootID)/screenshot.png"), 404)
        }
    }

    func testJSONAPIWithAToken() async throws {
        try await seedPeople()
        let (password, testbed) = (self.password, self.testbed!)
        try await makeApp().test(.live) { client in
            let script = PortalClient(client)
            let refused = try await script.send(.post, "/api/v1/token", json: #"{"name":"alice","password":"nope-nope-nope"}"#)
            XCTAssertEqual(refused.code, 401)
            let answer = try await script.send(.post, "/api/v1/token", json: #"{"name":"alice","password":"\#(password)"}"#)
            XCTAssertEqual(answer.code, 200)
            struct Token: Decodable { let token: String }
            let token = try JSONDecoder().decode(Token.self, from: Data(answer.body.utf8)).token
            let auth: HTTPFields = [.authorization: "Bearer \(token)"]
            let keys = try await script.send(.post, "/api/v1/slices/radio/keys", text: testbed.sliceKey, headers: auth)
            XCTAssertEqual(keys.code, 201, keys.body)
            let forged = try await script.send(.get, "/api/v1/slices", headers: [.authorization: "Bearer lbt_forged"])
            XCTAssertEqual(forged.code, 401)
            let boot = try await script.send(.post, "/api/v1/nodes/w1/liveboot", json: #"{"image":"u22"}"#, headers: auth)
            XCTAssertEqual(boot.code, 202, boot.body)
            let operation = try XCTUnwrap(boot.headers[.location])
            let events = try await script.send(.get, operation + "/events", headers: auth)
            XCTAssertTrue(events.body.contains("event: done"), events.body)
            let final = try await script.send(.get, operation, headers: auth)
            XCTAssertTrue(final.body.contains(#""state":"succeeded""#), final.body)
            let notMine = try await script.send(.post, "/api/v1/nodes/w2/on", headers: auth)
            XCTAssertEqual(notMine.code, 403)
            XCTAssertTrue(notMine.body.contains("not leased to any of your slices"), notMine.body)
            let badJSON = try await script.send(.post, "/api/v1/leases", json: "{", headers: auth)
            XCTAssertEqual(badJSON.code, 400)
        }
    }

    func testAFailedBootShowsTheBMCsErrorAndBigUploadsAreRefused() async throws {
        // w3's BMC is down.
        var yaml = try String(contentsOfFile: testbed.configPath, encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "nodes:\n", with: "nodes:\n  w3: {hostname: \"127.0.0.1:1\", drac: \"http://127.0.0.1:1\", drac-password: topsecret}\n")
        try yaml.write(toFile: testbed.configPath, atomically: true, encoding: .utf8)
        try await seedPeople()
        let (password, testbed) = (self.password, self.testbed!)
        try await makeApp().test(.router) { client in
            let ada = PortalClient(client)
            _ = try await ada.login("ada", password)
            _ = try await ada.get("/nodes/w3")
            let started = try await ada.post("/nodes/w3/liveboot", [("image", "u22")])
            assertStatus(started, 303)
            let id = try XCTUnwrap(started.headers[.location]?.split(separator: "=").last)
            let events = try await ada.get("/operations/\(id)/events")
            XCTAssertTrue(events.body.contains(#""state":"failed""#), events.body)
            XCTAssertTrue(events.body.contains("unreachable"), events.body)
            // Failure is data: the last stored step is the error, flagged so, and only it.
            let stored = try await testbed.portalDatabase().steps(of: try XCTUnwrap(Int64(id)))
            XCTAssertEqual(stored.last?.isError, true, "\(stored.map(\.message))")
            XCTAssertEqual(stored.filter(\.isError).count, 1)
            XCTAssertTrue(stored.last?.message.contains("unreachable") == true)
            let page = try await ada.get("/nodes/w3?operation=\(id)")
            XCTAssertTrue(page.body.contains("unreachable"), page.body)
            XCTAssertTrue(page.body.contains(#"<li class="ko">"#), "the error step is shown as one")
            XCTAssertFalse(page.body.contains("topsecret"), "a BMC password is on the page")
            let audit = try await testbed.portalDatabase().auditEntries(limit: 10)
            XCTAssertFalse(audit.contains { $0.result.contains("topsecret") })

            // An unknown image is refused before anything starts; an upload over 256 KiB is refused whole.
            let unknownImage = try await ada.post("/nodes/w1/liveboot", [("image", "u99")])
            assertStatus(unknownImage, 400)
            XCTAssertTrue(unknownImage.body.contains("unknown image"), unknownImage.body)
            _ = try await ada.get("/slices/radio")
            let huge = try await ada.post("/slices/radio/keys", [("keys", String(repeating: "x", count: 300 * 1024))])
            assertStatus(huge, 413)
            XCTAssertTrue(huge.body.contains("larger than 256 KiB"), huge.body)
            let radio = try await testbed.portalDatabase().slice(named: "radio")
            let keys = try await testbed.portalDatabase().keys(of: XCTUnwrap(radio))
            XCTAssertTrue(keys.isEmpty)
        }
    }

    func testAnOperationCutByAStopIsMarkedInterrupted() async throws {
        try await seedPeople()
        let (password, testbed) = (self.password, self.testbed!)
        let database = try testbed.portalDatabase()
        let left = try await database.startOperation(NodeOperation(node: "w1", kind: "liveboot", image: "u22", user: "alice", slice: "radio"))
        try await makeApp().test(.router) { client in
            let alice = PortalClient(client)
            _ = try await alice.login("alice", password)
            let page = try await alice.get("/nodes/w1?operation=\(left.id!)")
            XCTAssertTrue(page.body.contains("interrupted: the server stopped during the operation"), page.body)
            // The node is free again.
            assertStatus(try await alice.post("/nodes/w1/on"), 303)
        }
    }
}

func assertStatus(_ answer: PortalClient.Answer, _ code: Int, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(answer.code, code, String(answer.body.prefix(300)), file: file, line: line)
}
