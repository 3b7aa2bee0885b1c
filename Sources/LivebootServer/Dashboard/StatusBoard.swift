import Foundation
import LivebootCore
import Logging
import ServiceLifecycle

/// The last status of every node, refreshed in the background: pages never wait on a BMC, and BMCs (which fall
/// over when polled too often) see one status round per interval whatever the number of viewers. A single node is
/// probed on demand at most once per `minimumAge`.
public actor StatusBoard {
    public private(set) var updatedAt: Date?
    /// Grows with every change of what the board holds: a view computed from it may be kept while it stays the same.
    public private(set) var revision = 0
    private var byNode: [String: (status: NodeStatus, at: Date)] = [:]
    private var order: [String] = []
    private var probing: [String: Task<NodeStatus, Never>] = [:]

    public init() {}

    public var statuses: [NodeStatus] { order.compactMap { byNode[$0]?.status } }

    public func status(of node: String) -> (status: NodeStatus, at: Date)? { byNode[node] }

    /// One node's status, as soon as it is known: a slow BMC does not hold the others' back.
    func publish(_ status: NodeStatus, at date: Date) {
        byNode[status.node] = (status, date)
        if !order.contains(status.node) { order.append(status.node) }
        revision += 1
    }

    /// A round is over: nodes are shown in the configuration's order.
    func roundFinished(_ nodes: [String], at date: Date) {
        order = nodes.filter { byNode[$0] != nil }
        updatedAt = date
        revision += 1
    }

    /// The node's status if known, else a probe waited for `limit` at most (a page must not hang on a BMC that
    /// does): nil if it has not answered by then.
    public func status(of node: Node, using liveboot: Liveboot, waitingAtMost limit: Duration) async -> (status: NodeStatus, at: Date)? {
        if let known = byNode[node.name] { return known }
        let probe = Task { await self.refresh(node, using: liveboot) }
        let answered = try? await Deadline.run(within: limit, waitingFor: "the status of \(node.name)") { await probe.value }
        return answered.map { ($0, Date()) }
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
        revision += 1
        return status
    }
}

/// The background refresh, as a service of the application's group (stops with it).
struct StatusRefresher: Service {
    let liveboot: Liveboot
    let board: StatusBoard
    let interval: Duration
    let logger: Logger

    /// Ends without an error on shutdown: a stop is not a failure (`systemctl stop` must leave the unit clean).
    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await round()
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Every node once (each BMC gets one request at a time, `RequestGate`), each published as soon as it is known.
    /// The nodes' starts are spread evenly over `spread` — never waves that wait for each other, never one burst: 500
    /// statuses started at once are ~3000 BMC answers to decode (and were then 500 `ping` processes) within a second
    /// or two, and on 2 cores the pages served meanwhile waited (dashboard p99 ~290 ms under 10 viewers,
    /// `bench/fleet.sh`).
    func round() async {
        let nodes = liveboot.config.nodes
        let start = ContinuousClock.now
        let step = Self.spread(nodes: nodes.count, interval: interval) / max(1, nodes.count)
        await withTaskGroup(of: Void.self) { group in
            for (index, node) in nodes.enumerated() {
                group.addTask {
                    if index > 0 { try? await Task.sleep(until: start + step * index, clock: .continuous) }
                    guard !Task.isCancelled else { return }
                    await board.publish(await liveboot.status(node), at: Date())
                }
            }
        }
        PortalMetrics.statusRound(took: ContinuousClock.now - start, nodes: nodes.count)
        await board.roundFinished(nodes.map(\.name), at: Date())
        logger.debug("status refreshed", metadata: ["nodes": "\(nodes.count)"])
        await pruneSeeds()
    }

    /// How long a round takes to start every node: 10 ms per node, at most half the interval (each BMC is still
    /// polled once per interval, and the whole fleet is fresh well before the next round).
    static func spread(nodes: Int, interval: Duration) -> Duration {
        min(.milliseconds(10) * nodes, interval / 2)
    }

    /// After each round, when the slots of every node that answered are known: seeds no slot holds and older than
    /// `images.keep-seeds` go.
    func pruneSeeds() async {
        let layout = MediaLayout(images: liveboot.config.images)
        let held = await board.statuses.flatMap(\.vmedia).compactMap { $0.image.flatMap(layout.seedFile(inURL:)) }
        let removed = layout.pruneSeeds(inUse: Set(held), retention: liveboot.config.images.seedRetention)
        if !removed.isEmpty { logger.info("old seeds removed", metadata: ["count": "\(removed.count)"]) }
    }
}
