import Foundation
import Redfish

/// What a node is left as when a lease ends (`leases.on-end`).
public enum LeaseEndAction: String, Sendable, Codable, CaseIterable {
    /// Media out, one-time boot on the disk, power cycle: the installed OS, as the next holder expects.
    case diskboot
    /// Media out, powered off.
    case off
    /// Left as it is (the operator's choice: a former slice's live session stays up).
    case keep
}

extension Liveboot {
    /// The end of a lease: the former slice's live session ends (its boots closed: a late report is refused, its
    /// host keys no longer offered), every virtual-media slot is ejected, then the disk is booted or the node
    /// powered off.
    /// - Returns: one line for the operation's outcome.
    public func release(_ node: Node, _ action: LeaseEndAction, progress: @escaping ProgressHandler = { _ in }) async throws -> String {
        switch action {
        case .keep:
            return "left as it is (leases.on-end: keep)"
        case .diskboot:
            try await diskboot(node, progress: progress)
            return "returned: media ejected, booting its disk"
        case .off:
            if let registry = try? bootRegistry() { try await registry.closeBoots(of: node.name) }
            try await withSession(node) { session in
                try await waitUntilBMCReady(session, progress: progress)
                let drive = MediaDrive(session: session, timing: config.timing, progress: progress)
                for slot in try await session.bmc.virtualMediaSlots(session.discovery) { try await drive.eject(slot) }
            }
            _ = try await power(node, .off, progress: progress)
            return "returned: media ejected, powered off"
        }
    }
}
