import Foundation
import LivebootCore
import Logging
import ServiceLifecycle

/// The last status of every node, refreshed in the background: pages never wait on a BMC, and BMCs (which fall
/// over when polled too often) see one status round per interval whatever the number of viewers.
public actor StatusBoard {
    public private(set) var statuses: [NodeStatus] = []
    public private(set) var updatedAt: Date?

    public init() {}

    func publish(_ statuses: [NodeStatus], at date: Date) {
        self.statuses = statuses
        updatedAt = date
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
