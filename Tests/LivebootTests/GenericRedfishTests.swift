import Foundation
import LivebootCore
import XCTest

/// The `liveboot` binary against OpenStack's sushy-tools emulator (fake driver): a generic, non-Dell Redfish
/// service with a Cd and a Floppy slot, no session service, no BIOS and no job queue.
final class GenericRedfishTests: XCTestCase {
    var testbed: Testbed!
    var sushy: SushyEmulator!

    override func setUp() async throws {
        sushy = try await SushyEmulator()
        testbed = try Testbed()
        try await testbed.startImageServer()
        try """
        nodes:
          vm1: {hostname: "127.0.0.1:1", drac: "\(sushy.baseURL)", drac-username: admin, drac-password: password}
        images: {proto: http, ip: 127.0.0.1, port: \(testbed.imagesPort), path: images, absolute-path: \(testbed.imagesFolder.path)}
        authorized-keys-file: \(testbed.directory.appendingPathComponent("testbed-keys").path)
        timing: {poll-interval: 0.5, graceful-shutdown: 20, power-change: 30, probe: 1, ssh-wait: 2}
        \(testbed.portalYAML)
        """.write(toFile: testbed.configPath, atomically: true, encoding: .utf8)
    }

    override func tearDown() async throws {
        await sushy?.stop()
        await testbed?.stop()
    }

    func testStatusNamesTheBMCAndItsSlots() async throws {
        let result = try await testbed.lb("status", "vm1", "--bmc")
        XCTAssertEqual(result.status, 0, result.all)
        XCTAssertTrue(result.stdout.contains("Sushy Emulator"), result.stdout)
        XCTAssertTrue(result.stdout.contains("power         On"), result.stdout)
        XCTAssertTrue(result.stdout.contains("vmedia Cd"), result.stdout)
        XCTAssertTrue(result.stdout.contains("vmedia Floppy"), result.stdout)
        XCTAssertTrue(result.stdout.contains("(this BMC has no BIOS resource)"), result.stdout)
    }

    func testLivebootPutsTheSeedOnTheFloppyAndBootsTheCD() async throws {
        let result = try await testbed.lb("liveboot", "vm1", "-i", "u22", "--key", testbed.slicePub)
        XCTAssertEqual(result.status, 0, result.all)
        XCTAssertTrue(result.stdout.contains("as a floppy image"), result.stdout)
        let slots = try await sushy.slots()
        let cd = try XCTUnwrap(slots["Cd"])
        XCTAssertTrue(cd.hasPrefix("http://127.0.0.1:\(testbed.imagesPort)/boot/liveboot-vm1-") && cd.hasSuffix("/ubuntu-22.04-liveboot.iso"), cd)
        let floppy = try XCTUnwrap(slots["Floppy"])
        XCTAssertTrue(floppy.contains("/seeds/cidata-") && floppy.hasSuffix("-floppy.iso"), floppy)
        // The image the emulator fetched is our seed, padded to a 1.44 MB floppy, still labelled cidata.
        let name = String(floppy.split(separator: "/").last!)
        let published = testbed.imagesFolder.appendingPathComponent("seeds/\(name)")
        let bytes = try Data(contentsOf: published)
        XCTAssertEqual(bytes.count, 1_474_560)
        XCTAssertEqual(String(decoding: bytes[(16 * 2048 + 40)..<(16 * 2048 + 46)], as: UTF8.self), "cidata")
        let boot = try await sushy.boot()
        XCTAssertEqual(boot["BootSourceOverrideTarget"] as? String, "Cd")
        // ForceRestart: the fake driver applies it within 11 s.
        var power: String?
        for _ in 0..<60 {
            power = try await sushy.power()
            if power == "On" { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        XCTAssertEqual(power, "On")
    }

    func testDiskbootEjectsAndSetsTheDisk() async throws {
        _ = try await testbed.lb("liveboot", "vm1", "-i", "u22")
        let result = try await testbed.lb("diskboot", "vm1")
        XCTAssertEqual(result.status, 0, result.all)
        let slots = try await sushy.slots()
        XCTAssertEqual(slots["Cd"], "")
        XCTAssertEqual(slots["Floppy"], "")
        let boot = try await sushy.boot()
        XCTAssertEqual(boot["BootSourceOverrideTarget"] as? String, "Hdd")
    }

    func testPowerOffOnAndReboot() async throws {
        let off = try await testbed.lb("off", "vm1", "--force")
        XCTAssertEqual(off.status, 0, off.all)
        var power = try await sushy.power()
        XCTAssertEqual(power, "Off")
        let on = try await testbed.lb("on", "vm1")
        XCTAssertEqual(on.status, 0, on.all)
        power = try await sushy.power()
        XCTAssertEqual(power, "On")
        let reboot = try await testbed.lb("reboot", "vm1", "--force")
        XCTAssertEqual(reboot.status, 0, reboot.all)
        XCTAssertTrue(reboot.stdout.contains("forced Off, then powered On"), reboot.stdout)
        power = try await sushy.power()
        XCTAssertEqual(power, "On")
    }

    func testDellOnlyCommandsSaySoCleanly() async throws {
        let queue = try await testbed.lb("queueget", "vm1")
        XCTAssertEqual(queue.status, 1)
        XCTAssertTrue(queue.stderr.contains("does not support a job queue (a Dell iDRAC feature)"), queue.stderr)
        let bios = try await testbed.lb("biosget", "vm1", "boot")
        XCTAssertEqual(bios.status, 1)
        XCTAssertTrue(bios.stderr.contains("does not support BIOS settings"), bios.stderr)
    }
}
