import ArgumentParser
import Foundation
import LivebootCore
import Seed

/// The node arguments of most commands.
struct NodeArguments: ParsableArguments {
    @Argument(help: "Nodes: names, ranges (w1-4), lists (w1,w3) or all.")
    var nodes: [String]
}

/// Loads config and nodes, or exits 2 with the reason.
func prepare(_ global: GlobalOptions, _ arguments: [String], counter: RequestCounter) throws -> (Liveboot, [Node]) {
    do {
        let liveboot = try global.load(counter: counter)
        return (liveboot, try liveboot.nodes(arguments))
    } catch {
        throw fail(error)
    }
}

extension LivebootCommand {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Power, BIOS attributes, virtual media, ping and ssh of nodes.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: JSONOption
        @OptionGroup var target: NodeArguments
        @Flag(name: .customLong("bmc"), help: "Also show the BMC's vendor, model and firmware.")
        var showBMC = false

        func run() async throws {
            let counter = RequestCounter()
            let (liveboot, nodes) = try prepare(global, target.nodes, counter: counter)
            let verbose = showBMC || global.verbose
            let results = await Liveboot.onEach(nodes, limit: global.parallel) { await liveboot.status($0, verbose: verbose) }
            let statuses = results.compactMap { try? $0.1.get() }
            if output.json {
                try Output.json(statuses)
            } else {
                for status in statuses { Output.out(StatusFormatter.block(status, showBMC: verbose)) }
            }
            reportStats(global, counter)
            if statuses.contains(where: { $0.error != nil }) { throw ExitCode(1) }
        }
    }

    struct On: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Power nodes on.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: NodeArguments

        func run() async throws { try await powerCommand(global, target, .on, graceful: true, timeout: nil) }
    }

    struct Off: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Power nodes off: GracefulShutdown, then ForceOff if still on after the timeout.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: NodeArguments
        @OptionGroup var shutdown: ShutdownOptions

        func run() async throws {
            try await powerCommand(global, target, .off, graceful: !shutdown.force, timeout: shutdown.gracefulTimeout)
        }
    }

    struct Reboot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Power nodes off (as `off` does), then on.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: NodeArguments
        @OptionGroup var shutdown: ShutdownOptions

        func run() async throws {
            try await powerCommand(global, target, .reboot, graceful: !shutdown.force, timeout: shutdown.gracefulTimeout)
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

func powerCommand(_ global: GlobalOptions, _ target: NodeArguments, _ action: PowerAction, graceful: Bool,
                  timeout: Int?) async throws {
    let counter = RequestCounter()
    let (liveboot, nodes) = try prepare(global, target.nodes, counter: counter)
    let printer = ProgressPrinter(nodes: nodes)
    defer { reportStats(global, counter) }
    _ = try await runOnNodes(liveboot, nodes, parallel: global.parallel) { node in
        let done = try await liveboot.power(node, action, graceful: graceful,
                                            gracefulTimeout: timeout.map { .seconds($0) },
                                            progress: printer.handler(for: node))
        printer.handler(for: node)(done)
    }
}

enum StatusFormatter {
    /// One block per node, as the original printed it: a header line, then aligned fields.
    static func block(_ status: NodeStatus, showBMC: Bool) -> String {
        var lines = ["\(status.node):"]
        func field(_ name: String, _ value: String) {
            lines.append("  " + name.padding(toLength: max(14, name.count + 1), withPad: " ", startingAt: 0) + value)
        }
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
        }
        var probes = "PING: \(status.ping)  SSH: \(status.ssh)"
        if case .unavailable(let why) = status.ping { probes += "  (ping: \(why))" }
        lines.append("  " + probes)
        return lines.joined(separator: "\n")
    }
}
