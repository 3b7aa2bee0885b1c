import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle

/// One listening Redfish port per simulated node, as a fleet.
public actor IDRACSimulator {
    public struct NodeInfo: Sendable, Codable {
        public let name: String
        public let redfishPort: Int
        public let sshPort: Int
        public let tls: Bool
    }

    public private(set) var nodes: [NodeInfo] = []
    private var simulated: [String: SimulatedNode] = [:]
    private var groups: [ServiceGroup] = []
    private var tasks: [Task<Void, any Error>] = []
    private let logger: Logger

    public init(logger: Logger = Logger(label: "idrac-sim")) { self.logger = logger }

    /// Starts a node on `port` (0: any free port), with TLS when a certificate and key (PEM) are given.
    @discardableResult
    public func addNode(name: String, behaviour: SimulatorBehaviour = .init(), host: String = "127.0.0.1", port: Int = 0,
                        sshPort: Int = 0, certificate: String? = nil, key: String? = nil) async throws -> NodeInfo {
        let node = SimulatedNode(name: name, behaviour: behaviour, sshPort: sshPort)
        let boundSSH = try await node.start()
        let router = Router()
        router.add(middleware: SimulatorMiddleware(node: node))
        router.get("/sim/state") { _, _ in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(await node.state()))))
        }
        // The iDRAC restarting (503 to every Redfish request) or back: `POST /sim/outage?down=1|0`.
        router.post("/sim/outage") { request, _ in
            await node.setOutage(request.uri.queryParameters["down"] != "0")
            return Response(status: .noContent)
        }
        // The iDRAC drops its console session and SSH connections (`POST /sim/console/drop`), as a reset does.
        router.post("/sim/console/drop") { _, _ in
            await node.dropConsoleAndSessions()
            return Response(status: .noContent)
        }
        // `POST /sim/console/write?text=…`: as if the host wrote to its serial port.
        router.post("/sim/console/write") { request, _ in
            await node.writeToSerialPort(request.uri.queryParameters["text"].map(String.init) ?? "")
            return Response(status: .noContent)
        }
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let server: HTTPServerBuilder
        if let certificate, let key {
            let tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            server = try .tls(.http1(), tlsConfiguration: tls)
        } else {
            server = .http1()
        }
        var appLogger = logger
        appLogger[metadataKey: "node"] = "\(name)"
        let app = Application(router: router, server: server,
                              configuration: .init(address: .hostname(host, port: port), serverName: "iDRAC"),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? port); continuation.finish() },
                              logger: appLogger)
        // A service group per node, so that shutdown is graceful (no cancelled child channels in the logs).
        let group = ServiceGroup(configuration: .init(services: [app], logger: appLogger))
        groups.append(group)
        tasks.append(Task { try await group.run() })
        var bound = port
        for await value in stream { bound = value }
        let info = NodeInfo(name: name, redfishPort: bound, sshPort: boundSSH, tls: certificate != nil)
        nodes.append(info)
        simulated[name] = node
        return info
    }

    public func node(_ name: String) -> SimulatedNode? { simulated[name] }

    public func shutdown() async {
        for group in groups { await group.triggerGracefulShutdown() }
        for task in tasks { _ = try? await task.value }
        groups.removeAll()
        for node in simulated.values { await node.stop() }
        tasks.removeAll()
    }

    /// A liveboot configuration for the simulated nodes: `lb --config FILE status all` works at once.
    public func inventoryYAML(images: (ip: String, port: Int, path: String, folder: String), keysFile: String? = nil,
                              password: String = SimulatorBehaviour().password, fast: Bool = true) -> String {
        var yaml = "# written by idrac-sim: \(nodes.count) simulated iDRAC 9 nodes\nnodes:\n"
        for node in nodes {
            yaml += "  \(node.name):\n"
            yaml += "    hostname: \"127.0.0.1:\(node.sshPort)\"\n"
            yaml += "    drac: \"\(node.tls ? "https" : "http")://127.0.0.1:\(node.redfishPort)\"\n"
            yaml += "    drac-username: root\n"
            yaml += "    drac-password: \"\(password)\"\n"
        }
        yaml += """
        status:
          bios: [SysProfile, ProcCStates]
        images:
          proto: http
          ip: \(images.ip)
          port: \(images.port)
          path: \(images.path)
          absolute-path: \(images.folder)

        """
        if let keysFile { yaml += "authorized-keys-file: \(keysFile)\n" }
        if fast {
            yaml += "timing:\n  poll-interval: 0.1\n  graceful-shutdown: 3\n  power-change: 10\n  ssh-wait: 30\n  probe: 2\n"
                + "  media-insert: 10\n  media-eject: 10\n  bmc-ready: 20\n  busy-backoff: 0.1\n  report-grace: 5\n"
        }
        return yaml
    }
}

/// Latency, fault injection, then the node's Redfish dispatcher.
struct SimulatorMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let node: SimulatedNode

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path.hasPrefix("/redfish") else { return try await next(request, context) }
        await node.requestBegins()
        do {
            let response = try await answer(request)
            await node.requestEnds()
            return response
        } catch {
            await node.requestEnds()
            throw error
        }
    }

    func answer(_ request: Request) async throws -> Response {
        let path = request.uri.path
        let behaviour = node.behaviour
        if behaviour.latency > 0 { try await Task.sleep(for: .milliseconds(Int(behaviour.latency * 1000))) }
        if await node.inOutage {
            return Response(status: .serviceUnavailable, headers: [.retryAfter: "1"],
                            body: .init(byteBuffer: ByteBuffer(string: "iDRAC is restarting")))
        }
        if behaviour.errorRate > 0, Double.random(in: 0..<1) < behaviour.errorRate {
            return Response(status: .serviceUnavailable, headers: [.retryAfter: "1"])
        }
        if behaviour.garbageRate > 0, Double.random(in: 0..<1) < behaviour.garbageRate {
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: "<html><body>iDRAC is restarting")))
        }
        var buffer = try await request.body.collect(upTo: 4 << 20)
        let body = Data(buffer.readableBytesView)
        var headers = NIOHTTP1.HTTPHeaders()
        for field in request.headers { headers.add(name: field.name.rawName, value: field.value) }
        let answer = await node.handle(method: request.method.rawValue, path: path, query: request.uri.query ?? "",
                                       headers: headers, body: body)
        var fields = HTTPFields()
        for (name, value) in answer.headers { if let field = HTTPField.Name(name) { fields.append(HTTPField(name: field, value: value)) } }
        return Response(status: .init(code: answer.status), headers: fields,
                        body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}
