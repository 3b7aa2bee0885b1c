import Foundation
import Redfish

/// Virtual media the way a BMC really behaves: every request is followed by polling the slot until it reads back
/// as asked, within a deadline, saying what it waits for. A BMC answers before it has done the work (the iDRAC's
/// 204 to `InsertMedia` precedes the mount by seconds); a slot an earlier session left connected is ejected and
/// tried once more; transient refusals are retried with backoff.
struct MediaDrive {
    let session: NodeSession
    let timing: Timing
    let progress: ProgressHandler

    var bmc: any BMC { session.bmc }
    var node: String { session.node.name }

    /// Ejects `slot` when it holds something (or always, when `force`), then waits until it reads back empty.
    func eject(_ slot: VirtualMedia, force: Bool = false) async throws {
        guard force || slot.isInserted else { return }
        progress(.slotEjecting(slot: slot.id, holding: slot.image))
        try await retryingWhileBusy("EjectMedia on slot \(slot.id)") { try await bmc.eject(slot) }
        _ = try await poll(slot, until: .empty, within: timing.mediaEject) { !$0.isInserted }
    }

    /// Inserts `url` into `slot` (ejecting what it holds), then waits until the slot reads back as holding it.
    func insert(_ url: String, into slot: VirtualMedia) async throws -> VirtualMedia {
        try await eject(slot)
        progress(.slotInserting(slot: slot.id, url: url))
        do {
            try await retryingWhileBusy("InsertMedia on slot \(slot.id)") { try await bmc.insert(url, into: slot) }
        } catch let error as RedfishError where bmc.refusal(error) == .slotInUse {
            progress(.slotInUse(slot: slot.id, said: error.messageIDs.last ?? "in use"))
            try await eject(slot, force: true)
            try await retryingWhileBusy("InsertMedia on slot \(slot.id)") { try await bmc.insert(url, into: slot) }
        }
        return try await poll(slot, until: .holding(url), within: timing.mediaInsert) { $0.isInserted && $0.image == url }
    }

    /// Reads the slot until `done`, at the poll interval, up to `limit`; says once what it waits for.
    private func poll(_ slot: VirtualMedia, until goal: SlotGoal, within limit: Duration,
                      _ done: (VirtualMedia) -> Bool) async throws -> VirtualMedia {
        let start = ContinuousClock.now
        var said = false
        while true {
            let now = try await bmc.refresh(slot)
            if done(now) { return now }
            let waited = ContinuousClock.now - start
            guard waited < limit else {
                switch goal {
                case .holding(let url):
                    throw LivebootError.mediaNotInserted(node: node, slot: slot.id, expected: url, found: now.image,
                                                         seconds: Int(limit.components.seconds))
                case .empty:
                    throw LivebootError.mediaNotEjected(node: node, slot: slot.id, holding: now.image,
                                                        seconds: Int(limit.components.seconds))
                }
            }
            if !said {
                progress(.slotWaiting(slot: slot.id, goal, limit: limit))
                said = true
            }
            try await Task.sleep(for: min(timing.pollInterval, limit - waited))
        }
    }

    /// Runs `request`, again after a transient refusal (`Refusal.busy`), at most `timing.busyRetries` more times,
    /// the pause doubling from `timing.busyBackoff`.
    @discardableResult
    func retryingWhileBusy<T>(_ what: String, _ request: () async throws -> T) async throws -> T {
        var pause = timing.busyBackoff
        var retry = 0
        while true {
            do {
                return try await request()
            } catch let error as RedfishError where bmc.refusal(error) == .busy && retry < timing.busyRetries {
                retry += 1
                progress(.bmcBusy(what: what, said: error.messageIDs.last ?? "busy", retryIn: pause,
                                  attempt: retry, of: timing.busyRetries))
                try await Task.sleep(for: pause)
                pause = pause * 2
            }
        }
    }
}

/// What a slot is polled for.
public enum SlotGoal: Sendable, Equatable {
    case holding(String)
    case empty
}

extension Liveboot {
    /// Waits, up to `timing.bmc-ready`, while the BMC says its provisioning side cannot take work (Dell: the
    /// Lifecycle Controller collecting the inventory after a power-on), instead of failing on its first refusal.
    func waitUntilBMCReady(_ session: NodeSession, progress: ProgressHandler) async throws {
        let limit = config.timing.bmcReady
        let start = ContinuousClock.now
        var said: String?
        while let reason = try await session.bmc.notReadyReason(session.discovery) {
            let waited = ContinuousClock.now - start
            guard waited < limit else {
                throw LivebootError.bmcNotReady(node: session.node.name, reason: reason, seconds: Int(limit.components.seconds))
            }
            if said != reason {
                progress(.bmcNotReady(reason, limit: limit))
                said = reason
            }
            try await Task.sleep(for: min(max(config.timing.pollInterval, .milliseconds(100)), limit - waited))
        }
    }
}
