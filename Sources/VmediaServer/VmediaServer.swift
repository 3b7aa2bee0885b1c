import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
import NIOPosix

/// A connection's clocks.
public struct VmediaLimits: Sendable {
    /// A request head must be complete within this (slowloris).
    public var header: TimeAmount
    /// A connection with nothing to read or send closes after this.
    public var idle: TimeAmount

    public init(header: TimeAmount = .seconds(10), idle: TimeAmount = .seconds(75)) {
        self.header = header
        self.idle = idle
    }
}

/// The listener the BMCs read virtual media from: `GET`/`HEAD` of media paths, nothing else (any other request gets
/// a fixed 4xx and the connection closes), on its own event loops so that reading files never holds up anything
/// else the process does.
///
/// `run` binds, serves, and returns once `shutdown` has stopped the listener and the connections have finished the
/// answer they were writing.
public final class VmediaServer: Sendable {
    public let host: String
    public let port: Int
    private let routes: VmediaRoutes
    private let limits: VmediaLimits
    private let logger: Logger
    private let threads: Int
    private let state = NIOLockedValueBox(State.idle)

    private enum State {
        case idle
        case running(ServerQuiescingHelper, any Channel)
        case stopping
    }

    public struct BindFailed: Error, CustomStringConvertible {
        public let host: String
        public let port: Int
        public let reason: String
        public var description: String { "the vmedia listener cannot listen on \(host):\(port): \(reason)" }
    }

    public init(routes: VmediaRoutes, host: String, port: Int, limits: VmediaLimits = VmediaLimits(),
                threads: Int = System.coreCount, logger: Logger) {
        self.routes = routes
        self.host = host
        self.port = port
        self.limits = limits
        self.threads = max(1, threads)
        self.logger = logger
    }

    /// Serves until `shutdown`. `onBound` gets the port listened on (port 0 binds any free one).
    public func run(onBound: @Sendable (Int) async -> Void = { _ in }) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        do {
            try await serve(on: group, onBound: onBound)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    private func serve(on group: MultiThreadedEventLoopGroup, onBound: @Sendable (Int) async -> Void) async throws {
        let quiesce = ServerQuiescingHelper(group: group)
        let routes = routes, limits = limits, logger = logger
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(VmediaConnection(routes: routes, limits: limits, logger: logger))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            throw BindFailed(host: host, port: port, reason: "\(error)")
        }
        let stopNow = state.withLockedValue { state -> Bool in
            if case .stopping = state { return true }
            state = .running(quiesce, channel)
            return false
        }
        if stopNow { try? await channel.close() }
        let bound = channel.localAddress?.port ?? port
        logger.info("vmedia listener up", metadata: ["address": "\(host):\(bound)"])
        await onBound(bound)
        try await channel.closeFuture.get()
        // The listener is closed; the connections finish what they are writing.
        if let done = stopping { try await done.get() }
    }

    private let stopped = NIOLockedValueBox<EventLoopFuture<Void>?>(nil)
    private var stopping: EventLoopFuture<Void>? { stopped.withLockedValue { $0 } }

    /// Stops listening, lets every connection finish the answer it is writing, then `run` returns.
    public func shutdown() {
        let running = state.withLockedValue { state -> (ServerQuiescingHelper, any Channel)? in
            defer { state = .stopping }
            if case .running(let quiesce, let channel) = state { return (quiesce, channel) }
            return nil
        }
        guard let (quiesce, channel) = running else { return }
        let promise = channel.eventLoop.makePromise(of: Void.self)
        stopped.withLockedValue { $0 = promise.futureResult }
        quiesce.initiateShutdown(promise: promise)
    }
}
