import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1 child channel with `VmediaFastPath` inserted where it can still write a `FileRegion`:
/// between NIO's HTTP/1 codec (whose bodies are `IOData`) and the conversion to HTTP types (whose bodies are byte
/// buffers) that `HTTP1Channel`'s `additionalChannelHandlers` come after. The rest is `HTTP1Channel.setup` as in
/// Hummingbird 2.28, and requests for the router are handled by Hummingbird's own loop (`handleHTTP`).
struct VmediaHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let routes: VmediaRoutes
    let logger: Logger

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.configureHTTPServerPipeline(
                withPipeliningAssistance: false,  // answers are ordered by VmediaFastPath and Hummingbird's loop
                withErrorHandling: false,  // Hummingbird's loop answers parse errors
                withOutboundHeaderValidation: false,  // HTTP types validate the router's; ours are fixed
                withEncoderConfiguration: .init(),
                withDecoderLimitConfiguration: .init()
            )
            try pipeline.addHandler(VmediaFastPath(routes: routes, logger: self.logger))
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
    /// HTTP/1 with the vmedia routes answered by `VmediaFastPath`.
    static func http1(vmedia routes: VmediaRoutes, logger: Logger) -> HTTPServerBuilder {
        .init { responder in VmediaHTTP1Channel(responder: responder, routes: routes, logger: logger) }
    }
}
