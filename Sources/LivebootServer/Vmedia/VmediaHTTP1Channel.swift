import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1 child channel with `VmediaFront` first, where it reads the connection's bytes and writes raw
/// bytes and `FileRegion`s: before NIO's decoder and encoder and the conversion to HTTP types (whose bodies are byte
/// buffers) that `HTTP1Channel`'s `additionalChannelHandlers` come after. The rest is `HTTP1Channel.setup` as in
/// Hummingbird 2.28, and requests for the router are handled by Hummingbird's own loop (`handleHTTP`).
struct VmediaHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let routes: VmediaRoutes
    let limits: VmediaFront.Limits
    let logger: Logger

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            // configureHTTPServerPipeline's encoder and decoder, but apart: the front first (bytes in and out), then
            // the decoder for what the front passes on, the decoded vmedia requests taken out after it, the encoder
            // after that (it encodes only the router's answers, so it is not paired with the decoder, whose pairing
            // tells it which answers are to HEAD requests — the router's HEAD answers carry no body anyway).
            let front = VmediaFront(routes: routes, limits: limits, logger: self.logger)
            let decoded = VmediaDecodedRequests(front: front, routes: routes)
            front.decoded = decoded
            try pipeline.addHandler(front)
            try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
            try pipeline.addHandler(decoded)
            try pipeline.addHandler(HTTPResponseEncoder(configuration: .init()))
            try pipeline.addHandler(RouterAnswerEnds(decoded: decoded))
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel,
                                       configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value asyncChannel: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with the vmedia routes answered by `VmediaFront`.
    static func http1(vmedia routes: VmediaRoutes, limits: VmediaFront.Limits, logger: Logger) -> HTTPServerBuilder {
        .init { responder in VmediaHTTP1Channel(responder: responder, routes: routes, limits: limits, logger: logger) }
    }
}
