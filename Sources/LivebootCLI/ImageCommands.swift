import ArgumentParser
import Foundation
import LivebootCore

extension LivebootCommand {
    /// `lb image …`: producing the bootable images the catalogue lists.
    struct Image: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Produce live images: patch an Ubuntu live-server ISO, build Fedora/Rocky live ISOs.",
            subcommands: [PatchUbuntu.self, Build.self])
    }

    /// Where a produced image goes: `-d`, else the config's images folder, else the current folder.
    static func outputFolder(_ directory: String?, _ global: GlobalOptions) -> String {
        directory ?? (try? LivebootConfig.load(path: global.config).images.folder) ?? FileManager.default.currentDirectoryPath
    }

    struct PatchUbuntu: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "patch-ubuntu",
            abstract: "Make the liveboot variant of an Ubuntu live-server ISO (18.04 … 24.04), without unpacking it.",
            discussion: """
            Edits the boot menus only (/boot/grub/grub.cfg, and /boot/grub/loopback.cfg and /isolinux/txt.cfg when \
            present): `set timeout=1`, the kernel arguments after /vmlinuz, `cloud-init=enabled` after `---`. xorriso \
            copies every other file and replays the El Torito / EFI / MBR boot equipment unchanged.

            SAFETY: the default kernel arguments include `autoinstall`, which lets Ubuntu's installer (subiquity) run \
            without asking. liveboot's seeds never contain an `autoinstall:` section (the seed builder refuses one), \
            so the installer has nothing to do and the disk is not touched. But an image patched this way, booted \
            with a seed that does carry `autoinstall:`, installs Ubuntu onto the node's disk unattended. Leave \
            `autoinstall` out with --kernel-args if your images may meet other seeds.
            """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The original Ubuntu live-server ISO.") var original: String
        @Option(name: .shortAndLong, help: "Output file name (default: ubuntu-VERSION-liveboot.iso).") var output: String?
        @Option(name: .shortAndLong, help: "Output folder (default: the config's images folder, else the current folder).")
        var directory: String?
        @Option(name: .long, help: "Kernel arguments added after /vmlinuz (default: \"\(UbuntuBootMenuEdits.defaultKernelArguments.joined(separator: " "))\").")
        var kernelArgs: String?
        @Flag(name: .long, help: "Replace the output file if it exists.") var force = false
        @OptionGroup var json: JSONOption

        func run() throws {
            do {
                let folder = outputFolder(directory, global)
                let name = output ?? UbuntuISOPatcher.defaultOutputName(for: original)
                let target = name.contains("/") ? name : folder + "/" + name
                var edits = UbuntuBootMenuEdits()
                if let kernelArgs { edits.kernelArguments = kernelArgs.split(separator: " ").map(String.init) }
                let patcher = UbuntuISOPatcher(xorriso: try Xorriso(), edits: edits)
                let report = try patcher.patch(original, to: target, force: force) { if !json.json { Output.err($0) } }
                if json.json { return try Output.json(report) }
                Output.out(report.output)
            } catch { throw fail(error) }
        }
    }

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a live ISO: Debian (here, from Debian packages), Fedora or Rocky (on a Fedora/Rocky host).",
            discussion: """
            debian: debootstrap + live-boot + cloud-init + openssh-server, zstd squashfs, hybrid BIOS/UEFI ISO by \
            grub-mkrescue; writes debian-12-liveboot.iso and its short name debian12 (needs root, debootstrap, \
            squashfs-tools, grub-pc-bin, grub-efi-amd64-bin, mtools, xorriso). fedora/rocky: livecd-creator on the \
            kickstarts of deploy/images. See deploy/images/README.md.
            """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "debian, fedora or rocky.") var family: String
        @Argument(help: "Release number for fedora (37, 43) and rocky (9).") var version: String?
        @Option(name: .long, help: "Debian release (bookworm, trixie).") var release = "bookworm"
        @Option(name: .shortAndLong, help: "Output folder (default: the config's images folder).") var directory: String?
        @Option(name: .long, help: "Package mirror (default: the distribution's public mirrors).") var mirror: String?
        @Option(name: .long, help: "Folder of the recipes (default: /usr/share/liveboot/images, else deploy/images).")
        var recipes: String?

        func validate() throws {
            guard ["debian", "fedora", "rocky"].contains(family) else { throw ValidationError("family must be debian, fedora or rocky") }
            if family != "debian" && version == nil { throw ValidationError("\(family) needs a release number (e.g. 43, 9)") }
        }

        func run() throws {
            let script = family == "debian" ? "build-debian-live.sh" : "build-live.sh"
            let folder = recipes ?? ["/usr/share/liveboot/images", FileManager.default.currentDirectoryPath + "/deploy/images"]
                .first { FileManager.default.fileExists(atPath: $0 + "/" + script) } ?? "deploy/images"
            let path = folder + "/" + script
            guard FileManager.default.isExecutableFile(atPath: path) else { throw fail(LivebootError.badArgument("no \(path)")) }
            let output = outputFolder(directory, global)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = family == "debian" ? ["--release", release, output] : [family, version!, output]
            var environment = ProcessInfo.processInfo.environment
            if let mirror { environment["MIRROR"] = mirror }
            process.environment = environment
            // The script checks the host and says what is missing; its output goes straight to the terminal.
            try process.run()
            process.waitUntilExit()
            if process.terminationStatus != 0 { throw ExitCode(process.terminationStatus) }
        }
    }
}
