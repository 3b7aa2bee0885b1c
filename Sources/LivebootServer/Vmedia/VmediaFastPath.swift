import Logging
import NIOCore
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#endif

/// Answers the vmedia routes inside the HTTP/1 pipeline, before Hummingbird's router sees them, and sends file bytes
/// with `sendfile(2)` (a `FileRegion`): Hummingbird's response bodies are byte buffers, and copying every byte through
/// one measured at 0.36–0.87× nginx with up to 864 MB of heap under 64 streams (bench/vmedia.sh). Every other request
/// passes through to the router untouched.
///
/// HTTP/1.1 answers leave in request order even when a client pipelines: a vmedia answer that arrives behind a
/// request still with the router waits until the router's answer has ended.
///
/// `sendfile` runs on the event loop; bytes the page cache does not hold make it wait for the disk — nginx's
/// `sendfile on` does the same. Images being served are read over and over, so they are normally cached.
final class VmediaFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

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
    static let truncationCheckInterval = TimeAmount.seconds(2)
    static let corkLimit = 256 * 1024
    /// Up to this size a slice is copied from the page cache and sent with its header in one `writev`; above it,
    /// `sendfile`. Measured with 32 KiB ranged reads (4 runs of 5 s, /tmp harness): 6–25 % more answers per second
    /// than header + `sendfile` with TCP_CORK, which costs two `setsockopt` and a completion callback per answer.
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

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        guard case .end = unwrapOutboundIn(data) else { return }
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
        if !keepAlive { answer.headers.add(name: "Connection", value: "close") }
        if logger.logLevel <= .debug {
            logger.debug("\(request.head.method) \(request.head.uri) \(answer.status.code)",
                         metadata: ["range": .string(request.head.headers.first(name: "Range") ?? "-")])
        }
        guard let file = answer.file else {
            write(answer, body: nil, keepAlive: keepAlive, context: context)
            return
        }
        if answer.bytes.count <= Self.copyLimit {
            // Small slices: header and bytes in one `writev`, no cork, no completion to wait for.
            guard let bytes = Self.read(answer.bytes, of: file, allocator: context.channel.allocator) else {
                context.close(promise: nil)  // cut shorter than its header says: nothing valid can be sent
                return
            }
            write(answer, body: bytes, keepAlive: keepAlive, context: context)
            return
        }
        guard let handle = file.handle(on: context.eventLoop) else {
            // No descriptor left for a copy (EMFILE): say so rather than promise bytes that cannot be sent.
            let busy = VmediaRoutes.Answer(status: .serviceUnavailable,
                                           headers: ["Date": HTTPDate.now(), "Retry-After": "1", "Content-Length": "0"])
            write(busy, body: nil, keepAlive: keepAlive, context: context)
            return
        }
        let corked = answer.bytes.count <= Self.corkLimit
        if corked { cork(context, true) }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: answer.status, headers: answer.headers))),
                      promise: nil)
        nextSendingID &+= 1
        let id = nextSendingID
        sending[id] = Sending(file: file, end: answer.bytes.upperBound)
        context.write(wrapOutboundOut(.body(.fileRegion(FileRegion(fileHandle: handle, readerIndex: answer.bytes.lowerBound,
                                                                      endIndex: answer.bytes.upperBound)))), promise: nil)
        let done = context.eventLoop.makePromise(of: Void.self)
        done.futureResult.assumeIsolated().whenComplete { _ in
            if corked { self.cork(context, false) }
            self.sending[id] = nil
            self.releaseHeldEvents(context: context)
            if !keepAlive { context.close(promise: nil) }
        }
        scheduleTruncationCheck(context: context)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
    }

    /// An answer whose bytes (if any) are in memory.
    private func write(_ answer: VmediaRoutes.Answer, body: ByteBuffer?, keepAlive: Bool, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: answer.status, headers: answer.headers))),
                      promise: nil)
        if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        writesInFlight += 1
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            self.writesInFlight -= 1
            self.releaseHeldEvents(context: context)
            if !keepAlive { context.close(promise: nil) }
        }
    }

    /// `range` of the file into a new buffer (`pread` on the shared descriptor); nil if the file ends before it.
    static func read(_ range: Range<Int>, of file: OpenMediaFile, allocator: ByteBufferAllocator) -> ByteBuffer? {
        var buffer = allocator.buffer(capacity: range.count)
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
        return read == count ? buffer : nil
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
