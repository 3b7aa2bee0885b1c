import Foundation

/// The boot-menu edits that make an Ubuntu live-server ISO boot unattended with cloud-init on (the original tool's
/// `patch-ubuntu`, as data). Pure text in, text out: tested without any ISO.
public struct UbuntuBootMenuEdits: Sendable, Equatable {
    /// `autoinstall` lets subiquity start without the "Continue with autoinstall?" prompt. Our seeds never hold an
    /// `autoinstall:` section (the seed builder refuses one), so nothing is installed; an image booted with a seed
    /// that *had* one would install unattended onto the disk. `noprompt`: no "remove the disc" prompt on reboot;
    /// `fsck.mode=skip`: saves a minute on 18.04; `quiet`. The consoles: the screen, and both COM ports at 115200 —
    /// which one the iDRAC's `console com2` reaches depends on the BIOS's `SerialPortAddress`, and the last
    /// `console=` is `/dev/console` (where systemd's and cloud-init's lines go), so either shows the boot.
    public static let defaultKernelArguments = ["autoinstall", "noprompt", "fsck.mode=skip", "quiet"] + serialConsoles

    /// The kernel's consoles every live image gets: the screen, COM1 and COM2.
    public static let serialConsoles = ["console=tty0", "console=ttyS0,115200", "console=ttyS1,115200"]

    public var kernelArguments: [String]
    public var timeoutSeconds = 1

    public init(kernelArguments: [String] = Self.defaultKernelArguments) {
        self.kernelArguments = kernelArguments
    }

    /// Marks a menu already patched (by us or the original tool): patching twice would stack the arguments.
    static let marker = "cloud-init=enabled"

    /// GRUB (`/boot/grub/grub.cfg`, `/boot/grub/loopback.cfg`): `set timeout=1`; on each `linux` line, the kernel
    /// arguments right after the kernel (`/casper/vmlinuz`, and `/casper/hwe-vmlinuz` too, which a plain
    /// "after /vmlinuz" substitution misses) and `cloud-init=enabled` after `---` (Ubuntu 18.04's cloud-init stays
    /// off without it; it must follow the `---` that separates the installer's arguments from the system's).
    public func grub(_ text: String) throws -> String {
        guard !text.contains(Self.marker) else { throw UbuntuPatchError.alreadyPatched }
        let arguments = kernelArguments.joined(separator: " ")
        let lines = text.components(separatedBy: "\n").map { line -> String in
            let edited = replacing(#"set timeout=[0-9]+"#, in: line, with: "set timeout=\(timeoutSeconds)")
            let words = edited.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let command = words.first, ["linux", "linuxefi"].contains(String(command)), words.count >= 2,
                  words[1].hasSuffix("vmlinuz"), let kernel = edited.range(of: String(words[1])) else { return edited }
            var out = edited
            if !arguments.isEmpty { out.insert(contentsOf: " " + arguments, at: kernel.upperBound) }
            if let dashes = out.range(of: " ---") { out.replaceSubrange(dashes, with: " --- \(Self.marker)") }
            return out
        }
        return lines.joined(separator: "\n")
    }

    /// ISOLINUX (`/isolinux/txt.cfg`, the BIOS menu of 18.04 and 20.04): arguments go on the `append` lines, before
    /// `---` (a `kernel` line takes a file name only); `timeout` is in tenths of a second there.
    public func isolinux(_ text: String) throws -> String {
        guard !text.contains(Self.marker) else { throw UbuntuPatchError.alreadyPatched }
        let arguments = kernelArguments.joined(separator: " ")
        let lines = text.components(separatedBy: "\n").map { line -> String in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.lowercased().hasPrefix("timeout ") { return replacing(#"[0-9]+"#, in: line, with: "\(timeoutSeconds * 10)") }
            guard trimmed.lowercased().hasPrefix("append"), line.contains(" ---") else { return line }
            let withMarker = line.replacingOccurrences(of: " ---", with: " --- \(Self.marker)")
            guard !arguments.isEmpty, let range = withMarker.range(of: " ---") else { return withMarker }
            return withMarker.replacingCharacters(in: range, with: " \(arguments) ---")
        }
        return lines.joined(separator: "\n")
    }

    private func replacing(_ pattern: String, in text: String, with replacement: String) -> String {
        text.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
    }
}

public enum UbuntuPatchError: Error, Equatable, CustomStringConvertible {
    case notUbuntu(path: String, volumeID: String, reason: String)
    case alreadyPatched
    case outputExists(String)
    case tool(command: String, status: Int32, output: String)
    case missingTool(String)

    public var description: String {
        switch self {
        case .notUbuntu(let path, let volumeID, let reason):
            "\(path) is not an Ubuntu live-server ISO (volume id \"\(volumeID)\"; \(reason))"
        case .alreadyPatched: "this ISO is already patched (its boot menu has cloud-init=enabled)"
        case .outputExists(let path): "\(path) exists; remove it or pass --force"
        case .tool(let command, let status, let output): "\(command) failed (exit \(status)): \(output)"
        case .missingTool(let name): "\(name) is not installed (apt-get install \(name))"
        }
    }
}

/// Reads and rewrites ISO images with xorriso, without unpacking them.
public struct Xorriso: Sendable {
    public let executable: String

    public init(executable: String? = nil) throws {
        let candidates = executable.map { [$0] } ?? ["/usr/bin/xorriso", "/usr/local/bin/xorriso"]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw UbuntuPatchError.missingTool("xorriso")
        }
        self.executable = found
    }

    /// Runs xorriso; its messages go to stderr, which is returned with stdout for errors.
    @discardableResult
    public func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes to their end before waiting: a chatty xorriso would otherwise block on a full pipe.
        let errorData = Locked(Data())
        let reading = DispatchGroup()
        DispatchQueue.global().async(group: reading) { errorData.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() } }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        reading.wait()
        let stderr = String(decoding: errorData.withLock { $0 }, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            let lines = stderr.split(separator: "\n").filter { $0.contains("FAILURE") || $0.contains("SORRY") || $0.contains("FATAL") }
            throw UbuntuPatchError.tool(command: "xorriso \(arguments.prefix(3).joined(separator: " "))",
                                        status: process.terminationStatus,
                                        output: (lines.isEmpty ? stderr.split(separator: "\n").suffix(3) : lines.prefix(3)).joined(separator: "; "))
        }
        return String(decoding: output, as: UTF8.self) + stderr
    }

    /// The primary volume descriptor's Volume Id.
    public func volumeID(of iso: String) throws -> String {
        let text = try run(["-indev", iso, "-pvd_info"])
        for line in text.split(separator: "\n") where line.hasPrefix("Volume Id") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return ""
    }

    /// Whether `path` exists in the image.
    public func exists(_ path: String, in iso: String) -> Bool {
        (try? run(["-indev", iso, "-find", path, "-maxdepth", "0"]))?.contains("'\(path)'") ?? false
    }

    /// One file's bytes.
    public func read(_ path: String, from iso: String, scratch: URL) throws -> String {
        let target = scratch.appendingPathComponent(UUID().uuidString)
        try run(["-osirrox", "on", "-indev", iso, "-extract", path, target.path])
        defer { try? FileManager.default.removeItem(at: target) }
        return try String(contentsOf: target, encoding: .utf8)
    }
}

/// `lb image patch-ubuntu`: the liveboot variant of an Ubuntu live-server ISO. Only the boot menus change; xorriso
/// copies every other file and replays the El Torito / EFI / MBR boot equipment as it was.
public struct UbuntuISOPatcher: Sendable {
    public let xorriso: Xorriso
    public var edits: UbuntuBootMenuEdits
    /// Prepended to the volume id, as the original tool did (ISO 9660 allows 32 characters).
    public var volumePrefix = "Patched"

    /// Boot menus, by the Ubuntu releases that have them: GRUB everywhere, ISOLINUX for 18.04/20.04 BIOS boot.
    static let grubMenus = ["/boot/grub/grub.cfg", "/boot/grub/loopback.cfg"]
    static let isolinuxMenus = ["/isolinux/txt.cfg"]

    public init(xorriso: Xorriso, edits: UbuntuBootMenuEdits = UbuntuBootMenuEdits()) {
        self.xorriso = xorriso
        self.edits = edits
    }

    public struct Report: Codable, Sendable {
        public let original: String
        public let output: String
        public let volumeID: String
        public let menus: [String]
        public let kernelArguments: [String]
    }

    /// `ubuntu-22.04.3-live-server-amd64.iso` → `ubuntu-22.04.3-liveboot.iso`, as the original tool named them.
    public static func defaultOutputName(for original: String) -> String {
        let parts = URL(fileURLWithPath: original).lastPathComponent.split(separator: "-")
        guard parts.count >= 2 else { return URL(fileURLWithPath: original).deletingPathExtension().lastPathComponent + "-liveboot.iso" }
        return "\(parts[0])-\(parts[1].replacingOccurrences(of: ".iso", with: ""))-liveboot.iso"
    }

    public func patch(_ original: String, to output: String, force: Bool = false,
                      progress: (String) -> Void = { _ in }) throws -> Report {
        guard FileManager.default.fileExists(atPath: original) else { throw LivebootError.badArgument("no file \(original)") }
        if FileManager.default.fileExists(atPath: output) && !force { throw UbuntuPatchError.outputExists(output) }

        let volumeID = try xorriso.volumeID(of: original)
        // An image we patched before keeps "Ubuntu" after our prefix: it gets the clearer "already patched" below.
        guard volumeID.lowercased().hasPrefix("ubuntu") || volumeID.lowercased().hasPrefix(volumePrefix.lowercased() + "ubuntu") else {
            throw UbuntuPatchError.notUbuntu(path: original, volumeID: volumeID, reason: "the volume id does not start with Ubuntu")
        }
        guard xorriso.exists("/casper", in: original), xorriso.exists(Self.grubMenus[0], in: original) else {
            throw UbuntuPatchError.notUbuntu(path: original, volumeID: volumeID, reason: "no /casper or no /boot/grub/grub.cfg")
        }

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("liveboot-patch-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }

        var maps: [String] = []
        var menus: [String] = []
        for menu in Self.grubMenus + Self.isolinuxMenus where xorriso.exists(menu, in: original) {
            let text = try xorriso.read(menu, from: original, scratch: scratch)
            let patched = Self.isolinuxMenus.contains(menu) ? try edits.isolinux(text) : try edits.grub(text)
            let file = scratch.appendingPathComponent(menu.replacingOccurrences(of: "/", with: "_"))
            try patched.write(to: file, atomically: true, encoding: .utf8)
            maps += ["-map", file.path, menu]
            menus.append(menu)
            progress("\(menu): patched")
        }
        let newVolumeID = String((volumePrefix + volumeID).prefix(32))
        // Written beside the output, then renamed: a failed run leaves no half-written image under the real name.
        let partial = output + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        progress("writing \(output) (volume id \"\(newVolumeID)\")")
        do {
            try xorriso.run(["-indev", original, "-outdev", partial] + maps
                + ["-volid", newVolumeID, "-boot_image", "any", "replay", "-commit"])
            if FileManager.default.fileExists(atPath: output) { try FileManager.default.removeItem(atPath: output) }
            try FileManager.default.moveItem(atPath: partial, toPath: output)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
        return Report(original: original, output: output, volumeID: newVolumeID, menus: menus, kernelArguments: edits.kernelArguments)
    }
}
