import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import LivebootCore
import Logging
import Mustache
import NIOCore
import PortalStore
import ServiceLifecycle
import VmediaServer

/// How `liveboot serve` runs: its two listeners, its templates and assets.
public struct ServeOptions: Sendable {
    /// An address and port to listen on (port 0: any free one).
    public struct Listener: Sendable {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// The users' side: pages and the JSON API.
    public var portal: Listener
    /// The BMCs' side: the media they read (the URLs in `images:` point here).
    public var media: Listener
    public var templatesFolder: String
    public var publicFolder: String
    /// Seconds between two status rounds of the dashboard (each polls every BMC once).
    public var statusInterval: Duration
    /// The now by which leases begin and end (tests move their own).
    public var clock: any PortalClock = SystemClock()
    /// How often ended leases are looked for (their nodes returned).
    public var leaseCheckInterval: Duration = .seconds(5)
    /// The console panel's xterm.js, served at `/vendor/xterm/`: Debian's, bundled for the browser by
    /// `deploy/xterm.sh` (installed: /usr/share/liveboot/xterm; a checkout: .build-xterm). Never in the repository.
    public var xtermFolder = ServeOptions.defaultXtermFolder

    public static var defaultXtermFolder: String {
        let installed = "/usr/share/liveboot/xterm"
        return FileManager.default.fileExists(atPath: installed) ? installed : FileManager.default.currentDirectoryPath + "/.build-xterm"
    }

    public init(portal: Listener, media: Listener, templatesFolder: String, publicFolder: String,
                statusInterval: Duration = .seconds(60)) {
        self.portal = portal
        self.media = media
        self.templatesFolder = templatesFolder
        self.publicFolder = publicFolder
        self.statusInterval = statusInterval
    }

    /// The listeners the configuration names (`portal.listen`/`portal.port`, `images.listen`/`images.port`).
    public init(config: LivebootConfig, templatesFolder: String, publicFolder: String, statusInterval: Duration = .seconds(60)) throws {
        let portal = try PortalConfig(config)
        self.init(portal: .init(host: portal.listen, port: portal.port),
                  media: .init(host: config.images.listen, port: config.images.port),
                  templatesFolder: templatesFolder, publicFolder: publicFolder, statusInterval: statusInterval)
    }

    /// `Templates/` and `Public/` of an installation (/usr/share/liveboot) or, from a checkout, of the working directory.
    public static func defaultFolder(_ name: String) -> String {
        let installed = "/usr/share/liveboot/\(name)"
        return FileManager.default.fileExists(atPath: installed) ? installed : FileManager.default.currentDirectoryPath + "/\(name)"
    }
}

/// The ports `liveboot serve` listens on, once both listeners are up.
public struct ServePorts: Sendable, Equatable {
    public let portal: Int
    public let media: Int
}

/// Hands the ports on once both listeners have said theirs.
actor ListenersUp {
    private var portal: Int?
    private var media: Int?
    private let onBoth: @Sendable (ServePorts) async -> Void

    init(onBoth: @escaping @Sendable (ServePorts) async -> Void) { self.onBoth = onBoth }

    func portal(_ port: Int) async {
        portal = port
        await reportIfBoth()
    }

    func media(_ port: Int) async {
        media = port
        await reportIfBoth()
    }

    private func reportIfBoth() async {
        guard let portal, let media else { return }
        await onBoth(ServePorts(portal: portal, media: media))
    }
}

public enum LivebootServer {
    public struct MissingTemplate: Error, CustomStringConvertible {
        let folder: String
        let name: String
        public var description: String { "no \(name).mustache in \(folder) (set --templates to the Templates folder)" }
    }

    static let requiredTemplates = ["dashboard", "node-rows", "node-row", "login", "node", "slices", "slice", "leases", "admin", "account", "error", "batch", "batch-grid"]

    /// The one seam used by `main` and by the tests: the portal on stock Hummingbird HTTP/1 at `options.portal`,
    /// and the vmedia listener at `options.media` as one of its services — one process, two listeners.
    /// - Parameters:
    ///   - repositories: the portal's storage; nil opens the config's `portal.database`.
    ///   - bmcs: where BMC requests go; nil for HTTP(S) to each node's BMC (tests answer from captures).
    ///   - onServerRunning: called with the bound ports once both listen (tests bind port 0).
    public static func buildApplication(config: LivebootConfig, options: ServeOptions, logger: Logger,
                                        repositories: (any PortalRepositories)? = nil, bmcs: BMCFactory? = nil,
                                        onServerRunning: @escaping @Sendable (ServePorts) async -> Void = { _ in })
        async throws -> some ApplicationProtocol {
        let parts = try await buildParts(config: config, options: options, logger: logger,
                                         repositories: repositories, bmcs: bmcs)
        let up = ListenersUp(onBoth: onServerRunning)
        let limits = VmediaLimits(header: .init(config.timing.headerTimeout), idle: .init(config.timing.idleTimeout))
        let media = VmediaServer(routes: VmediaRoutes(layout: MediaLayout(images: config.images), tallies: parts.tallies),
                                 host: options.media.host, port: options.media.port, limits: limits, logger: logger)
        let idle = TimeAmount(config.timing.idleTimeout)
        // Header limits of a browser's request, not a server's defaults of 80 KiB: nothing the portal takes needs more.
        let decoder = HTTP1Channel.Configuration.DecoderConfiguration(maxHeaderFieldSize: 16 * 1024, maxHeaderListSize: 32 * 1024,
                                                                      maxHeaderFieldCount: 100)
        // HTTP/1, and the console's WebSocket upgrades (their own router: only its route upgrades).
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [PortalConnectionClock(limit: idle)],
                                               httpDecoderConfiguration: decoder)
        return Application(router: parts.router,
                           server: .http1WebSocketUpgrade(webSocketRouter: parts.webSockets,
                                                          configuration: .init(http1: http1, ws: .init(autoPing: .enabled(timePeriod: .seconds(30))))),
                           configuration: .init(address: .hostname(options.portal.host, port: options.portal.port), serverName: nil),
                           services: [VmediaService(server: media, onBound: { await up.media($0) })] + parts.services,
                           onServerRunning: { channel in await up.portal(channel.localAddress?.port ?? options.portal.port) },
                           logger: logger)
    }

    /// The router and the background services, apart: handler tests drive the router alone.
    static func buildParts(config: LivebootConfig, options: ServeOptions, logger: Logger, repositories: (any PortalRepositories)?,
                           bmcs: BMCFactory?)
        async throws -> (router: Router<PortalRequestContext>, services: [any Service], runner: OperationRunner, tallies: BootMediaTallies,
                         webSockets: Router<PortalRequestContext>) {
        // Templates load once, at start, and a missing one stops the start.
        let templates = try await MustacheLibrary(directory: options.templatesFolder)
        for name in requiredTemplates where templates.getTemplate(named: name) == nil {
            throw MissingTemplate(folder: options.templatesFolder, name: name)
        }
        let pages = PageRenderer(library: templates)
        let portalConfig = try PortalConfig(config)
        let store: any PortalRepositories = try repositories ?? portalConfig.openDatabase()
        try await store.syncNodes(config.nodes.map(\.name))

        let liveboot = Liveboot(config: config, logger: logger, bmcs: bmcs, boots: { store })
        let board = StatusBoard()
        let runner = OperationRunner(liveboot: liveboot, operations: store, board: board, logger: logger)
        let administration = Administration(users: store, slices: store, leases: store, audit: store)
        let slices = SliceService(slices: store, audit: store)
        let services = PortalServices(
            nodes: NodeService(liveboot: liveboot, leases: store, operations: store, audit: store, slices: slices, runner: runner,
                               board: board, clock: options.clock, storeRevision: store),
            slices: slices,
            leases: LeaseService(leases: store, audit: store, slices: slices, administration: administration,
                                 nodes: config.nodes.map(\.name), clock: options.clock, warning: portalConfig.leaseEnd.warning),
            administration: administration)
        let settings = PortalSettings(sessionLifetime: .seconds(Int64(portalConfig.sessionHours * 3600)),
                                      secureCookies: portalConfig.secureCookies)
        let accounts = AccountService(users: store, sessions: store, slices: slices, audit: store, throttle: LoginThrottle())

        // HEAD is answered wherever GET is (monitoring probes `HEAD /healthz`).
        let router = Router(context: PortalRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.add(middleware: SecurityHeaders())
        router.add(middleware: ClientAddress(trustedProxies: Set(portalConfig.trustedProxies)))
        router.add(middleware: PublicAssets(prefix: "/public/", files: FileMiddleware(options.publicFolder, urlBasePath: "/public",
                                                                                 searchForIndexHtml: false, logger: logger)))
        router.add(middleware: PublicAssets(prefix: "/vendor/xterm/", files: FileMiddleware(options.xtermFolder, urlBasePath: "/vendor/xterm",
                                                                                        searchForIndexHtml: false, logger: logger)))
        router.get("/healthz") { _, _ in "ok\n" }
        // The API's contract (OpenAPI 3.1), read once at start; `APIContractTests` keeps it true to the routes.
        let contract = try APIContract(folder: options.publicFolder)
        router.get("/api/v1/openapi.json") { _, _ in contract.response }
        PortalMetrics.start()
        let metrics = MetricsController(token: portalConfig.metricsToken)
        router.get("/metrics") { request, context in try metrics.response(request, from: context.remoteAddress) }
        // The live sessions' reports (cloud-init's phone_home): no login, the boot's unguessable id is the ticket.
        router.addRoutes(BootReportController(boots: store, logger: logger).routes, atPath: "/boot-reports")

        // The portal: identified callers; everything but the login page and the token endpoint needs a login.
        let portal = router.group()
            .add(middleware: PortalErrors(pages: pages))
            .add(middleware: Authenticator(sessions: store, users: store))
        let account = AccountController(accounts: accounts, pages: pages, settings: settings, loginTokens: LoginTokens())
        let api = APIController(services: services, accounts: accounts)
        portal.addRoutes(account.publicRoutes)
        portal.addRoutes(api.publicRoutes, atPath: "/api/v1")
        let members = portal.group().add(middleware: RequireLogin()).group(context: MemberRequestContext.self)
        members.addRoutes(account.routes)
        members.addRoutes(DashboardController(nodes: services.nodes, leases: services.leases, board: board, pages: pages, fleetRows: FleetRows(),
                                              refreshSeconds: Int(options.statusInterval.components.seconds)).routes)
        let consoles = ConsoleController(consoles: ConsoleService(nodes: services.nodes, audit: store))
        members.addRoutes(consoles.routes, atPath: "/nodes")
        members.addRoutes(consoles.readinessRoutes, atPath: "/nodes")
        members.addRoutes(consoles.operationRoutes, atPath: "/operations")
        let webSockets = Router(context: PortalRequestContext.self)
        webSockets.add(middleware: ClientAddress(trustedProxies: Set(portalConfig.trustedProxies)))
        webSockets.add(middleware: Authenticator(sessions: store, users: store))
        consoles.addWebSocketRoute(to: webSockets)
        let nodePages = NodeController(nodes: services.nodes, leases: services.leases, consoles: consoles.consoles, pages: pages,
                                       hasTerminal: FileManager.default.fileExists(atPath: options.xtermFolder + "/xterm.js"))
        members.addRoutes(nodePages.routes, atPath: "/nodes")
        members.addRoutes(nodePages.operationRoutes, atPath: "/operations")
        let batches = BatchController(nodes: services.nodes, pages: pages)
        members.addRoutes(batches.routes, atPath: "/operations")
        members.addRoutes(batches.sliceRoutes, atPath: "/slices")
        members.addRoutes(SliceController(slices: services.slices, leases: services.leases, nodes: services.nodes, pages: pages).routes, atPath: "/slices")
        members.addRoutes(LeaseController(leases: services.leases, slices: services.slices, pages: pages).routes, atPath: "/leases")
        members.group(context: AdminRequestContext.self)
            .addRoutes(AdminController(administration: administration, nodes: services.nodes, pages: pages).routes, atPath: "/admin")
        members.addRoutes(api.routes, atPath: "/api/v1")

        // Operations cut short by a previous stop are marked so, and their nodes probed again.
        let interrupted = try await store.interruptRunningOperations(at: Date())
        if !interrupted.isEmpty { logger.warning("operations interrupted by the last stop", metadata: ["nodes": "\(interrupted)"]) }
        let tallies = BootMediaTallies()
        let background: [any Service] = [
            BootMediaRecorder(tallies: tallies, boots: store, interval: .seconds(1), logger: logger),
            StatusRefresher(liveboot: liveboot, board: board, interval: options.statusInterval, logger: logger),
            OperationDrain(runner: runner),
            LeaseReturner(leases: store, audit: store, runner: runner,
                          nodes: Dictionary(uniqueKeysWithValues: config.nodes.map { ($0.name, $0) }), clock: options.clock,
                          policy: portalConfig.leaseEnd, interval: options.leaseCheckInterval, logger: logger),
        ]
        return (router, background, runner, tallies, webSockets)
    }
}

/// `Public/openapi.json`, served as it is installed.
struct APIContract: Sendable {
    let document: ByteBuffer

    init(folder: String) throws {
        let path = folder + "/openapi.json"
        guard let data = FileManager.default.contents(atPath: path) else { throw MissingFile(path: path) }
        document = ByteBuffer(bytes: data)
    }

    var response: Response {
        Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "max-age=300"], body: .init(byteBuffer: document))
    }

    struct MissingFile: Error, CustomStringConvertible {
        let path: String
        var description: String { "no OpenAPI document at \(path) (set --public-folder to the Public folder)" }
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

/// Static assets under `prefix` only: Hummingbird's FileMiddleware answers 400 to any path with `..`, and other
/// paths with `..` must get the portal's own 404 like any other unknown page.
struct PublicAssets<Context: RequestContext>: RouterMiddleware {
    let prefix: String
    let files: FileMiddleware<Context, LocalFileSystem>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix(prefix) else { return try await next(request, context) }
        return try await files.handle(request, context: context, next: next)
    }
}

