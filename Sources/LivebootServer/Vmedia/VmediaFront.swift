import Logging
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// First in the connection's pipeline: answers the vmedia routes and sends file bytes with `sendfile(2)` (a
/// `FileRegion`) or, for small slices, copied with their header into one buffer. Hummingbird's response bodies are
/// byte buffers, and copying every byte through one measured at 0.36–0.87× nginx with up to 864 MB of heap under
/// 64 streams (bench/vmedia.sh).
///
/// While a connection asks only for vmedia files — a BMC's does, for hours — its requests are read here, from the
/// bytes (`VmediaRequestParser`). From the first request that is anything else, this handler passes every byte on to
/// NIO's decoder and Hummingbird's router, for the rest of the connection; vmedia requests among them come back
/// decoded (`VmediaDecodedRequests`) and are sent from here, in order.
///
/// `sendfile` and the small slices' `pread` run on the event loop; bytes the page cache does not hold make it wait
/// for the disk — nginx's `sendfile on` does the same. Images being served are read over and over, so they are
/// normally cached.
///
/// Backpressure: a client may pipeline requests and never read the answers (one that did held ≈ 64 KiB per queued
/// 64 KiB range: +618 MB for 504 KB of requests). While the channel is not writable, no further request is parsed or
/// passed to the decoder and the channel's reads are held, so what a connection holds is bounded by the channel's
/// high-water mark plus one read burst. The same handler closes connections whose request head does not complete
/// within `Limits.header` (slowloris) and connections idle for `Limits.idle`.
final class VmediaFront: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// The connection's clocks.
    struct Limits: Sendable {
        var header: TimeAmount = .seconds(10)
        var idle: TimeAmount = .seconds(75)
        /// Vmedia requests decoded behind a router request that may wait for it, at most; then the connection's
        /// reads wait too.
        var queuedAnswers = 64
    }

    private enum Reading {
        /// Bytes of a request not yet complete, if any.
        case requests(pending: ByteBuffer?)
        /// Everything goes to NIO's decoder.
        case passingOn
        /// The last answer said `Connection: close`: what follows is not read.
        case done
    }

    /// A file answer being written.
    private struct Sending {
        let file: OpenMediaFile
        let end: Int
    }

    private let routes: VmediaRoutes
    private let logger: Logger
    private let limits: Limits
    private var reading = Reading.requests(pending: nil)
    /// The pending bytes hold requests not parsed because the channel was not writable.
    private var stalled = false
    /// Bytes for NIO's decoder not passed on yet: they go in slices while the channel is writable (a whole read
    /// burst of pipelined ranges, decoded at once, would queue all their answers).
    private var heldForDecoder: ByteBuffer?
    /// A `read` from the pipeline held back while this handler holds the reads.
    private var readHeld = false
    /// Set while parsing or passing bytes on: a writability change that comes back during our own write must not
    /// start a second parse.
    private var parsing = false
    /// When the first byte of a request head not yet complete arrived.
    private var headerStarted: NIODeadline?
    /// The decoder has a request's head and not yet its end (its body may be arriving).
    private var decoderInRequest = false
    private var lastRead = NIODeadline.now()
    private var clock: Scheduled<Void>?
    private var clockDeadline = NIODeadline.distantFuture
    static let decoderSlice = 2048
    private var readGate = ReadCompleteGate()
    private var sending: [UInt64: Sending] = [:]
    private var nextSendingID: UInt64 = 0
    /// Where vmedia requests decoded behind a router request wait (weak: it holds this handler).
    weak var decoded: VmediaDecodedRequests?
    /// Events the router side must not see before our answers are out: the client's half-close (it would close the
    /// connection) and graceful shutdown's quiesce (likewise).
    private var heldEvents: [Any] = []
    /// Answers from memory are written without a completion (one per answer was a tenth of a ranged read's CPU
    /// time); when an event must wait for them, an empty write behind them tells when they are out. This counts the
    /// answers written, to know whether any went out after that empty write.
    private var memoryAnswersWritten = 0
    private var barrierInFlight = false
    private var quiescing = false
    private var lastOutput: ByteBuffer?
    private var now = HTTPDate.Now()
    private var truncationCheck: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    static let truncationCheckInterval = TimeAmount.seconds(2)
    /// Up to this size an answer goes out in one `write`, its bytes copied from the page cache next to its header;
    /// a larger one starts the same way, up to this size, and `sendfile` sends the rest. The header never leaves
    /// alone (the client would wake up for it), and no TCP_CORK is needed to prevent that: its two `setsockopt` per
    /// answer took a sixth of the user-space CPU time, through NIO's generic option path (perf). Measured against
    /// nginx (`sendfile on; tcp_nopush on`), 3 runs of 5 s: 32 KiB ranges 6–25 % more answers per second copied than
    /// header + corked `sendfile`; 1 MiB ranges, the two ways in one build, over 10 connections 0.83–1.03× nginx
    /// corked and 1.17–1.37× this way, over 64 connections 1.01–1.07× and 0.99–1.16×.
    static let copyLimit = 64 * 1024
    /// The most an idle connection keeps for its next answer (a 64 KiB slice with its header, rounded up).
    static let keptOutputLimit = 128 * 1024

    init(routes: VmediaRoutes, limits: Limits = Limits(), logger: Logger) {
        self.routes = routes
        self.limits = limits
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { startClock(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopClock()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        startClock(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = .now()
        switch reading {
        case .done:
            return
        case .passingOn:
            if !decoderInRequest { startHeaderClock(context: context) }
            var buffer = unwrapInboundIn(data)
            if var held = heldForDecoder {
                held.writeBuffer(&buffer)
                buffer = held
            }
            heldForDecoder = buffer
            passHeldBytesOn(context: context)
            releaseHeldRead(context: context)
        case .requests(let pending):
            var buffer = unwrapInboundIn(data)
            if var pending {
                pending.writeBuffer(&buffer)
                buffer = pending
            }
            reading = .requests(pending: buffer)
            parsePending(context: context)
            releaseHeldRead(context: context)
        }
    }

    /// Parses and answers the pending requests while the channel is writable.
    private func parsePending(context: ChannelHandlerContext) {
        guard !parsing, case .requests(let pending) = reading, var buffer = pending else { return }
        parsing = true
        defer { parsing = false }
        reading = .requests(pending: nil)
        stalled = false
        while buffer.readableBytes > 0 {
            guard context.channel.isWritable else {
                reading = .requests(pending: buffer)
                stalled = true
                return
            }
            switch VmediaRequestParser.parse(buffer, routes: routes) {
            case .incomplete:
                reading = .requests(pending: buffer)
                startHeaderClock(context: context)
                return
            case .notOurs:
                reading = .passingOn
                passOnWritability(context: context)
                heldForDecoder = buffer
                parsing = false
                passHeldBytesOn(context: context)
                return
            case .request(let request, let length):
                buffer.moveReaderIndex(forwardBy: length)
                headerStarted = nil
                send(request)
                guard case .requests = reading else { return }  // that answer closes the connection
            }
        }
    }

    /// Passes the held bytes to NIO's decoder, a slice at a time, while the channel is writable and the vmedia
    /// answers queued behind the router are few.
    private func passHeldBytesOn(context: ChannelHandlerContext) {
        guard !parsing else { return }
        parsing = true
        defer { parsing = false }
        while var held = heldForDecoder {
            guard context.channel.isWritable, (decoded?.queuedAnswers ?? 0) < limits.queuedAnswers,
                  case .passingOn = reading else { return }
            let slice = held.readSlice(length: min(Self.decoderSlice, held.readableBytes))!
            heldForDecoder = held.readableBytes > 0 ? held : nil
            forward(wrapInboundOut(slice), context: context)
        }
    }

    private var holdsReads: Bool {
        guard let context else { return false }
        return stalled || heldForDecoder != nil || !context.channel.isWritable
    }

    /// Reads are held while this handler holds requests back; the pipeline's `read` waits for `resume`.
    func read(context: ChannelHandlerContext) {
        if holdsReads {
            readHeld = true
        } else {
            context.read()
        }
    }

    /// Goes on with what was held back, once the channel is writable again or the router's answers let the queued
    /// vmedia answers go.
    func resume() {
        guard let context, !parsing else { return }
        if stalled { parsePending(context: context) }
        if heldForDecoder != nil { passHeldBytesOn(context: context) }
        // Out of a read burst: the handlers after the decoder act on what they got at read-complete (a stalled parse
        // that reached a router request passed it on too).
        readGate.readComplete(context: context)
        releaseHeldRead(context: context)
        releaseHeldEvents()  // a half-close that came while requests were held back
    }

    /// Issues the `read` held back, if this handler no longer holds anything (a `read` may come while bytes are being
    /// passed on, and be held, just before the last of them go).
    private func releaseHeldRead(context: ChannelHandlerContext) {
        guard readHeld, !holdsReads else { return }
        readHeld = false
        context.read()
    }

    private func forward(_ data: NIOAny, context: ChannelHandlerContext) { readGate.forward(data, context: context) }

    func channelReadComplete(context: ChannelHandlerContext) { readGate.readComplete(context: context) }

    /// Kept from the router's side while it has nothing to write: an answer bigger than the channel's high-water mark
    /// makes it unwritable and writable again, and Hummingbird's response writer takes each change under a lock —
    /// with 1 MiB ranges, a sixth of the CPU time spent in user space (perf).
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .passingOn = reading { passOnWritability(context: context) }
        if context.channel.isWritable { resume() }
    }

    /// The decoder has passed on a request's head (`VmediaDecodedRequests` says so): its header clock stops.
    func requestHeadDecoded() {
        headerStarted = nil
        decoderInRequest = true
    }

    func requestEndDecoded() { decoderInRequest = false }

    // MARK: the connection's clock

    private func startClock(context: ChannelHandlerContext) {
        lastRead = .now()
        scheduleClock(at: lastRead + limits.idle, context: context)
    }

    private func stopClock() {
        clock?.cancel()
        clock = nil
    }

    private func scheduleClock(at deadline: NIODeadline, context: ChannelHandlerContext) {
        clock?.cancel()
        clockDeadline = deadline
        clock = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { self.clockStruck() }
    }

    /// A request head has begun: its clock runs until the head is complete.
    private func startHeaderClock(context: ChannelHandlerContext) {
        guard headerStarted == nil else { return }
        let started = NIODeadline.now()
        headerStarted = started
        if clock == nil || clockDeadline > started + limits.header { scheduleClock(at: started + limits.header, context: context) }
    }

    /// Something is being answered: a file being sent, a router request being read or answered. Answers from memory
    /// that a client does not read are not: it has stopped reading, and the idle clock runs from its last request.
    private var busy: Bool { !sending.isEmpty || decoderInRequest || decoded?.routerRequestsOpen == true }

    private func clockStruck() {
        guard let context else { return }
        clock = nil
        let now = NIODeadline.now()
        if let started = headerStarted, now >= started + limits.header {
            logger.debug("closing a connection whose request head was not complete in time",
                         metadata: ["remote": "\(context.channel.remoteAddress?.description ?? "?")"])
            context.close(promise: nil)
            return
        }
        if busy {
            lastRead = now
        } else if now >= lastRead + limits.idle {
            context.close(promise: nil)
            return
        }
        var next = lastRead + limits.idle
        if let started = headerStarted { next = min(next, started + limits.header) }
        scheduleClock(at: next, context: context)
    }

    /// What the handlers after this one last heard of the channel's writability (a new channel is writable).
    private var writabilityPassedOn = true

    private func passOnWritability(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        guard writable != writabilityPassedOn else { return }
        writabilityPassedOn = writable
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent { quiescing = true }
        if event is ChannelShouldQuiesceEvent || (event as? ChannelEvent) == .inputClosed {
            heldEvents.append(event)
            releaseHeldEvents()
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopClock()
        truncationCheck?.cancel()
        truncationCheck = nil
        context.fireChannelInactive()
    }

    /// Writes the answer to `request`; the connection's answers before it are already written.
    func send(_ request: VmediaRequest) {
        guard let context else { return }
        let answer = routes.answer(request)
        // After a quiesce: this answer is the connection's last.
        let keepAlive = request.keepAlive && !quiescing
        if !keepAlive, case .requests = reading { reading = .done }
        if logger.logLevel <= .debug {
            logger.debug("\(request.method == .head ? "HEAD" : "GET") \(request.name) \(answer.status.code)",
                         metadata: ["range": .string(request.fields.range.map { String(buffer: $0) } ?? "-")])
        }
        let bytes = answer.bytesToSend
        // Small slices: header and bytes in one buffer, one `write`. Larger: the header and the slice's first bytes
        // in one buffer up to `copyLimit`, then the rest with `sendfile`.
        var head = outputBuffer(capacity: VmediaRoutes.HeaderBlock.capacity + min(bytes.count, Self.copyLimit), context: context)
        let date = now.bytes()
        var handle: NIOFileHandle?
        if bytes.count > Self.copyLimit {
            handle = answer.file?.handle(on: context.eventLoop)
            guard handle != nil else {
                // No descriptor left for a copy (EMFILE): say so rather than promise bytes that cannot be sent.
                VmediaRoutes.Answer(kind: .busy).writeHead(keepAlive: keepAlive, date: date, into: &head)
                write(head, keepAlive: keepAlive, context: context)
                return
            }
        }
        answer.writeHead(keepAlive: keepAlive, date: date, into: &head)
        guard let file = answer.file, !bytes.isEmpty else {
            write(head, keepAlive: keepAlive, context: context)
            return
        }
        let copied = handle == nil ? bytes : bytes.lowerBound..<(bytes.lowerBound + Self.copyLimit - head.readableBytes)
        guard Self.read(copied, of: file, into: &head) else {
            context.close(promise: nil)  // cut shorter than its header says: nothing valid can be sent
            return
        }
        guard let handle, copied.upperBound < bytes.upperBound else {
            write(head, keepAlive: keepAlive, context: context)
            return
        }
        context.write(NIOAny(head), promise: nil)  // done when the file region is: writes complete in order
        nextSendingID &+= 1
        let id = nextSendingID
        sending[id] = Sending(file: file, end: bytes.upperBound)
        let done = context.eventLoop.makePromise(of: Void.self)
        done.futureResult.assumeIsolated().whenComplete { _ in
            self.sending[id] = nil
            self.releaseHeldEvents()
            if !keepAlive { context.close(promise: nil) }
        }
        scheduleTruncationCheck(context: context)
        context.writeAndFlush(NIOAny(IOData.fileRegion(FileRegion(fileHandle: handle, readerIndex: copied.upperBound,
                                                                  endIndex: bytes.upperBound))), promise: done)
    }

    /// The buffer of the previous answer, cleared, if the channel is done with it (copy-on-write tells): a fresh
    /// 33 KB allocation per 32 KiB answer was measurable.
    private func outputBuffer(capacity: Int, context: ChannelHandlerContext) -> ByteBuffer {
        guard var buffer = lastOutput else { return context.channel.allocator.buffer(capacity: capacity) }
        lastOutput = nil
        buffer.clear(minimumCapacity: capacity)
        return buffer
    }

    /// An answer wholly in memory. When it is the connection's last, the connection closes once it is out.
    private func write(_ buffer: ByteBuffer, keepAlive: Bool, context: ChannelHandlerContext) {
        memoryAnswersWritten &+= 1
        if buffer.capacity <= Self.keptOutputLimit { lastOutput = buffer }
        guard !keepAlive else {
            context.writeAndFlush(NIOAny(buffer), promise: nil)
            return
        }
        context.writeAndFlush(NIOAny(buffer)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
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

    /// Requests held back while the client does not read, file answers being written, or vmedia answers waiting for
    /// the router's.
    private var answersOutstanding: Bool {
        stalled || heldForDecoder != nil || !sending.isEmpty || decoded?.hasQueuedAnswers == true
    }

    /// Passes the held events on once every answer of ours written or queued so far is out: file answers complete
    /// their own promise; for answers from memory, an empty write queued behind them completes after they do.
    func releaseHeldEvents() {
        guard let context, !heldEvents.isEmpty, !answersOutstanding, !barrierInFlight else { return }
        let written = memoryAnswersWritten
        barrierInFlight = true
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(capacity: 0))).assumeIsolated().whenComplete { _ in
            self.barrierInFlight = false
            guard !self.answersOutstanding, self.memoryAnswersWritten == written else {
                self.releaseHeldEvents()  // more was written meanwhile: wait for that too
                return
            }
            let events = self.heldEvents
            self.heldEvents = []
            for event in events { context.fireUserInboundEventTriggered(event) }
        }
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

/// Passes a read burst's read-complete on only if the burst passed something on: the router's side would otherwise
/// wake up for no request (Hummingbird's async channel; a few percent of a ranged read's CPU time).
struct ReadCompleteGate {
    private var forwarded = false

    mutating func forward(_ data: NIOAny, context: ChannelHandlerContext) {
        forwarded = true
        context.fireChannelRead(data)
    }

    mutating func readComplete(context: ChannelHandlerContext) {
        guard forwarded else { return }
        forwarded = false
        context.fireChannelReadComplete()
    }
}
