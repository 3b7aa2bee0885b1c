import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Closes a portal connection that has no request in hand and has not completed a new request head within `limit`:
/// idle keep-alive connections, and a slowloris trickling one header byte at a time (Hummingbird's idle timeout
/// counts reads, so every byte would wind it up again). Its clock starts when the connection opens and whenever the
/// last answer in hand ends, and stops when a head is complete; a long answer (the live steps' event stream) does
/// not run it.
final class PortalConnectionClock: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limit: TimeAmount
    private var clock: Scheduled<Void>?
    /// Requests whose head has come and whose answer has not ended.
    private var inHand = 0

    init(limit: TimeAmount) { self.limit = limit }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        clock?.cancel()
        clock = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            inHand += 1
            clock?.cancel()
            clock = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            inHand = max(0, inHand - 1)
            if inHand == 0 { start(context: context) }
        }
        context.write(data, promise: promise)
    }

    private func start(context: ChannelHandlerContext) {
        clock?.cancel()
        clock = context.eventLoop.assumeIsolated().scheduleTask(in: limit) { context.close(promise: nil) }
    }
}
