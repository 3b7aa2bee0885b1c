import ArgumentParser
import Foundation
import IDRACSimulator
import Logging

/// `idrac-sim`: simulated Dell iDRAC 9 nodes on loopback, one Redfish port each, for demos, tests and benchmarks.
@main
struct IDRACSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idrac-sim",
        abstract: "Run simulated Dell iDRAC 9 BMCs (Redfish) and write a liveboot inventory for them.")

    @Option(name: .shortAndLong, help: "How many nodes (named w1, w2, …).") var nodes = 4
    @Option(name: .long, help: "Name prefix.") var prefix = "w"
    @Option(name: .long, help: "First Redfish port (0: any free port).") var basePort = 0
    @Option(name: .long, help: "Write a liveboot configuration here.") var inventory: String?
    @Option(name: .long, help: "Images folder for the inventory.") var imagesFolder = "/var/lib/liveboot/images"
    @Option(name: .long, help: "Port of the vmedia server for the inventory.") var imagesPort = 8080
    @Option(name: .long, help: "URL path of the images for the inventory.") var imagesPath = "images"
    @Option(name: .long, help: "authorized-keys-file for the inventory.") var keysFile: String?
    @Option(name: .long, help: "Seconds a power transition takes.") var powerDelay = 0.3
    @Option(name: .long, help: "Seconds from power-on to ssh answering.") var sshDelay = 1.0
    @Option(name: .long, help: "Seconds added to every Redfish answer.") var latency = 0.0
    @Option(name: .long, help: "Fraction of requests answered 503.") var errorRate = 0.0
    @Option(name: .long, help: "Fraction of requests answered with garbage.") var garbageRate = 0.0
    @Flag(name: .long, help: "Firmware 5.x: vmedia under the Manager (CD, RemovableDisk) only.") var legacyVmedia = false
    @Flag(name: .long, help: "Ignore the standard Boot PATCH for Cd (forces the SCP import path).") var ignoreBootPatch = false
    @Flag(name: .long, help: "The OS ignores GracefulShutdown.") var ignoreGracefulShutdown = false
    @Option(name: .long, help: "TLS certificate (PEM); with --tls-key, serve HTTPS.") var tlsCert: String?
    @Option(name: .long, help: "TLS private key (PEM).") var tlsKey: String?
    @Flag(name: .long, help: "Real-BMC timings in the inventory (no fast timing section).") var slowTiming = false
    @Option(name: .long, help: "Seconds from InsertMedia/EjectMedia to the slot reading back so.") var mountDelay = 1.0
    @Option(name: .long, help: "Seconds the Lifecycle Controller is busy after start and each power-on.") var lifecycleBusy = 0.0
    @Option(name: .long, help: "Seconds from the live OS's ssh to its cloud-init phone_home.") var reportDelay = 0.3
    @Option(name: .long, help: "Bytes of the live image a boot reads over virtual media (the whole image when smaller).") var bootReadBytes = 4 << 20
    @Flag(name: .long, help: "List VirtualMedia 1 before 2 (firmware 7.x lists 2 first).") var slotsInOrder = false

    func run() async throws {
        var logger = Logger(label: "idrac-sim") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        var behaviour = SimulatorBehaviour()
        behaviour.powerDelay = powerDelay
        behaviour.sshDelay = sshDelay
        behaviour.latency = latency
        behaviour.errorRate = errorRate
        behaviour.garbageRate = garbageRate
        behaviour.legacyVirtualMedia = legacyVmedia
        behaviour.ignoreBootPatch = ignoreBootPatch
        behaviour.ignoreGracefulShutdown = ignoreGracefulShutdown
        behaviour.mountDelay = mountDelay
        behaviour.lifecycleBusy = lifecycleBusy
        behaviour.reportDelay = reportDelay
        behaviour.bootReadBytes = bootReadBytes
        behaviour.listsSlotsInReverse = !slotsInOrder
        let simulator = IDRACSimulator(logger: logger)
        for index in 1...max(1, nodes) {
            let info = try await simulator.addNode(name: "\(prefix)\(index)", behaviour: behaviour,
                                                   port: basePort == 0 ? 0 : basePort + index - 1,
                                                   certificate: tlsCert, key: tlsKey)
            say("\(info.name): redfish \(info.tls ? "https" : "http")://127.0.0.1:\(info.redfishPort)  ssh 127.0.0.1:\(info.sshPort)")
        }
        if let inventory {
            let yaml = await simulator.inventoryYAML(images: ("127.0.0.1", imagesPort, imagesPath, imagesFolder),
                                                     keysFile: keysFile, fast: !slowTiming)
            try yaml.write(toFile: inventory, atomically: true, encoding: .utf8)
            say("inventory written to \(inventory)")
        }
        say("ready")
        // Runs until interrupted.
        while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
    }
}

/// Unbuffered, so a script waiting for "ready" sees it at once.
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
