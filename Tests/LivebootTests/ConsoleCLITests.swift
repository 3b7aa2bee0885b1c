import Foundation
import IDRACSimulator
import XCTest

/// `lb console`, `lb status --bmc`'s serial readiness and a boot's console log, as an admin meets them: the real
/// binary against simulated iDRACs, the attached terminal driven through tmux.
final class ConsoleCLITests: XCTestCase {
    var testbed: Testbed!

    override func setUp() async throws {
        testbed = try Testbed()
        try await testbed.start([("w1", .fast)])
    }

    override func tearDown() async throws {
        await testbed.stop()
    }

    /// Each boot's console is recorded from its power cycle and kept with the boot. A BIOS that does not redirect its
    /// console shows only the kernel's own lines; `--setup` queues the redirection, and the next boot's log has the
    /// POST and the boot loader too.
    func testEachBootKeepsItsConsoleLogAndSetupMakesTheBIOSShowOnIt() async throws {
        let status = try await testbed.lb("status", "--bmc", "w1")
        XCTAssertTrue(status.stdout.contains("serial console will show little: BIOS SerialComm is OnNoConRedir, wants OnConRedir"), status.all)
        XCTAssertTrue(status.stdout.contains("BIOS RedirAfterBoot is Disabled, wants Enabled"), status.all)
        XCTAssertTrue(status.stdout.contains("`lb console --setup w1` queues the BIOS changes"), status.all)

        let boot = try await testbed.lb("liveboot", "w1", "--image", "ubuntu-22.04-liveboot.iso", "--key", testbed.slicePub, "--wait")
        XCTAssertEqual(boot.status, 0, boot.all)
        XCTAssertTrue(boot.stdout.contains("serial console recorded: "), boot.all)
        let first = try await testbed.lb("console", "w1", "--log", "--text")
        XCTAssertEqual(first.status, 0, first.all)
        XCTAssertTrue(first.stdout.contains("Command line: BOOT_IMAGE=/casper/vmlinuz boot=casper console=tty0"), first.stdout)
        XCTAssertTrue(first.stdout.contains("Cloud-init v. 24.1 finished"), first.stdout)
        XCTAssertFalse(first.stdout.contains("Dell PowerEdge R750"), "the BIOS does not redirect its console yet")
        XCTAssertFalse(first.stdout.contains("\u{1B}["), "--text strips escape sequences")

        let setup = try await testbed.lb("console", "--setup", "w1")
        XCTAssertEqual(setup.status, 0, setup.all)
        XCTAssertTrue(setup.stdout.contains("w1: SerialComm=OnConRedir RedirAfterBoot=Enabled queued"), setup.all)
        let pending = try await testbed.state("w1").pendingBios
        XCTAssertEqual(pending, ["SerialComm": "OnConRedir", "RedirAfterBoot": "Enabled"])

        // The next boot applies it: its log starts with the POST, ANSI kept for a terminal.
        let again = try await testbed.lb("liveboot", "w1", "--image", "ubuntu-22.04-liveboot.iso", "--key", testbed.slicePub, "--wait")
        XCTAssertEqual(again.status, 0, again.all)
        let second = try await testbed.lb("console", "w1", "--log")
        XCTAssertTrue(second.stdout.contains("\u{1B}[2J\u{1B}[1;1HDell PowerEdge R750"), second.stdout)
        XCTAssertTrue(second.stdout.contains("Booting from Virtual Optical Drive: ubuntu-22.04-liveboot.iso"), second.stdout)
        let ready = try await testbed.lb("status", "--bmc", "w1")
        XCTAssertTrue(ready.stdout.contains("serial console ready (console com2 over SSH, 127.0.0.1:"), ready.all)
        let nothing = try await testbed.lb("console", "--setup", "w1")
        XCTAssertTrue(nothing.stdout.contains("already redirects"), nothing.all)
    }

    /// `lb console NODE` in a real terminal: it says how to leave, shows what the node writes, sends what is typed
    /// (raw: Enter is a carriage return), and Ctrl-] leaves.
    func testConsoleAttachesTheTerminalUnderTmux() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") else {
            throw XCTSkip("tmux is not installed (deploy/test.sh installs it)")
        }
        let session = "lbconsole\(UInt32.random(in: 0...UInt32.max))"
        let command = try "\(CLI.binary.path) console --config \(testbed.configPath) w1"
        // Through a shell with the output sent away: the tmux server it starts would otherwise hold the pipes open.
        _ = try await Subprocess.run("/bin/sh", ["-c", "tmux new-session -d -s \(session) -x 120 -y 30 '\(command)' >/dev/null 2>&1"],
                                     environment: ProcessInfo.processInfo.environment, timeout: .seconds(10))
        do {
            try await drive(session)
        } catch {
            _ = try? await tmux("kill-session", "-t", session)
            throw error
        }
        _ = try? await tmux("kill-session", "-t", session)
    }

    func drive(_ session: String) async throws {

        try await eventually("the console says how to leave") { try await pane(session).contains("Ctrl-] leaves") }
        try await eventually("the iDRAC attaches") { try await testbed.state("w1").consoleAttached }
        let node = await testbed.simulator.node("w1")
        await node?.writeToSerialPort("Ubuntu 24.04 LTS w1 ttyS1")
        try await eventually("the node's output is on the terminal") { try await pane(session).contains("Ubuntu 24.04 LTS w1 ttyS1") }

        _ = try await tmux("send-keys", "-t", session, "root", "Enter")
        try await eventually("what was typed reaches the node") { try await testbed.state("w1").consoleTyped == "root\r" }
        try await eventually("the echo comes back") { try await pane(session).contains("root") }

        _ = try await tmux("send-keys", "-t", session, "C-]")
        try await eventually("Ctrl-] leaves and the BMC session closes") { try await !testbed.state("w1").consoleAttached }
    }

    // MARK: Helpers

    @discardableResult
    func tmux(_ arguments: String...) async throws -> CLIResult {
        try await Subprocess.run("/usr/bin/tmux", arguments, environment: ProcessInfo.processInfo.environment, timeout: .seconds(10))
    }

    func pane(_ session: String) async throws -> String {
        try await tmux("capture-pane", "-p", "-t", session).stdout
    }
}
