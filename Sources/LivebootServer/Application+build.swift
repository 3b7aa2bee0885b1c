import Foundation
import Hummingbird
import LivebootCore
import Logging

/// The `liveboot serve` process. One seam, used by `main` and by the tests.
public enum LivebootServer {
    /// - Parameters:
    ///   - onServerRunning: called with the bound port (tests bind port 0).
    public static func buildApplication(config: LivebootConfig, host: String, port: Int, logger: Logger,
                                        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> some ApplicationProtocol {
        let router = Router()
        // One line per request on the vmedia routes at debug level only: a boot is thousands of ranged GETs.
        router.add(middleware: LogRequestsMiddleware(.debug))
        let vmedia = VmediaController(
            images: MediaLibrary(folder: config.images.folder, resolvesShortNames: true),
            seeds: MediaLibrary(folder: config.images.folder + "/seeds", resolvesShortNames: false))
        vmedia.addRoutes(to: router, imagesPath: config.images.path)
        router.get("/healthz") { _, _ in "ok\n" }
        return Application(router: router,
                           configuration: .init(address: .hostname(host, port: port), serverName: nil),
                           onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
                           logger: logger)
    }
}
