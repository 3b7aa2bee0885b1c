import BMCConsole
import Foundation
import Logging

/// What a console viewer receives.
public enum ConsoleEvent: Sendable, Equatable {
    /// Bytes the node's serial console showed (the replay of recent history first, on attach).
    case output([UInt8])
    /// liveboot's own word on the session: connected, dropped and reconnecting, the keyboard changing hands.
    case notice(String)
    /// The viewer may type now, or may not (someone else has the keyboard).
    case keyboard(mine: Bool, holder: String?)
    /// The session is over for this viewer: why.
    case ended(String)
}

/// Who attaches: a person (by name) or the boot recorder, and whether they ask for the keyboard.
public struct ConsoleViewerRequest: Sendable {
    public let name: String
    public let wantsKeyboard: Bool
    /// An administrator taking the keyboard from whoever has it, said to everyone.
    public let takeOver: Bool
    /// Replays the recent history first (a person does; the boot recorder starts fresh).
    public let replay: Bool

    public init(name: String, wantsKeyboard: Bool, takeOver: Bool = false, replay: Bool = true) {
        self.name = name
        self.wantsKeyboard = wantsKeyboard
        self.takeOver = takeOver
        self.replay = replay
    }
}

/// One attached viewer's handle: its events, and a way to type and to leave.
public struct ConsoleAttachment: Sendable {
    public let id: UUID
    public let events: AsyncStream<ConsoleEvent>
    let console: NodeConsole

    /// Typed bytes go to the node only while this viewer has the keyboard; otherwise they are dropped.
    public func type(_ bytes: [UInt8]) async { await console.type(bytes, from: id) }
    public func leave() async { await console.detach(id) }
}

/// One node's serial console, relayed: a single session to its BMC (an iDRAC takes one `console com2` at a time)
/// shared by every viewer, with the last 64 KiB replayed to each newcomer. One viewer at a time has the keyboard;
/// when its holder leaves, it passes to whoever has waited longest for it. The session opens with the first viewer,
/// reopens (with a bounded backoff, said to the viewers) when the BMC drops it while anyone watches, and closes with
/// the last viewer.
public actor NodeConsole {
    public let node: String
    private let open: @Sendable () async throws -> ConsoleUpstream
    private let logger: Logger
    private var history = ConsoleTail(capacity: 64 << 10)
    private var viewers: [UUID: Viewer] = [:]
    private var arrivals = 0
    private var keyboard: UUID?
    private var upstream: ConsoleUpstream?
    private var pump: Task<Void, Never>?

    /// The longest wait between two attempts to reopen a dropped session.
    static let maximumBackoff: Duration = .seconds(30)
    /// A session that lasted this long was a working one: after it drops, the next try comes after the shortest pause.
    /// One the BMC ends sooner (its console taken by another client, redirection off) is retried ever more slowly:
    /// at a steady second, each try would cost the BMC a Redfish login and an SSH login for as long as anyone watches.
    static let steadySession: Duration = .seconds(10)

    private struct Viewer {
        let name: String
        let sink: AsyncStream<ConsoleEvent>.Continuation
        let wantsKeyboard: Bool
        /// Arrival order: the keyboard passes to the viewer who has waited longest for it.
        let arrival: Int
    }

    init(node: String, logger: Logger, open: @escaping @Sendable () async throws -> ConsoleUpstream) {
        self.node = node
        self.logger = logger
        self.open = open
    }

    private var keyboardHolder: String? { keyboard.flatMap { viewers[$0]?.name } }

    /// Whether a notice is the relay's word that the BMC's session is open (true), could not be opened (false), or
    /// neither (nil).
    static func saysOpened(_ notice: String) -> Bool? {
        if notice.hasPrefix(Self.connectedNotice) || notice.hasPrefix("re" + Self.connectedNotice) { return true }
        if notice.hasPrefix(Self.cannotOpenNotice) { return false }
        return nil
    }
    private static let connectedNotice = "connected to the serial console of "
    private static let cannotOpenNotice = "cannot open the console of "

    /// What viewers are told of an open session: "connected to …", "reconnected to …" after a drop.
    private func connected(to session: ConsoleUpstream, again: Bool) -> ConsoleEvent {
        .notice((again ? "re" : "") + Self.connectedNotice + "\(node) (\(session.description))")
    }

    public func attach(_ request: ConsoleViewerRequest) -> ConsoleAttachment {
        let (events, sink) = AsyncStream.makeStream(of: ConsoleEvent.self, bufferingPolicy: .bufferingNewest(4096))
        let id = UUID()
        arrivals += 1
        viewers[id] = Viewer(name: request.name, sink: sink, wantsKeyboard: request.wantsKeyboard, arrival: arrivals)
        sink.onTermination = { [weak self] _ in Task { await self?.detach(id) } }
        // Who joins an open session is told so, as the first viewer was (the boot recorder waits for that word).
        if let upstream { sink.yield(connected(to: upstream, again: false)) }
        if request.replay, !history.bytes.isEmpty { sink.yield(.output(history.bytes)) }
        if request.wantsKeyboard {
            if keyboard == nil {
                keyboard = id
            } else if request.takeOver, let previous = keyboard {
                let from = viewers[previous]?.name ?? "?"
                keyboard = id
                broadcast(.notice("\(request.name) (administrator) took the keyboard from \(from)"))
            }
        }
        announceKeyboard()
        if pump == nil { pump = Task { await self.relay() } }
        return ConsoleAttachment(id: id, events: events, console: self)
    }

    func detach(_ id: UUID) {
        guard let viewer = viewers.removeValue(forKey: id) else { return }
        viewer.sink.finish()
        if keyboard == id {
            let next = viewers.filter(\.value.wantsKeyboard).min { $0.value.arrival < $1.value.arrival }
            keyboard = next?.key
            if !viewers.isEmpty {
                broadcast(.notice("\(viewer.name) left: " + (next.map { "\($0.value.name) has the keyboard" } ?? "the keyboard is free")))
                announceKeyboard()
            }
        }
        if viewers.isEmpty { stopRelay() }
    }

    /// Everyone leaves, told why (the lease ended, the server stops).
    public func close(reason: String) {
        for (_, viewer) in viewers {
            viewer.sink.yield(.ended(reason))
            viewer.sink.finish()
        }
        viewers = [:]
        keyboard = nil
        stopRelay()
    }

    func type(_ bytes: [UInt8], from id: UUID) async {
        guard keyboard == id, let upstream else { return }
        do { try await upstream.send(bytes) } catch {
            logger.debug("console input lost", metadata: ["node": "\(node)", "error": "\(error)"])
        }
    }

    private func announceKeyboard() {
        let holder = keyboardHolder
        for (id, viewer) in viewers { viewer.sink.yield(.keyboard(mine: id == keyboard, holder: holder)) }
    }

    private func broadcast(_ event: ConsoleEvent) {
        if case .output(let bytes) = event { history.append(bytes) }
        for (_, viewer) in viewers { viewer.sink.yield(event) }
    }

    private func stopRelay() {
        pump?.cancel()
        pump = nil
        let closing = upstream
        upstream = nil
        if let closing { Task { await closing.close() } }
    }

    private func connected(_ session: ConsoleUpstream) -> Bool {
        guard !Task.isCancelled else { return false }
        upstream = session
        return true
    }

    /// Opens the BMC's session and relays it; reopens it after a drop while anyone watches. A BMC that says it has
    /// no console ends the session for everyone: retrying would not change its answer.
    private func relay() async {
        var backoff: Duration = .seconds(1)
        var attempt = 0
        while !Task.isCancelled {
            attempt += 1
            let session: ConsoleUpstream
            do {
                session = try await open()
            } catch let error as ConsoleUnavailable {
                close(reason: "no serial console for \(node): \(error.reason)")
                return
            } catch {
                broadcast(.notice(Self.cannotOpenNotice + "\(node): \(error); trying again in \(Int(backoff.components.seconds)) s"))
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, Self.maximumBackoff)
                continue
            }
            guard connected(session) else {
                await session.close()
                return
            }
            broadcast(connected(to: session, again: attempt > 1))
            let opened = ContinuousClock.now
            for await bytes in session.output { broadcast(.output(bytes)) }
            upstream = nil
            guard !Task.isCancelled else { return }
            if ContinuousClock.now - opened >= Self.steadySession { backoff = .seconds(1) }
            broadcast(.notice("the BMC closed the console session of \(node); reconnecting in \(Int(backoff.components.seconds)) s"))
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, Self.maximumBackoff)
        }
    }
}

/// The BMC side of a console as `NodeConsole` uses it; `ConsoleSession` over SSH in production.
public struct ConsoleUpstream: Sendable, CustomStringConvertible {
    public let output: AsyncStream<[UInt8]>
    public let send: @Sendable ([UInt8]) async throws -> Void
    public let close: @Sendable () async -> Void
    public let description: String

    public init(output: AsyncStream<[UInt8]>, description: String, send: @escaping @Sendable ([UInt8]) async throws -> Void,
                close: @escaping @Sendable () async -> Void) {
        self.output = output
        self.send = send
        self.close = close
        self.description = description
    }
}

/// The BMC offers no console liveboot can relay: the reason, in its terms.
public struct ConsoleUnavailable: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}
