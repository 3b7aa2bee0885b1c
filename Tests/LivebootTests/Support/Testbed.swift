import Foundation
import Hummingbird
import IDRACSimulator
import LivebootCore
import LivebootServer
import Logging
import PortalStore
import ServiceLifecycle
import XCTest

/// Simulated iDRACs on loopback, a real vmedia server over the images folder, and a config file pointing at them.
final class Testbed: @unchecked Sendable {
    let directory: URL
    let simulator = IDRACSimulator()
    var configPath: String { directory.appendingPathComponent("liveboot.yaml").path }
    var imagesFolder: URL { directory.appendingPathComponent("images") }
    /// The vmedia listener's port (what the config's `images.port` names for the BMCs).
    private(set) var imagesPort = 0
    /// The portal's port.
    private(set) var portalPort = 0
    private var serverTask: Task<Void, any Error>?
    private var serverGroup: ServiceGroup?
    /// The server's now: real time, moved forward when a test makes a lease end.
    let clock = ManualClock()
    /// How often the testbed's server returns the nodes of ended leases (tests of lease ends have the portal they
    /// drive do it instead, and set this beyond their length).
    var leaseCheckInterval: Duration = .milliseconds(100)
    /// The slice's key pair, made by the test.
    let testbedKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMXl/wzGybfXj2lMrWlB6k89taQ4ufIbSzJGzgqzivmX admin@gatekeeper"
    let sliceKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICbtH/7W9QWCVVeK5kG54w/15gA7XYpwLddXsGCr9oV6 alice@slice"
    static let password = "calvin"

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("liveboot-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("images"), withIntermediateDirectories: true)
        // A 300 KiB stand-in for a live ISO with the descriptors a firmware boots (the simulator reads it in ranges
        // like an iDRAC would).
        try ElTorito.standInImage(size: 300 * 1024).write(to: imagesFolder.appendingPathComponent("ubuntu-22.04-liveboot.iso"))
        try FileManager.default.createSymbolicLink(atPath: imagesFolder.appendingPathComponent("u22").path,
                                                   withDestinationPath: "ubuntu-22.04-liveboot.iso")
        try (testbedKey + "\n").write(to: directory.appendingPathComponent("testbed-keys"), atomically: true, encoding: .utf8)
        try (sliceKey + "\n").write(to: directory.appendingPathComponent("slice.pub"), atomically: true, encoding: .utf8)
    }

    /// The portal's database in the test's folder; bcrypt at its cheapest (cost 12 is checked in PortalStoreTests).
    var portalDatabasePath: String { directory.appendingPathComponent("portal.sqlite").path }
    /// With the portal's port once known: the live sessions report to it (`portal.node-url`).
    var portalYAML: String {
        "portal: {database: \(portalDatabasePath), bcrypt-cost: 4"
            + (portalPort == 0 ? "" : ", node-url: \"http://127.0.0.1:\(portalPort)\"") + "}\n"
    }

    /// The portal's storage, opened beside the server (SQLite in WAL mode: both see the same data).
    func portalDatabase() throws -> PortalDatabase { try PortalDatabase(path: portalDatabasePath, bcryptCost: 4) }

    /// An image without a boot record: a `Cd` boot passes over it to the disk.
    func addUnbootableImage(_ name: String = "data-only.iso") throws {
        try Data(repeating: 0x5A, count: 300 * 1024).write(to: imagesFolder.appendingPathComponent(name))
    }

    var slicePub: String { directory.appendingPathComponent("slice.pub").path }

    /// Starts the vmedia server and the nodes, and writes the configuration.
    func start(_ nodes: [(String, SimulatorBehaviour)] = [("w1", .fast), ("w2", .fast)], extraYAML: String = "",
               serveImages: Bool = true) async throws {
        if serveImages { try await startImageServer() }
        for (name, behaviour) in nodes { try await simulator.addNode(name: name, behaviour: behaviour) }
        try await writeConfig(extraYAML: extraYAML)
    }

    func writeConfig(extraYAML: String = "", imagesPort: Int? = nil) async throws {
        var yaml = await simulator.inventoryYAML(images: ("127.0.0.1", imagesPort ?? self.imagesPort, "images", imagesFolder.path),
                                                 keysFile: directory.appendingPathComponent("testbed-keys").path)
        yaml = portalYAML + yaml + extraYAML  // extraYAML may continue the inventory's last block (timing)
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// The server reads `configPath` when it exists (the dashboard shows its nodes), else serves images only.
    func startImageServer(statusInterval: Duration = .seconds(60), port: Int = 0, portalPort: Int = 0) async throws {
        let config = FileManager.default.fileExists(atPath: configPath)
            ? try LivebootConfig.load(path: configPath)
            : try LivebootConfig.parse("""
                images: {proto: http, ip: 127.0.0.1, port: 0, path: images, absolute-path: \(imagesFolder.path)}
                \(portalYAML)
                """, path: directory.appendingPathComponent("server.yaml").path)
        let (stream, continuation) = AsyncStream<ServePorts>.makeStream()
        var options = Self.serveOptions(mediaPort: port, statusInterval: statusInterval)
        options.portal.port = portalPort
        options.clock = clock
        options.leaseCheckInterval = leaseCheckInterval
        let app = try await LivebootServer.buildApplication(config: config, options: options,
                                                            logger: Logger(label: "test-vmedia"),
                                                            onServerRunning: { continuation.yield($0); continuation.finish() })
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "test-vmedia")))
        serverGroup = group
        serverTask = Task { try await group.run() }
        for await ports in stream {
            imagesPort = ports.media
            self.portalPort = ports.portal
        }
    }

    /// Both listeners on loopback, the portal on any free port; the checkout's templates and assets.
    static func serveOptions(mediaPort: Int = 0, statusInterval: Duration = .seconds(60)) -> ServeOptions {
        var options = ServeOptions(portal: .init(host: "127.0.0.1", port: 0), media: .init(host: "127.0.0.1", port: mediaPort),
                                   templatesFolder: Fixtures.packageRoot.appendingPathComponent("Templates").path,
                                   publicFolder: Fixtures.packageRoot.appendingPathComponent("Public").path,
                                   statusInterval: statusInterval)
        options.xtermFolder = Fixtures.packageRoot.appendingPathComponent(".build-xterm").path  // deploy/xterm.sh
        return options
    }

    /// Nodes, then the server with its vmedia listener on the port the config gives the BMCs (as `lb serve` runs in
    /// production).
    func startPortal(_ nodes: [(String, SimulatorBehaviour)], statusInterval: Duration = .seconds(2)) async throws {
        for (name, behaviour) in nodes { try await simulator.addNode(name: name, behaviour: behaviour) }
        let port = try SushyEmulator.freePort()
        portalPort = try SushyEmulator.freePort()
        try await writeConfig(imagesPort: port)
        try await startImageServer(statusInterval: statusInterval, port: port, portalPort: portalPort)
    }

    func state(_ node: String) async throws -> SimulatorState {
        guard let simulated = await simulator.node(node) else { throw CocoaError(.fileNoSuchFile) }
        return await simulated.state()
    }

    func lb(_ arguments: String..., environment: [String: String] = [:]) async throws -> CLIResult {
        try await lb(arguments, environment: environment)
    }

    func lb(_ arguments: [String], environment: [String: String] = [:]) async throws -> CLIResult {
        try await CLI.run(arguments, config: configPath, environment: environment)
    }

    /// What SIGTERM does to `lb serve`.
    func beginGracefulShutdown() async {
        await serverGroup?.triggerGracefulShutdown()
    }

    func stop() async {
        await serverGroup?.triggerGracefulShutdown()
        _ = try? await serverTask?.value
        await simulator.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }
}

extension SimulatorBehaviour {
    /// Millisecond timings for tests.
    static var fast: SimulatorBehaviour {
        var behaviour = SimulatorBehaviour()
        behaviour.powerDelay = 0.05
        behaviour.sshDelay = 0.2
        behaviour.taskPolls = 1
        behaviour.mountDelay = 0.15
        behaviour.reportDelay = 0.1
        return behaviour
    }

    func with(_ change: (inout SimulatorBehaviour) -> Void) -> SimulatorBehaviour {
        var copy = self
        change(&copy)
        return copy
    }
}

/// Real time plus an offset a test moves: a lease's end comes at once, with no sleeping through it.
final class ManualClock: PortalClock, @unchecked Sendable {
    private let lock = NSLock()
    private var offset: TimeInterval = 0

    var now: Date { lock.withLock { Date() + offset } }

    func advance(by seconds: TimeInterval) { lock.withLock { offset += seconds } }
}
