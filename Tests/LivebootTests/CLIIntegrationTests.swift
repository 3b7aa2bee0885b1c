import Crypto
import Foundation
import IDRACSimulator
import LivebootCore
import PortalStore
import Seed
import XCTest

/// The `liveboot` binary against simulated iDRAC 9s over real HTTP, and the vmedia server over real sockets.
final class CLIIntegrationTests: XCTestCase {
    var testbed: Testbed!

    override func setUp() async throws {
        testbed = try Testbed()
    }

    override func tearDown() async throws {
        await testbed.stop()
    }

    // MARK: status

    func testStatusShowsPowerBiosSlotsAndProbes() async throws {
        try await testbed.start()
        let result = try await testbed.lb("status", "all")
        XCTAssertEqual(result.status, 0, result.all)
        for node in ["w1:", "w2:"] { XCTAssertTrue(result.stdout.contains(node), result.stdout) }
        XCTAssertTrue(result.stdout.contains("power         On"), result.stdout)
        XCTAssertTrue(result.stdout.contains("SysProfile    PerfPerWattOptimizedDapc"), result.stdout)
        XCTAssertTrue(result.stdout.contains("vmedia 1      not connected"), result.stdout)
        XCTAssertTrue(result.stdout.contains("SSH: OK"), result.stdout)
        XCTAssertTrue(result.stdout.contains("PING: "), result.stdout)
    }

    func testStatusJSONIsMachineReadableAndHoldsNoSecret() async throws {
        try await testbed.start()
        let result = try await testbed.lb("status", "w1-2", "--json", "--verbose")
        XCTAssertEqual(result.status, 0, result.all)
        let statuses = try JSONDecoder().decode([NodeStatus].self, from: Data(result.stdout.utf8))
        XCTAssertEqual(statuses.map(\.node), ["w1", "w2"])
        XCTAssertEqual(statuses.first?.power, "On")
        XCTAssertEqual(statuses.first?.ssh, .ok)
        XCTAssertEqual(statuses.first?.vmedia.count, 2)
        XCTAssertEqual(statuses.first?.model, "PowerEdge R750")
        XCTAssertEqual(statuses.first?.firmware, "6.00.30.00")
        // Debug logs (every Redfish call) went to stderr; the password and session tokens appear nowhere.
        XCTAssertTrue(result.stderr.contains("GET /redfish/v1"), result.stderr)
        XCTAssertFalse(result.all.contains(Testbed.password), "the BMC password leaked")
        XCTAssertFalse(result.all.lowercased().contains("x-auth-token"), "a session token leaked")
    }

    /// One preamble for every node command: `--stats` reports the Redfish requests of each, failures included.
    func testStatsForEveryNodeCommand() async throws {
        try await testbed.start()
        for command in [["biosget", "w1", "SysProfile"], ["queueget", "w1"], ["vmedia", "w1"], ["on", "w1"], ["status", "w1"],
                        ["biosreset", "w9"]] {
            let result = try await testbed.lb(command + ["--stats"])
            if command.last == "w9" {
                XCTAssertEqual(result.status, 2, result.all)
                XCTAssertFalse(result.stderr.contains("redfish requests"), "bad input stops before any node is touched")
                continue
            }
            XCTAssertEqual(result.status, 0, "\(command): \(result.all)")
            let line = try XCTUnwrap(result.stderr.split(separator: "\n").first { $0.hasPrefix("redfish requests: ") }, "\(command): \(result.stderr)")
            XCTAssertGreaterThan(Int(line.dropFirst("redfish requests: ".count)) ?? 0, 1, "\(command)")
        }
    }

    /// `status` asks for the BIOS and the slots together, and every node at once (no wave); still, no iDRAC ever gets
    /// two requests at a time (`RequestGate`).
    func testStatusNeverSendsOneBMCTwoRequestsAtOnce() async throws {
        try await testbed.start([("w1", SimulatorBehaviour.fast.with { $0.latency = 0.1 }),
                                 ("w2", SimulatorBehaviour.fast.with { $0.latency = 0.1 }),
                                 ("w3", SimulatorBehaviour.fast.with { $0.latency = 0.1 })])
        let result = try await testbed.lb("status", "w1-3", "--bmc")
        XCTAssertEqual(result.status, 0, result.all)
        for node in ["w1", "w2", "w3"] {
            let state = try await testbed.state(node)
            XCTAssertGreaterThan(state.requests, 4, node)
            XCTAssertEqual(state.peakConcurrentRequests, 1, "\(node) got overlapping requests")
        }
    }

    func testStatusLogsOutOfEverySession() async throws {
        try await testbed.start()
        _ = try await testbed.lb("status", "w1")
        let state = try await testbed.state("w1")
        XCTAssertEqual(state.sessions, 0, "sessions left open on the BMC")
        XCTAssertGreaterThan(state.requests, 3)
    }

    // MARK: errors before touching a node

    func testUnknownNodeListsKnownOnes() async throws {
        try await testbed.start()
        let result = try await testbed.lb("status", "w9")
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("unknown node \"w9\"; known nodes: w1, w2"), result.stderr)
    }

    /// `lb admin`: the portal's first administrator, members and leases, from the gatekeeper.
    func testAdminCommandsFillThePortalDatabase() async throws {
        try await testbed.start(serveImages: false)
        let passwordFile = testbed.directory.appendingPathComponent("password").path
        try "a-long-admin-password\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        let added = try await testbed.lb("admin", "add", "ada", "--password-file", passwordFile)
        XCTAssertEqual(added.status, 0, added.all)
        let again = try await testbed.lb("admin", "add", "ada", "--password-file", passwordFile)
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.stderr.contains("a user named ada already exists"), again.stderr)
        let noPassword = try await testbed.lb("admin", "add", "eve")  // stdin is empty
        XCTAssertEqual(noPassword.status, 2, noPassword.all)
        XCTAssertTrue(noPassword.stderr.contains("no password given"), noPassword.stderr)
        let member = try await testbed.lb("admin", "user", "bob", "--slice", "radio", "--password-file", passwordFile)
        XCTAssertEqual(member.status, 0, member.all)
        let lease = try await testbed.lb("admin", "lease", "w1", "--slice", "radio", "--hours", "2")
        XCTAssertEqual(lease.status, 0, lease.all)
        let overlap = try await testbed.lb("admin", "lease", "w1", "--slice", "radio")
        XCTAssertEqual(overlap.status, 2)
        XCTAssertTrue(overlap.stderr.contains("w1 is already leased to slice radio"), overlap.stderr)
        let token = try await testbed.lb("admin", "token", "bob")
        XCTAssertTrue(token.stdout.hasPrefix("lbt_"), token.all)

        let database = try testbed.portalDatabase()
        let ada = try await database.authenticate(name: "ada", password: "a-long-admin-password")
        XCTAssertEqual(ada?.isAdmin, true)
        let bob = try await database.user(apiToken: token.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(bob?.name, "bob")
        // The Admin page's service, so the page's audit lines: the lease and the refused overlap are there too.
        let audit = try await database.auditEntries(limit: 20)
        let login = "cli:" + NSUserName()
        XCTAssertTrue(audit.contains { $0.user == login && $0.action == "book lease" && $0.node == "w1" && $0.result.hasPrefix("#") },
                      "\(audit.map { "\($0.user) \($0.action) \($0.result)" })")
        XCTAssertTrue(audit.contains { $0.action == "book lease" && $0.result.hasPrefix("refused:") })
        XCTAssertTrue(audit.contains { $0.action == "add slice" && $0.slice == "radio" })
        let unknown = try await testbed.lb("admin", "lease", "w9", "--slice", "radio")
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("unknown node \"w9\""), unknown.stderr)
        let holders = try await database.holders(at: Date())
        XCTAssertEqual(holders, ["w1": "radio"])
    }

    func testUnknownImageTouchesNoNode() async throws {
        try await testbed.start()
        let before = try await testbed.state("w1").requests
        let result = try await testbed.lb("liveboot", "w1", "-i", "u99")
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("unknown image \"u99\"; available: ubuntu-22.04-liveboot.iso, u22"), result.stderr)
        let after = try await testbed.state("w1").requests
        XCTAssertEqual(before, after, "the BMC was contacted for an unknown image")
    }

    func testImageNotServedTouchesNoNode() async throws {
        try await testbed.start(serveImages: false)
        try await testbed.writeConfig(imagesPort: 1)  // nothing listens on port 1
        let result = try await testbed.lb("liveboot", "w1", "-i", "u22")
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("could not read http://127.0.0.1:1/images/ubuntu-22.04-liveboot.iso"), result.stderr)
        let state = try await testbed.state("w1")
        XCTAssertEqual(state.requests, 0)
        XCTAssertEqual(state.slots["1"], .some(nil))
    }

    func testMissingConfigSaysWhereToPutIt() async throws {
        let result = try await CLI.run(["status", "w1"], config: "/nonexistent/liveboot.yaml")
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("no configuration at /nonexistent/liveboot.yaml"), result.stderr)
    }

    // MARK: BMC failures

    func testBMCDownIsReportedAndOtherNodesStillAnswer() async throws {
        try await testbed.start([("w1", .fast)], extraYAML: "")
        // w2's BMC is a closed port.
        var yaml = try String(contentsOfFile: testbed.configPath, encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "nodes:\n", with: """
            nodes:
              w2: {hostname: "127.0.0.1:1", drac: "http://127.0.0.1:1", drac-password: x}

            """)
        try yaml.write(toFile: testbed.configPath, atomically: true, encoding: .utf8)
        let result = try await testbed.lb("status", "all")
        XCTAssertEqual(result.status, 1, result.all)
        XCTAssertTrue(result.stdout.contains("w1:\n  power         On"), result.stdout)
        XCTAssertTrue(result.stdout.contains("BMC http://127.0.0.1:1 is unreachable: connection refused"), result.stdout)
        XCTAssertTrue(result.stdout.contains("SSH: KO"), result.stdout)
        let power = try await testbed.lb("on", "w2")
        XCTAssertEqual(power.status, 1)
        XCTAssertTrue(power.stderr.contains("w2: BMC http://127.0.0.1:1 is unreachable"), power.stderr)
    }

    func testBadCredentials() async throws {
        try await testbed.start([("w1", SimulatorBehaviour.fast.with { $0.password = "other" })])
        let result = try await testbed.lb("on", "w1")
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("refused the credentials (HTTP 401)"), result.stderr)
    }

    func testServiceUnavailableStormIsBoundedAndExplained() async throws {
        try await testbed.start([("w1", SimulatorBehaviour.fast.with { $0.errorRate = 1 })],
                                extraYAML: "  retries: 3\n  backoff: 0.05\n")
        let result = try await testbed.lb("biosget", "w1", "profile")
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("answered 503 Service Unavailable"), result.stderr)
        XCTAssertTrue(result.stderr.contains("3 times"), result.stderr)
        // Bounded: three attempts for the first call (the root), the login in parallel, then it gave up.
        let requests = try await testbed.state("w1").requests
        XCTAssertLessThanOrEqual(requests, 8)
    }

    func testOccasional503sAreRetriedTransparently() async throws {
        try await testbed.start([("w1", SimulatorBehaviour.fast.with { $0.errorRate = 0.3 })],
                                extraYAML: "  retries: 12\n  backoff: 0.01\n")
        let result = try await testbed.lb("biosget", "w1", "profile")
        XCTAssertEqual(result.status, 0, result.all)
        XCTAssertTrue(result.stdout.contains("SysProfile"), result.stdout)
    }

    func testGarbageAnswersAreNamed() async throws {
        try await testbed.start([("w1", SimulatorBehaviour.fast.with { $0.garbageRate = 1 })])
        let result = try await testbed.lb("queueget", "w1")
        XCTAssertEqual(result.status, 1)
        // Root and login go out together; whichever answer is read first is named, with the call.
        XCTAssertTrue(result.stderr.contains("sent an answer to "), result.stderr)
        XCTAssertTrue(result.stderr.contains("that is not valid Redfish"), result.stderr)
    }

    // MARK: power

    func testOffForcesAfterGracefulTimeoutAndSucceeds() async throws {
        try await testbed.start([("w1", SimulatorBehaviour.fast.with { $0.ignoreGracefulShutdown = true })])
        let result = try await testbed.lb("off", "w1", "--graceful-timeout", "1")
        XCTAssertEqual(result.status, 0, result.all)
        XCTAssertTrue(result.stdout.contains("ForceOff"), result.stdout)
        XCTAssertTrue(result.stdout.contains("forced Off after the graceful timeout"), result.stdout)
        let state = try await testbed.state("w1")
        XCTAssertEqual(state.power, "Off")
        // Off again: already satisfied, still success.
        let again = try await testbed.lb("off", "w1")
        XCTAssertEqual(again.status, 0, again.all)
        XCTAssertTrue(again.stdout.contains("already Off"), again.stdout)
    }

    func testRebootEndsOnEvenWhenShutdownHadToBeForced() async throws {
        try await testbed.start([("w1", SimulatorBehaviour.fast.with { $0.ignoreGracefulShutdown = true })])
        let result = try await testbed.lb("reboot", "w1", "--graceful-timeout", "1")
        XCTAssertEqual(result.status, 0, result.all)
        let state = try await testbed.state("w1")
        XCTAssertEqual(state.power, "On")
        XCTAssertEqual(state.boots.count, 2)  // the initial boot and the reboot
    }

    func testOnAndOffOfSeveralNodes() async throws {
        try await testbed.start()
        let off = try await testbed.lb("off", "w1-2", "--force")
        XCTAssertEqual(off.status, 0, off.all)
        for node in ["w1", "w2"] {
            let power = try await testbed.state(node).power
            XCTAssertEqual(power, "Off")
        }
        let status = try await testbed.lb("status", "w1")
        XCTAssertTrue(status.stdout.contains("power         Off") && status.stdout.contains("SSH: KO"), status.stdout)
        let on = try await testbed.lb("on", "all")
        XCTAssertEqual(on.status, 0, on.all)
        let power = try await testbed.state("w2").power
        XCTAssertEqual(power, "On")
    }

    // MARK: liveboot, wait, diskboot

    func testLivebootInsertsBothSlotsBootsOnceAndWaitsForSSH() async throws {
        // Slots that mount at once: the request budget below counts no read-back poll.
        try await testbed.start([("w1", SimulatorBehaviour.fast.with { $0.mountDelay = 0 })])
        let result = try await testbed.lb("liveboot", "w1", "-i", "u22", "--key", testbed.slicePub, "--wait", "--stats")
        XCTAssertEqual(result.status, 0, result.all)
        for step in ["seed http://127.0.0.1:", "slot 1 ← http://127.0.0.1:", "slot 2 ← ", "one-time boot on virtual CD",
                     "power cycle", "ssh answers", "ready: ssh root@127.0.0.1"] {
            XCTAssertTrue(result.stdout.contains(step), "missing step \(step):\n\(result.stdout)")
        }
        XCTAssertTrue(result.stdout.contains("[") && result.stdout.contains("s] "), "no elapsed time:\n\(result.stdout)")
        let state = try await testbed.state("w1")
        let boot = try XCTUnwrap(state.boots.last)
        XCTAssertEqual(boot.mode, "live")
        // The image at this boot's own path: what its BMC reads is counted as the boot's.
        XCTAssertTrue(boot.image?.hasPrefix("http://127.0.0.1:\(testbed.imagesPort)/boot/liveboot-w1-") == true
                      && boot.image?.hasSuffix("/ubuntu-22.04-liveboot.iso") == true, "\(boot)")
        XCTAssertTrue(boot.seed?.contains(":\(testbed.imagesPort)/seeds/cidata-") == true, "\(boot)")
        // Root accepts the testbed's key and the slice's key, read from the seed the BMC fetched.
        XCTAssertEqual(Set(boot.authorizedKeys), [testbed.testbedKey, testbed.sliceKey])
        XCTAssertEqual(boot.hostname, "w1-live")
        XCTAssertEqual(state.bootOverride, "None/Disabled", "a one-time boot must not stay set")
        XCTAssertEqual(state.power, "On")
        XCTAssertEqual(state.sessions, 0)
        // Request budget: ≤ 11 for the boot (the Lifecycle Controller's readiness and each slot's read-back included)
        // plus its session's login and logout; then 7 for the seed's withdrawal and about 6 for the BootProgress
        // watch during the wait, each in a session of its own; 5 for the console recorder's (service root, login,
        // system, the iDRAC's attributes, logout).
        let requests = try XCTUnwrap(result.stderr.split(separator: "\n").first { $0.hasPrefix("redfish requests:") })
        XCTAssertLessThanOrEqual(Int(requests.split(separator: " ").last!)!, 32, String(requests))
    }

    /// Ready means the live session said so: its report (cloud-init's phone_home, to `liveboot serve`) carries the
    /// host keys, which `--json`, `wait --json` and `known-hosts` give back, and the seed is withdrawn.
    func testReadyIsTheLiveSessionsReportWithItsHostKeys() async throws {
        try await testbed.start()
        let result = try await testbed.lb("liveboot", "w1", "-i", "u22", "--wait", "--json")
        XCTAssertEqual(result.status, 0, result.all)
        for step in ["waiting for the live session: its report and ssh", "the live session reported as w1-live; host keys: SHA256:",
                     "seed withdrawn (slot 2 ejected)", "ready: ssh root@127.0.0.1"] {
            XCTAssertTrue(result.stderr.contains(step), "missing step \(step):\n\(result.stderr)")
        }
        let results = try JSONDecoder().decode([String: LivebootResult].self, from: Data(result.stdout.utf8), strategy: .iso8601)
        let live = try XCTUnwrap(results["w1"])
        let state = try await testbed.state("w1")
        let boot = try XCTUnwrap(state.boots.last)
        XCTAssertEqual(boot.reported, 200)
        // The keys the simulated OS made at this boot, as sshd would offer them (comment dropped).
        let offered = try boot.hostKeys.map { try HostKey(SSHPublicKey(line: $0)) }
        XCTAssertEqual(Set(live.hostKeys ?? []), Set(offered))
        XCTAssertTrue(live.hostKeys?.allSatisfy { $0.fingerprint.hasPrefix("SHA256:") } == true)
        XCTAssertNotNil(live.reportAfterSeconds)
        let node = try XCTUnwrap(LivebootConfig.load(path: testbed.configPath).nodes.first)
        XCTAssertEqual(Set(live.knownHosts ?? []), Set(offered.map { "[127.0.0.1]:\(node.sshPort) \($0.key)" }))
        XCTAssertNil(state.slots["2"] ?? nil, "the seed stays for no disk OS")
        XCTAssertNotNil(state.slots["1"] ?? nil, "the live image stays: the session runs from it")

        let known = try await testbed.lb("known-hosts", "w1")
        XCTAssertEqual(known.status, 0, known.all)
        XCTAssertEqual(Set(known.stdout.split(separator: "\n").map(String.init)), Set(live.knownHosts ?? []))
        let wait = try await testbed.lb("wait", "w1", "--json")
        XCTAssertEqual(wait.status, 0, wait.all)
        struct Waited: Decodable { let live: LivebootResult? }
        let waited = try JSONDecoder().decode([String: Waited].self, from: Data(wait.stdout.utf8), strategy: .iso8601)
        XCTAssertEqual(waited["w1"]?.live?.hostKeys, live.hostKeys)
        // A boot that has reported takes no second report: replaying it changes nothing.
        let ticket = live.bootID
        let replay = try await CLI.post("http://127.0.0.1:\(testbed.portalPort)/boot-reports/\(ticket)",
                                        form: "instance_id=\(ticket)&pub_key_ed25519=\(Self.formEncoded(testbed.sliceKey))")
        XCTAssertEqual(replay, 409)
        let after = try await testbed.portalDatabase().report(for: ticket)
        XCTAssertEqual(after?.hostKeys, live.hostKeys)

        // Booted from its disk since: the session is over; `wait` waits for ssh alone and offers no host key.
        let disk = try await testbed.lb("diskboot", "w1")
        XCTAssertEqual(disk.status, 0, disk.all)
        let gone = try await testbed.lb("known-hosts", "w1")
        XCTAssertEqual(gone.status, 1, gone.all)
        XCTAssertTrue(gone.stderr.contains("booted from its disk since"), gone.stderr)
        let diskWait = try await testbed.lb("wait", "w1")
        XCTAssertEqual(diskWait.status, 0, diskWait.all)
        XCTAssertTrue(diskWait.stdout.contains("no live boot of w1 is awaited: waiting for ssh only"), diskWait.stdout)
        XCTAssertFalse(diskWait.stdout.contains("host key"), diskWait.stdout)
    }

    /// What the boot's BMC read of each medium, as the vmedia listener counted it at the boot's own paths: a step,
    /// in `--json`, and stored with the boot — exactly what the simulated iDRAC read (at insert and as it booted).
    func testBootSaysWhatItsBMCReadOfEachMedium() async throws {
        // ssh after 1.5 s: the listener's counts, stored every second, are in before the session is ready.
        try await testbed.start([("w1", SimulatorBehaviour.fast.with { $0.sshDelay = 1.5 })])
        let result = try await testbed.lb("liveboot", "w1", "-i", "u22", "--wait", "--json")
        XCTAssertEqual(result.status, 0, result.all)
        XCTAssertTrue(result.stderr.contains("the BMC read image ubuntu-22.04-liveboot.iso: "), result.stderr)
        let live = try XCTUnwrap(JSONDecoder().decode([String: LivebootResult].self, from: Data(result.stdout.utf8), strategy: .iso8601)["w1"])
        let media = try XCTUnwrap(live.media)
        XCTAssertEqual(media.map(\.medium), [.image, .seed])
        XCTAssertEqual(media.first?.name, "ubuntu-22.04-liveboot.iso")
        XCTAssertNotNil(media.first?.bytesPerSecond)
        let state = try await testbed.state("w1")
        let boot = try XCTUnwrap(state.boots.last)
        let imageURL = try XCTUnwrap(boot.image), seedURL = try XCTUnwrap(boot.seed)
        let seedFile = String(seedURL.split(separator: "/").last!)
        XCTAssertEqual(media.last?.name, seedFile)
        let seedSize = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: testbed.imagesFolder.appendingPathComponent("seeds/\(seedFile)").path)[.size] as? Int)
        // Whole at insert (small enough) and whole again as the node booted: the image and the seed.
        XCTAssertEqual(boot.mediaRead[imageURL], 300 * 1024)
        XCTAssertEqual(state.mediaRead[imageURL], 2 * 300 * 1024)
        XCTAssertEqual(state.mediaRead[seedURL], 2 * seedSize)
        let database = try testbed.portalDatabase()
        var stored: [BootMediumRead] = []
        for _ in 0..<50 {
            stored = try await database.mediaReads(bootID: live.bootID)
            if stored.map(\.bytes) == [2 * 300 * 1024, 2 * seedSize] { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertEqual(stored.map(\.bytes), [2 * 300 * 1024, 2 * seedSize])
        XCTAssertTrue(zip(media, stored).allSatisfy { $0.bytes > 0 && $0.bytes <= $1.bytes }, "\(media) \(stored)")
    }

    /// Where the BMC keeps `BootProgress`, its changes are steps of the wait (never required); the watch's session
    /// is closed with the wait.
    func testBootProgressIsShownWhileWaiting() async throws {
        try await testbed.start([("w1", SimulatorBehaviour.fast.with { $0.sshDelay = 2.5 })])
        let result = try await testbed.lb("liveboot", "w1", "-i", "u22", "--wait")
        XCTAssertEqual(result.status, 0, result.all)
        let lines = result.stdout.split(separator: "\n")
        let post = try XCTUnwrap(lines.firstIndex { $0.contains("the BMC says: POST done") }, result.stdout)
        let started = try XCTUnwrap(lines.firstIndex { $0.contains("the BMC says: OS boot started") }, result.stdout)
        let ready = try XCTUnwrap(lines.firstIndex { $0.contains("ready: ") }, result.stdout)
        XCTAssertLessThan(post, started)
        XCTAssertLessThan(started, ready)
        let state = try await testbed.state("w1")
        XCTAssertEqual(state.sessions, 0, "the watch logged out")
    }

    /// An image the firmware cannot boot: the node falls back to its disk, whose sshd answers, and never reports.
    /// That is a failure that says so, the seed is ejected at once, and the node has no live session to ssh to.
    func testDiskFallbackIsAFailureNotAReadyNode() async throws {
        try testbed.addUnbootableImage()
        try await testbed.start()
        let result = try await testbed.lb("liveboot", "w1", "-i", "data-only.iso", "--wait")
        XCTAssertEqual(result.status, 1, result.all)
        XCTAssertTrue(result.stderr.contains("w1: answered ssh but the live session never reported"), result.stderr)
        XCTAssertTrue(result.stderr.contains("the node most likely booted its disk"), result.stderr)
        XCTAssertFalse(result.stdout.contains("ready:"), result.stdout)
        XCTAssertTrue(result.stdout.contains("seed withdrawn (slot 2 ejected)"), result.stdout)
        // The screen at the failure, saved where the line says: the firmware's own words for the fallback.
        let shot = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.contains("screenshot of the server's screen: ") },
                                 result.stdout)
        let file = String(shot.split(separator: ": ").last!)
        defer { try? FileManager.default.removeItem(atPath: file) }
        XCTAssertTrue(file.hasSuffix(".png") && file.contains("w1-"), file)
        let png = try await PNGCheck.inspect(file)
        XCTAssertTrue(png.description.contains("w1 login:"), png.description)
        XCTAssertTrue(png.description.contains("installed system"), png.description)
        let state = try await testbed.state("w1")
        XCTAssertEqual(state.boots.last?.mode, "disk")
        XCTAssertNil(state.slots["2"] ?? nil, "no seed left for the disk OS's cloud-init")
        let known = try await testbed.lb("known-hosts", "w1")
        XCTAssertEqual(known.status, 1, known.all)
        XCTAssertTrue(known.stderr.contains("its last live boot never reported"), known.stderr)
    }

    /// `lb screenshot`: the screen of a node that is up (its login prompt), to the file asked for; of a node that
    /// is off, "no video signal" in the iDRAC's words (LC099), nothing written; `--json` for scripts.
    func testScreenshotOnDemand() async throws {
        try await testbed.start([("w1", .fast), ("w2", .fast)])
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("shots-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("w1.png").path
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let one = try await testbed.lb("screenshot", "w1", "-o", file)
        XCTAssertEqual(one.status, 0, one.all)
        XCTAssertTrue(one.stdout.hasPrefix("w1: \(file) ("), one.stdout)
        let png = try await PNGCheck.inspect(file)
        XCTAssertEqual([png.width, png.height], [480, 160])
        XCTAssertTrue(png.description.contains("w1 login:"), png.description)

        let off = try await testbed.lb("off", "w2", "--force")
        XCTAssertEqual(off.status, 0, off.all)
        let json = try await testbed.lb("screenshot", "w1-2", "-o", folder.path, "--json")
        XCTAssertEqual(json.status, 0, json.all)
        struct Answer: Decodable { let file: String?; let bytes: Int?; let noVideo: String? }
        let answers = try JSONDecoder().decode([String: Answer].self, from: Data(json.stdout.utf8))
        XCTAssertTrue(answers["w1"]?.file?.hasPrefix(folder.path + "/w1-") == true, json.stdout)
        XCTAssertNil(answers["w2"]?.file, json.stdout)
        XCTAssertEqual(answers["w2"]?.noVideo, "Unable to export the server screen shot because the video signal is not detected.")
        let written = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        XCTAssertEqual(written.count, 2, "\(written)")
        XCTAssertFalse(written.contains { $0.hasPrefix("w2") })
    }

    /// Without a URL the nodes can report to, `liveboot` refuses before any node is touched.
    func testLivebootRefusesWithoutAReportURL() async throws {
        try await testbed.start()
        let yaml = try String(contentsOfFile: testbed.configPath, encoding: .utf8)
        try yaml.replacingOccurrences(of: ", node-url: \"http://127.0.0.1:\(testbed.portalPort)\"", with: "")
            .write(toFile: testbed.configPath, atomically: true, encoding: .utf8)
        let result = try await testbed.lb("liveboot", "w1", "-i", "u22")
        XCTAssertEqual(result.status, 2, result.all)
        XCTAssertTrue(result.stderr.contains("portal.node-url is not set and cannot be derived from portal.listen 0.0.0.0"), result.stderr)
        let state = try await testbed.state("w1")
        XCTAssertEqual(state.requests, 0, "no node touched")
    }

    static func formEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
    }

    /// Firmware 7.x lists `VirtualMedia/2` first: the live image still goes to slot 1, the seed to 2, and `status`
    /// shows slot 1 first — in either listing order.
    func testSlotsByIdentityWhateverTheListingOrder() async throws {
        try await testbed.start([("w1", .fast), ("w2", SimulatorBehaviour.fast.with { $0.listsSlotsInReverse = false })])
        let result = try await testbed.lb("liveboot", "w1-2", "-i", "u22", "--wait")
        XCTAssertEqual(result.status, 0, result.all)
        for node in ["w1", "w2"] {
            let state = try await testbed.state(node)
            XCTAssertTrue(state.slots["1"]??.contains("/boot/liveboot-\(node)-") == true
                          && state.slots["1"]??.hasSuffix("/ubuntu-22.04-liveboot.iso") == true, "\(node): \(state.slots)")
            // The node booted the image from slot 1 and read its seed from slot 2 (withdrawn since).
            XCTAssertEqual(state.boots.last?.mode, "live", node)
            XCTAssertTrue(state.boots.last?.seed?.contains("/seeds/cidata-") == true, "\(node): \(state.boots)")
        }
        let status = try await testbed.lb("status", "w1")
        let one = try XCTUnwrap(status.stdout.range(of: "vmedia 1")), two = try XCTUnwrap(status.stdout.range(of: "vmedia 2"))
        XCTAssertLessThan(one.lowerBound, two.lowerBound, status.stdout)
        let json = try await testbed.lb("status", "w1", "--json")
        struct Status: Decodable { struct Slot: Decodable { let id: String }; let vmedia: [Slot] }
        XCTAssertEqual(try JSONDecoder().decode([Status].self, from: Data(json.stdout.utf8)).first?.vmedia.map(\.id), ["1", "2"])
    }

    /// The iDRAC mounts a second after its 204: the boot waits for the read-back, saying so; a mount slower than
    /// `timing.media-insert` fails naming the slot and the setting.
    func testSlowMountIsWaitedForWithinItsDeadline() async throws {
        try await testbed.start([("w1", SimulatorBehaviour.fast.with { $0.mountDelay = 1 }),
                                 ("w2", SimulatorBehaviour.fast.with { $0.mountDelay = 30 })])
        let slow = try await testbed.lb("liveboot", "w1", "-i", "u22")
        XCTAssertEqual(slow.status, 0, slow.all)
        XCTAssertTrue(slow.stdout.contains("slot 1: waiting for the BMC to mount the image (up to 10 s)"), slow.stdout)
        let tooSlow = try await testbed.lb("liveboot", "w2", "-i", "u22")
        XCTAssertEqual(tooSlow.status, 1, tooSlow.all)
        XCTAssertTrue(tooSlow.stderr.contains("w2: slot 1 should hold http://127.0.0.1:"), tooSlow.stderr)
        XCTAssertFalse(tooSlow.stderr.contains("w2: w2:"), tooSlow.stderr)
        XCTAssertTrue(tooSlow.stderr.contains("after InsertMedia (timing.media-insert)"), tooSlow.stderr)
        let state = try await testbed.state("w2")
        XCTAssertEqual(state.power, "On")
        XCTAssertEqual(state.boots.count, 1, "no power cycle after a failed insert")
    }

    /// The Lifecycle Controller collects the inventory after a power-on: `liveboot` waits for it instead of failing
    /// on the first RAC0508, and `diskboot` right after a boot does too.
    func testBusyLifecycleControllerIsWaitedFor() async throws {
        try await testbed.start([("w1", SimulatorBehaviour.fast.with { $0.lifecycleBusy = 1 })])
        let result = try await testbed.lb("liveboot", "w1", "-i", "u22")
        XCTAssertEqual(result.status, 0, result.all)
        XCTAssertTrue(result.stdout.contains("the BMC is not ready (Lifecycle Controller Reloading"), result.stdout)
        let disk = try await testbed.lb("diskboot", "w1")
        XCTAssertEqual(disk.status, 0, disk.all)
        XCTAssertTrue(disk.stdout.contains("the BMC is not ready"), disk.stdout)
        let state = try await testbed.state("w1")
        XCTAssertEqual(state.slots.values.compactMap { $0 }, [], "both slots ejected")
    }

    func testLivebootTwiceEjectsFirstAndWaitIsSeparate() async throws {
        try await testbed.start()
        let first = try await testbed.lb("liveboot", "w1", "-i", "u22")
        XCTAssertEqual(first.status, 0, first.all)
        XCTAssertTrue(first.stdout.contains("lb wait w1"), first.stdout)
        let second = try await testbed.lb("liveboot", "w1", "-i", "ubuntu-22.04-liveboot.iso")
        XCTAssertEqual(second.status, 0, second.all)
        XCTAssertTrue(second.stdout.contains("slot 1: ejecting"), second.stdout)
        let wait = try await testbed.lb("wait", "w1", "--timeout", "20")
        XCTAssertEqual(wait.status, 0, wait.all)
        let boots = try await testbed.state("w1").boots
        XCTAssertEqual(boots.suffix(2).map(\.mode), ["live", "live"])
        // For scripts: --json puts only the results on stdout (progress on stderr).
        let json = try await testbed.lb("liveboot", "w1", "-i", "u22", "--wait", "--json")
        XCTAssertEqual(json.status, 0, json.all)
        struct Result: Decodable { let image: String; let keys: Int; let sshAfterSeconds: Double? }
        let results = try JSONDecoder().decode([String: Result].self, from: Data(json.stdout.utf8))
        XCTAssertEqual(results["w1"]?.image, "ubuntu-22.04-liveboot.iso")
        XCTAssertNotNil(results["w1"]?.sshAfterSeconds)
        XCTAssertTrue(json.stderr.contains("slot 1: ejecting"), json.stderr)
    }

    func testLivebootOfAPoweredOffNodePowersItOn() async throws {
        try await testbed.start()
        _ = try await testbed.lb("off", "w2", "--force")
        let result = try await testbed.lb("liveboot", "w2", "-i", "u22", "--wait")
        XCTAssertEqual(result.status, 0, result.all)
        XCTAssertTrue(result.stdout.contains("power On"), result.stdout)
        let state = try await testbed.state("w2")
        XCTAssertEqual(state.power, "On")
        XCTAssertEqual(state.boots.last?.mode, "live")
    }

    func testSeveralNodesBootInParallelAndAFailureFailsTheCommand() async throws {
        try await testbed.start([("w1", .fast), ("w2", .fast), ("w3", SimulatorBehaviour.fast.with { $0.password = "nope" })])
        let result = try await testbed.lb("liveboot", "all", "-i", "u22", "--wait")
        XCTAssertEqual(result.status, 1, result.all)
        XCTAssertTrue(result.stderr.contains("w3: BMC"), result.stderr)
        for node in ["w1", "w2"] {
            let boot = try await testbed.state(node).boots.last
            XCTAssertEqual(boot?.mode, "live", node)
        }
    }

    func testWaitTimesOutClearly() async throws {
        try await testbed.start()
        _ = try await testbed.lb("off", "w1", "--force")
        let result = try await testbed.lb("wait", "w1", "--timeout", "1")
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("w1: ssh did not answer within 1 s"), result.stderr)
    }

    func testDiskbootEjectsAndBootsTheDisk() async throws {
        try await testbed.start()
        _ = try await testbed.lb("liveboot", "w1", "-i", "u22", "--wait")
        let result = try await testbed.lb("diskboot", "w1")
        XCTAssertEqual(result.status, 0, result.all)
        try await Task.sleep(for: .milliseconds(300))
        let state = try await testbed.state("w1")
        XCTAssertEqual(state.slots["1"], .some(nil))
        XCTAssertEqual(state.slots["2"], .some(nil))
        XCTAssertEqual(state.boots.last?.mode, "disk")
    }

    /// Firmware that ignores the standard Boot PATCH: the SCP import sets the boot-once instead.
    func testBootOnceFallsBackToSCPImport() async throws {
        try await testbed.start([("w1", SimulatorBehaviour.fast.with { $0.ignoreBootPatch = true })])
        let result = try await testbed.lb("liveboot", "w1", "-i", "u22", "--wait")
        XCTAssertEqual(result.status, 0, result.all)
        XCTAssertTrue(result.stdout.contains("SCP import ServerBoot.1#BootOnce"), result.stdout)
        let boot = try await testbed.state("w1").boots.last
        XCTAssertEqual(boot?.mode, "live")
    }

    /// A pending BIOS job blocks the SCP import (LC068): explained, and `queueclear` gets the boot through.
    func testPendingBiosJobMakesSCPImportFailWithLC068() async throws {
        try await testbed.start([("w1", SimulatorBehaviour.fast.with { $0.ignoreBootPatch = true })])
        let set = try await testbed.lb("biosset", "w1", "NumLock=Off")
        XCTAssertEqual(set.status, 0, set.all)
        let blocked = try await testbed.lb("liveboot", "w1", "-i", "u22")
        XCTAssertEqual(blocked.status, 1)
        XCTAssertTrue(blocked.stderr.contains("IDRAC.2.8.LC068"), blocked.stderr)
        XCTAssertTrue(blocked.stderr.contains("lb queueclear"), blocked.stderr)
        let clear = try await testbed.lb("queueclear", "w1")
        XCTAssertEqual(clear.status, 0, clear.all)
        let retry = try await testbed.lb("liveboot", "w1", "-i", "u22", "--wait")
        XCTAssertEqual(retry.status, 0, retry.all)
        let boots = try await testbed.state("w1").boots
        XCTAssertEqual(boots.last?.mode, "live")
    }

    /// iDRAC firmware before 6.00: the Manager's CD and RemovableDisk.
    func testLegacyFirmwareUsesManagerVirtualMedia() async throws {
        try await testbed.start([("w1", SimulatorBehaviour.fast.with { $0.legacyVirtualMedia = true })])
        let result = try await testbed.lb("liveboot", "w1", "-i", "u22", "--wait")
        XCTAssertEqual(result.status, 0, result.all)
        XCTAssertTrue(result.stdout.contains("slot CD ← "), result.stdout)
        XCTAssertTrue(result.stdout.contains("slot RemovableDisk ← "), result.stdout)
        let state = try await testbed.state("w1")
        XCTAssertEqual(state.boots.last?.mode, "live")
        let vmedia = try await testbed.lb("vmedia", "w1")
        XCTAssertTrue(vmedia.stdout.contains("w1: vmedia CD: http://"), vmedia.stdout)
    }

    /// iDRAC 10 / generic single-slot BMCs: the live image in the one slot, the seed over HTTP (NoCloud), served while
    /// the boot is awaited and withdrawn when its wait ends.
    func testSingleSlotBMCGetsItsSeedOverHTTP() async throws {
        try await testbed.startImageServer()
        let url = "http://127.0.0.1:\(testbed.imagesPort)/seed/w1/"
        try await testbed.simulator.addNode(name: "w1", behaviour: SimulatorBehaviour.fast.with {
            $0.singleSlot = true
            $0.noCloudURL = url
        })
        try await testbed.writeConfig()
        let result = try await testbed.lb("liveboot", "w1", "-i", "u22", "--key", testbed.slicePub)
        XCTAssertEqual(result.status, 0, result.all)
        XCTAssertTrue(result.stdout.contains("single virtual-media slot: seed served over HTTP at \(url)"), result.stdout)
        XCTAssertTrue(result.stdout.contains("ds=nocloud;s=\(url)"), result.stdout)

        // While the boot is awaited, its seed is served, and only the node's own files.
        let connection = try await RawHTTPConnection.connect(host: "127.0.0.1", port: testbed.imagesPort)
        let meta = try await connection.request("GET", "/seed/w1/meta-data")
        XCTAssertEqual(meta.status, 200)
        XCTAssertTrue(String(decoding: meta.body, as: UTF8.self).contains("instance-id: liveboot-w1-"))
        for path in ["/seed/w1/../../images/u22.iso", "/seed/..%2F..%2Fimages/user-data", "/seed/w2/user-data", "/seed/w1/passwd",
                     "/seed/.w1/user-data"] {
            let answer = try await connection.request("GET", path)
            XCTAssertEqual(answer.status, 404, path)
        }
        await connection.close()

        // The node read it over HTTP as it booted; once the wait ends, it is withdrawn and served no more (the library
        // checks a name at most once a second).
        let waited = try await testbed.lb("wait", "w1")
        XCTAssertEqual(waited.status, 0, waited.all)
        XCTAssertTrue(waited.stdout.contains("seed withdrawn (NoCloud files of w1 removed)"), waited.all)
        let state = try await testbed.state("w1")
        XCTAssertEqual(state.slots.count, 1)
        let boot = try XCTUnwrap(state.boots.last)
        XCTAssertEqual(boot.mode, "live")
        XCTAssertEqual(boot.seed, url)
        XCTAssertEqual(Set(boot.authorizedKeys), [testbed.testbedKey, testbed.sliceKey])
        try await eventually("the withdrawn seed is served no more", within: 5) {
            let again = try await RawHTTPConnection.connect(host: "127.0.0.1", port: testbed.imagesPort)
            defer { Task { await again.close() } }
            return try await again.request("GET", "/seed/w1/meta-data").status == 404
        }
    }

    // MARK: vmedia and cidata

    func testVmediaInsertAndEject() async throws {
        try await testbed.start()
        let insert = try await testbed.lb("vmedia", "w2", "--insert", "u22", "--slot", "2")
        XCTAssertEqual(insert.status, 0, insert.all)
        var state = try await testbed.state("w2")
        XCTAssertTrue(state.slots["2"]??.hasSuffix("ubuntu-22.04-liveboot.iso") == true, "\(state.slots)")
        let list = try await testbed.lb("vmedia", "w2", "--json")
        let slots = try JSONDecoder().decode([String: [SlotStatus]].self, from: Data(list.stdout.utf8))
        XCTAssertEqual(slots["w2"]?.map(\.id), ["1", "2"])
        XCTAssertNotNil(slots["w2"]?[1].image)
        let eject = try await testbed.lb("vmedia", "w2", "--eject")
        XCTAssertEqual(eject.status, 0, eject.all)
        state = try await testbed.state("w2")
        XCTAssertEqual(state.slots["2"], .some(nil))
        let bad = try await testbed.lb("vmedia", "w2", "--insert", "u22", "--slot", "7")
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("has no slot 7; slots: 1, 2"), bad.stderr)
    }

    func testCidataIsDeterministic() async throws {
        try await testbed.start()
        let a = testbed.directory.appendingPathComponent("a.iso").path
        let b = testbed.directory.appendingPathComponent("b.iso").path
        let first = try await testbed.lb("cidata", "w1", "--key", testbed.slicePub, "--boot-id", "b1", "-o", a)
        XCTAssertEqual(first.status, 0, first.all)
        _ = try await testbed.lb("cidata", "w1", "--key", testbed.slicePub, "--boot-id", "b1", "-o", b)
        XCTAssertEqual(FileManager.default.contents(atPath: a), FileManager.default.contents(atPath: b))
        let bad = try await testbed.lb("cidata", "w1", "--boot-id", "a/b", "-o", a)
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("boot id"), bad.stderr)
    }

    func testMalformedKeyFileIsRefusedBeforeBooting() async throws {
        try await testbed.start()
        let bad = testbed.directory.appendingPathComponent("bad.pub").path
        try "ssh-rsa AAAA-not-a-key alice\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let result = try await testbed.lb("liveboot", "w1", "-i", "u22", "--key", bad)
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("ssh key in \(bad) line 1: the key data is not valid base64"), result.stderr)
        let requests = try await testbed.state("w1").requests
        XCTAssertEqual(requests, 0)
    }

    // MARK: BIOS and jobs

    func testBiosGetSetApplyAtReboot() async throws {
        try await testbed.start()
        let get = try await testbed.lb("biosget", "w1", "profile|usb")
        XCTAssertEqual(get.status, 0, get.all)
        XCTAssertTrue(get.stdout.hasPrefix("BIOS settings captured on w1 at "), get.stdout)
        XCTAssertTrue(get.stdout.contains("with pattern=`profile|usb`"), get.stdout)
        XCTAssertTrue(get.stdout.contains("  SysProfile      PerfPerWattOptimizedDapc"), get.stdout)
        XCTAssertTrue(get.stdout.contains("  UsbPorts        AllOn"), get.stdout)
        XCTAssertFalse(get.stdout.contains("NumLock"), get.stdout)

        let set = try await testbed.lb("biosset", "w1", "sysprofile=perfoptimized", "AcPwrRcvryUserDelay=300")
        XCTAssertEqual(set.status, 0, set.all)
        XCTAssertTrue(set.stdout.contains("SysProfile=PerfOptimized AcPwrRcvryUserDelay=300 queued as job JID_"), set.stdout)
        XCTAssertTrue(set.stdout.contains("applies at next reboot"), set.stdout)
        var state = try await testbed.state("w1")
        XCTAssertEqual(state.pendingBios["SysProfile"], "PerfOptimized")
        XCTAssertEqual(state.bios["SysProfile"], "PerfPerWattOptimizedDapc")

        let pending = try await testbed.lb("biosget", "w1", "^sysprofile$")
        XCTAssertTrue(pending.stdout.contains("(pending: PerfOptimized)"), pending.stdout)
        let queue = try await testbed.lb("queueget", "w1", "--json")
        let jobs = try JSONDecoder().decode([NodeJobs].self, from: Data(queue.stdout.utf8))
        XCTAssertEqual(jobs.first?.jobs.map(\.state), ["Scheduled"])

        let reboot = try await testbed.lb("reboot", "w1")
        XCTAssertEqual(reboot.status, 0, reboot.all)
        state = try await testbed.state("w1")
        XCTAssertEqual(state.bios["SysProfile"], "PerfOptimized")
        XCTAssertEqual(state.bios["AcPwrRcvryUserDelay"], "300")
        let done = try await testbed.lb("queueget", "w1")
        XCTAssertTrue(done.stdout.contains("w1: no pending job"), done.stdout)
        let all = try await testbed.lb("queueget", "w1", "-a")
        XCTAssertTrue(all.stdout.contains("Completed"), all.stdout)
    }

    func testBiosSetValidatesAgainstTheRegistry() async throws {
        try await testbed.start()
        let cases: [(String, String)] = [
            ("ProcCStates=Disabled", "read-only"),
            ("SysProfile=Fast", "choose one of PerfPerWattOptimizedDapc, PerfPerWattOptimizedOs, PerfOptimized, Custom"),
            ("AcPwrRcvryUserDelay=9000", "above its maximum 600"),
            ("AcPwrRcvryUserDelay=soon", "takes an integer"),
            ("Profile=Custom", "unknown BIOS attribute Profile (did you mean SysProfile?)"),
            ("SysProfile", "is not NAME=VALUE"),
        ]
        for (assignment, message) in cases {
            let result = try await testbed.lb("biosset", "w1", assignment)
            XCTAssertEqual(result.status, 1, assignment)
            XCTAssertTrue(result.stderr.contains(message), "\(assignment): \(result.stderr)")
        }
        let state = try await testbed.state("w1")
        XCTAssertTrue(state.pendingBios.isEmpty, "an invalid biosset changed something: \(state.pendingBios)")
        XCTAssertTrue(state.jobs.isEmpty)
    }

    func testBiosResetAppliesAtReboot() async throws {
        try await testbed.start()
        _ = try await testbed.lb("biosset", "w1", "NumLock=Off")
        _ = try await testbed.lb("reboot", "w1", "--force")
        var numLock = try await testbed.state("w1").bios["NumLock"]
        XCTAssertEqual(numLock, "Off")
        let reset = try await testbed.lb("biosreset", "w1")
        XCTAssertEqual(reset.status, 0, reset.all)
        XCTAssertTrue(reset.stdout.contains("applies at next reboot"), reset.stdout)
        numLock = try await testbed.state("w1").bios["NumLock"]
        XCTAssertEqual(numLock, "Off")
        _ = try await testbed.lb("reboot", "w1", "--force")
        numLock = try await testbed.state("w1").bios["NumLock"]
        XCTAssertEqual(numLock, "On")
    }

    func testQueueClearOneJobAndLegacyPath() async throws {
        try await testbed.start([("w1", .fast), ("w2", SimulatorBehaviour.fast.with { $0.legacyJobServiceOnly = true })])
        for node in ["w1", "w2"] { _ = try await testbed.lb("biosset", node, "NumLock=Off") }
        let jobs = try await testbed.state("w1").jobs
        let jobID = try XCTUnwrap(jobs.keys.first)
        let bad = try await testbed.lb("queueclear", "w1", "-j", "JID_000000000001")
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("SUP011"), bad.stderr)
        let one = try await testbed.lb("queueclear", "w1", "-j", jobID)
        XCTAssertEqual(one.status, 0, one.all)
        XCTAssertTrue(one.stdout.contains("job \(jobID) deleted"), one.stdout)
        let w1 = try await testbed.state("w1")
        XCTAssertTrue(w1.jobs.isEmpty && w1.pendingBios.isEmpty)
        let legacy = try await testbed.lb("queueclear", "w2")
        XCTAssertEqual(legacy.status, 0, legacy.all)
        let w2 = try await testbed.state("w2")
        XCTAssertTrue(w2.jobs.isEmpty)
    }

    /// `lb status all | head -1`: the closed pipe ends the output, not the process with a crash.
    func testClosedStdoutIsNotACrash() async throws {
        try await testbed.start()
        let process = Process()
        process.executableURL = try CLI.binary
        process.arguments = ["status", "--config", testbed.configPath, "all"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try pipe.fileHandleForReading.close()
        try process.run()
        for _ in 0..<600 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        XCTAssertEqual(process.terminationReason, .exit, "killed by a signal")
        XCTAssertEqual(process.terminationStatus, 0)
    }

    // MARK: images, version, TLS

    func testImagesAndVersion() async throws {
        try await testbed.start()
        try "ubuntu-22.04-liveboot.iso: {os: ubuntu, version: \"22.04\", description: live-server, unattended}\n"
            .write(to: testbed.imagesFolder.appendingPathComponent("images.yaml"), atomically: true, encoding: .utf8)
        try Data("x".utf8).write(to: testbed.imagesFolder.appendingPathComponent("bad name.iso"))
        let images = try await testbed.lb("images", "--json", "--checksums")
        XCTAssertEqual(images.status, 0, images.all)
        let scan = try JSONDecoder().decode(CatalogScan.self, from: Data(images.stdout.utf8), strategy: .iso8601)
        let entries = scan.entries
        XCTAssertEqual(entries.map(\.name), ["ubuntu-22.04-liveboot.iso"])
        XCTAssertEqual(entries.first?.shortNames, ["u22"])
        XCTAssertEqual(entries.first?.size, 300 * 1024)
        XCTAssertEqual(entries.first?.os, "ubuntu")
        XCTAssertEqual(entries.first?.version, "22.04")
        XCTAssertEqual(scan.ignored.map(\.name), ["bad name.iso"])
        // The checksum is the file's, and it is recomputed when the file changes (size or mtime).
        let iso = testbed.imagesFolder.appendingPathComponent("ubuntu-22.04-liveboot.iso")
        let expected = SHA256.hash(data: try Data(contentsOf: iso)).map { String(format: "%02x", $0) }.joined()
        XCTAssertEqual(entries.first?.sha256, expected)
        XCTAssertTrue(FileManager.default.fileExists(atPath: testbed.imagesFolder.appendingPathComponent(".liveboot-checksums.json").path))
        try Data("changed".utf8).write(to: iso)
        let again = try await testbed.lb("images", "--json", "--checksums")
        let changed = try JSONDecoder().decode(CatalogScan.self, from: Data(again.stdout.utf8), strategy: .iso8601)
        XCTAssertEqual(changed.entries.first?.sha256, SHA256.hash(data: Data("changed".utf8)).map { String(format: "%02x", $0) }.joined())
        let text = try await testbed.lb("images")
        XCTAssertTrue(text.stdout.contains("ubuntu 22.04"), text.stdout)
        XCTAssertTrue(text.stdout.contains("ignored: bad name.iso — the name must match"), text.stdout)
        let version = try await CLI.run(["version"])
        XCTAssertTrue(version.stdout.hasPrefix("liveboot "), version.stdout)
    }

    /// The BMC over HTTPS with a self-signed certificate (verification off by default, as BMCs need).
    func testHTTPSWithSelfSignedCertificate() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else { throw XCTSkip("openssl not installed") }
        let cert = testbed.directory.appendingPathComponent("cert.pem").path
        let key = testbed.directory.appendingPathComponent("key.pem").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                             "-subj", "/CN=idrac-sim"]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try await testbed.startImageServer()
        try await testbed.simulator.addNode(name: "w1", behaviour: .fast, certificate: cert, key: key)
        try await testbed.writeConfig()
        let yaml = try String(contentsOfFile: testbed.configPath, encoding: .utf8)
        XCTAssertTrue(yaml.contains("drac: \"https://127.0.0.1:"), yaml)
        let result = try await testbed.lb("status", "w1")
        XCTAssertEqual(result.status, 0, result.all)
        XCTAssertTrue(result.stdout.contains("power         On"), result.stdout)
        // With the CA file configured, verification is on: this self-signed cert names no 127.0.0.1, so it fails.
        try (yaml.replacingOccurrences(of: "    drac-username: root\n",
                                       with: "    drac-username: root\n    drac-ca-file: \(cert)\n"))
            .write(toFile: testbed.configPath, atomically: true, encoding: .utf8)
        let verified = try await testbed.lb("status", "w1")
        XCTAssertEqual(verified.status, 1, verified.all)
        XCTAssertTrue(verified.stdout.contains("unreachable"), verified.stdout)
    }
}

extension JSONDecoder {
    func decode<T: Decodable>(_ type: T.Type, from data: Data, strategy: DateDecodingStrategy) throws -> T {
        dateDecodingStrategy = strategy
        return try decode(type, from: data)
    }
}
