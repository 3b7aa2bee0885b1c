import Foundation
import Hummingbird
import LivebootCore
import Logging
import Mustache

/// How `liveboot serve` runs: where it listens, where its templates and assets are.
public struct ServeOptions: Sendable {
    public var host: String
    public var port: Int
    public var templatesFolder: String
    public var publicFolder: String
    /// Seconds between two status rounds of the dashboard (each polls every BMC once).
    public var statusInterval: Duration

    public init(host: String, port: Int, templatesFolder: String, publicFolder: String, statusInterval: Duration = .seconds(60)) {
        self.host = host
        self.port = port
        self.templatesFolder = templatesFolder
        self.publicFolder = publicFolder
        self.statusInterval = statusInterval
    }

    /// `Templates/` and `Public/` of an installation (/usr/share/liveboot) or, from a checkout, of the working directory.
    public static func defaultFolder(_ name: String) -> String {
        let installed = "/usr/share/liveboot/\(name)"
        return FileManager.default.fileExists(atPath: installed) ? installed : FileManager.default.currentDirectoryPath + "/\(name)"
    }
}

public enum LivebootServer {
    public struct MissingTemplate: Error, CustomStringConvertible {
        let folder: String
        public var description: String { "no dashboard.mustache in \(folder) (set --templates to the Templates folder)" }
    }

    /// The one seam used by `main` and by the tests.
    /// - Parameter onServerRunning: called with the bound port (tests bind port 0).
    public static func buildApplication(config: LivebootConfig, options: ServeOptions, logger: Logger,
                                        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        async throws -> some ApplicationProtocol {
        // Templates load once, at start, and a missing one stops the start.
        let templates = try await MustacheLibrary(directory: options.templatesFolder)
        guard templates.getTemplate(named: "dashboard") != nil else { throw MissingTemplate(folder: options.templatesFolder) }

        let liveboot = Liveboot(config: config, logger: logger)
        let board = StatusBoard()
        let router = Router()
        // One line per request at debug level only: a boot is thousands of ranged GETs on the vmedia routes.
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.add(middleware: PublicAssets(files: FileMiddleware(options.publicFolder, urlBasePath: "/public",
                                                                 searchForIndexHtml: false, logger: logger)))
        let vmedia = VmediaController(
            images: MediaLibrary(folder: config.images.folder, resolvesShortNames: true),
            seeds: MediaLibrary(folder: config.images.folder + "/seeds", resolvesShortNames: false))
        vmedia.addRoutes(to: router, imagesPath: config.images.path)
        NoCloudController(folder: config.images.folder + "/seeds/nocloud").addRoutes(to: router)
        DashboardController(board: board, templates: templates, catalog: liveboot.catalog,
                            refreshSeconds: Int(options.statusInterval.components.seconds))
            .addRoutes(to: router)
        router.get("/healthz") { _, _ in "ok\n" }
        return Application(router: router,
                           configuration: .init(address: .hostname(options.host, port: options.port), serverName: nil),
                           services: [StatusRefresher(liveboot: liveboot, board: board, interval: options.statusInterval, logger: logger)],
                           onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? options.port) },
                           logger: logger)
    }
}

/// Static assets under `/public/` only: Hummingbird's FileMiddleware answers 400 to any path with `..`, and the
/// vmedia routes must answer such probes 404 like any other unknown name.
struct PublicAssets<Context: RequestContext>: RouterMiddleware {
    let files: FileMiddleware<Context, LocalFileSystem>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/public/") else { return try await next(request, context) }
        return try await files.handle(request, context: context, next: next)
    }
}
