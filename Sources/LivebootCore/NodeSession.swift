import DellIDRAC
import Foundation
import Logging
import Redfish

/// The transport to a node's BMC: the seam through which the portal's tests answer from captured BMCs instead of
/// simulators. Nil for a node means HTTP(S) as configured.
public typealias BMCFactory = @Sendable (Node) -> (any RedfishTransport)?

/// A node with an open BMC session: what one operation works with. Opened and closed by
/// `Liveboot.withSession`, so no session is ever left behind on the BMC.
public struct NodeSession: Sendable {
    public let node: Node
    /// The adapter for the BMC that answered: Dell's, or the standard Redfish one.
    public let bmc: any BMC
    public let discovery: Discovery

    public var system: ComputerSystem { discovery.system }
}


extension Liveboot {
    /// Connects to the node's BMC, runs `body`, and always logs out.
    public func withSession<T: Sendable>(_ node: Node, _ body: (NodeSession) async throws -> T) async throws -> T {
        let endpoint = try node.endpoint(
            timeouts: Timeouts(connect: config.timing.connect, request: config.timing.request),
            retry: RetryPolicy(attempts: config.timing.retries, initialBackoff: config.timing.backoff))
        var logger = self.logger
        logger[metadataKey: "node"] = "\(node.name)"
        let client = RedfishClient(endpoint: endpoint, transport: bmcs?(node), logger: logger)
        do {
            let discovery = try await BMCConnector.discover(client, systemID: node.systemID, vendor: node.vendor)
            let bmc: any BMC = discovery.vendor == .dell ? IDRAC(client: client) : GenericBMC(client: client, vendor: discovery.vendor)
            let result = try await body(NodeSession(node: node, bmc: bmc, discovery: discovery))
            await finish(client)
            return result
        } catch {
            await finish(client)
            throw error
        }
    }

    private func finish(_ client: RedfishClient) async {
        // Detached: a cancelled operation (a server stop, a boot watch ended) still deletes its session — a
        // cancelled task's request would fail at once and leave the session on the BMC until it times out.
        await Task.detached { await client.logout() }.value
        let count = await client.requestCount
        logger.debug("redfish requests", metadata: ["count": "\(count)", "bmc": "\(client.endpoint.baseURL)"])
        requestCounter?.add(count)
    }
}

/// Totals Redfish requests across nodes, for `--stats` and the benchmark.
public final class RequestCounter: Sendable {
    private let total = Locked(0)
    public init() {}
    public func add(_ n: Int) { total.withLock { $0 += n } }
    public var value: Int { total.withLock { $0 } }
}

/// A small lock-protected box for hot paths where an actor hop per call is too much (Synchronization.Mutex needs
/// macOS 15; this runs everywhere).
public final class Locked<Value: Sendable>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    public init(_ value: Value) { self.value = value }
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
