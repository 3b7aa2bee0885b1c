import Foundation
import XCTest

/// The Fedora/Rocky recipes of deploy/images, rendered by their build script and checked by pykickstart's
/// `ksvalidator` (the parser livecd-creator itself uses) and `ksflatten`.
final class KickstartTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("ks-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    var script: String { Fixtures.packageRoot.appendingPathComponent("deploy/images/build-live.sh").path }

    func tool(_ name: String, _ arguments: [String], in directory: String) async throws -> CLIResult {
        try await Subprocess.run("/usr/bin/env", [name] + arguments, currentDirectory: directory, timeout: .seconds(60))
    }

    func testEveryRecipeValidatesAndKeepsTheLivebootRules() async throws {
        for (family, version, syntax) in [("fedora", "37", "F37"), ("fedora", "43", "F43"), ("rocky", "9", "RHEL9")] {
            let dir = folder.appendingPathComponent("\(family)\(version)").path
            let render = try await Subprocess.run(script, ["--render", family, version, dir],
                                                  environment: ["MIRROR": "http://mirror.example.lan/\(family)/", "PATH": "/usr/bin:/bin"],
                                                  timeout: .seconds(30))
            XCTAssertEqual(render.status, 0, render.all)
            let kickstart = "\(family)-\(version).ks"
            let validation = try await tool("ksvalidator", ["-e", "-v", syntax, kickstart], in: dir)
            XCTAssertEqual(validation.status, 0, "\(kickstart): \(validation.all)")
            let flatten = try await tool("ksflatten", ["-v", syntax, "-c", kickstart, "-o", "flat.ks"], in: dir)
            XCTAssertEqual(flatten.status, 0, flatten.all)
            let flat = try String(contentsOfFile: dir + "/flat.ks", encoding: .utf8)
            XCTAssertTrue(flat.contains("rootpw --lock"), "\(kickstart): root must be locked")
            XCTAssertTrue(flat.range(of: #"services --disabled="ModemManager" --enabled="sshd,cloud-init-local,cloud-init,cloud-config,cloud-final"#,
                                     options: .regularExpression) != nil, "\(kickstart): \(flat)")
            XCTAssertTrue(flat.contains("repo --name=\"") && flat.contains("http://mirror.example.lan/\(family)/"), "\(kickstart): the mirror is used")
            XCTAssertFalse(flat.contains("@MIRROR@"), kickstart)
            XCTAssertTrue(flat.contains("\ncloud-init\n") && flat.contains("\nopenssh-server\n"), kickstart)
            // The serial console shows the boot whichever COM port the iDRAC reaches (SerialPortAddress).
            XCTAssertTrue(flat.contains("console=tty0 console=ttyS0,115200 console=ttyS1,115200"), "\(kickstart): the kernel's consoles")
            XCTAssertTrue(flat.contains("-@base-x") && flat.contains("-ModemManager"), "\(kickstart): no X, no ModemManager")
        }
    }

    func testTheValidatorCatchesABrokenRecipe() async throws {
        let dir = folder.path
        try "%include liveboot-common.ks\nservices --enabeld=sshd\n".write(toFile: dir + "/broken.ks", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: Fixtures.packageRoot.appendingPathComponent("deploy/images/liveboot-common.ks").path,
                                         toPath: dir + "/liveboot-common.ks")
        let validation = try await tool("ksvalidator", ["-e", "-v", "F43", "broken.ks"], in: dir)
        XCTAssertNotEqual(validation.status, 0, validation.all)
        let unknown = try await Subprocess.run(script, ["--render", "fedora", "12", dir], timeout: .seconds(30))
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("no recipe"), unknown.stderr)
    }
}
