import ArgumentParser
import Foundation
import LivebootCore
import PortalStore
import Seed

/// The node arguments of most commands.
struct NodeArguments: ParsableArguments {
    @Argument(help: "Nodes: names, ranges (w1-4), lists (w1,w3) or all.")
    var nodes: [String]
}

/// A command that acts on nodes. Its preamble is here, once: the configuration and the nodes are loaded (bad input
/// exits 2 with the reason, before any node is touched), the command runs, and `--stats` reports the Redfish
/// requests it made, whatever the command and however it ended.
protocol NodeCommand: AsyncParsableCommand {
    var global: GlobalOptions { get }
    /// The node arguments as typed (names, ranges, lists, `all`).
    var nodeSelection: [String] { get }
    func run(_ liveboot: Liveboot, on nodes: [Node]) async throws
}

extension NodeCommand {
    func run() async throws {
        let counter = RequestCounter()
        let liveboot: Liveboot
        let nodes: [Node]
        do {
            liveboot = try global.load(counter: counter)
            nodes = try liveboot.nodes(nodeSelection)
        } catch {
            throw fail(error)
        }
        defer { reportStats(global, counter) }
        try await run(liveboot, on: nodes)
    }
}

extension NodeCommand where Self: NodeTargeted {
    var nodeSelection: [String] { target.nodes }
}

/// A command whose nodes are its `NodeArguments`.
protocol NodeTargeted {
    var target: NodeArguments { get }
}

/// Runs one operation on every node in parallel, printing its steps; fails if any node failed.
func perform(_ liveboot: Liveboot, _ nodes: [Node], parallel: Int, printer: ProgressPrinter,
             _ request: @escaping @Sendable (Node) -> OperationRequest) async throws -> [(Node, OperationOutcome)] {
    try await runOnNodes(liveboot, nodes, parallel: parallel, reportingErrors: false) { node in
        try await liveboot.perform(request(node), on: node, progress: printer.handler(for: node))
    }
}

extension LivebootCommand {
    struct Status: NodeCommand, NodeTargeted {
        static let configuration = CommandConfiguration(
            abstract: "Power, BIOS attributes, virtual media, ping and ssh of nodes.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: JSONOption
        @OptionGroup var target: NodeArguments
        @Flag(name: .customLong("bmc"), help: "Also show the BMC's vendor, model and firmware, and whether the serial console will show the boot.")
        var showBMC = false

        func run(_ liveboot: Liveboot, on nodes: [Node]) async throws {
            let verbose = showBMC || global.verbose
            let showBMC = self.showBMC
            let results = await Liveboot.onEach(nodes, limit: global.parallel) {
                await liveboot.status($0, verbose: verbose, serialConsole: showBMC)
            }
            let statuses = results.compactMap { try? $0.1.get() }
            if output.json {
                try Output.json(statuses)
            } else {
                let leases = await StatusFormatter.currentLeases(liveboot.config)
                for status in statuses { Output.out(StatusFormatter.block(status, showBMC: verbose, lease: leases[status.node])) }
            }
            if statuses.contains(where: { $0.error != nil }) { throw ExitCode(1) }
        }
    }

    struct On: NodeCommand, NodeTargeted {
        static let configuration = CommandConfiguration(abstract: "Power nodes on.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: NodeArguments

        func run(_ liveboot: Liveboot, on nodes: [Node]) async throws {
            try await powerCommand(liveboot, nodes, global, .on, shutdown: nil)
        }
    }

    struct Off: NodeCommand, NodeTargeted {
        static let configuration = CommandConfiguration(
            abstract: "Power nodes off: GracefulShutdown, then ForceOff if still on after the timeout.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: NodeArguments
        @OptionGroup var shutdown: ShutdownOptions

        func run(_ liveboot: Liveboot, on nodes: [Node]) async throws {
            try await powerCommand(liveboot, nodes, global, .off, shutdown: shutdown)
        }
    }

    struct Reboot: NodeCommand, NodeTargeted {
        static let configuration = CommandConfiguration(abstract: "Power nodes off (as `off` does), then on.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: NodeArguments
        @OptionGroup var shutdown: ShutdownOptions

        func run(_ liveboot: Liveboot, on nodes: [Node]) async throws {
            try await powerCommand(liveboot, nodes, global, .reboot, shutdown: shutdown)
        }
    }
}

/// How `off` and `reboot` shut a node down.
struct ShutdownOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "ForceOff at once, no graceful shutdown.")
    var force = false
    @Option(name: .long, help: "Seconds to wait for a graceful shutdown before ForceOff.")
    var gracefulTimeout: Int?
}

func powerCommand(_ liveboot: Liveboot, _ nodes: [Node], _ global: GlobalOptions, _ action: NodeAction,
                  shutdown: ShutdownOptions?) async throws {
    let graceful = !(shutdown?.force ?? false), timeout = shutdown?.gracefulTimeout
    _ = try await perform(liveboot, nodes, parallel: global.parallel, printer: ProgressPrinter(nodes: nodes)) { _ in
        var request = OperationRequest(action)
        request.graceful = graceful
        request.gracefulTimeout = timeout.map { .seconds($0) }
        return request
    }
}

enum StatusFormatter {
    /// One block per node, as the original printed it: a header line, then aligned fields.
    /// Who holds each node now, from the portal's database when there is one (`lb status` works without it).
    static func currentLeases(_ config: LivebootConfig, now: Date = Date()) async -> [String: String] {
        guard let portal = try? PortalConfig(config), FileManager.default.fileExists(atPath: portal.database),
              let database = try? portal.openDatabase(),
              let current = try? await LeaseNotice.current(database, at: now, warning: portal.leaseEnd.warning) else { return [:] }
        return current.mapValues { lease in
            "\(lease.slice) until \(LeaseNotice.utc(lease.endsAt)) (\(lease.left) left"
                + (lease.endingSoon ? ", ENDING: then the node is returned" : "") + ")"
        }
    }

    static func block(_ status: NodeStatus, showBMC: Bool, lease: String? = nil) -> String {
        var lines = ["\(status.node):"]
        func field(_ name: String, _ value: String) {
            lines.append("  " + name.padding(toLength: max(14, name.count + 1), withPad: " ", startingAt: 0) + value)
        }
        if let lease { field("lease", lease) }
        if let error = status.error {
            field("BMC", "ERROR \(error)")
        } else {
            if showBMC {
                field("BMC", [status.vendor, status.model, status.firmware.map { "firmware \($0)" }]
                    .compactMap { $0 }.joined(separator: ", "))
            }
            field("power", status.power ?? "unknown")
            for value in status.bios { field(value.name, value.value) }
            for slot in status.vmedia { field("vmedia \(slot.id)", slot.display) }
            if let boot = status.bootOverride { field("boot override", boot) }
            if let serial = status.serialConsole {
                field("serial console", serial.summary)
                if !serial.biosChanges.isEmpty {
                    field("", "`lb console --setup \(status.node)` queues the BIOS changes")
                }
            }
        }
        var probes = "PING: \(status.ping)  SSH: \(status.ssh)"
        if case .unavailable(let why) = status.ping { probes += "  (ping: \(why))" }
        lines.append("  " + probes)
        return lines.joined(separator: "\n")
    }
}
