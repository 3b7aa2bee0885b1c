import ArgumentParser
import Foundation
import LivebootCore
import Logging
import PortalStore

/// `liveboot` (alias `lb`): the command names testbed admins already type with the original tool.
public struct LivebootCommand: AsyncParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "liveboot",
        abstract: "Boot testbed nodes into a live OS over their BMC's Redfish virtual media.",
        discussion: """
        Nodes are named as in the configuration; several names, ranges (w1-4), lists (w1,w3) and `all` are accepted.
        Configuration: --config, else $LIVEBOOT_CONFIG, else \(LivebootConfig.defaultPath).
        """,
        version: version,
        subcommands: [
            Status.self, On.self, Off.self, Reboot.self, LiveBoot.self, Wait.self, DiskBoot.self, KnownHosts.self, SSH.self, Console.self, Screenshot.self, Stats.self,
            BiosGet.self, BiosSet.self, BiosReset.self, QueueGet.self, QueueClear.self,
            VMedia.self, Cidata.self, Images.self, Image.self, Serve.self, Admin.self, Version.self,
        ])

    public init() {}

    /// Writes to a closed pipe must fail, not kill the process mid-operation (a BMC session would stay open).
    public static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }
}

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (default: $LIVEBOOT_CONFIG or \(LivebootConfig.defaultPath)).")
    var config: String?

    @Flag(name: .shortAndLong, help: "Debug logs on stderr (every Redfish call, with timing).")
    var verbose = false

    @Option(name: .customLong("parallel"),
            help: "At most this many nodes at once (default: all of them; the BMCs are spared anyway: one request at a time to each, 512 in flight in all).")
    var parallelLimit: Int?

    /// Every node at once unless `--parallel` says otherwise: the bound on BMC requests is the `RequestGate`'s, not a
    /// wave size (a wave of 64 made `status all` on 300 nodes five times one node's time).
    var parallel: Int { parallelLimit ?? .max }

    @Flag(name: .long, help: "Print the number of Redfish requests made, on stderr.")
    var stats = false

    func validate() throws {
        if let parallelLimit, parallelLimit < 1 { throw ValidationError("--parallel must be at least 1") }
    }

    func makeLogger() -> Logger {
        var logger = Logger(label: "liveboot") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .debug : .warning
        return logger
    }

    func load(counter: RequestCounter? = nil) throws -> Liveboot {
        let config = try LivebootConfig.load(path: config)
        // The portal's database, where `liveboot serve` records the live sessions' reports: opened once, and only
        // by the commands that need it (a live boot, a wait).
        let database = Locked<PortalDatabase?>(nil)
        return Liveboot(config: config, logger: makeLogger(), requestCounter: counter, boots: {
            try database.withLock { opened in
                if let opened { return opened }
                let fresh = try PortalConfig(config).openDatabase()
                opened = fresh
                return fresh
            }
        })
    }
}

struct JSONOption: ParsableArguments {
    @Flag(name: .long, help: "Machine-readable output on stdout.")
    var json = false
}

/// Writes lines to stdout and stderr without interleaving partial lines from parallel nodes.
enum Output {
    private static let lock = NSLock()

    static func out(_ text: String) { write(text, to: .standardOutput) }
    static func err(_ text: String) { write(text, to: .standardError) }

    /// A closed pipe (`lb status all | head`) is not an error worth a crash: the rest of the output is dropped.
    /// SIGPIPE is ignored at start (see `Entry`) so that the write fails instead of killing the process.
    private static func write(_ text: String, to handle: FileHandle) {
        lock.lock()
        defer { lock.unlock() }
        try? handle.write(contentsOf: Data((text + "\n").utf8))
    }

    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        out(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

/// Prints `node  [ 12.3s] step` lines as long operations progress. A failure is the line admins grep for,
/// `node: message`, on stderr.
struct ProgressPrinter: Sendable {
    let start = ContinuousClock.now
    let toStderr: Bool
    let width: Int

    init(nodes: [Node], toStderr: Bool = false) {
        self.toStderr = toStderr
        width = nodes.map(\.name.count).max() ?? 0
    }

    func handler(for node: Node) -> ProgressHandler {
        let start = self.start, toStderr = self.toStderr, width = self.width
        return { step in
            if case .failed(let message) = step {
                // The core's own errors name the node already ("w2: slot 1 should hold …").
                return Output.err(message.hasPrefix(node.name + ": ") ? message : "\(node.name): \(message)")
            }
            var step = step
            if case .screenshot(.png(let png)) = step {
                // A failed boot's screen: saved where the user finds it, the line says where.
                let folder = FileManager.default.temporaryDirectory.path + "/"
                if let file = try? ScreenshotFile.write(png, node: node.name, to: folder, single: true) {
                    step = .bmc("screenshot of the server's screen: \(file)")
                }
            }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let line = node.name.padding(toLength: width, withPad: " ", startingAt: 0)
                + "  [" + String(format: "%6.1fs", seconds) + "] " + step.text
            toStderr ? Output.err(line) : Output.out(line)
        }
    }
}

/// Runs `body` on every node in parallel, prints failures as `node: error`, and fails the command if any
/// node failed.
/// - Parameter reportingErrors: false when the body has printed its failure already (an operation's `.failed` step).
func runOnNodes<T: Sendable>(_ liveboot: Liveboot, _ nodes: [Node], parallel: Int, reportingErrors: Bool = true,
                             _ body: @escaping @Sendable (Node) async throws -> T) async throws -> [(Node, T)] {
    let results = await Liveboot.onEach(nodes, limit: parallel, body)
    var successes: [(Node, T)] = []
    var failed = 0
    for (node, result) in results {
        switch result {
        case .success(let value): successes.append((node, value))
        case .failure(let error):
            failed += 1
            if reportingErrors { Output.err("\(error)".hasPrefix(node.name + ": ") ? "\(error)" : "\(node.name): \(error)") }
        }
    }
    if failed > 0 { throw ExitCode(1) }
    return successes
}

/// Errors that happen before any node is touched: one line on stderr, exit 2.
func fail(_ error: any Error) -> ExitCode {
    Output.err("liveboot: \(error)")
    return ExitCode(2)
}

func reportStats(_ options: GlobalOptions, _ counter: RequestCounter) {
    if options.stats { Output.err("redfish requests: \(counter.value)") }
}
