import DellIDRAC
import Foundation
import Redfish

public enum PowerAction: String, Sendable, CaseIterable {
    case on, off, reboot
}

extension NodeAction {
    /// The power actions among the operations.
    public var power: PowerAction? {
        switch self {
        case .on: .on
        case .off: .off
        case .reboot: .reboot
        case .liveboot, .diskboot, .release: nil
        }
    }
}

extension Liveboot {
    /// `on`, `off` (graceful, then forced after `gracefulTimeout`) or `reboot` (off then on; ends On).
    /// - Returns: what was done, for one line of output.
    public func power(_ node: Node, _ action: PowerAction, graceful: Bool = true, gracefulTimeout: Duration? = nil,
                      progress: @escaping ProgressHandler = { _ in }) async throws -> String {
        try await withSession(node) { session in
            switch action {
            case .on: return try await powerOn(session, progress: progress)
            case .off:
                return try await powerOff(session, graceful: graceful,
                                          gracefulTimeout: gracefulTimeout ?? config.timing.gracefulShutdown, progress: progress)
            case .reboot:
                let off = try await powerOff(session, graceful: graceful,
                                             gracefulTimeout: gracefulTimeout ?? config.timing.gracefulShutdown,
                                             progress: progress)
                let on = try await powerOn(session, progress: progress)
                return "\(off), then \(on)"
            }
        }
    }

    func currentPower(_ session: NodeSession) async throws -> PowerState {
        try await session.bmc.refresh(session.system).powerState ?? .unknown("unknown")
    }

    func powerOn(_ session: NodeSession, progress: ProgressHandler) async throws -> String {
        if try await currentPower(session) == .on { return "already On" }
        progress(.power(.on))
        try await reset(session, .on, satisfiedBy: .on)
        try await waitForPower(session, .on, within: config.timing.powerChange)
        return "powered On"
    }

    /// GracefulShutdown, poll, then ForceOff after the timeout. Success once the node is Off, however it got
    /// there (the original returned nothing after a ForceOff, so `reboot` left the node off).
    func powerOff(_ session: NodeSession, graceful: Bool, gracefulTimeout: Duration, progress: ProgressHandler) async throws -> String {
        if try await currentPower(session) == .off { return "already Off" }
        if graceful {
            progress(.power(.gracefulShutdown(forceAfter: gracefulTimeout)))
            try await reset(session, .gracefulShutdown, satisfiedBy: .off)
            if try await pollPower(session, .off, within: gracefulTimeout) { return "shut down gracefully" }
            progress(.power(.forceOff(afterTimeout: gracefulTimeout)))
        } else {
            progress(.power(.forceOff(afterTimeout: nil)))
        }
        try await reset(session, .forceOff, satisfiedBy: .off)
        try await waitForPower(session, .off, within: config.timing.powerChange)
        return graceful ? "forced Off after the graceful timeout" : "forced Off"
    }

    /// Posts a reset; a 409 (conflict) counts as success when the node is already in `satisfiedBy`.
    func reset(_ session: NodeSession, _ type: ResetType, satisfiedBy wanted: PowerState) async throws {
        do {
            try await session.bmc.reset(session.system, type: type)
        } catch let error as RedfishError where error.status == 409 {
            guard try await currentPower(session) == wanted else { throw error }
        }
    }

    func waitForPower(_ session: NodeSession, _ wanted: PowerState, within: Duration) async throws {
        guard try await pollPower(session, wanted, within: within) else {
            throw LivebootError.powerTimeout(node: session.node.name, wanted: wanted.description,
                                             last: (try? await currentPower(session))?.description ?? "unknown")
        }
    }

    /// Polls until `wanted` or the deadline; `Task.sleep`, cancellation honoured.
    func pollPower(_ session: NodeSession, _ wanted: PowerState, within: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + within
        while true {
            if try await currentPower(session) == wanted { return true }
            if ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: min(config.timing.pollInterval, deadline - ContinuousClock.now))
        }
    }

    /// Power-cycles for a boot: ForceRestart when On, On when Off. `knownPower`, when just read, saves a call.
    func powerCycle(_ session: NodeSession, knownPower: PowerState? = nil, progress: ProgressHandler) async throws {
        let power: PowerState
        if let knownPower { power = knownPower } else { power = try await currentPower(session) }
        switch power {
        case .off:
            progress(.power(.on))
            try await reset(session, .on, satisfiedBy: .on)
        default:
            progress(.power(.cycle(.forceRestart)))
            do {
                try await session.bmc.reset(session.system, type: .forceRestart)
            } catch let error as RedfishError where error.status == 409 {
                // Went off since it was read (409: not in a state to restart): power it on instead.
                progress(.power(.on))
                try await reset(session, .on, satisfiedBy: .on)
            }
        }
    }
}
