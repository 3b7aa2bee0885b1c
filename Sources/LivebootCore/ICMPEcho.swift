import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// ICMP echo (ping) sent by the process itself over one socket shared by every probe, instead of a `ping` process
/// per node: `lb status all` on 500 nodes spent a third of its CPU spawning and running 500 `ping`s (perf: 27 % in
/// `ping` itself, 6 % in `clone3` and the fd closing of the spawn), and `serve` paid that again every status round.
///
/// The socket is the unprivileged ICMP datagram socket where `net.ipv4.ping_group_range` admits the process's group
/// (the kernel keeps the identifier and the IP header), else a raw ICMP socket (root, or `CAP_NET_RAW` as the
/// service unit grants). Without either, `open` fails and the caller runs the `ping` binary as before.
/// IPv4 only: an IPv6 node is pinged by the binary.
public final class ICMPEcho: Sendable {
    public enum Kind: String, Sendable { case datagram, raw }

    public let kind: Kind
    private let channel: any Channel
    private let waiters: EchoWaiters
    /// The identifier of a raw socket's requests (a datagram socket's is the kernel's, and only its replies reach us).
    private let identifier: UInt16

    /// The process's socket, opened at first use; nil when neither kind may be opened here.
    ///
    /// A closed socket is replaced, once for all callers: NIO closes a datagram channel on a read or socket error other
    /// than ECONNREFUSED or ENOMEM, and every later probe would then have said "no echo reply" for the life of the
    /// server. Unlikely — an unconnected ICMP socket without IP_RECVERR is told of no ICMP error (checked: a firewall's
    /// "administratively prohibited" reached the raw socket as a packet, SO_ERROR stayed 0) — but not for NIO to rule.
    public static var shared: ICMPEcho? {
        get async {
            let opening = current.withLock { $0 }
            guard let echo = await opening.value else { return nil }
            if echo.channel.isActive { return echo }
            let reopening = current.withLock { current in
                if current == opening { current = Task { try? await open() } }
                return current
            }
            return await reopening.value
        }
    }
    private static let current = Locked(Task<ICMPEcho?, Never> { try? await open() })

    /// Opens the first kind of socket this process may have, in `kinds`' order.
    public static func open(kinds: [Kind] = [.datagram, .raw], group: MultiThreadedEventLoopGroup = .singleton) async throws -> ICMPEcho {
        var failures: [String] = []
        for kind in kinds {
            do {
                return try await ICMPEcho(kind: kind, group: group)
            } catch {
                failures.append("\(kind.rawValue): \(error)")
            }
        }
        throw EchoError.noSocket(failures.joined(separator: "; "))
    }

    enum EchoError: Error, CustomStringConvertible {
        case noSocket(String)
        var description: String {
            switch self { case .noSocket(let why): "no ICMP socket may be opened here (\(why))" }
        }
    }

    private init(kind: Kind, group: MultiThreadedEventLoopGroup) async throws {
        let waiters = EchoWaiters()
        let identifier = UInt16(truncatingIfNeeded: getpid())
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Void> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(EchoReplyHandler(kind: kind, identifier: identifier, waiters: waiters))
            }
        }
        // A fleet's replies arrive together (every node is probed at once): 300 at once on the loopback overflowed the
        // default 208 KiB receive buffer, and 172 of them were lost (ICMPEchoTests). The kernel caps this at rmem_max.
        let bootstrap = DatagramBootstrap(group: group).channelInitializer(initializer)
            .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
        switch kind {
        case .datagram:
            channel = try await bootstrap.protocolSubtype(.init(.icmp)).bind(host: "0.0.0.0", port: 0).get()
        case .raw:
            // NIO opens datagram sockets only; a raw one is opened here and handed over (it needs no bind).
            let descriptor = socket(AF_INET, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_ICMP))
            guard descriptor >= 0 else { throw IOError(errnoCode: errno, reason: "socket(SOCK_RAW, IPPROTO_ICMP)") }
            // A raw socket reads every ICMP message the host receives, our own requests to loopback addresses too:
            // the kernel's filter (ICMP_FILTER of SOL_RAW, a mask of the types to drop) keeps the echo replies only.
            var dropAllButEchoReplies = ~(UInt32(1) << UInt32(EchoPacket.echoReply))
            _ = setsockopt(descriptor, 255 /* SOL_RAW */, 1 /* ICMP_FILTER */, &dropAllButEchoReplies, socklen_t(MemoryLayout<UInt32>.size))
            channel = try await bootstrap.withBoundSocket(descriptor).get()
        }
        self.kind = kind
        self.waiters = waiters
        self.identifier = identifier
    }

    /// Requests still waiting for their reply or their timeout.
    var waiting: Int { waiters.count }

    /// Closes the socket (the process's shared one lives as long as the process).
    public func close() async { try? await channel.close() }

    /// Sends one echo request to `address` (IPv4) and waits for its reply at most `timeout`: true if it came.
    public func echo(_ address: SocketAddress, timeout: Duration) async throws -> Bool {
        let eventLoop = channel.eventLoop, waiters = self.waiters
        return try await withCheckedThrowingContinuation { continuation in
            let sequence = waiters.add(from: address.ipAddress ?? "", continuation)
            let timer = eventLoop.scheduleTask(in: TimeAmount(timeout)) { waiters.resume(sequence, with: .success(false)) }
            waiters.setTimer(timer, for: sequence)
            let request = EchoPacket.request(identifier: identifier, sequence: sequence)
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: request)).whenFailure { error in
                waiters.resume(sequence, with: .failure(error))
            }
        }
    }
}

/// The requests waiting for a reply, by sequence number: the one who removes a waiter resumes it (reply, timeout or
/// send failure), so each is resumed once.
final class EchoWaiters: Sendable {
    private struct Waiter {
        let address: String
        let continuation: CheckedContinuation<Bool, any Error>
        var timer: Scheduled<Void>?
    }

    private let state = NIOLockedValueBox<(next: UInt16, waiting: [UInt16: Waiter])>((0, [:]))

    /// A sequence number no waiter holds (65 536 of them: more probes than that at once is not a fleet we serve).
    func add(from address: String, _ continuation: CheckedContinuation<Bool, any Error>) -> UInt16 {
        state.withLockedValue { state in
            repeat { state.next &+= 1 } while state.waiting[state.next] != nil
            state.waiting[state.next] = Waiter(address: address, continuation: continuation)
            return state.next
        }
    }

    func setTimer(_ timer: Scheduled<Void>, for sequence: UInt16) {
        let stillWaiting = state.withLockedValue { state -> Bool in
            guard state.waiting[sequence] != nil else { return false }
            state.waiting[sequence]?.timer = timer
            return true
        }
        if !stillWaiting { timer.cancel() }
    }

    /// A reply: it counts only from the address the request went to (a late reply to a sequence number given again
    /// since, from another node, must not answer for this one).
    func replied(_ sequence: UInt16, from address: String) {
        let waiter = state.withLockedValue { state -> Waiter? in
            guard state.waiting[sequence]?.address == address else { return nil }
            return state.waiting.removeValue(forKey: sequence)
        }
        waiter?.timer?.cancel()
        waiter?.continuation.resume(returning: true)
    }

    func resume(_ sequence: UInt16, with result: Result<Bool, any Error>) {
        let waiter = state.withLockedValue { $0.waiting.removeValue(forKey: sequence) }
        waiter?.timer?.cancel()
        waiter?.continuation.resume(with: result)
    }

    var count: Int { state.withLockedValue { $0.waiting.count } }
}

/// Echo request and reply bytes (RFC 792).
enum EchoPacket {
    static let echoReply: UInt8 = 0
    static let echoRequest: UInt8 = 8

    static func request(identifier: UInt16, sequence: UInt16) -> ByteBuffer {
        var packet = ByteBuffer()
        packet.writeInteger(echoRequest)
        packet.writeInteger(UInt8(0))            // code
        packet.writeInteger(UInt16(0))           // checksum, below
        packet.writeInteger(identifier)
        packet.writeInteger(sequence)
        packet.writeBytes(Array("liveboot".utf8))  // a payload, as ping sends one
        packet.setInteger(checksum(packet.readableBytesView), at: 2)
        return packet
    }

    /// The Internet checksum: one's complement of the one's complement sum of the 16-bit words.
    static func checksum(_ bytes: ByteBufferView) -> UInt16 {
        var sum: UInt32 = 0
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let high = UInt32(bytes[index]) << 8
            let low = index + 1 < bytes.endIndex ? UInt32(bytes[index + 1]) : 0
            sum += high | low
            index += 2
        }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    /// The sequence number of an echo reply, or nil for anything else. A raw socket's packet starts with the IP header
    /// and carries every ICMP message the host receives — other programs' replies too, told apart by `identifier`; a
    /// datagram socket's is the ICMP message alone, already ours (the kernel sets and checks the identifier).
    static func replySequence(_ packet: ByteBuffer, kind: ICMPEcho.Kind, identifier: UInt16) -> UInt16? {
        var packet = packet
        if kind == .raw {
            guard let versionAndLength: UInt8 = packet.getInteger(at: packet.readerIndex), versionAndLength >> 4 == 4 else { return nil }
            let headerLength = Int(versionAndLength & 0x0F) * 4
            guard headerLength >= 20, packet.readableBytes >= headerLength else { return nil }
            packet.moveReaderIndex(forwardBy: headerLength)
        }
        guard let type: UInt8 = packet.readInteger(), type == echoReply,
              let _: UInt8 = packet.readInteger(), let _: UInt16 = packet.readInteger(),
              let replyIdentifier: UInt16 = packet.readInteger(), let sequence: UInt16 = packet.readInteger() else { return nil }
        if kind == .raw, replyIdentifier != identifier { return nil }
        return sequence
    }
}

private final class EchoReplyHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    let kind: ICMPEcho.Kind
    let identifier: UInt16
    let waiters: EchoWaiters

    init(kind: ICMPEcho.Kind, identifier: UInt16, waiters: EchoWaiters) {
        self.kind = kind
        self.identifier = identifier
        self.waiters = waiters
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let sequence = EchoPacket.replySequence(envelope.data, kind: kind, identifier: identifier),
              let from = envelope.remoteAddress.ipAddress else { return }
        waiters.replied(sequence, from: from)
    }

    /// An error NIO does not close on (ECONNREFUSED, ENOMEM): the waiters time out, as `ping` would say "no reply",
    /// and the socket stays open for the others.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {}
}
