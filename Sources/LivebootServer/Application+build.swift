import Foundation
import HTTPTypes
import Hummingbird
import LivebootCore
import Logging
import Mustache
import NIOCore
import PortalStore
import ServiceLifecycle

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
        let name: String
        public var description: String { "no \(name).mustache in \(folder) (set --templates to the Templates folder)" }
    }

    static let requiredTemplates = ["dashboard", "node-rows", "login", "node", "slices", "slice", "leases", "admin", "account", "error"]

    /// The one seam used by `main` and by the tests.
    /// - Parameters:
    ///   - database: the portal's storage; nil opens the config's `portal.database`.
    ///   - onServerRunning: called with the bound port (tests bind port 0).
    public static func buildApplication(config: LivebootConfig, options: ServeOptions, logger: Logger,
                                        database: PortalDatabase? = nil,
                                        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        async throws -> some ApplicationProtocol {
        let parts = try await buildParts(config: config, options: options, logger: logger, database: database)
        return Application(router: parts.router,
                           server: .http1(vmedia: parts.vmedia,
                                          limits: .init(header: .init(config.timing.headerTimeout),
                                                        idle: .init(config.timing.idleTimeout)),
                                          logger: logger),
                           configuration: .init(address: .hostname(options.host, port: options.port), serverName: nil),
                           services: parts.services,
                           onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? options.port) },
                           logger: logger)
    }

    /// The router and the background services, apart: handler tests drive the router alone.
    static func buildParts(config: LivebootConfig, options: ServeOptions, logger: Logger, database: PortalDatabase?)
        async throws -> (router: Router<PortalRequestContext>, vmedia: VmediaRoutes, services: [any Service], runner: OperationRunner) {
        // Templates load once, at start, and a missing one stops the start.
        let templates = try await MustacheLibrary(directory: options.templatesFolder)
        for name in requiredTemplates where templates.getTemplate(named: name) == nil {
            throw MissingTemplate(folder: options.templatesFolder, name: name)
        }
        let pages = PageRenderer(library: templates)
        let store = try database ?? PortalDatabase(path: config.portal.database, bcryptCost: UInt8(config.portal.bcryptCost),
                                                        tokenDays: config.portal.tokenDays)
        try await store.syncNodes(config.nodes.map(\.name))

        let liveboot = Liveboot(config: config, logger: logger)
        let board = StatusBoard()
        let runner = OperationRunner(liveboot: liveboot, operations: store, board: board, logger: logger)
        let actions = PortalActions(users: store, slices: store, leases: store, operations: store, audit: store,
                                    runner: runner, liveboot: liveboot, rules: .init())
        let settings = PortalSettings(sessionLifetime: .seconds(Int64(config.portal.sessionHours * 3600)),
                                      secureCookies: config.portal.secureCookies)
        let throttle = LoginThrottle()

        // HEAD is answered wherever GET is (monitoring probes `HEAD /healthz`).
        let router = Router(context: PortalRequestContext.self, options: .autoGenerateHeadEndpoints)
        // One line per request at debug level only: a boot is thousands of ranged GETs on the vmedia routes.
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.add(middleware: SecurityHeaders())
        router.add(middleware: ClientAddress(trustedProxies: Set(config.portal.trustedProxies)))
        router.add(middleware: PublicAssets(files: FileMiddleware(options.publicFolder, urlBasePath: "/public",
                                                                 searchForIndexHtml: false, logger: logger)))
        // What the BMCs fetch: no login, no cookies, short headers — answered before the router (VmediaFront).
        let vmedia = VmediaRoutes(images: MediaLibrary(folder: config.images.folder, resolvesShortNames: true),
                                  seeds: MediaLibrary(folder: config.images.folder + "/seeds", resolvesShortNames: false),
                                  imagesPath: config.images.path)
        NoCloudController(folder: config.images.folder + "/seeds/nocloud").addRoutes(to: router)
        router.get("/healthz") { _, _ in "ok\n" }

        // The portal: identified callers; everything but the login page and the token endpoint needs a login.
        let portal = router.group()
            .add(middleware: PortalErrors(pages: pages))
            .add(middleware: Authenticator(sessions: store, users: store))
        let account = AccountController(users: store, sessions: store, audit: store, throttle: throttle, pages: pages, settings: settings,
                                        loginTokens: LoginTokens())
        let api = APIController(actions: actions, board: board, throttle: throttle)
        account.addPublicRoutes(to: portal)
        api.addPublicRoutes(to: portal)
        let members = portal.group().add(middleware: RequireLogin())
        account.addRoutes(to: members, slices: store)
        DashboardController(board: board, pages: pages, catalog: liveboot.catalog, leases: store, operations: store,
                            refreshSeconds: Int(options.statusInterval.components.seconds)).addRoutes(to: members)
        NodeController(actions: actions, board: board, pages: pages).addRoutes(to: members)
        SliceController(actions: actions, pages: pages).addRoutes(to: members)
        LeaseController(actions: actions, pages: pages).addRoutes(to: members)
        AdminController(actions: actions, pages: pages).addRoutes(to: members)
        api.addRoutes(to: members)

        // Operations cut short by a previous stop are marked so, and their nodes probed again.
        let interrupted = try await store.interruptRunningOperations(at: Date())
        if !interrupted.isEmpty { logger.warning("operations interrupted by the last stop", metadata: ["nodes": "\(interrupted)"]) }
        let services: [any Service] = [
            StatusRefresher(liveboot: liveboot, board: board, interval: options.statusInterval, logger: logger),
            OperationDrain(runner: runner),
        ]
        return (router, vmedia, services, runner)
    }
}

/// What every answer of the portal says to the browser: no framing by other sites, no content sniffing, no referrer
/// to other sites, and scripts, styles and forms from this origin only (the pages have no inline script).
struct SecurityHeaders<Context: RequestContext>: RouterMiddleware {
    static var fields: HTTPFields {
        [.contentSecurityPolicy: "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
         .xFrameOptions: "DENY", .xContentTypeOptions: "nosniff", .referrerPolicy: "same-origin"]
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        for field in Self.fields where response.headers[field.name] == nil { response.headers.append(field) }
        return response
    }
}

extension HTTPField.Name {
    static let xFrameOptions = Self("X-Frame-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
}

/// On graceful shutdown, lets running operations finish their current BMC call rather than cutting them mid-request.
struct OperationDrain: Service {
    let runner: OperationRunner

    func run() async throws {
        try? await gracefulShutdown()
        await runner.cancelAll()
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

