import Foundation
import LivebootCore
import XCTest

/// `lb image patch-ubuntu` on a small but real Ubuntu-shaped ISO (22.04 live-server's boot menus, a kernel
/// placeholder, BIOS and EFI El Torito images), checked with xorriso: exact menu edits, every other file
/// byte-identical, boot catalogue preserved.
final class ImagePatchTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("patch-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    /// Ubuntu 22.04.3 live-server's /boot/grub/grub.cfg.
    static let grubCfg = """
        set timeout=30

        loadfont unicode

        set menu_color_normal=white/black
        set menu_color_highlight=black/light-gray

        menuentry "Try or Install Ubuntu Server" {
        \tset gfxpayload=keep
        \tlinux\t/casper/vmlinuz  ---
        \tinitrd\t/casper/initrd
        }
        menuentry "Ubuntu Server with the HWE kernel" {
        \tset gfxpayload=keep
        \tlinux\t/casper/hwe-vmlinuz  ---
        \tinitrd\t/casper/hwe-initrd
        }
        grub_platform
        if [ "$grub_platform" = "efi" ]; then
        menuentry 'Boot from next volume' {
        \texit 1
        }
        menuentry 'UEFI Firmware Settings' {
        \tfwsetup
        }
        else
        menuentry 'Test memory' {
        \tlinux16 /boot/memtest86+.bin
        }
        fi

        """

    static let loopbackCfg = """
        menuentry "Try or Install Ubuntu Server" {
        \tset gfxpayload=keep
        \tlinux\t/casper/vmlinuz  iso-scan/filename=${iso_path} ---
        \tinitrd\t/casper/initrd
        }

        """

    func write(_ path: String, _ data: Data, in root: URL) throws {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }

    func random(_ count: Int) -> Data { Data((0..<count).map { _ in UInt8.random(in: 0...255) }) }

    /// Builds the ISO with xorriso's mkisofs emulation, as Ubuntu's own build does (El Torito BIOS + EFI entries).
    func makeUbuntuISO(volumeID: String = "Ubuntu-Server 22.04.3 LTS amd64") async throws -> String {
        let tree = folder.appendingPathComponent("tree")
        try write("boot/grub/grub.cfg", Data(Self.grubCfg.utf8), in: tree)
        try write("boot/grub/loopback.cfg", Data(Self.loopbackCfg.utf8), in: tree)
        try write("boot/grub/i386-pc/eltorito.img", random(2048 * 4), in: tree)
        try write("boot/grub/efi.img", random(64 * 1024), in: tree)
        try write("casper/vmlinuz", random(300 * 1024), in: tree)
        try write("casper/hwe-vmlinuz", random(100 * 1024), in: tree)
        try write("casper/initrd", random(200 * 1024), in: tree)
        try write(".disk/info", Data("Ubuntu-Server 22.04.3 LTS \"Jammy Jellyfish\" - Release amd64 (20230810)".utf8), in: tree)
        let iso = folder.appendingPathComponent("ubuntu-22.04.3-live-server-amd64.iso").path
        try await xorriso(["-as", "mkisofs", "-V", volumeID, "-r", "-J",
                           "-b", "boot/grub/i386-pc/eltorito.img", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
                           "-eltorito-alt-boot", "-e", "boot/grub/efi.img", "-no-emul-boot",
                           "-o", iso, tree.path])
        return iso
    }

    @discardableResult
    func xorriso(_ arguments: [String]) async throws -> String {
        let result = try await Subprocess.run("/usr/bin/xorriso", arguments, timeout: .seconds(60))
        XCTAssertEqual(result.status, 0, result.stderr)
        return result.stdout + result.stderr
    }

    /// Every file of the image, by path.
    func files(of iso: String) async throws -> [String: Data] {
        let target = folder.appendingPathComponent("x-\(UUID().uuidString.prefix(6))")
        try await xorriso(["-osirrox", "on", "-indev", iso, "-extract", "/", target.path])
        var out: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(at: target, includingPropertiesForKeys: [.isRegularFileKey])!
        for case let url as URL in enumerator where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            out[String(url.path.dropFirst(target.path.count))] = try Data(contentsOf: url)
        }
        return out
    }

    /// The El Torito report without the lines that name the image file (its volume id changes on purpose).
    func bootCatalogue(_ iso: String) async throws -> [String] {
        try await xorriso(["-indev", iso, "-report_el_torito", "plain"]).split(separator: "\n")
            .filter { $0.hasPrefix("El Torito") || $0.hasPrefix("System area") || $0.hasPrefix("MBR") || $0.hasPrefix("GPT") }
            .map(String.init)
    }

    func testPatchedImageHasExactlyTheMenuEditsAndTheSameBootEquipment() async throws {
        let original = try await makeUbuntuISO()
        let out = folder.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let result = try await CLI.run(["image", "patch-ubuntu", original, "-d", out.path])
        XCTAssertEqual(result.status, 0, result.all)
        let patched = out.appendingPathComponent("ubuntu-22.04.3-liveboot.iso").path
        XCTAssertEqual(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines), patched)

        let before = try await files(of: original), after = try await files(of: patched)
        XCTAssertEqual(Set(before.keys), Set(after.keys), "the same files")
        for (path, data) in before where !path.hasSuffix(".cfg") {
            // Where the files now lie differs, so the block addresses inside the boot equipment do too: the BIOS
            // image's boot-info-table (bytes 8–63, written by -boot-info-table) and the catalogue's load RBAs.
            var (old, new) = (data, after[path] ?? Data())
            if path == "/boot/grub/i386-pc/eltorito.img" { old.resetBytes(in: 8..<64); new.resetBytes(in: 8..<64) }
            if path == "/boot.catalog" { for entry in [32, 96] { old.resetBytes(in: entry + 8..<entry + 12); new.resetBytes(in: entry + 8..<entry + 12) } }
            XCTAssertEqual(new, old, "\(path) changed")
        }
        let args = "autoinstall noprompt fsck.mode=skip quiet console=tty0 console=ttyS0,115200 console=ttyS1,115200"
        let expectedGrub = Self.grubCfg
            .replacingOccurrences(of: "set timeout=30", with: "set timeout=1")
            .replacingOccurrences(of: "\tlinux\t/casper/vmlinuz  ---", with: "\tlinux\t/casper/vmlinuz \(args)  --- cloud-init=enabled")
            .replacingOccurrences(of: "\tlinux\t/casper/hwe-vmlinuz  ---", with: "\tlinux\t/casper/hwe-vmlinuz \(args)  --- cloud-init=enabled")
        XCTAssertEqual(String(decoding: after["/boot/grub/grub.cfg"] ?? Data(), as: UTF8.self), expectedGrub)
        let expectedLoopback = Self.loopbackCfg.replacingOccurrences(
            of: "/casper/vmlinuz  iso-scan/filename=${iso_path} ---",
            with: "/casper/vmlinuz \(args)  iso-scan/filename=${iso_path} --- cloud-init=enabled")
        XCTAssertEqual(String(decoding: after["/boot/grub/loopback.cfg"] ?? Data(), as: UTF8.self), expectedLoopback)

        let catalogueBefore = try await bootCatalogue(original), catalogueAfter = try await bootCatalogue(patched)
        XCTAssertTrue(catalogueBefore.contains { $0.contains("El Torito boot img") && $0.contains("BIOS") }, "\(catalogueBefore)")
        XCTAssertTrue(catalogueBefore.contains { $0.contains("El Torito boot img") && $0.contains("UEFI") }, "\(catalogueBefore)")
        // Same entries (platform, bootable, emulation, load segment, system type, sectors, options, paths); only the
        // block addresses (the last column, and the catalogue's own) differ.
        func withoutAddresses(_ lines: [String]) -> [String] {
            lines.filter { !$0.hasPrefix("El Torito catalog ") }
                .map { $0.contains("boot img :") ? $0.split(separator: " ").dropLast().joined(separator: " ") : $0 }
        }
        XCTAssertEqual(withoutAddresses(catalogueAfter), withoutAddresses(catalogueBefore))
        let volume = try await xorriso(["-indev", patched, "-pvd_info"])
        XCTAssertTrue(volume.contains("Volume Id    : PatchedUbuntu-Server 22.04.3 LTS"), volume)

        // Twice is refused, and so is an existing output without --force.
        let again = try await CLI.run(["image", "patch-ubuntu", patched, "-o", folder.appendingPathComponent("twice.iso").path])
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.stderr.contains("this ISO is already patched"), again.stderr)
        let exists = try await CLI.run(["image", "patch-ubuntu", original, "-d", out.path])
        XCTAssertEqual(exists.status, 2)
        XCTAssertTrue(exists.stderr.contains("exists; remove it or pass --force"), exists.stderr)
    }

    func testKernelArgumentsAreConfigurable() async throws {
        let original = try await makeUbuntuISO()
        let target = folder.appendingPathComponent("no-autoinstall.iso").path
        let result = try await CLI.run(["image", "patch-ubuntu", original, "-o", target, "--kernel-args", "noprompt quiet", "--json"])
        XCTAssertEqual(result.status, 0, result.all)
        struct Report: Decodable { let kernelArguments: [String]; let menus: [String] }
        let report = try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
        XCTAssertEqual(report.kernelArguments, ["noprompt", "quiet"])
        XCTAssertEqual(report.menus, ["/boot/grub/grub.cfg", "/boot/grub/loopback.cfg"])
        let grub = String(decoding: try await files(of: target)["/boot/grub/grub.cfg"] ?? Data(), as: UTF8.self)
        XCTAssertFalse(grub.contains("autoinstall"), grub)
        XCTAssertTrue(grub.contains("/casper/vmlinuz noprompt quiet  --- cloud-init=enabled"), grub)
    }

    func testANonUbuntuImageIsRefusedAndNothingIsWritten() async throws {
        let tree = folder.appendingPathComponent("debian")
        try write("boot/grub/grub.cfg", Data("set timeout=5\n".utf8), in: tree)
        let iso = folder.appendingPathComponent("debian-12-live.iso").path
        try await xorriso(["-as", "mkisofs", "-V", "d-live 12.5.0 st amd64", "-r", "-o", iso, tree.path])
        let target = folder.appendingPathComponent("out.iso").path
        let result = try await CLI.run(["image", "patch-ubuntu", iso, "-o", target])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("is not an Ubuntu live-server ISO (volume id \"d-live 12.5.0 st amd64\""), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: target))
        XCTAssertFalse(FileManager.default.fileExists(atPath: target + ".partial"))
    }

    func testIsolinuxMenuOf2004() throws {
        let txt = """
            default live
            label live
              menu label ^Install Ubuntu Server
              kernel /casper/vmlinuz
              append   initrd=/casper/initrd quiet  ---
            """
        let patched = try UbuntuBootMenuEdits().isolinux(txt)
        XCTAssertTrue(patched.contains("  kernel /casper/vmlinuz\n"), patched)
        XCTAssertTrue(patched.contains("append   initrd=/casper/initrd quiet  autoinstall noprompt fsck.mode=skip quiet console=tty0 console=ttyS0,115200 console=ttyS1,115200 --- cloud-init=enabled"), patched)
        XCTAssertThrowsError(try UbuntuBootMenuEdits().isolinux(patched))
    }
}
