import Foundation

/// How many requests go to BMCs at once, as a property of the BMC side rather than of a command's wave size: one
/// at a time to each BMC (an iDRAC's web server queues, and under load refuses, concurrent requests; a status round
/// must never stack requests on one slow BMC), and at most `limit` in flight for the process (sockets, memory),
/// sized for hundreds of BMCs. A fleet command can then start every node at once and still never crowd a BMC.
///
/// Waiters are served in arrival order. A task cancelled while it waits keeps its place until its turn comes, then
/// gives the permit back at once: a wait is bounded by the requests ahead of it, each bounded by its own timeout.
public actor RequestGate {
    public static let shared = RequestGate(limit: 512)

    public let limit: Int
    private var inFlight = 0
    private var busy: Set<String> = []
    private var waiting: [(bmc: String, resume: CheckedContinuation<Void, Never>)] = []
    /// The most requests seen in flight at once (for tests and benchmarks).
    public private(set) var peak = 0

    public init(limit: Int) { self.limit = max(1, limit) }

    /// Runs `body` holding the BMC's permit and one of the process's.
    public func withPermit<T: Sendable>(for bmc: String, _ body: @Sendable () async throws -> T) async throws -> T {
        await acquire(bmc)
        do {
            let value = try await body()
            release(bmc)
            return value
        } catch {
            release(bmc)
            throw error
        }
    }

    private func acquire(_ bmc: String) async {
        if waiting.isEmpty || !waiting.contains(where: { $0.bmc == bmc }), take(bmc) { return }
        await withCheckedContinuation { waiting.append((bmc, $0)) }
    }

    private func take(_ bmc: String) -> Bool {
        guard inFlight < limit, !busy.contains(bmc) else { return false }
        inFlight += 1
        busy.insert(bmc)
        peak = max(peak, inFlight)
        return true
    }

    private func release(_ bmc: String) {
        inFlight -= 1
        busy.remove(bmc)
        // The first waiter that can go now: FIFO, skipping those whose BMC is still busy.
        var index = 0
        while index < waiting.count, inFlight < limit {
            if take(waiting[index].bmc) {
                waiting.remove(at: index).resume.resume()
            } else {
                index += 1
            }
        }
    }
}
