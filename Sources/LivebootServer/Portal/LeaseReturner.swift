import Foundation
import LivebootCore
import Logging
import PortalStore
import Redfish
import ServiceLifecycle

/// Returns the nodes of ended leases (their time is up, or they were cancelled while current): the node's running
/// operation is cut, then a `release` operation — stored, streamed and audited like any other — ejects the media and
/// boots the disk or powers off (`leases.on-end`). A BMC that does not answer is tried again with backoff; nothing is
/// lost across a stop: the database says which leases still owe their return, and the first round after a start
/// does them.
struct LeaseReturner: Service {
    let leases: any LeaseRepository
    let audit: any AuditLog
    let runner: OperationRunner
    let nodes: [String: Node]
    let clock: any PortalClock
    let policy: LeaseEndPolicy
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await returnDueLeases()
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// One round: every node whose ended leases are due (not waiting for a retry), returned at the same time.
    func returnDueLeases() async {
        let now = clock.now
        let owed: [LeaseView]
        do { owed = try await leases.leasesToReturn(at: now) } catch {
            logger.error("cannot read the leases to return: \(error)")
            return
        }
        let byNode = Dictionary(grouping: owed, by: \.node)
        await withTaskGroup(of: Void.self) { group in
            for (name, ended) in byNode {
                guard let node = nodes[name] else { continue }
                // A retry waits for its time; one return covers every ended lease of the node.
                if let retryAt = ended.compactMap(\.returnRetryAt).max(), retryAt > now { continue }
                group.addTask { await returnNode(node, ended: ended) }
            }
        }
    }

    func returnNode(_ node: Node, ended: [LeaseView]) async {
        guard let last = ended.max(by: { $0.endsAt < $1.endsAt }) else { return }
        let attempts = ended.map(\.returnAttempts).max() ?? 0
        await runner.cut(node: node.name, reason: "cut: the lease of slice \(last.slice) ended")
        // Nobody of the slice keeps the node's console either.
        await runner.liveboot.consoles.existing(node.name)?.close(reason: "the lease of slice \(last.slice) ended")
        var request = OperationRequest(.release)
        request.leaseEnd = policy.action
        let outcome: NodeOperation?
        do {
            let started = try await runner.start(request, node: node, user: LeaseEndPolicy.actor, slice: last.slice)
            outcome = await runner.finished(started.id!)
        } catch PortalStoreError.busy(_, _) {
            // An operation began after the cut (another server process on the same database, returning it too): the
            // next round looks again.
            return
        } catch {
            outcome = nil
            logger.warning("cannot start the return of \(node.name): \(error)")
        }
        let leaseIDs = ended.map(\.id)
        do {
            if let outcome, outcome.state == .succeeded {
                PortalMetrics.leaseReturned(result: "ok")
                for id in leaseIDs { try await leases.markReturned(lease: id, at: clock.now) }
                try await audit.record(user: LeaseEndPolicy.actor, slice: last.slice, node: node.name,
                                       action: "return after lease #\(last.id)", result: "ok: \(outcome.message ?? policy.action.rawValue)")
            } else {
                PortalMetrics.leaseReturned(result: "failed")
                let delay = policy.retryDelay(after: attempts)
                let error = outcome?.message ?? "the return could not start"
                for id in leaseIDs { try await leases.markReturnFailed(lease: id, error: error, retryAt: clock.now + delay.seconds) }
                try await audit.record(user: LeaseEndPolicy.actor, slice: last.slice, node: node.name,
                                       action: "return after lease #\(last.id)",
                                       result: "failed (attempt \(attempts + 1), next in \(delay.formattedSeconds)): \(error)")
                logger.warning("return of \(node.name) failed, retried in \(delay.formattedSeconds): \(error)")
            }
        } catch {
            logger.error("cannot record the return of \(node.name): \(error)")
        }
    }
}
