import Foundation
import Hummingbird
import LivebootCore
import PortalStore

/// Who may see and type on a node's serial console from the portal: the members of the slice that holds the node
/// (the first to open it has the keyboard, the others watch), and administrators, who watch unless they take the
/// keyboard over, which everyone is told. Every opening is audited.
struct ConsoleService: Sendable {
    let nodes: NodeService
    let audit: any AuditLog

    /// The node's console and how `user` attaches to it; refused (403) outside a lease of the user's slices.
    func open(_ name: String, by user: User, takeOver: Bool) async throws -> (NodeConsole, ConsoleViewerRequest) {
        let (node, grant) = try await nodes.authorize(user, on: name, for: "console")
        let takes = takeOver && user.isAdmin
        try await audit.record(user: user.name, slice: grant.slice?.name, node: name, action: "console",
                               result: takes ? "opened, keyboard taken over" : "opened")
        let request = ConsoleViewerRequest(name: user.name, wantsKeyboard: !user.isAdmin || takes, takeOver: takes)
        return (nodes.liveboot.serialConsole(node), request)
    }

    /// Whether `user` may open the node's console (403 otherwise, audited as `action`).
    func authorize(_ name: String, by user: User, for action: String = "console") async throws -> Node {
        try await nodes.authorize(user, on: name, for: action).0
    }

    /// Whether the console will show the boot, asked of the node's BMC.
    func readiness(of name: String, by user: User) async throws -> SerialReadiness {
        await nodes.liveboot.serialReadiness(try await authorize(name, by: user, for: "console readiness"))
    }

    /// What a failed boot's page shows first: the last lines of its console log, and the whole log as text.
    func log(of operation: NodeOperation) async throws -> ConsoleLog? {
        guard let bootID = operation.bootId else { return nil }
        return try await nodes.liveboot.bootRegistry().consoleLog(bootID: bootID)
    }
}
