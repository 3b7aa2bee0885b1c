import BMCConsole
@testable import DellIDRAC
import Foundation
import IDRACSimulator
@testable import LivebootCore
@testable import Redfish
import XCTest

/// The serial console: the iDRAC's quirk on captured answers, the SSH session against the simulated iDRAC, and the
/// relay's viewers, keyboard and reconnection over real sockets.
final class SerialConsoleTests: XCTestCase {
    // MARK: Captured answers

    /// iDRAC 9 6.00.30.00 says its Manager's `SerialConsole` is disabled with no connect types, yet `console com2`
    /// over its SSH CLI is the console: the adapter reads the iDRAC's attributes instead.
    func testTheIDRACsConsoleIsItsSSHCLIThoughSerialConsoleSaysDisabled() async throws {
        let manager = try JSONDecoder().decode(Manager.self, from: Fixtures.dellResource("Managers/iDRAC.Embedded.1"))
        XCTAssertEqual(manager.serialConsole?.serviceEnabled, false)
        XCTAssertEqual(manager.serialConsole?.connectTypesSupported, [])
        XCTAssertTrue(manager.commandShell?.offersSSH ?? false)

        let bmc = CapturedBMC(fixture: Fixtures.dell)
        let client = bmc.client()
        let discovery = try await BMCConnector.discover(client)
        let access = try await IDRAC(client: client).serialConsole(discovery)
        XCTAssertEqual(access.port, 22)
        XCTAssertEqual(access.command, "console com2")
        XCTAssertEqual(access.bmcEscape, [0x1C], "SerialRedirection.1.QuitKey ^\\ is Ctrl-\\")
        XCTAssertEqual(access.settings.filter { !$0.isRight }, [], "the captured iDRAC redirects serial at 115200")
        XCTAssertTrue(bmc.sent("GET").contains { $0.path == "/redfish/v1/Managers/iDRAC.Embedded.1/Oem/Dell/DellAttributes/iDRAC.Embedded.1" })
    }

    /// The captured BIOS redirects its console (`OnConRedir`, `RedirAfterBoot` on, 115200): nothing to change. The
    /// same attributes as a factory BIOS has them are each named with what they need.
    func testBIOSSerialSettingsAreCheckedByName() throws {
        let bios = try JSONDecoder().decode(Bios.self, from: Fixtures.dellResource("Systems/System.Embedded.1/Bios"))
        let idrac = IDRAC(client: CapturedBMC(fixture: Fixtures.dell).client())
        XCTAssertEqual(idrac.serialBiosSettings(bios).filter { !$0.isRight }.map(\.name), [])

        let factory = try JSONDecoder().decode(Bios.self, from: Data("""
            {"@odata.id": "/redfish/v1/Systems/System.Embedded.1/Bios",
             "Attributes": {"SerialComm": "OnNoConRedir", "RedirAfterBoot": "Disabled", "FailSafeBaud": "115200"}}
            """.utf8))
        let wrong = idrac.serialBiosSettings(factory).filter { !$0.isRight }
        XCTAssertEqual(wrong.map(\.name), ["SerialComm", "RedirAfterBoot"])
        XCTAssertEqual(wrong.first?.problem.hasPrefix("BIOS SerialComm is OnNoConRedir, wants OnConRedir"), true)
    }

    /// The standard way reads `Manager.SerialConsole`: the iDRAC's, read without Dell's adapter, offers nothing
    /// (not supported, saying what it advertised); HPE iLO 7's offers SSH.
    func testTheStandardWayFollowsSerialConsole() async throws {
        let bmc = CapturedBMC(fixture: Fixtures.dell)
        let client = bmc.client()
        let discovery = try await BMCConnector.discover(client, vendor: .generic)
        do {
            _ = try await GenericBMC(client: client, vendor: .generic).serialConsole(discovery)
            XCTFail("a disabled SerialConsole was taken as usable")
        } catch RedfishError.notSupported(_, let what) {
            XCTAssertEqual(what, "a serial console over SSH (the manager's SerialConsole is disabled, no connect types)")
        }
        let ilo = try JSONDecoder().decode(Manager.self, from: Fixtures.data(
            "generic-hpe-ilo7-dl380a-gen12_hpe-ilo-redfish-emulator", "redfish/v1/Managers/1/index.json"))
        XCTAssertEqual(ilo.serialConsole?.connectTypesSupported, [.ssh, .ipmi, .oem])
        XCTAssertTrue(ilo.serialConsole?.offersSSH ?? false)
    }

    func testConsoleTextDropsEscapesAndKeepsLines() {
        let raw = Array("\u{1B}[2J\u{1B}[1;1HDell\r\n\u{1B}[1mF2\u{1B}[0m = Setup\r\n\u{1B}]0;title\u{07}login: ab\u{08}c".utf8)
        XCTAssertEqual(ConsoleText.plain(raw), "Dell\nF2 = Setup\nlogin: ac")
        var tail = ConsoleTail(capacity: 4)
        tail.append(Array("abc".utf8))
        tail.append(Array("defg".utf8))
        XCTAssertEqual(String(decoding: tail.bytes, as: UTF8.self), "defg")
        XCTAssertEqual(tail.total, 7)
        XCTAssertEqual(tail.dropped, 3)
    }

    // MARK: The simulated iDRAC over real SSH

    func target(_ state: SimulatorState, password: String = Testbed.password) throws -> ConsoleTarget {
        ConsoleTarget(host: "127.0.0.1", port: try XCTUnwrap(Int(state.idrac["SSH.1.Port"] ?? "")), username: "root",
                      password: password, command: "console com2")
    }

    func testTheSimulatedIDRACsConsoleOverSSH() async throws {
        let testbed = try Testbed()
        try await testbed.start([("w1", .fast)], serveImages: false)
        let state = try await testbed.state("w1")
        let session = try await ConsoleSession.open(try target(state))
        var output = session.output.makeAsyncIterator()
        // What the host writes before the iDRAC has attached the console is not on it (a serial line keeps nothing).
        try await eventually("the iDRAC attaches the console") { try await testbed.state("w1").consoleAttached }

        // The host writes to its serial port: the session shows it.
        try await onSimulator(testbed, "w1", "/sim/console/write?text=hello%20from%20ttyS1")
        try await expect(&output, toShow: "hello from ttyS1")
        // Typed bytes reach the host, echoed with a prompt after Enter.
        try await session.send(Array("root\r".utf8))
        try await expect(&output, toShow: "w1 login: ")
        let typed = try await testbed.state("w1").consoleTyped
        XCTAssertEqual(typed, "root\r")

        // One console session at a time, as on the iDRAC: a second is refused, saying so.
        let second = try await ConsoleSession.open(try target(state))
        var refused = ""
        for await bytes in second.output { refused += String(decoding: bytes, as: UTF8.self) }
        XCTAssertTrue(refused.contains("in use by another session"), refused)

        // Wrong credentials: said as such, no session.
        do {
            _ = try await ConsoleSession.open(try target(state, password: "wrong"))
            XCTFail("a wrong password opened a console")
        } catch let error as ConsoleError {
            XCTAssertEqual(error, .authenticationFailed("root@127.0.0.1:\(state.idrac["SSH.1.Port"]!) (console com2)"))
        }
        await session.close()
        await testbed.stop()
    }

    func testTheRelaySharesOneSessionKeepsOneKeyboardAndReconnects() async throws {
        let testbed = try Testbed()
        try await testbed.start([("w1", .fast)], serveImages: false)
        let liveboot = Liveboot(config: try LivebootConfig.load(path: testbed.configPath))
        let node = try XCTUnwrap(liveboot.nodes(["w1"]).first)
        let console = liveboot.serialConsole(node)

        let alice = await console.attach(ConsoleViewerRequest(name: "alice", wantsKeyboard: true))
        var aliceEvents = alice.events.makeAsyncIterator()
        try await expect(&aliceEvents, notice: "connected to the serial console of w1")
        let bob = await console.attach(ConsoleViewerRequest(name: "bob", wantsKeyboard: true))
        var bobEvents = bob.events.makeAsyncIterator()
        let bobKeyboard = try await next(&bobEvents) { if case .keyboard(let mine, let holder) = $0 { return (mine, holder) } else { return nil } }
        XCTAssertEqual(bobKeyboard.0, false, "alice has the keyboard")
        XCTAssertEqual(bobKeyboard.1, "alice")

        // Both see the node; only the keyboard's holder types.
        try await onSimulator(testbed, "w1", "/sim/console/write?text=kernel%20line")
        try await expect(&aliceEvents, toShow: "kernel line")
        try await expect(&bobEvents, toShow: "kernel line")
        await bob.type(Array("bob was here".utf8))
        await alice.type(Array("alice\r".utf8))
        try await expect(&bobEvents, toShow: "alice")
        let typedFirst = try await testbed.state("w1").consoleTyped
        XCTAssertEqual(typedFirst, "alice\r")
        let sessions = try await testbed.state("w1").consoleSessionsOpened
        XCTAssertEqual(sessions, 1, "two viewers, one BMC session")

        // The holder leaves: the keyboard passes to bob, who asked for it, and his keys now reach the node.
        await alice.leave()
        try await expect(&bobEvents, notice: "alice left: bob has the keyboard")
        let handedOver = try await next(&bobEvents) { if case .keyboard(let mine, let holder) = $0 { return (mine, holder) } else { return nil } }
        XCTAssertEqual(handedOver.0, true)
        XCTAssertEqual(handedOver.1, "bob")
        await bob.type(Array("bob\r".utf8))
        try await eventually("bob's keys reach the node") { try await testbed.state("w1").consoleTyped == "alice\rbob\r" }

        // The iDRAC drops the session: the relay says so and reconnects; output flows again.
        try await onSimulator(testbed, "w1", "/sim/console/drop")
        try await expect(&bobEvents, notice: "the BMC closed the console session of w1; reconnecting")
        try await expect(&bobEvents, notice: "reconnected to the serial console of w1")
        try await onSimulator(testbed, "w1", "/sim/console/write?text=after%20the%20drop")
        try await expect(&bobEvents, toShow: "after the drop")
        let reopened = try await testbed.state("w1").consoleSessionsOpened
        XCTAssertEqual(reopened, 2)

        // A new viewer gets the recent history first.
        let carol = await console.attach(ConsoleViewerRequest(name: "carol", wantsKeyboard: false))
        var carolEvents = carol.events.makeAsyncIterator()
        try await expect(&carolEvents, toShow: "kernel line")

        // Closed for everyone (a lease's end): each is told why, and the BMC session goes.
        await console.close(reason: "the lease of slice s1 ended")
        let ended = try await next(&bobEvents) { if case .ended(let why) = $0 { return why } else { return nil } }
        XCTAssertEqual(ended, "the lease of slice s1 ended")
        try await eventually("the BMC session closes") { try await !testbed.state("w1").consoleAttached }
        await testbed.stop()
    }

    /// Two processes (the portal and `lb console` on the gatekeeper) on one node: the iDRAC takes one `console com2`,
    /// so the second is refused; it retries ever more slowly, saying so, and gets the console once the first lets go.
    func testASecondProcessWaitsForTheConsoleWithAGrowingPause() async throws {
        let testbed = try Testbed()
        try await testbed.start([("w1", .fast)], serveImages: false)
        let config = try LivebootConfig.load(path: testbed.configPath)
        let portal = Liveboot(config: config)
        let gatekeeper = Liveboot(config: config)
        let holder = await portal.serialConsole(try XCTUnwrap(portal.nodes(["w1"]).first))
            .attach(ConsoleViewerRequest(name: "alice", wantsKeyboard: true))
        var holderEvents = holder.events.makeAsyncIterator()
        try await expect(&holderEvents, notice: "connected to the serial console of w1")

        let late = await gatekeeper.serialConsole(try XCTUnwrap(gatekeeper.nodes(["w1"]).first))
            .attach(ConsoleViewerRequest(name: "root", wantsKeyboard: true))
        var lateEvents = late.events.makeAsyncIterator()
        try await expect(&lateEvents, toShow: "in use by another session")
        try await expect(&lateEvents, notice: "the BMC closed the console session of w1; reconnecting in 1 s")
        try await expect(&lateEvents, notice: "the BMC closed the console session of w1; reconnecting in 2 s")

        await holder.leave()
        try await eventually("the portal's session closes") { try await !testbed.state("w1").consoleAttached }
        try await expect(&lateEvents, notice: "reconnected to the serial console of w1")
        try await eventually("the gatekeeper's session is attached") { try await testbed.state("w1").consoleAttached }
        await testbed.simulator.node("w1")?.writeToSerialPort("w1 login: ")
        try await expect(&lateEvents, toShow: "w1 login: ")
        await late.leave()
        await testbed.stop()
    }

    // MARK: Helpers

    func onSimulator(_ testbed: Testbed, _ node: String, _ path: String) async throws {
        let found = await testbed.simulator.node(node)
        let simulated = try XCTUnwrap(found)
        if path == "/sim/console/drop" {
            await simulated.dropConsoleAndSessions()
        } else {
            let text = try XCTUnwrap(URLComponents(string: path)?.queryItems?.first { $0.name == "text" }?.value)
            await simulated.writeToSerialPort(text)
        }
    }

    func expect(_ output: inout AsyncStream<[UInt8]>.Iterator, toShow text: String, file: StaticString = #filePath, line: UInt = #line) async throws {
        var seen = ""
        let deadline = ContinuousClock.now + .seconds(10)
        while !seen.contains(text), ContinuousClock.now < deadline {
            guard let bytes = await output.next() else { break }
            seen += String(decoding: bytes, as: UTF8.self)
        }
        XCTAssertTrue(seen.contains(text), "expected \(text.debugDescription) in \(seen.debugDescription)", file: file, line: line)
    }

    func expect(_ events: inout AsyncStream<ConsoleEvent>.Iterator, toShow text: String, file: StaticString = #filePath, line: UInt = #line) async throws {
        var seen = ""
        while !seen.contains(text) {
            guard let event = await events.next() else { break }
            if case .output(let bytes) = event { seen += String(decoding: bytes, as: UTF8.self) }
        }
        XCTAssertTrue(seen.contains(text), "expected \(text.debugDescription) in \(seen.debugDescription)", file: file, line: line)
    }

    func expect(_ events: inout AsyncStream<ConsoleEvent>.Iterator, notice text: String, file: StaticString = #filePath, line: UInt = #line) async throws {
        let notice = try await next(&events) { if case .notice(let said) = $0, said.hasPrefix(text) { return said } else { return nil } }
        XCTAssertTrue(notice.hasPrefix(text), file: file, line: line)
    }

    func next<T>(_ events: inout AsyncStream<ConsoleEvent>.Iterator, _ match: (ConsoleEvent) -> T?) async throws -> T {
        while let event = await events.next() {
            if let found = match(event) { return found }
        }
        XCTFail("the console's events ended before the expected one")
        throw EventsEnded()
    }

    struct EventsEnded: Error {}
}
