import Foundation
import LivebootCore
import Logging
import ServiceLifecycle

/// The last status of every node, refreshed in the background: pages never wait on a BMC, and BMCs (which fall
/// over when polled too often) see one status round per interval whatever the number of viewers. A single node is
/// probed on demand at most once per `minimumAge`.
public actor StatusBoard {
    public private(set) var updatedAt: Date?
    private var byNode: [String: (status: NodeStatus, at: Date)] = [:]
    private var order: [String] = []
    private var probing: [String: Task<NodeStatus, Never>] = [:]

    public init() {}

    public var statuses: [NodeStatus] { order.compactMap { byNode[$0]?.status } }

    public func status(of node: String) -> (status: NodeStatus, at: Date)? { byNode[node] }

    func publish(_ statuses: [NodeStatus], at date: Date) {
        for status in statuses { byNode[status.node] = (status, date) }
        order = statuses.map(\.node)
        updatedAt = date
    }

    /// The node's status, probed now unless the last probe is younger than `minimumAge`. Concurrent callers share
    /// one probe.
    @discardableResult
    public func refresh(_ node: Node, using liveboot: Liveboot, minimumAge: Duration = .seconds(15)) async -> NodeStatus {
        let age = Double(minimumAge.components.seconds)
        if let known = byNode[node.name], Date().timeIntervalSince(known.at) < age { return known.status }
        if let running = probing[node.name] { return await running.value }
        let task = Task { await liveboot.status(node) }
        probing[node.name] = task
        let status = await task.value
        probing[node.name] = nil
        byNode[node.name] = (status, Date())
        if !order.contains(node.name) { order.append(node.name) }
        return status
    }
}

/// The background refresh, as a service of the application's group (stops with it).
struct StatusRefresher: Service {
    let liveboot: Liveboot
    let board: StatusBoard
    let interval: Duration
    let logger: Logger

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let nodes = liveboot.config.nodes
                let results = await Liveboot.onEach(nodes, limit: 16) { await liveboot.status($0) }
                await board.publish(results.compactMap { try? $0.1.get() }, at: Date())
                logger.debug("status refreshed", metadata: ["nodes": "\(nodes.count)"])
                try await Task.sleep(for: interval)
            }
        }
    }
}
