import Foundation
import Hummingbird
import LivebootCore
import Logging

/// The `liveboot serve` process: for now the vmedia HTTP source — the images folder (seeds included) under
/// `/<images.path>`, with HEAD and single Range requests as the iDRAC's httpfs2 client needs them.
public enum LivebootServer {
    public static func buildApplication(config: LivebootConfig, host: String, port: Int, logger: Logger,
                                        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> some ApplicationProtocol {
        let router = Router()
        let base = "/" + config.images.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        router.add(middleware: FileMiddleware(config.images.folder, urlBasePath: base == "/" ? nil : base,
                                              searchForIndexHtml: false, logger: logger))
        router.get("/healthz") { _, _ in "ok\n" }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port),
                                                                serverName: nil),
                           onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
                           logger: logger)
    }
}
