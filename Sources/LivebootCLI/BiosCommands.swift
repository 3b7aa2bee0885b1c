import ArgumentParser
import Foundation
import LivebootCore
import Redfish

extension LivebootCommand {
    struct BiosGet: NodeCommand {
        static let configuration = CommandConfiguration(
            commandName: "biosget", abstract: "Show BIOS attributes whose name matches a pattern.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "Nodes (w3, w1-4, w1,w3 or all).") var nodes: String
        @Argument(help: "Case-insensitive regular expression on attribute names.") var pattern: String = "."

        var nodeSelection: [String] { [nodes] }

        func run(_ liveboot: Liveboot, on chosen: [Node]) async throws {
            let pattern = self.pattern
            let reports = try await runOnNodes(liveboot, chosen, parallel: global.parallel) {
                try await liveboot.biosGet($0, pattern: pattern)
            }.map(\.1)
            if output.json { return try Output.json(reports) }
            let formatter = ISO8601DateFormatter()
            for report in reports {
                Output.out("BIOS settings captured on \(report.node) at \(formatter.string(from: report.capturedAt)) with pattern=`\(report.pattern)`")
                let width = (report.attributes.map(\.name.count).max() ?? 0) + 2
                for attribute in report.attributes {
                    let pending = report.pending.first { $0.name == attribute.name }.map { "   (pending: \($0.value))" } ?? ""
                    Output.out("  " + attribute.name.padding(toLength: width, withPad: " ", startingAt: 0) + attribute.value + pending)
                }
                if report.attributes.isEmpty { Output.out("  (no attribute matches)") }
            }
        }
    }

    struct BiosSet: NodeCommand {
        static let configuration = CommandConfiguration(
            commandName: "biosset", abstract: "Queue BIOS changes, validated against the BIOS registry; applied at next reboot.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Nodes (w3, w1-4, w1,w3 or all).") var nodes: String
        @Argument(help: "NAME=VALUE pairs.") var assignments: [String]

        var nodeSelection: [String] { [nodes] }

        func run(_ liveboot: Liveboot, on chosen: [Node]) async throws {
            let assignments = self.assignments
            let changes = try await runOnNodes(liveboot, chosen, parallel: global.parallel) {
                try await liveboot.biosSet($0, assignments: assignments)
            }
            for (node, change) in changes {
                let what = change.applied.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
                Output.out("\(node.name): \(what) queued" + (change.jobID.map { " as job \($0)" } ?? "")
                    + "; applies at next reboot (`lb reboot \(node.name)`)")
            }
        }
    }

    struct BiosReset: NodeCommand, NodeTargeted {
        static let configuration = CommandConfiguration(
            commandName: "biosreset", abstract: "Reset the BIOS to its defaults at the next reboot.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: NodeArguments

        func run(_ liveboot: Liveboot, on nodes: [Node]) async throws {
            _ = try await runOnNodes(liveboot, nodes, parallel: global.parallel) { node in
                try await liveboot.biosReset(node)
                Output.out("\(node.name): BIOS reset to defaults requested; applies at next reboot")
            }
        }
    }

    struct QueueGet: NodeCommand, NodeTargeted {
        static let configuration = CommandConfiguration(
            commandName: "queueget", abstract: "List the iDRAC job queue (pending BIOS changes wait there).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: JSONOption
        @OptionGroup var target: NodeArguments
        @Flag(name: .shortAndLong, help: "Include finished jobs.") var all = false

        func run(_ liveboot: Liveboot, on nodes: [Node]) async throws {
            let all = self.all
            let queues = try await runOnNodes(liveboot, nodes, parallel: global.parallel) {
                try await liveboot.jobs($0, all: all)
            }.map(\.1)
            if output.json { return try Output.json(queues) }
            for queue in queues {
                if queue.jobs.isEmpty { Output.out("\(queue.node): no \(all ? "" : "pending ")job"); continue }
                for job in queue.jobs {
                    Output.out("\(queue.node): \(job.id)  \(job.state.padding(toLength: 10, withPad: " ", startingAt: 0))"
                        + "  \(job.name ?? job.type ?? "")  \(job.message ?? "")")
                }
            }
        }
    }

    struct QueueClear: NodeCommand, NodeTargeted {
        static let configuration = CommandConfiguration(
            commandName: "queueclear", abstract: "Delete one job, or the whole job queue (pending BIOS changes too).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: NodeArguments
        @Option(name: .shortAndLong, help: "Only this job (JID_…).") var job: String?

        func run(_ liveboot: Liveboot, on nodes: [Node]) async throws {
            let job = self.job
            _ = try await runOnNodes(liveboot, nodes, parallel: global.parallel) { node in
                try await liveboot.clearJobs(node, jobID: job)
                Output.out("\(node.name): " + (job.map { "job \($0) deleted" } ?? "job queue cleared"))
            }
        }
    }
}
