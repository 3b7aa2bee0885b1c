import ArgumentParser
import Foundation
import LivebootCore
import PortalStore
import Seed

extension LivebootCommand {
    struct LiveBoot: NodeCommand, NodeTargeted {
        static let configuration = CommandConfiguration(
            commandName: "liveboot",
            abstract: "Boot nodes into a live image with a cloud-init seed holding the ssh keys.",
            discussion: """
            The image is a short name (u22), a file name, or a path inside the images folder. Its URL must answer \
            HEAD with Accept-Ranges: bytes (run `liveboot serve`); this is checked before any node is touched.
            """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: NodeArguments
        @Option(name: .shortAndLong, help: "Image to boot (see `lb images`).")
        var image: String
        @Option(name: .shortAndLong, help: "A public key file to add for this boot (repeatable).")
        var key: [String] = []
        @Flag(name: .shortAndLong, help: "Wait until the live session has reported itself and its ssh answers.")
        var wait = false
        @Option(name: .long, help: "Seconds to wait for the live session (with --wait).")
        var timeout: Int?
        @OptionGroup var output: JSONOption

        func run(_ liveboot: Liveboot, on nodes: [Node]) async throws {
            let image: ResolvedImage
            let keys: [SSHPublicKey]
            do {
                keys = try key.flatMap { try LivebootConfig.loadKeys($0) }
                image = try await liveboot.prepareImage(self.image)
                // Where the live session will report, and where the report is read: both before any node is touched.
                _ = try liveboot.config.phoneHomeURL()
                _ = try liveboot.bootRegistry()
            } catch {
                throw fail(error)
            }
            // With --json, progress goes to stderr and stdout holds only the results (node → seed, keys, ssh delay).
            let printer = ProgressPrinter(nodes: nodes, toStderr: output.json)
            let (wait, timeout) = (self.wait, self.timeout)
            let results = try await perform(liveboot, nodes, parallel: global.parallel, printer: printer) { _ in
                var request = OperationRequest(.liveboot, image: image, keys: keys)
                request.wait = wait
                request.waitTimeout = timeout.map { .seconds($0) }
                return request
            }
            if output.json {
                try Output.json(Dictionary(uniqueKeysWithValues: results.compactMap { node, outcome in outcome.live.map { (node.name, $0) } }))
            }
        }
    }

    struct Wait: NodeCommand, NodeTargeted {
        static let configuration = CommandConfiguration(
            abstract: "Wait until the nodes' live session is up (its report, then ssh); ssh alone for a node not live-booted.",
            discussion: "The live session of the node's latest live boot must report itself (cloud-init's phone_home, received by `liveboot serve`) and answer ssh; ssh without a report is a failure: the node booted something else, its disk most likely. The seed is withdrawn once the wait ends.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: NodeArguments
        @Option(name: .long, help: "Seconds to wait (default: timing.ssh-wait, 600).")
        var timeout: Int?
        @OptionGroup var output: JSONOption

        func run(_ liveboot: Liveboot, on nodes: [Node]) async throws {
            let printer = ProgressPrinter(nodes: nodes, toStderr: output.json)
            let timeout = self.timeout
            let results = try await runOnNodes(liveboot, nodes, parallel: global.parallel) { node in
                let handler = printer.handler(for: node)
                let result = try await liveboot.waitForNode(node, timeout: timeout.map { .seconds($0) }, progress: handler)
                handler(.ready(sshCommand: node.sshCommand, hostKeys: result?.hostKeys ?? []))
                return result
            }
            if output.json {
                struct Answer: Encodable { let sshCommand: String; let live: LivebootResult? }
                try Output.json(Dictionary(uniqueKeysWithValues: results.map { ($0.0.name, Answer(sshCommand: $0.0.sshCommand, live: $0.1)) }))
            }
        }
    }

    struct KnownHosts: NodeCommand, NodeTargeted {
        static let configuration = CommandConfiguration(
            commandName: "known-hosts",
            abstract: "Print the known_hosts lines of the nodes' live sessions, as they reported their host keys.",
            discussion: "Append them to ~/.ssh/known_hosts, or use `lb ssh NODE`: the first connection then trusts nothing on first use.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: NodeArguments

        func run(_ liveboot: Liveboot, on nodes: [Node]) async throws {
            let results = try await runOnNodes(liveboot, nodes, parallel: global.parallel) { node in
                try await liveboot.liveSessionHostKeys(node)
            }
            for (node, keys) in results {
                for key in keys { Output.out(key.knownHostsLine(host: node.host, port: node.sshPort)) }
            }
        }
    }

    struct Screenshot: NodeCommand, NodeTargeted {
        static let configuration = CommandConfiguration(
            abstract: "Save a PNG of the nodes' screens, as their BMCs see them (Dell iDRAC 9 ≥ 4.00).",
            discussion: "A node that is off (no video signal) has none, and says so. Other BMCs have no screenshot in Redfish: \"not supported\". A failed live boot takes one by itself: the CLI saves it and says where, the portal shows it on the operation.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: NodeArguments
        @Option(name: [.short, .customLong("output")],
                help: "The PNG file (one node), or the folder for NODE-TIME.png files (several). Default: NODE-TIME.png here.")
        var output: String?
        @OptionGroup var format: JSONOption

        func run(_ liveboot: Liveboot, on nodes: [Node]) async throws {
            let output = self.output
            let results = try await runOnNodes(liveboot, nodes, parallel: global.parallel) { node in
                switch try await liveboot.screenshot(node) {
                case .png(let png):
                    let file = try ScreenshotFile.write(png, node: node.name, to: output, single: nodes.count == 1)
                    return ScreenshotAnswer(file: file, bytes: png.count, noVideo: nil)
                case .noVideo(let said):
                    return ScreenshotAnswer(file: nil, bytes: nil, noVideo: said)
                }
            }
            if format.json {
                try Output.json(Dictionary(uniqueKeysWithValues: results.map { ($0.0.name, $0.1) }))
                return
            }
            for (node, answer) in results {
                if let file = answer.file {
                    Output.out("\(node.name): \(file) (\(answer.bytes ?? 0) bytes)")
                } else {
                    Output.out("\(node.name): no screenshot: the BMC sees no video signal (\(answer.noVideo ?? "")); is the node on?")
                }
            }
        }
    }

    struct SSH: NodeCommand {
        static let configuration = CommandConfiguration(
            commandName: "ssh", abstract: "ssh to a node's live session as root, checking its host key against its report.",
            discussion: "Runs ssh with StrictHostKeyChecking=yes and a known_hosts file holding only the keys the live session reported: a node that booted something else is refused, never trusted on first use. Arguments after `--` go to ssh.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The node.") var node: String
        @Argument(parsing: .postTerminator, help: "ssh arguments (a command, -L …).") var sshArguments: [String] = []
        var nodeSelection: [String] { [node] }

        func run(_ liveboot: Liveboot, on nodes: [Node]) async throws {
            guard let node = nodes.first, nodes.count == 1 else { throw fail(LivebootError.badArgument("lb ssh takes one node")) }
            let keys: [HostKey]
            do { keys = try await liveboot.liveSessionHostKeys(node) } catch { throw fail(error) }
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("liveboot-known-hosts-\(node.name)-\(getpid())")
            try keys.map { $0.knownHostsLine(host: node.host, port: node.sshPort) }.joined(separator: "\n").appending("\n")
                .write(to: file, atomically: true, encoding: .utf8)
            let arguments = ["ssh", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(file.path)",
                             "-o", "GlobalKnownHostsFile=/dev/null", "-p", String(node.sshPort), "root@\(node.host)"] + sshArguments
            // exec: the terminal is ssh's from here (the file stays, in the temporary folder, holding public keys only).
            let argv = arguments.map { strdup($0) } + [nil]
            execvp("ssh", argv)
            throw fail(LivebootError.badArgument("cannot run ssh: \(String(cString: strerror(errno))) (apt-get install openssh-client)"))
        }
    }

    struct DiskBoot: NodeCommand, NodeTargeted {
        static let configuration = CommandConfiguration(
            commandName: "diskboot", abstract: "Eject the virtual media and reboot the nodes onto their disk.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: NodeArguments

        func run(_ liveboot: Liveboot, on nodes: [Node]) async throws {
            _ = try await perform(liveboot, nodes, parallel: global.parallel, printer: ProgressPrinter(nodes: nodes)) { _ in
                OperationRequest(.diskboot)
            }
        }
    }

    struct VMedia: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vmedia", abstract: "List, insert or eject virtual media; check a media URL.",
            subcommands: [Slots.self, Check.self], defaultSubcommand: Slots.self)
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Play the iDRAC's HTTP client against URLs and say whether a BMC could mount them.",
            discussion: "HEAD, then ranged GETs on one keep-alive connection (the start, the ISO volume descriptor, the last bytes); checks the status line, the header block size (< 1024 bytes), Accept-Ranges, Content-Range and body lengths.")
        @OptionGroup var output: JSONOption
        @Argument(help: "http:// URLs.") var urls: [String]

        func run() async throws {
            var reports: [VmediaCheck.Report] = []
            for url in urls { reports.append(await VmediaCheck.run(url)) }
            if output.json {
                try Output.json(reports)
            } else {
                for report in reports {
                    Output.out("\(report.url): " + (report.ok ? "OK, a BMC can mount it" : "NOT mountable by an iDRAC")
                        + (report.size.map { " (\($0) bytes)" } ?? ""))
                    for finding in report.findings {
                        Output.out("  \(finding.ok ? "ok  " : "FAIL") \(finding.check): \(finding.detail)")
                    }
                }
            }
            if reports.contains(where: { !$0.ok }) { throw ExitCode(1) }
        }
    }

    struct Slots: NodeCommand, NodeTargeted {
        static let configuration = CommandConfiguration(
            commandName: "slots", abstract: "List, insert or eject virtual media (the default: `lb vmedia w3`).",
            discussion: "Without --insert or --eject, lists the slots. --insert takes an image name or an http(s) URL.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: JSONOption
        @OptionGroup var target: NodeArguments
        @Option(name: .long, help: "Image (or URL) to insert; needs --slot.")
        var insert: String?
        @Flag(name: .long, help: "Eject --slot, or every inserted slot.")
        var eject = false
        @Option(name: .long, help: "Slot id (1, 2 on iDRAC ≥ 6; CD, RemovableDisk before).")
        var slot: String?

        func validate() throws {
            if insert != nil && eject { throw ValidationError("--insert and --eject exclude each other") }
            if insert != nil && slot == nil { throw ValidationError("--insert needs --slot") }
        }

        func run(_ liveboot: Liveboot, on nodes: [Node]) async throws {
            var url: String?
            if let insert {
                do {
                    url = insert.contains("://") ? insert : try liveboot.catalog.resolve(insert).url
                } catch { throw fail(error) }
            }
            let (slot, eject, chosenURL) = (self.slot, self.eject, url)
            // Waits (a mount, an eject, a busy BMC) are said on stderr: stdout stays the slots, or the JSON.
            let printer = ProgressPrinter(nodes: nodes, toStderr: true)
            let results = try await runOnNodes(liveboot, nodes, parallel: global.parallel) { node -> [SlotStatus] in
                if let chosenURL, let slot {
                    return [try await liveboot.vmediaInsert(node, slot: slot, url: chosenURL, progress: printer.handler(for: node))]
                }
                if eject { return try await liveboot.vmediaEject(node, slot: slot, progress: printer.handler(for: node)) }
                return try await liveboot.vmediaList(node)
            }
            if output.json {
                try Output.json(Dictionary(uniqueKeysWithValues: results.map { ($0.0.name, $0.1) }))
            } else {
                for (node, slots) in results {
                    for slot in slots { Output.out("\(node.name): vmedia \(slot.id): \(slot.display)") }
                }
            }
        }
    }

    struct Cidata: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a node's cloud-init seed ISO (label cidata) to a file.",
            discussion: "Same node, keys and boot id give the same bytes.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The node.") var node: String
        @Option(name: .shortAndLong, help: "A public key file to add (repeatable).")
        var key: [String] = []
        @Option(name: .long, help: "Boot id (cloud-init instance-id); default: node and current time.")
        var bootID: String?
        @Option(name: .shortAndLong, help: "Output file.")
        var output: String
        @Option(name: .long, help: .hidden)  // benchmark: build the seed N times in-process and report the time
        var repeatCount: Int?

        func run() async throws {
            do {
                let liveboot = try global.load()
                guard let node = try liveboot.nodes([node]).first else { throw LivebootError.noNodes }
                let keys = try key.flatMap { try LivebootConfig.loadKeys($0) }
                let bootID = self.bootID ?? Liveboot.newBootID(for: node)
                if let repeatCount, repeatCount > 0 {
                    // Benchmark (bench/seed.sh). Per boot: a new boot id each time, as successive boots have. Cold:
                    // a new host name each time too, so that the user-data is rendered anew for every seed.
                    func measure(_ body: (Int) throws -> Void) rethrows -> Double {
                        let start = ContinuousClock.now
                        for index in 0..<repeatCount { try body(index) }
                        let elapsed = ContinuousClock.now - start
                        return (Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12)
                            / Double(repeatCount)
                    }
                    let perBoot = try measure { _ = try liveboot.seed(for: node, extraKeys: keys, bootID: "\(bootID)-\($0)") }
                    let cold = try measure {
                        _ = try SeedBuilder.build(SeedRequest(hostname: "bench-\($0)-live", keys: liveboot.config.testbedKeys + keys,
                                                              bootID: "\(bootID)-\($0)", fragment: liveboot.config.userDataFragment))
                    }
                    Output.out(String(format: "%d seeds in-process: %.1f µs per seed per boot (new boot id), %.1f µs cold (new user-data)",
                                      repeatCount, perBoot, cold))
                }
                let seed = try liveboot.seed(for: node, extraKeys: keys, bootID: bootID)
                try seed.image.write(to: URL(fileURLWithPath: output))
                Output.out("\(output): \(seed.image.count) bytes, cidata-\(seed.contentID)")
            } catch {
                throw fail(error)
            }
        }
    }
}

/// What `lb screenshot --json` says of a node.
struct ScreenshotAnswer: Encodable, Sendable {
    let file: String?
    let bytes: Int?
    let noVideo: String?
}

/// Where screenshots go: a file named for the node and the time (never overwriting one), or the one asked for.
enum ScreenshotFile {
    static func write(_ png: Data, node: String, to output: String?, single: Bool) throws -> String {
        var path: String
        if let output, single, !output.hasSuffix("/"), !isFolder(output) {
            path = output
        } else {
            let folder = URL(fileURLWithPath: output ?? FileManager.default.currentDirectoryPath)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyyMMdd-HHmmss"
            let stamp = formatter.string(from: Date())
            path = folder.appendingPathComponent("\(node)-\(stamp).png").path
            var copy = 1
            while FileManager.default.fileExists(atPath: path) {
                copy += 1
                path = folder.appendingPathComponent("\(node)-\(stamp)-\(copy).png").path
            }
        }
        do {
            try png.write(to: URL(fileURLWithPath: path))
        } catch {
            throw LivebootError.badArgument("cannot write the screenshot to \(path): \(error.localizedDescription)")
        }
        return path
    }

    static func isFolder(_ path: String) -> Bool {
        var folder: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &folder) && folder.boolValue
    }
}

extension LivebootCommand {
    struct Stats: NodeCommand {
        static let configuration = CommandConfiguration(
            abstract: "Live boots of the last days per node: how many, how many got ready, how fast, the last failure.",
            discussion: "From the boots the CLI and the portal recorded (the portal's database). Time to ready runs from the boot's start (seed built) to the live session's report and ssh. A boot nobody waited for counts as a boot, neither ready nor failed.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Nodes: names, ranges (w1-4), lists (w1,w3) or all (the default).") var nodes: [String] = []
        @Option(name: .long, help: "Days of history.") var days = 30
        @OptionGroup var output: JSONOption

        var nodeSelection: [String] { nodes.isEmpty ? ["all"] : nodes }

        func validate() throws {
            guard (1...366).contains(days) else { throw ValidationError("--days must be between 1 and 366") }
        }

        func run(_ liveboot: Liveboot, on nodes: [Node]) async throws {
            let stats = try await liveboot.bootStats(of: nodes.map(\.name), days: days)
            if output.json { return try Output.json(stats) }
            Output.out("live boots of the last \(days) days")
            Output.out(BootStatsLine.header)
            for node in stats { Output.out(BootStatsLine(node).text) }
        }
    }
}

/// One node's line of `lb stats`: `-` where there is nothing to say.
struct BootStatsLine {
    let text: String

    static let header = ["node".padding(12), "boots".leftPadding(6), "ready".leftPadding(6), "failed".leftPadding(6),
                         "success".leftPadding(8), "median".leftPadding(8), "p90".leftPadding(8), " last failure"].joined(separator: " ")

    init(_ stats: NodeBootStats) {
        let failure = stats.lastFailure.map { "\(LeaseNotice.utc($0.at)): \($0.message.prefix(100))" } ?? "-"
        text = [stats.node.padding(12), "\(stats.boots)".leftPadding(6), "\(stats.ready)".leftPadding(6),
                "\(stats.failed)".leftPadding(6), stats.successText.leftPadding(8), stats.medianText.leftPadding(8),
                stats.p90Text.leftPadding(8), " " + failure].joined(separator: " ")
    }
}

private extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
    func leftPadding(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
