import Foundation
import LivebootCore
import Logging
import PortalStore
import Seed

/// What the live page of an operation receives: each step as it happens, then the end.
enum OperationEvent: Sendable, Equatable {
    case step(OperationStep)
    case finished(NodeOperation)
}

/// Runs node operations in the background of the server, one per node at a time: each step is stored (history,
/// reloads) and pushed to whoever follows the operation (Server-Sent Events).
actor OperationRunner {
    let liveboot: Liveboot
    let operations: any OperationRepository
    let board: StatusBoard
    let logger: Logger
    private var followers: [Int64: [UUID: AsyncStream<OperationEvent>.Continuation]] = [:]
    private var tasks: [Int64: Task<Void, Never>] = [:]
    private var runningOn: [String: Int64] = [:]
    /// Why an operation was stopped, when it was on purpose (a lease's end), for its record.
    private var cutReasons: [Int64: String] = [:]

    init(liveboot: Liveboot, operations: any OperationRepository, board: StatusBoard, logger: Logger) {
        self.liveboot = liveboot
        self.operations = operations
        self.board = board
        self.logger = logger
    }

    /// Records the operation (refused with `busy` if the node has one running) and starts it.
    func start(_ request: OperationRequest, node: Node, user: String, slice: String?) async throws -> NodeOperation {
        let operation = try await operations.startOperation(NodeOperation(
            id: nil, node: node.name, kind: request.action.rawValue, image: request.image?.name, user: user, slice: slice,
            state: .running, message: nil, sshCommand: nil, startedAt: Date(), endedAt: nil))
        let id = operation.id!
        var request = request
        request.checksImage = true
        request.wait = true
        tasks[id] = Task { [request] in await self.run(operation, request, node: node) }
        runningOn[node.name] = id
        return operation
    }

    /// Stops the node's running operation, if any, recorded as `interrupted` with `reason`; returns once it has
    /// recorded its end.
    func cut(node: String, reason: String) async {
        guard let id = runningOn[node], let task = tasks[id] else { return }
        cutReasons[id] = reason
        task.cancel()
        await task.value
    }

    /// The operation as it ended, once it has (nil: unknown here, or its record could not be read).
    func finished(_ id: Int64) async -> NodeOperation? {
        if let task = tasks[id] { await task.value }
        return try? await operations.operation(id: id)
    }

    /// A stream of the operation's events from now on; the caller reads the stored steps first.
    func follow(_ id: Int64) -> AsyncStream<OperationEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: OperationEvent.self, bufferingPolicy: .bufferingNewest(256))
        let key = UUID()
        followers[id, default: [:]][key] = continuation
        continuation.onTermination = { _ in Task { await self.unfollow(id, key) } }
        return stream
    }

    private func unfollow(_ id: Int64, _ key: UUID) {
        followers[id]?[key] = nil
    }

    /// Server shutdown: stops the running operations, which record themselves as interrupted.
    func cancelAll() async {
        let running = Array(tasks.values)
        for task in running { task.cancel() }
        for task in running { await task.value }
    }

    private func publish(_ id: Int64, _ event: OperationEvent) {
        for continuation in followers[id]?.values ?? [:].values { continuation.yield(event) }
        if case .finished = event {
            for continuation in followers[id]?.values ?? [:].values { continuation.finish() }
            followers[id] = nil
        }
    }

    private func store(_ id: Int64, start: ContinuousClock.Instant, _ nodeStep: NodeStep, at instant: ContinuousClock.Instant) async {
        if case .screenshot(.png(let png)) = nodeStep {
            let operations = self.operations
            do { try await Task.detached { try await operations.attachScreenshot(png, to: id, at: Date()) }.value } catch {
                logger.error("cannot store the screenshot of #\(id): \(error)")
            }
        }
        let elapsed = instant - start
        var step = OperationStep(id: nil, operationId: id,
                                 elapsed: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
                                 message: nodeStep.text, isError: nodeStep.isError)
        let stored = step, operations = self.operations
        // Stored even when the operation is being cancelled (server stop): GRDB's async writes honour cancellation.
        do { step = try await Task.detached { try await operations.addStep(stored) }.value } catch { logger.error("cannot store a step of #\(id): \(error)") }
        publish(id, .step(step))
    }

    private func run(_ operation: NodeOperation, _ request: OperationRequest, node: Node) async {
        let id = operation.id!
        let start = ContinuousClock.now
        // The core reports steps through a synchronous callback; they are stored and published in order.
        let (steps, sink) = AsyncStream.makeStream(of: (NodeStep, ContinuousClock.Instant).self)
        let action = request.action.rawValue
        let relay = Task { () -> (media: [BootMediumRead]?, bootID: String?) in
            // Each step lasts until the next one (the last until the operation ends): the operators' per-step times.
            var previous: (name: String, at: ContinuousClock.Instant)?
            var media: [BootMediumRead]?
            var bootID: String?
            for await (step, at) in steps {
                if let previous { PortalMetrics.step(previous.name, of: action, took: at - previous.at) }
                previous = (step.name, at)
                // A live boot says what its BMC read, ready or failed: kept with the operation too.
                if case .mediaRead(let reads) = step, !reads.isEmpty { media = reads }
                // …and the boot whose console log was kept, for the page to show it.
                if case .consoleRecorded(let id, _, _, _) = step { bootID = id }
                await self.store(id, start: start, step, at: at)
            }
            if let previous { PortalMetrics.step(previous.name, of: action, took: ContinuousClock.now - previous.at) }
            return (media, bootID)
        }

        var state = OperationState.succeeded
        var message: String?
        var sshCommand: String?
        var hostKeys: [HostKey]?
        do {
            let outcome = try await liveboot.perform(request, on: node, progress: { sink.yield(($0, .now)) })
            message = outcome.summary
            sshCommand = outcome.sshCommand
            hostKeys = outcome.hostKeys.isEmpty ? nil : outcome.hostKeys
        } catch {
            state = Task.isCancelled ? .interrupted : .failed
            message = Task.isCancelled ? cutReasons[id] ?? "interrupted: the server stopped during the operation" : "\(error)"
        }
        sink.finish()
        let (media, bootID) = await relay.value
        PortalMetrics.operationEnded(kind: action, result: state.rawValue, after: ContinuousClock.now - start)
        let now = Date()
        do {
            let operations = self.operations, (finalState, finalMessage, command, keys) = (state, message, sshCommand, hostKeys)
            try await Task.detached {
                try await operations.finishOperation(id: id, state: finalState, message: finalMessage, sshCommand: command,
                                                     hostKeys: keys, media: media, bootID: bootID, at: now)
            }.value
        } catch {
            logger.error("cannot record the end of #\(id): \(error)")
        }
        var finished = (try? await operations.operation(id: id)) ?? operation
        finished.state = state
        finished.message = message
        finished.sshCommand = sshCommand
        finished.hostKeys = hostKeys
        finished.media = media
        finished.bootId = bootID
        finished.endedAt = now
        // The dashboard shows the node as the operation left it, without waiting for the next round; probed before
        // the end is published, so a page that reloads its status on `done` reads the new one.
        await board.refresh(node, using: liveboot, minimumAge: .zero)
        publish(id, .finished(finished))
        tasks[id] = nil
        cutReasons[id] = nil
        if runningOn[node.name] == id { runningOn[node.name] = nil }
    }
}
