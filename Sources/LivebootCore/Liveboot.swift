import DellIDRAC
import Foundation
import Logging
import Redfish
import Seed

/// The operations both faces (CLI, portal) call. One value per configuration.
public struct Liveboot: Sendable {
    public let config: LivebootConfig
    public let logger: Logger
    public let requestCounter: RequestCounter?
    /// Where each node's BMC requests go; nil for HTTP(S) to the node's `drac` URL.
    public let bmcs: BMCFactory?
    /// Where boots are registered and their reports read (the portal's database); opened on first use, since only
    /// live boots and waits need it.
    let boots: (@Sendable () throws -> any BootRegistry)?
    /// The nodes' relayed serial consoles: one BMC session per node for all of this process's viewers.
    public let consoles = SerialConsoles()

    public init(config: LivebootConfig, logger: Logger = Logger(label: "liveboot"), requestCounter: RequestCounter? = nil,
                bmcs: BMCFactory? = nil, boots: (@Sendable () throws -> any BootRegistry)? = nil) {
        self.config = config
        self.logger = logger
        self.requestCounter = requestCounter
        self.bmcs = bmcs
        self.boots = boots
    }

    /// The boot registry, or why there is none.
    public func bootRegistry() throws -> any BootRegistry {
        guard let boots else { throw LivebootError.noBootRegistry(reason: "none is configured for this process") }
        do { return try boots() } catch let error as LivebootError { throw error } catch {
            throw LivebootError.noBootRegistry(reason: "\(error)")
        }
    }

    public var catalog: ImageCatalog { ImageCatalog(config: config.images) }

    public func nodes(_ arguments: [String]) throws -> [Node] {
        try NodeSelection.select(arguments, from: config.nodes)
    }

    /// Runs `body` on each node, at most `limit` at a time, results in the nodes' order.
    public static func onEach<T: Sendable>(_ nodes: [Node], limit: Int = 64,
                                            _ body: @escaping @Sendable (Node) async throws -> T) async -> [(Node, Result<T, any Error>)] {
        await withTaskGroup(of: (Int, Result<T, any Error>).self) { group in
            var results = [Result<T, any Error>?](repeating: nil, count: nodes.count)
            var next = 0
            func launch() {
                let index = next
                let node = nodes[index]
                group.addTask {
                    do { return (index, .success(try await body(node))) } catch { return (index, .failure(error)) }
                }
                next += 1
            }
            while next < min(limit, nodes.count) { launch() }
            for await (index, result) in group {
                results[index] = result
                if next < nodes.count { launch() }
            }
            return zip(nodes, results.map { $0! }).map { ($0, $1) }
        }
    }

    // MARK: Seeds

    /// The node's cidata seed: testbed keys + `extraKeys`, hostname `<node>-live` style from config.
    public func seed(for node: Node, extraKeys: [SSHPublicKey], bootID: String, phoneHome: String? = nil) throws -> Seed {
        let keys = config.testbedKeys + extraKeys
        guard !keys.isEmpty else { throw LivebootError.noKeys }
        let short = node.host.split(separator: ".").first.map(String.init) ?? node.name
        // A DNS label that does not start with a digit (an IP address's first byte would): `[A-Za-z0-9-]+`, by hand
        // since a regular expression here cost a quarter of a seed.
        let isLabel = !short.isEmpty && short.utf8.allSatisfy { $0 == 0x2D || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
        let base = isLabel && !short.first!.isNumber ? short : node.name
        return try SeedBuilder.build(SeedRequest(hostname: "\(base)-live", keys: keys, bootID: bootID,
                                                 fragment: config.userDataFragment, phoneHome: phoneHome))
    }

    /// A fresh boot id: node name, UTC time and 64 random bits, so that each live boot gets a new cloud-init
    /// instance-id that nobody can guess: whoever knows it could post the boot's report (and its host keys).
    public static func newBootID(for node: Node, at date: Date = Date()) -> String {
        var generator = SystemRandomNumberGenerator()
        let random = String(format: "%016llx", generator.next() as UInt64)
        return String(timedBootID(for: node, at: date).prefix(47)) + "-" + random
    }

    static func timedBootID(for node: Node, at date: Date) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd'T'HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.locale = Locale(identifier: "en_US_POSIX")
        let safe = node.name.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" }
        return String(safe) + "-" + formatter.string(from: date)
    }
}
