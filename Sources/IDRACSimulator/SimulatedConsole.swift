import Crypto
import Foundation
import NIOCore
import NIOPosix
import NIOSSH

/// The iDRAC's SSH service, as far as the serial console goes: password login with the BMC's credentials; in a
/// session with a pseudo-terminal, `console com2` attaches the host's serial console (Serial Over LAN) until the
/// quit key (`^\`) or the end of the session. Like the iDRAC: one console session at a time, a command without a
/// terminal refused, anything else an unknown command.
actor SimulatedSSHService {
    private(set) var port = 0
    private var channel: (any Channel)?
    private var sessions: [any Channel] = []

    /// - Returns: the port (chosen by the system).
    func start(node: SimulatedNode, username: String, password: String) async throws -> Int {
        let hostKey = NIOSSHPrivateKey(ed25519Key: Curve25519.Signing.PrivateKey())
        let authentication = SimulatedPasswordCheck(username: username, password: password)
        let bound = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [weak self] connection in
                if let self { Task { await self.opened(connection) } }
                return connection.eventLoop.makeCompletedFuture {
                    try connection.pipeline.syncOperations.addHandler(NIOSSHHandler(
                        role: .server(.init(hostKeys: [hostKey], userAuthDelegate: authentication)),
                        allocator: connection.allocator,
                        inboundChildChannelInitializer: { child, type in
                            guard case .session = type else {
                                return child.eventLoop.makeFailedFuture(SimulatedConsoleError.unsupportedChannel)
                            }
                            return child.eventLoop.makeCompletedFuture {
                                try child.pipeline.syncOperations.addHandler(SimulatedCommandHandler(node: node))
                            }
                        }))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = bound.localAddress?.port ?? 0
        channel = bound
        return port
    }

    private func opened(_ connection: any Channel) {
        sessions.removeAll { !$0.isActive }
        sessions.append(connection)
    }

    /// The iDRAC drops every SSH connection (a reset of its network, `racadm closessn`).
    func dropAll() async {
        for session in sessions { try? await session.close() }
        sessions = []
    }

    func stop() async {
        await dropAll()
        try? await channel?.close()
        channel = nil
    }
}

enum SimulatedConsoleError: Error { case unsupportedChannel }

private final class SimulatedPasswordCheck: NIOSSHServerUserAuthenticationDelegate, Sendable {
    let username: String
    let password: String
    init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    var supportedAuthenticationMethods: NIOSSHAvailableUserAuthenticationMethods { .password }

    func requestReceived(request: NIOSSHUserAuthenticationRequest,
                         responsePromise: EventLoopPromise<NIOSSHUserAuthenticationOutcome>) {
        guard request.username == username, case .password(let offer) = request.request, offer.password == password else {
            responsePromise.succeed(.failure)
            return
        }
        responsePromise.succeed(.success)
    }
}

/// One SSH session channel on the simulated iDRAC.
private final class SimulatedCommandHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = SSHChannelData
    typealias OutboundIn = SSHChannelData
    typealias OutboundOut = SSHChannelData

    private let node: SimulatedNode
    private var hasTerminal = false
    private var typed: AsyncStream<[UInt8]>.Continuation?

    init(node: SimulatedNode) { self.node = node }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        let channel = context.channel
        switch event {
        case let request as SSHChannelRequestEvent.PseudoTerminalRequest:
            hasTerminal = true
            if request.wantReply { context.triggerUserOutboundEvent(ChannelSuccessEvent(), promise: nil) }
        case let request as SSHChannelRequestEvent.ExecRequest:
            run(request.command, on: channel, replying: request.wantReply)
        case let request as SSHChannelRequestEvent.ShellRequest:
            // The racadm shell is not simulated: only `ssh … console com2`.
            if request.wantReply { context.triggerUserOutboundEvent(ChannelFailureEvent(), promise: nil) }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// Runs the command; the exec request is answered once the command has started — for `console com2`, once the
    /// console is attached, so a client that waited for the answer sees everything the host writes from then on. (A
    /// real iDRAC answers when its CLI starts the command, which attaches within milliseconds, while a POST takes
    /// seconds to write its first line; this simulated POST writes at the instant of power-on.) A refusal is said
    /// after the answer, as output and an exit status, as a shell command's error is.
    private func run(_ command: String, on channel: any Channel, replying: Bool) {
        let started = {
            guard replying else { return }
            channel.eventLoop.execute { channel.triggerUserOutboundEvent(ChannelSuccessEvent(), promise: nil) }
        }
        let words = command.split(separator: " ").map(String.init)
        guard words == ["console", "com2"] else {
            started()
            finish(channel, saying: "ERROR: \(command): COMMAND NOT RECOGNIZED\r\n", status: 1)
            return
        }
        guard hasTerminal else {
            started()
            finish(channel, saying: "console com2: a terminal is required (ssh -t)\r\n", status: 1)
            return
        }
        let (input, sink) = AsyncStream.makeStream(of: [UInt8].self)
        typed = sink
        let node = self.node
        Task {
            let attached = await node.attachConsole()
            started()
            switch attached {
            case .failure(let refusal):
                self.finish(channel, saying: refusal.message + "\r\n", status: 1)
            case .success(let (id, output)):
                let writer = Task {
                    for await bytes in output {
                        try await channel.writeAndFlush(SSHChannelData(type: .channel, data: .byteBuffer(ByteBuffer(bytes: bytes))))
                    }
                    // The iDRAC ended the session (its console dropped): the SSH session goes with it.
                    try? await channel.close()
                }
                for await bytes in input {
                    if let quit = bytes.firstIndex(of: 0x1C) {
                        await node.typeOnConsole(Array(bytes[..<quit]))
                        break
                    }
                    await node.typeOnConsole(bytes)
                }
                await node.detachConsole(id)
                writer.cancel()
                self.finish(channel, saying: "", status: 0)
            }
        }
    }

    private func finish(_ channel: any Channel, saying text: String, status: Int) {
        let data = SSHChannelData(type: .channel, data: .byteBuffer(ByteBuffer(string: text)))
        // In order on the channel: the text, the exit status, the close (an SSH request's write completes only with
        // the connection's next flush, so nothing waits for it).
        channel.eventLoop.execute {
            if !text.isEmpty { channel.writeAndFlush(data, promise: nil) }
            channel.triggerUserOutboundEvent(SSHChannelRequestEvent.ExitStatus(exitStatus: status), promise: nil)
            channel.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        guard case .channel = message.type, case .byteBuffer(let buffer) = message.data else { return }
        typed?.yield(Array(buffer.readableBytesView))
    }

    func channelInactive(context: ChannelHandlerContext) {
        typed?.finish()
        typed = nil
        context.fireChannelInactive()
    }
}

/// Why `console com2` did not attach, in the iDRAC's words where known.
struct ConsoleRefusal: Error {
    let message: String
}

// MARK: The host's serial port

extension SimulatedNode {
    /// Attaches the one console session; refused when one is attached already or serial redirection is off.
    func attachConsole() -> Result<(UUID, AsyncStream<[UInt8]>), ConsoleRefusal> {
        guard idracAttributes["SerialRedirection.1.Enable"] == "Enabled" else {
            return .failure(ConsoleRefusal(message: "console com2: serial redirection is disabled (SerialRedirection.1.Enable)"))
        }
        if consoleViewer != nil {
            return .failure(ConsoleRefusal(message: "console com2: the serial console is in use by another session"))
        }
        let (stream, sink) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingNewest(1024))
        let id = UUID()
        consoleViewer = ConsoleViewer(id: id, sink: sink)
        consoleSessionsOpened += 1
        return .success((id, stream))
    }

    func detachConsole(_ id: UUID) {
        if consoleViewer?.id == id {
            consoleViewer?.sink.finish()
            consoleViewer = nil
        }
    }

    /// What was typed: kept (tests read it), echoed as a terminal line discipline does, a prompt after Enter.
    func typeOnConsole(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        consoleTyped += bytes
        var echo: [UInt8] = []
        for byte in bytes {
            if byte == 0x0D {
                echo += Array("\r\n".utf8) + Array(consolePrompt.utf8)
            } else {
                echo.append(byte)
            }
        }
        consoleViewer?.sink.yield(echo)
    }

    /// `PATCH DellAttributes/iDRAC.Embedded.1`: applied at once (no job), names and values checked like the iDRAC's
    /// (an unknown attribute is `PropertyUnknown`; only the console's attributes are simulated).
    func patchIDRACAttributes(_ body: Data) -> SimResponse {
        struct Patch: Decodable { let Attributes: [String: String] }
        guard let patch = try? JSONDecoder().decode(Patch.self, from: body) else {
            return .error(400, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON and could not be parsed by the receiving service.")
        }
        let allowed = ["Enabled", "Disabled"]
        for (name, value) in patch.Attributes {
            guard idracAttributes[name] != nil else {
                return .error(400, "Base.1.8.PropertyUnknown", "The property \(name) is not in the list of valid properties for the resource.")
            }
            let valid = name.hasSuffix(".Enable") ? allowed.contains(value)
                : name == "IPMISOL.1.BaudRate" ? ["9600", "19200", "57600", "115200"].contains(value) : true
            guard valid else {
                return .error(400, "Base.1.8.PropertyValueNotInList",
                              "The value \(value) for the property \(name) is not in the list of acceptable values.")
            }
        }
        idracAttributes.merge(patch.Attributes) { _, new in new }
        return .json(["@Message.ExtendedInfo": [["MessageId": "Base.1.8.Success",
                                                 "Message": "Successfully Completed Request", "Severity": "OK"]]])
    }

    /// The iDRAC ends the attached console session from its side.
    func dropConsole() {
        consoleViewer?.sink.finish()
        consoleViewer = nil
    }

    var consolePrompt: String {
        guard power == "On", sshUp else { return "" }
        return "\((boots.last?.mode == "live" ? boots.last?.hostname : nil) ?? name) login: "
    }

    /// A line on the host's serial port: what an attached console shows. `fromBIOS`: the firmware's redirected
    /// console (POST, boot loader), which reaches the port only with `SerialComm` redirecting it (and, once the OS
    /// loader runs, `RedirAfterBoot`); the kernel's own console (`console=ttyS1,115200`) reaches it regardless.
    func serial(_ lines: [String], fromBIOS: Bool = false, afterBoot: Bool = false) {
        if fromBIOS {
            guard Self.text(bios["SerialComm"] ?? "Off").hasPrefix("OnConRedir") else { return }
            if afterBoot, Self.text(bios["RedirAfterBoot"] ?? "Disabled") != "Enabled" { return }
        }
        consoleViewer?.sink.yield(Array(lines.map { $0 + "\r\n" }.joined().utf8))
    }

    /// The boot as its serial console shows it, phase by phase.
    func serialPOST() {
        // The BIOS's redirected screen: VT100 clears and positions, as ConTermType Vt100Vt220 draws them.
        serial(["\u{1B}[2J\u{1B}[1;1HDell PowerEdge R750", "BIOS Version: 1.8.2", "iDRAC IP: 127.0.0.1",
                "\u{1B}[1mF2\u{1B}[0m = System Setup  \u{1B}[1mF11\u{1B}[0m = Boot Manager", "Initializing firmware interfaces..."],
               fromBIOS: true)
    }

    func serialOSLoader(live: Bool, image: String) {
        if live {
            serial(["Booting from Virtual Optical Drive: \(image)"], fromBIOS: true, afterBoot: true)
            serial(["[    0.000000] Linux version 6.8.0-45-generic (buildd@lcy02-amd64-075) #45-Ubuntu SMP",
                    "[    0.000000] Command line: BOOT_IMAGE=/casper/vmlinuz boot=casper console=tty0 console=ttyS0,115200 console=ttyS1,115200",
                    "[    2.114121] systemd[1]: Detected architecture x86-64.",
                    "[  OK  ] Reached target \u{1B}[0;1;39mNetwork\u{1B}[0m."])
        } else {
            serial([cdBootFailed ? "Boot Failed: Virtual Optical Drive" : "Booting from disk", "GRUB loading."],
                   fromBIOS: true, afterBoot: true)
        }
    }

    func serialOSUp(live: Bool, hostname: String) {
        if live {
            serial(["[   11.482910] cloud-init[1024]: Cloud-init v. 24.1 running 'modules:final'",
                    "[   11.903311] cloud-init[1024]: Cloud-init v. 24.1 finished. Datasource DataSourceNoCloud [seed=/dev/sr1]",
                    "", "Ubuntu 24.04 LTS \(hostname) ttyS1", ""])
        }
        consoleViewer?.sink.yield(Array(consolePrompt.utf8))
    }
}

/// The attached console session.
struct ConsoleViewer {
    let id: UUID
    let sink: AsyncStream<[UInt8]>.Continuation
}

extension SimulatedNode {
    /// The iDRAC drops its console session and SSH connections, as a reset of its network does.
    public func dropConsoleAndSessions() async {
        dropConsole()
        await sshService.dropAll()
    }
}

extension SimulatedNode {
    /// The host writes a line to its serial port (its kernel, a program).
    public func writeToSerialPort(_ text: String) { serial([text]) }
}
