import Logging
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// The whole pipeline of a vmedia connection: reads the requests from the bytes (`VmediaRequestParser`), answers
/// them in order, and sends file bytes with `sendfile(2)` (a `FileRegion`) or, for small slices, copied with their
/// header into one buffer. Copying every byte through a byte-buffer body (Hummingbird's) measured at 0.36–0.87×
/// nginx with up to 864 MB of heap under 64 streams (bench/vmedia.sh).
///
/// `sendfile` and the small slices' `pread` run on the vmedia listener's own event loops: bytes the page cache does
/// not hold make them wait for the disk — nginx's `sendfile on` does the same — and the portal, on other loops, does
/// not wait with them. Images being served are read over and over, so they are normally cached.
///
/// Backpressure: a client may pipeline requests and never read the answers (one that did held ≈ 64 KiB per queued
/// 64 KiB range: +618 MB for 504 KB of requests). While the channel is not writable no further request is parsed
/// and the channel's reads are held, so what a connection holds is bounded by the channel's high-water mark plus one
/// read burst. The same handler closes connections whose request head does not complete within `Limits.header`
/// (slowloris) and connections idle for `Limits.idle`.
final class VmediaConnection: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Never
    typealias OutboundOut = IOData

    private enum Reading {
        /// Bytes of a request not yet complete, if any.
        case requests(pending: ByteBuffer?)
        /// The last answer was the connection's last: what follows is read and dropped until the connection closes.
        case done
    }

    /// A file answer being written.
    private struct Sending {
        let file: OpenMediaFile
        let end: Int
    }

    private let routes: VmediaRoutes
    private let logger: Logger
    private let limits: VmediaLimits
    private var reading = Reading.requests(pending: nil)
    /// The pending bytes hold requests not parsed because the channel was not writable.
    private var stalled = false
    /// A `read` from the pipeline held back while this handler holds the reads.
    private var readHeld = false
    /// Set while parsing: a writability change that comes back during our own write must not start a second parse.
    private var parsing = false
    /// When the first byte of a request head not yet complete arrived.
    private var headerStarted: NIODeadline?
    private var lastRead = NIODeadline.now()
    private var clock: Scheduled<Void>?
    private var clockDeadline = NIODeadline.distantFuture
    private var sending: [UInt64: Sending] = [:]
    private var nextSendingID: UInt64 = 0
    /// The client half-closed, or the server is stopping: once every answer is out, the connection closes.
    private var closing = false
    /// The server is stopping: the answer being written is the connection's last.
    private var quiescing = false
    private var closeScheduled = false
    private var lastOutput: ByteBuffer?
    private var now = HTTPDate.Now()
    private var truncationCheck: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    static let truncationCheckInterval = TimeAmount.seconds(2)
    /// After a refusal the output is closed and the input drained for this long, so the client reads the answer
    /// instead of a reset (closing with its unread request bytes in our buffer would send an RST): nginx's
    /// lingering close.
    static let lingerTime = TimeAmount.seconds(2)
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

    init(routes: VmediaRoutes, limits: VmediaLimits, logger: Logger) {
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
        guard case .requests(let pending) = reading else { return }
        var buffer = unwrapInboundIn(data)
        if var pending {
            pending.writeBuffer(&buffer)
            buffer = pending
        }
        reading = .requests(pending: buffer)
        parsePending(context: context)
        releaseHeldRead(context: context)
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
            case .refused(let refusal):
                refuse(refusal, context: context)
                return
            case .request(let request, let length):
                buffer.moveReaderIndex(forwardBy: length)
                headerStarted = nil
                send(request)
                guard case .requests = reading else { return }  // that answer closes the connection
            }
        }
    }

    private var holdsReads: Bool {
        guard let context else { return false }
        return stalled || !context.channel.isWritable
    }

    /// Reads are held while this handler holds requests back.
    func read(context: ChannelHandlerContext) {
        if holdsReads {
            readHeld = true
        } else {
            context.read()
        }
    }

    private func releaseHeldRead(context: ChannelHandlerContext) {
        guard readHeld, !holdsReads else { return }
        readHeld = false
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        guard context.channel.isWritable, !parsing else { return }
        if stalled { parsePending(context: context) }
        releaseHeldRead(context: context)
        closeIfDone(context: context)
    }

    // MARK: refusals and the end of a connection

    /// A fixed answer that closes the connection: this listener takes media reads only.
    private func refuse(_ refusal: VmediaRequestParser.Refusal, context: ChannelHandlerContext) {
        reading = .done
        headerStarted = nil
        let kind: VmediaRoutes.Answer.Kind = switch refusal {
        case .method: .notAllowed
        case .notMediaPath: .notFound
        case .malformed: .badRequest
        }
        logger.debug("refused a request that is not a media read",
                     metadata: ["answer": "\(VmediaRoutes.Answer(kind: kind).status.code)",
                                "remote": "\(context.channel.remoteAddress?.description ?? "?")"])
        var head = context.channel.allocator.buffer(capacity: VmediaRoutes.HeaderBlock.capacity)
        VmediaRoutes.Answer(kind: kind).writeHead(keepAlive: false, date: now.bytes(), into: &head)
        context.writeAndFlush(NIOAny(IOData.byteBuffer(head))).assumeIsolated().whenComplete { _ in
            context.close(mode: .output, promise: nil)
            context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) { context.close(promise: nil) }
        }
    }

    /// Every answer written so far is out: file answers complete their own promise; answers from memory are written
    /// without one (one per answer was a tenth of a ranged read's CPU time), so an empty write behind them tells.
    private func closeIfDone(context: ChannelHandlerContext) {
        guard closing, !closeScheduled, !stalled, sending.isEmpty else { return }
        closeScheduled = true
        context.writeAndFlush(NIOAny(IOData.byteBuffer(context.channel.allocator.buffer(capacity: 0))))
            .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case ChannelEvent.inputClosed:
            // A client that half-closes after its requests (`printf … | nc`) still gets every answer; a refused
            // connection's drain is over once its answer is out.
            closing = true
            closeIfDone(context: context)
        case is ChannelShouldQuiesceEvent:
            // The server is stopping: the answer being written is finished, nothing new is started.
            if case .requests = reading { reading = .done }
            quiescing = true
            closing = true
            closeIfDone(context: context)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopClock()
        truncationCheck?.cancel()
        truncationCheck = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset by the peer, mostly: nothing to answer on a connection that is gone.
        logger.trace("vmedia connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

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

    /// A file is being sent. Answers from memory that a client does not read do not count: it has stopped reading,
    /// and the idle clock runs from its last request.
    private var busy: Bool { !sending.isEmpty }

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

    // MARK: answers

    /// Writes the answer to `request`; the connection's answers before it are already written.
    private func send(_ request: VmediaRequest) {
        guard let context else { return }
        let answer = routes.answer(request)
        // While stopping, this answer is the connection's last (after a half-close, every request received is).
        let keepAlive = request.keepAlive && !quiescing
        if !keepAlive { reading = .done }
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
        file.meter.bytes.increment(by: bytes.count)
        if let reader = request.reader { reader.tally.add(bytes.count, key: reader.key, name: request.name) }
        let copied = handle == nil ? bytes : bytes.lowerBound..<(bytes.lowerBound + Self.copyLimit - head.readableBytes)
        guard Self.read(copied, of: file, into: &head) else {
            context.close(promise: nil)  // cut shorter than its header says: nothing valid can be sent
            return
        }
        guard let handle, copied.upperBound < bytes.upperBound else {
            write(head, keepAlive: keepAlive, context: context)
            return
        }
        context.write(NIOAny(IOData.byteBuffer(head)), promise: nil)  // done when the file region is: writes complete in order
        nextSendingID &+= 1
        let id = nextSendingID
        sending[id] = Sending(file: file, end: bytes.upperBound)
        file.meter.streams.increment()
        let done = context.eventLoop.makePromise(of: Void.self)
        done.futureResult.assumeIsolated().whenComplete { _ in
            file.meter.streams.decrement()
            self.sending[id] = nil
            if !keepAlive {
                context.close(promise: nil)
            } else {
                self.closeIfDone(context: context)
            }
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
        if buffer.capacity <= Self.keptOutputLimit { lastOutput = buffer }
        guard !keepAlive else {
            context.writeAndFlush(NIOAny(IOData.byteBuffer(buffer)), promise: nil)
            return
        }
        context.writeAndFlush(NIOAny(IOData.byteBuffer(buffer))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
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
