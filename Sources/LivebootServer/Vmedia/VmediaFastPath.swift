import Logging
import NIOCore
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#endif

/// Answers the vmedia routes inside the HTTP/1 pipeline, before Hummingbird's router sees them, and sends file bytes
/// with `sendfile(2)` (a `FileRegion`) or, for small slices, copied with their header into one buffer: Hummingbird's
/// response bodies are byte buffers, and copying every byte through one measured at 0.36–0.87× nginx with up to
/// 864 MB of heap under 64 streams (bench/vmedia.sh). Every other request passes through to the router untouched.
///
/// It sits between NIO's request decoder and response encoder, so it writes bytes, not response parts: the router's
/// answers reach it already encoded (`OutboundIn` is `IOData`), and `RouterAnswerEnds`, after the encoder, tells it
/// when one has ended. HTTP/1.1 answers leave in request order even when a client pipelines: a vmedia answer that
/// arrives behind a request still with the router waits until the router's answer has ended.
///
/// `sendfile` runs on the event loop; bytes the page cache does not hold make it wait for the disk — nginx's
/// `sendfile on` does the same. Images being served are read over and over, so they are normally cached.
final class VmediaFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private struct VmediaRequest {
        let head: HTTPRequestHead
        let library: MediaLibrary
        let name: Substring
    }

    private enum Reading {
        case idle
        case forRouter
        /// Its body, if any, is read and dropped; the answer goes out at its end.
        case forUs(VmediaRequest)
    }

    /// A request whose answer has not been written yet.
    private enum Unanswered {
        case router
        case ours(VmediaRequest)
    }

    /// A file answer being written.
    private struct Sending {
        let file: OpenMediaFile
        let end: Int
    }

    private let routes: VmediaRoutes
    private let logger: Logger
    private var reading = Reading.idle
    private var unanswered = CircularBuffer<Unanswered>(initialCapacity: 2)
    private var sending: [UInt64: Sending] = [:]
    private var nextSendingID: UInt64 = 0
    /// Answers from memory not yet handed to the kernel.
    private var writesInFlight = 0
    /// Events the router side must not see before our answers are out: the client's half-close (it would close the
    /// output) and graceful shutdown's quiesce (it would close the connection).
    private var heldEvents: [Any] = []
    private var quiescing = false
    /// Whether this read burst gave the router anything: if not, its read-complete is ours too.
    private var forwardedSinceReadComplete = false
    private var truncationCheck: Scheduled<Void>?
    /// This handler's place in the pipeline, for answers sent when the router's answer ends.
    private var context: ChannelHandlerContext?
    static let truncationCheckInterval = TimeAmount.seconds(2)
    static let corkLimit = 256 * 1024
    /// Up to this size a slice is copied from the page cache into its header's buffer and sent in one write; above
    /// it, `sendfile`. Measured with 32 KiB ranged reads (4 runs of 5 s each): 6–25 % more answers per second than
    /// header + `sendfile` with TCP_CORK, which costs two `setsockopt` per answer.
    static let copyLimit = 64 * 1024

    init(routes: VmediaRoutes, logger: Logger) {
        self.routes = routes
        self.logger = logger
    }

    private var answersPending: Bool {
        writesInFlight > 0 || !sending.isEmpty || unanswered.contains { if case .ours = $0 { true } else { false } }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if let target = routes.target(of: head.uri) {
                reading = .forUs(VmediaRequest(head: head, library: target.library, name: target.name))
            } else {
                reading = .forRouter
                unanswered.append(.router)
                forward(data, context: context)
            }
        case .body:
            if case .forRouter = reading { forward(data, context: context) }
        case .end:
            switch reading {
            case .forUs(let request):
                if unanswered.isEmpty { send(request, context: context) } else { unanswered.append(.ours(request)) }
            case .forRouter, .idle:
                forward(data, context: context)
            }
            reading = .idle
        }
    }

    private func forward(_ data: NIOAny, context: ChannelHandlerContext) {
        forwardedSinceReadComplete = true
        context.fireChannelRead(data)
    }

    /// Not passed on when the router got nothing: Hummingbird's async channel would wake up for no request (a few
    /// percent of a ranged read's CPU time).
    func channelReadComplete(context: ChannelHandlerContext) {
        guard forwardedSinceReadComplete else { return }
        forwardedSinceReadComplete = false
        context.fireChannelReadComplete()
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// The router has written the end of its answer (already encoded and passed down): the vmedia answers queued
    /// behind it may go.
    func routerAnswerEnded() {
        guard let context else { return }
        if case .router = unanswered.first { unanswered.removeFirst() }
        while case .ours(let request) = unanswered.first {
            unanswered.removeFirst()
            send(request, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent { quiescing = true }
        let mustWait = event is ChannelShouldQuiesceEvent || (event as? ChannelEvent) == .inputClosed
        if mustWait && answersPending {
            heldEvents.append(event)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        truncationCheck?.cancel()
        truncationCheck = nil
        context.fireChannelInactive()
    }

    private func send(_ request: VmediaRequest, context: ChannelHandlerContext) {
        var answer = routes.answer(request.head, library: request.library, name: request.name)
        // After a quiesce: this answer is the connection's last.
        let keepAlive = request.head.isKeepAlive && !quiescing
        if logger.logLevel <= .debug {
            logger.debug("\(request.head.method) \(request.head.uri) \(answer.status.code)",
                         metadata: ["range": .string(request.head.headers.first(name: "Range") ?? "-")])
        }
        let bytes = answer.bytesToSend
        var head = context.channel.allocator.buffer(capacity: 384 + (bytes.count <= Self.copyLimit ? bytes.count : 0))
        guard let file = answer.file, !bytes.isEmpty else {
            answer.writeHead(keepAlive: keepAlive, into: &head)
            write(head, keepAlive: keepAlive, context: context)
            return
        }
        if bytes.count <= Self.copyLimit {
            // Small slices: header and bytes in one buffer, one `write`.
            answer.writeHead(keepAlive: keepAlive, into: &head)
            guard Self.read(bytes, of: file, into: &head) else {
                context.close(promise: nil)  // cut shorter than its header says: nothing valid can be sent
                return
            }
            write(head, keepAlive: keepAlive, context: context)
            return
        }
        guard let handle = file.handle(on: context.eventLoop) else {
            // No descriptor left for a copy (EMFILE): say so rather than promise bytes that cannot be sent.
            VmediaRoutes.Answer(kind: .busy).writeHead(keepAlive: keepAlive, into: &head)
            write(head, keepAlive: keepAlive, context: context)
            return
        }
        answer.writeHead(keepAlive: keepAlive, into: &head)
        let corked = bytes.count <= Self.corkLimit
        if corked { cork(context, true) }
        context.write(wrapOutboundOut(.byteBuffer(head)), promise: nil)
        nextSendingID &+= 1
        let id = nextSendingID
        sending[id] = Sending(file: file, end: bytes.upperBound)
        let done = context.eventLoop.makePromise(of: Void.self)
        done.futureResult.assumeIsolated().whenComplete { _ in
            if corked { self.cork(context, false) }
            self.sending[id] = nil
            self.releaseHeldEvents(context: context)
            if !keepAlive { context.close(promise: nil) }
        }
        scheduleTruncationCheck(context: context)
        context.writeAndFlush(wrapOutboundOut(.fileRegion(FileRegion(fileHandle: handle, readerIndex: bytes.lowerBound,
                                                                    endIndex: bytes.upperBound))), promise: done)
    }

    /// An answer wholly in memory.
    private func write(_ buffer: ByteBuffer, keepAlive: Bool, context: ChannelHandlerContext) {
        writesInFlight += 1
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(buffer))).assumeIsolated().whenComplete { _ in
            self.writesInFlight -= 1
            self.releaseHeldEvents(context: context)
            if !keepAlive { context.close(promise: nil) }
        }
    }

    /// Appends `range` of the file to `buffer` (`pread` on the shared descriptor); false if the file ends before it.
    static func read(_ range: Range<Int>, of file: OpenMediaFile, into buffer: inout ByteBuffer) -> Bool {
        let count = range.count, descriptor = file.descriptor
        let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pointer in
            var done = 0
            while done < count {
                let n = pread(descriptor, pointer.baseAddress! + done, count - done, off_t(range.lowerBound + done))
                if n <= 0 { break }
                done += n
            }
            return done
        }
        return read == count
    }

    static let corkOption = ChannelOptions.Types.SocketOption(level: .init(rawValue: CInt(IPPROTO_TCP)), name: .init(rawValue: TCP_CORK))

    /// The header block and the file's first bytes leave in one segment (nginx's `tcp_nopush`): written apart, the
    /// client gets two segments and two wake-ups per answer.
    private func cork(_ context: ChannelHandlerContext, _ on: Bool) {
        try? context.channel.syncOptions?.setOption(Self.corkOption, value: on ? 1 : 0)
    }

    private func releaseHeldEvents(context: ChannelHandlerContext) {
        guard !answersPending, !heldEvents.isEmpty else { return }
        let events = heldEvents
        heldEvents = []
        for event in events { context.fireUserInboundEventTriggered(event) }
    }

    /// `sendfile` on a file cut shorter than the answer promised sends nothing and never fails: NIO would retry it
    /// for as long as the client waits (an image overwritten in place with `cp` does this). Like nginx ("file was
    /// truncated"), the connection is closed instead; checked every 2 s while an answer is being written.
    private func scheduleTruncationCheck(context: ChannelHandlerContext) {
        guard truncationCheck == nil else { return }
        truncationCheck = context.eventLoop.assumeIsolated().scheduleTask(in: Self.truncationCheckInterval) {
            self.truncationCheck = nil
            guard !self.sending.isEmpty else { return }
            let truncated = self.sending.values.contains { sending in
                var info = stat()
                return fstat(sending.file.descriptor, &info) != 0 || Int(info.st_size) < sending.end
            }
            if truncated {
                self.logger.warning("an image was cut shorter while being served; closing the connection")
                context.close(promise: nil)
            } else {
                self.scheduleTruncationCheck(context: context)
            }
        }
    }
}

/// After NIO's response encoder: sees the router's answers as response parts and tells `VmediaFastPath` when one
/// has ended (its bytes are then already queued on the channel, ahead of whatever the fast path sends next).
final class RouterAnswerEnds: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let fastPath: VmediaFastPath

    init(fastPath: VmediaFastPath) { self.fastPath = fastPath }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let ended = if case .end = unwrapOutboundIn(data) { true } else { false }
        context.write(data, promise: promise)
        if ended { fastPath.routerAnswerEnded() }
    }
}
