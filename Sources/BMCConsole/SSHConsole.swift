import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSH

/// What a console session is opened with: the BMC's SSH service, its credentials, the command that attaches the
/// console (nil: the shell is the console) and the terminal the BMC is told about.
public struct ConsoleTarget: Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int
    public let username: String
    /// Secret: never printed or logged (`description` leaves it out).
    let password: String
    public let command: String?
    public let terminal: String
    public let columns: Int
    public let rows: Int
    public let connectTimeout: Duration

    public init(host: String, port: Int, username: String, password: String, command: String?, terminal: String = "vt100",
                columns: Int = 80, rows: Int = 25, connectTimeout: Duration = .seconds(10)) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.command = command
        self.terminal = terminal
        self.columns = columns
        self.rows = rows
        self.connectTimeout = connectTimeout
    }

    public var description: String { "\(username)@\(host):\(port)" + (command.map { " (\($0))" } ?? "") }
}

/// Why a console session could not be opened or ended.
public enum ConsoleError: Error, Sendable, CustomStringConvertible, Equatable {
    case unreachable(String, reason: String)
    case authenticationFailed(String)
    case refused(String, reason: String)

    public var description: String {
        switch self {
        case .unreachable(let target, let reason): return "cannot reach the BMC's SSH service at \(target): \(reason)"
        case .authenticationFailed(let target): return "the BMC's SSH service at \(target) refused the BMC credentials"
        case .refused(let target, let reason): return "the BMC at \(target) refused the console session: \(reason)"
        }
    }
}

/// One SSH session to a BMC with its console attached: the bytes it sends, and a way to type.
///
/// The BMC's host key is not verified, as its TLS certificate is not (`drac-ca-file` aside): iDRACs ship
/// self-generated keys that nobody distributes. What crosses the session is the host's console, behind the same
/// credentials as Redfish.
public final class ConsoleSession: Sendable {
    /// The console's output until the session ends (the BMC closed it, the network dropped, `close()`).
    public let output: AsyncStream<[UInt8]>
    private let connection: any Channel
    private let session: any Channel

    init(output: AsyncStream<[UInt8]>, connection: any Channel, session: any Channel) {
        self.output = output
        self.connection = connection
        self.session = session
    }

    /// Opens the session: TCP, SSH with the password, a pseudo-terminal, then the command (or a shell).
    public static func open(_ target: ConsoleTarget) async throws -> ConsoleSession {
        let authentication = PasswordAuthentication(username: target.username, password: target.password)
        let connection: any Channel
        do {
            connection = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(target.connectTimeout))
                .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSHHandler(
                            role: .client(.init(userAuthDelegate: authentication, serverAuthDelegate: AnyHostKey())),
                            allocator: channel.allocator, inboundChildChannelInitializer: nil))
                        try channel.pipeline.syncOperations.addHandler(CloseOnError())
                    }
                }
                .connect(host: target.host, port: target.port).get()
        } catch {
            throw ConsoleError.unreachable(target.description, reason: "\(error)")
        }
        // The whole opening is bounded: a service that takes the connection and then says nothing is given up on.
        let giveUp = connection.eventLoop.scheduleTask(in: TimeAmount(target.connectTimeout * 2)) {
            connection.close(promise: nil)
        }
        defer { giveUp.cancel() }
        let (output, sink) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingNewest(4096))
        let replies = connection.eventLoop.makePromise(of: Void.self)
        let handler = ConsoleChannelHandler(target: target, sink: sink, replies: replies)
        do {
            let session = try await connection.pipeline.handler(type: NIOSSHHandler.self).flatMap { ssh in
                let promise = connection.eventLoop.makePromise(of: (any Channel).self)
                ssh.createChannel(promise, channelType: .session) { child, _ in
                    child.eventLoop.makeCompletedFuture { try child.pipeline.syncOperations.addHandler(handler) }
                }
                return promise.futureResult
            }.get()
            try await replies.futureResult.get()
            connection.closeFuture.whenComplete { _ in sink.finish() }
            return ConsoleSession(output: output, connection: connection, session: session)
        } catch {
            replies.fail(error)
            try? await connection.close()
            if authentication.wasRejected { throw ConsoleError.authenticationFailed(target.description) }
            if let error = error as? ConsoleError { throw error }
            throw ConsoleError.refused(target.description, reason: "\(error)")
        }
    }

    /// Types `bytes` on the console.
    public func send(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        try await session.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    public func close() async {
        try? await connection.close()
    }
}

/// Offers the password once; a second question means it was refused.
private final class PasswordAuthentication: NIOSSHClientUserAuthenticationDelegate, Sendable {
    let username: String
    let password: String
    private let offered = NIOLockedValueBox(0)

    init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    var wasRejected: Bool { offered.withLockedValue { $0 > 1 } }

    func nextAuthenticationType(availableMethods: NIOSSHAvailableUserAuthenticationMethods,
                                nextChallengePromise: EventLoopPromise<NIOSSHUserAuthenticationOffer?>) {
        let attempt = offered.withLockedValue { count -> Int in count += 1; return count }
        guard attempt == 1, availableMethods.contains(.password) else {
            // Failed, not nil: with no further offer NIO SSH would keep the connection open, waiting.
            offered.withLockedValue { $0 = max($0, 2) }
            nextChallengePromise.fail(ConsoleError.authenticationFailed(username))
            return
        }
        nextChallengePromise.succeed(NIOSSHUserAuthenticationOffer(
            username: username, serviceName: "", offer: .password(.init(password: password))))
    }
}

private final class AnyHostKey: NIOSSHClientServerAuthenticationDelegate, Sendable {
    func validateHostKey(hostKey: NIOSSHPublicKey, validationCompletePromise: EventLoopPromise<Void>) {
        validationCompletePromise.succeed(())
    }
}

private final class CloseOnError: ChannelInboundHandler, Sendable {
    typealias InboundIn = Any
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// The session channel: asks for a pseudo-terminal and the command once active, passes the console's bytes (both
/// streams: a BMC says why it refuses on stderr) to `sink`, and wraps typed bytes as channel data.
private final class ConsoleChannelHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = SSHChannelData
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = SSHChannelData

    private let target: ConsoleTarget
    private let sink: AsyncStream<[UInt8]>.Continuation
    private let replies: EventLoopPromise<Void>
    private var awaitedReplies = 2
    private var said: [UInt8] = []

    init(target: ConsoleTarget, sink: AsyncStream<[UInt8]>.Continuation, replies: EventLoopPromise<Void>) {
        self.target = target
        self.sink = sink
        self.replies = replies
    }

    func channelActive(context: ChannelHandlerContext) {
        let pty = SSHChannelRequestEvent.PseudoTerminalRequest(
            wantReply: true, term: target.terminal, terminalCharacterWidth: target.columns, terminalRowHeight: target.rows,
            terminalPixelWidth: 0, terminalPixelHeight: 0, terminalModes: SSHTerminalModes([:]))
        context.triggerUserOutboundEvent(pty, promise: nil)
        if let command = target.command {
            context.triggerUserOutboundEvent(SSHChannelRequestEvent.ExecRequest(command: command, wantReply: true), promise: nil)
        } else {
            context.triggerUserOutboundEvent(SSHChannelRequestEvent.ShellRequest(wantReply: true), promise: nil)
        }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelSuccessEvent:
            awaitedReplies -= 1
            if awaitedReplies == 0 { replies.succeed(()) }
        case is SSHChannelRequestEvent.ExitStatus, ChannelEvent.inputClosed:
            // The command ended (the BMC left the console, or refused it after all): so does the session.
            context.close(promise: nil)
        case is ChannelFailureEvent:
            let why = String(decoding: said, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            replies.fail(ConsoleError.refused(target.description, reason: why.isEmpty
                ? "it declined the \(awaitedReplies == 2 ? "pseudo-terminal" : "command \(target.command ?? "shell")")" : why))
            context.close(promise: nil)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        guard case .byteBuffer(let buffer) = message.data else { return }
        let bytes = Array(buffer.readableBytesView)
        if awaitedReplies > 0 { said += bytes.prefix(512 - min(512, said.count)) }
        sink.yield(bytes)
    }

    func channelInactive(context: ChannelHandlerContext) {
        replies.fail(ConsoleError.refused(target.description, reason: "it closed the session"))
        sink.finish()
        context.fireChannelInactive()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        context.write(wrapOutboundOut(SSHChannelData(type: .channel, data: .byteBuffer(buffer))), promise: promise)
    }
}
