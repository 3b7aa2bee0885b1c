import BMCConsole
import Foundation
import Logging
import Redfish

/// The process's node consoles, one per node: the CLI's and the portal's viewers and the boot recorder of a node
/// share its one BMC session.
public final class SerialConsoles: Sendable {
    private let consoles = Locked([String: NodeConsole]())

    public init() {}

    func console(for node: String, make: () -> NodeConsole) -> NodeConsole {
        consoles.withLock { all in
            if let existing = all[node] { return existing }
            let console = make()
            all[node] = console
            return console
        }
    }

    /// The node's console if anyone ever attached to it here.
    public func existing(_ node: String) -> NodeConsole? { consoles.withLock { $0[node] } }
}

/// Whether the node's serial console will show anything, and what to change where it will not.
public struct SerialReadiness: Codable, Sendable {
    public let node: String
    /// `ssh user@bmc:port` and the command, when the BMC offers a console.
    public var access: String?
    /// Why there is no console, when there is none.
    public var unsupported: String?
    public var settings: [SerialSetting] = []
    public var error: String?

    public var problems: [String] { settings.filter { !$0.isRight }.map(\.problem) }
    /// What `lb console --setup` changes: the BIOS attributes that are wrong and that this BIOS has.
    public var biosChanges: [SerialSetting] {
        settings.filter { !$0.isRight && $0.scope == SerialSetting.biosScope && $0.value != nil }
    }
    public var isReady: Bool { access != nil && unsupported == nil && error == nil && problems.isEmpty }
    /// One line: "ready (console com2 over SSH, 127.0.0.1:22)" or what is wrong.
    public var summary: String {
        if let error { return "unknown (\(error))" }
        if let unsupported { return "not supported: \(unsupported)" }
        let problems = self.problems
        return problems.isEmpty ? "ready (\(access ?? "?"))" : "will show little: " + problems.joined(separator: "; ")
    }
}

extension Liveboot {
    /// The node's relayed console (opened by its first viewer).
    public func serialConsole(_ node: Node) -> NodeConsole {
        consoles.console(for: node.name) {
            NodeConsole(node: node.name, logger: logger) { try await openConsole(node) }
        }
    }

    /// How the BMC offers the console; `ConsoleUnavailable` with the BMC's reason when it offers none.
    func consoleAccess(_ session: NodeSession) async throws -> SerialConsoleAccess {
        do {
            return try await session.bmc.serialConsole(session.discovery)
        } catch RedfishError.notSupported(_, let what) {
            throw ConsoleUnavailable(reason: "the BMC offers no \(what)")
        }
    }

    /// Finds how the BMC offers the console (a Redfish session), then opens it over SSH with the node's BMC
    /// credentials. The BMC's own quit key never reaches it: typed, it would end the session for every viewer.
    func openConsole(_ node: Node) async throws -> ConsoleUpstream {
        let access = try await withSession(node) { session in try await consoleAccess(session) }
        // `withSession` has refused a node without a password already.
        guard let password = node.password else { throw LivebootError.noCredentials(node: node.name) }
        let target = ConsoleTarget(host: access.host, port: access.port, username: node.username, password: password,
                                   command: access.command, connectTimeout: config.timing.connect)
        let session = try await ConsoleSession.open(target)
        let escape = access.bmcEscape
        return ConsoleUpstream(output: session.output, description: target.description, send: { bytes in
            try await session.send(escape.isEmpty ? bytes : bytes.filter { !escape.contains($0) })
        }, close: { await session.close() })
    }

    /// What the serial console depends on, on the BMC and in the BIOS, as the node page shows it (`lb status --bmc`
    /// asks within its own session).
    public func serialReadiness(_ node: Node) async -> SerialReadiness {
        do {
            return try await Deadline.run(within: config.timing.statusDeadline, waitingFor: "the BMC of \(node.name)") {
                try await withSession(node) { session in
                    await serialReadiness(session) { try? await session.bmc.bios(of: session.system) }
                }
            }
        } catch {
            var readiness = SerialReadiness(node: node.name)
            readiness.error = "\(error)"
            return readiness
        }
    }

    /// The readiness in an open session; the BIOS is asked for only when the BMC offers a console.
    func serialReadiness(_ session: NodeSession, bios: () async -> Bios?) async -> SerialReadiness {
        var readiness = SerialReadiness(node: session.node.name)
        do {
            let access = try await consoleAccess(session)
            readiness.access = "\(access.command ?? "shell") over SSH, \(access.host):\(access.port)"
            readiness.settings = access.settings + ((await bios()).map(session.bmc.serialBiosSettings) ?? [])
        } catch let unavailable as ConsoleUnavailable {
            readiness.unsupported = unavailable.reason
        } catch {
            readiness.error = "\(error)"
        }
        return readiness
    }

    /// The BIOS changes the serial console needs, queued as `biosset` queues them (validated against the registry,
    /// applied at the next reboot). - Returns: the change queued, nil when the BIOS was right already.
    public func setUpSerialConsole(_ node: Node, progress: @escaping ProgressHandler = { _ in }) async throws -> BiosChange? {
        let readiness = await serialReadiness(node)
        if let error = readiness.error { throw LivebootError.badArgument("cannot read the serial settings of \(node.name): \(error)") }
        if let unsupported = readiness.unsupported { throw LivebootError.badArgument("\(node.name): \(unsupported)") }
        let wanted = readiness.biosChanges
        for setting in readiness.settings where !setting.isRight && setting.scope != SerialSetting.biosScope {
            progress(.bmc("\(setting.problem): change it on the BMC itself (liveboot sets BIOS attributes only)"))
        }
        guard !wanted.isEmpty else { return nil }
        return try await biosSet(node, assignments: wanted.map { "\($0.name)=\($0.accepted[0])" })
    }

    /// Records the node's console until `stop()`: the boot's console log.
    func recordConsole(_ node: Node) async -> ConsoleRecording {
        let attachment = await serialConsole(node).attach(ConsoleViewerRequest(name: "boot recorder", wantsKeyboard: false, replay: false))
        return ConsoleRecording(attachment: attachment)
    }
}

/// A boot's console, recorded from its power cycle to the end of its wait.
final class ConsoleRecording: Sendable {
    private let attachment: ConsoleAttachment
    private let collected = Locked((tail: ConsoleTail(capacity: ConsoleLog.limit), ended: String?.none, notice: String?.none,
                                    opened: Bool?.none))
    private let reader: Task<Void, Never>

    init(attachment: ConsoleAttachment) {
        self.attachment = attachment
        let collected = self.collected
        reader = Task {
            for await event in attachment.events {
                switch event {
                case .output(let bytes): collected.withLock { $0.tail.append(bytes) }
                case .ended(let why): collected.withLock { $0.ended = why }
                case .notice(let said):
                    collected.withLock {
                        $0.notice = said
                        if $0.opened == nil { $0.opened = NodeConsole.saysOpened(said) }
                    }
                case .keyboard: break
                }
            }
        }
    }

    /// Waits, at most `limit`, for the relay's first word on the BMC's session: true once it is open, false when the
    /// BMC has no console or could not open it, nil when nothing was said by then — the console is never required.
    func opened(within limit: Duration) async -> Bool? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let (opened, ended) = collected.withLock { ($0.opened, $0.ended != nil) }
            if let opened { return opened }
            if ended { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    func stop() async -> ConsoleLog {
        await attachment.leave()
        await reader.value
        return collected.withLock { state in
            // Nothing shown: why, if the relay said (no console, cannot connect); else the console was silent.
            ConsoleLog(bytes: Data(state.tail.bytes), totalBytes: state.tail.total,
                       unavailable: state.tail.total > 0 ? nil
                           : state.ended ?? state.notice.flatMap { NodeConsole.saysOpened($0) == true ? nil : $0 })
        }
    }
}
