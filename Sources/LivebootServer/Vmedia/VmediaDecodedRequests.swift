import NIOCore
import NIOHTTP1

/// On a connection that has carried a request for the router, `VmediaFront` passes every byte to NIO's decoder; this
/// handler, right after the decoder, takes the vmedia requests among the decoded ones and has `VmediaFront` send
/// them. Everything else goes on to the router.
///
/// HTTP/1.1 answers leave in request order even when a client pipelines: a vmedia request that arrives behind a
/// request still with the router waits until the router's answer has ended — `RouterAnswerEnds`, after the response
/// encoder, says when.
final class VmediaDecodedRequests: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

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

    private let front: VmediaFront
    private let routes: VmediaRoutes
    private var reading = Reading.idle
    private var unanswered = CircularBuffer<Unanswered>(initialCapacity: 2)
    private var readGate = ReadCompleteGate()

    init(front: VmediaFront, routes: VmediaRoutes) {
        self.front = front
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            front.requestHeadDecoded()
            if let request = VmediaRequest(head, routes: routes) {
                reading = .forUs(request)
            } else {
                reading = .forRouter
                unanswered.append(.router)
                forward(data, context: context)
            }
        case .body:
            if case .forRouter = reading { forward(data, context: context) }
        case .end:
            front.requestEndDecoded()
            switch reading {
            case .forUs(let request):
                if unanswered.isEmpty {
                    front.send(request)
                } else {
                    unanswered.append(.ours(request))
                }
            case .forRouter, .idle:
                forward(data, context: context)
            }
            reading = .idle
        }
    }

    private func forward(_ data: NIOAny, context: ChannelHandlerContext) { readGate.forward(data, context: context) }

    func channelReadComplete(context: ChannelHandlerContext) { readGate.readComplete(context: context) }

    /// Vmedia requests waiting behind a router request: a half-close or a stop must wait for them too.
    var hasQueuedAnswers: Bool { queuedAnswers > 0 }

    /// How many vmedia answers wait behind router requests.
    var queuedAnswers: Int { unanswered.count { if case .ours = $0 { true } else { false } } }

    /// The router has a request being read or answered: the connection is not idle.
    var routerRequestsOpen: Bool {
        if case .forRouter = reading { return true }
        return unanswered.contains { if case .router = $0 { true } else { false } }
    }

    /// The router has written the end of its answer (already encoded and passed down): the vmedia answers queued
    /// behind it may go.
    func routerAnswerEnded() {
        if case .router = unanswered.first { unanswered.removeFirst() }
        while case .ours(let request) = unanswered.first {
            unanswered.removeFirst()
            front.send(request)
        }
        front.releaseHeldEvents()
        front.resume()
    }
}

/// After NIO's response encoder: sees the router's answers as response parts and tells `VmediaDecodedRequests` when
/// one has ended (its bytes are then already queued on the channel, ahead of whatever is sent next).
final class RouterAnswerEnds: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let decoded: VmediaDecodedRequests

    init(decoded: VmediaDecodedRequests) { self.decoded = decoded }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let ended = if case .end = unwrapOutboundIn(data) { true } else { false }
        context.write(data, promise: promise)
        if ended { decoded.routerAnswerEnded() }
    }
}
