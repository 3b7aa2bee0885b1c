import Foundation
import Redfish
import Seed
import Yams

/// One managed node.
public struct Node: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    public let name: String
    /// Host of the node's own OS, probed for ping and ssh.
    public let host: String
    public let sshPort: Int
    public let bmc: String
    public let username: String
    /// Secret: never printed, logged or put in `--json`.
    let password: String?
    public let caFile: String?
    /// The system's `Id` when the BMC manages several (blade chassis, sushy-tools with many VMs).
    public let systemID: String?
    /// Forces an adapter instead of detecting the vendor (`dell`, `generic` …).
    public let vendor: Vendor?

    /// Printing a node never shows its password (string interpolation, `dump`, debug logs).
    public var description: String { "\(name) (BMC \(bmc), host \(host):\(sshPort))" }
    public var customMirror: Mirror {
        Mirror(self, children: ["name": name, "host": host, "sshPort": sshPort, "bmc": bmc, "username": username])
    }

    /// What a user types to reach the live session: `ssh root@host` (with `-p` off port 22).
    public var sshCommand: String { "ssh root@\(host)" + (sshPort == 22 ? "" : " -p \(sshPort)") }

    public func endpoint(timeouts: Timeouts, retry: RetryPolicy) throws -> BMCEndpoint {
        guard let password else { throw LivebootError.noCredentials(node: name) }
        return BMCEndpoint(baseURL: bmc, username: username, password: password, caFile: caFile,
                           timeouts: timeouts, retry: retry, name: name)
    }
}

/// Where bootable images live and the URL the BMCs fetch them from.
public struct ImagesConfig: Sendable {
    public var proto: String
    public var ip: String
    public var port: Int
    public var path: String
    public var folder: String
    /// The address the vmedia listener binds (`images.listen`): the BMCs' network, where the host has one.
    public var listen: String
    /// How long a published seed is kept when no BMC slot holds it (`images.keep-seeds`, in days; default 7).
    public var seedRetention: Duration = .seconds(7 * 86400)

    public init(proto: String = "http", ip: String, port: Int, path: String, folder: String, listen: String = "0.0.0.0") {
        self.proto = proto
        self.ip = ip
        self.port = port
        self.path = path
        self.folder = folder
        self.listen = listen
    }

    /// `http://ip:port` — the vmedia server itself.
    public var serverURL: String { "\(proto)://\(ip):\(port)" }

    /// `http://ip:port/path` — what `liveboot serve` (or nginx) serves `folder` as.
    public var baseURL: String {
        let trimmed = path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        return "\(proto)://\(ip):\(port)" + (trimmed.isEmpty ? "" : "/\(trimmed)")
    }
}

/// Where `liveboot serve`'s portal listens (`portal.listen`, `portal.port`), and the URL the nodes' OS reaches it
/// at (`portal.node-url`): the core needs them for the live session's report; the portal reads the rest of its
/// section itself.
public struct PortalAddress: Sendable {
    public var listen = "0.0.0.0"
    public var port = 8081
    public var nodeURL: String?

    public init() {}

    /// `node-url`, else the portal's own address when it names one host; the reason when neither works.
    public func reportBase() -> Result<String, LivebootError> {
        if let nodeURL { return .success(nodeURL) }
        let everywhere = ["0.0.0.0", "::", "[::]", "", "*"]
        guard !everywhere.contains(listen), port != 0 else {
            return .failure(.noReportURL(reason: "portal.node-url is not set and cannot be derived from portal.listen \(listen)"
                + (port == 0 ? " port 0" : " (every address)")))
        }
        let host = listen.contains(":") && !listen.hasPrefix("[") ? "[\(listen)]" : listen
        return .success("http://\(host):\(port)")
    }
}

/// Delays that differ between a real BMC (seconds) and the simulator (milliseconds).
public struct Timing: Sendable {
    public var pollInterval: Duration = .seconds(2)
    public var gracefulShutdown: Duration = .seconds(60)
    public var powerChange: Duration = .seconds(120)
    public var sshWait: Duration = .seconds(600)
    public var probe: Duration = .seconds(3)
    public var connect: Duration = .seconds(5)
    public var request: Duration = .seconds(60)
    public var retries: Int = 4
    public var backoff: Duration = .milliseconds(250)
    /// How long the server waits for a request's head once its first byte arrived (slowloris).
    public var headerTimeout: Duration = .seconds(10)
    /// How long a connection with nothing to read and nothing being answered stays open.
    public var idleTimeout: Duration = .seconds(75)
    /// The most one node's status may take: a BMC that hangs says so after this, and delays nothing else.
    public var statusDeadline: Duration = .seconds(20)
    /// From `InsertMedia` to the slot reading back as holding the image: the iDRAC answers 204 first and mounts
    /// after (several seconds on R670/R760s).
    public var mediaInsert: Duration = .seconds(90)
    /// From `EjectMedia` to the slot reading back as empty.
    public var mediaEject: Duration = .seconds(30)
    /// How long a BMC whose provisioning side is not ready (Dell's Lifecycle Controller collecting the inventory at
    /// boot) is waited for.
    public var bmcReady: Duration = .seconds(300)
    /// First pause after a transient refusal (SYS446, RAC0508, InternalError); doubled at each retry.
    public var busyBackoff: Duration = .seconds(2)
    /// Retries after a transient refusal.
    public var busyRetries: Int = 4
    /// Once ssh answers, how long the live session's report may still take before the boot counts as a disk boot
    /// (cloud-init's phone_home runs last, after sshd).
    public var reportGrace: Duration = .seconds(180)
}

/// The configuration, compatible with the original `/etc/sopnode/sopnodes.yaml`.
public struct LivebootConfig: Sendable {
    public static let defaultPath = "/etc/liveboot/liveboot.yaml"

    public let path: String
    public let nodes: [Node]
    public let statusBios: [String]
    public let images: ImagesConfig
    public let testbedKeys: [SSHPublicKey]
    /// The admins' extension of every seed's user-data (`user-data-fragment:`), validated at load.
    public let userDataFragment: UserDataFragment?
    public var timing: Timing
    /// The portal's address, and the nodes' way to it.
    public let portal: PortalAddress
    /// The file as written: the portal reads its own section (`portal:`) from it.
    public let source: String

    /// Where the live session posts its report: `<portal.node-url>/boot-reports/$INSTANCE_ID` (cloud-init puts in
    /// the seed's instance id).
    public func phoneHomeURL() throws -> String {
        try portal.reportBase().get() + "/boot-reports/$INSTANCE_ID"
    }

    /// `--config`, else `LIVEBOOT_CONFIG`, else the default path.
    public static func load(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> LivebootConfig {
        let chosen = path ?? environment["LIVEBOOT_CONFIG"] ?? defaultPath
        guard let data = FileManager.default.contents(atPath: chosen) else { throw LivebootError.configNotFound(chosen) }
        return try parse(String(decoding: data, as: UTF8.self), path: chosen, environment: environment)
    }

    public static func parse(_ text: String, path: String, environment: [String: String] = [:]) throws -> LivebootConfig {
        let raw: RawConfig
        do {
            raw = try YAMLDecoder().decode(RawConfig.self, from: text)
        } catch {
            throw LivebootError.configInvalid(path: path, reason: Self.explain(error))
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : directory.appendingPathComponent(p).path }

        let secrets = try raw.secretsFile.map { try Secrets.load(resolve($0)) } ?? Secrets()
        var nodes: [Node] = []
        for (name, node) in raw.nodes ?? [:] {
            guard let drac = node.drac else { throw LivebootError.configInvalid(path: path, reason: "node \(name) has no drac") }
            let (host, port) = try splitHostPort(node.hostname ?? name, defaultPort: 22, path: path)
            let envName = name.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
            let password = environment["LIVEBOOT_DRAC_PASSWORD_\(String(envName))"] ?? secrets.nodes[name]?.password
                ?? node.dracPassword ?? environment["LIVEBOOT_DRAC_PASSWORD"] ?? secrets.password
            let username = node.dracUsername ?? secrets.nodes[name]?.username ?? environment["LIVEBOOT_DRAC_USERNAME"]
                ?? secrets.username ?? "root"
            var vendor: Vendor?
            if let forced = node.vendor {
                guard let known = Vendor(rawValue: forced.lowercased()) else {
                    throw LivebootError.configInvalid(path: path, reason: "node \(name): unknown vendor \(forced) "
                        + "(known: \(Vendor.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                vendor = known
            }
            nodes.append(Node(name: name, host: host, sshPort: port, bmc: BMCEndpoint.normalize(drac),
                              username: username, password: password, caFile: node.dracCAFile.map(resolve),
                              systemID: node.system, vendor: vendor))
        }
        nodes.sort { NodeSelection.naturalLess($0.name, $1.name) }

        let rawImages = raw.images ?? RawImages()
        var images = ImagesConfig(proto: rawImages.proto ?? "http", ip: rawImages.ip ?? "127.0.0.1",
                                  port: rawImages.port ?? 8080, path: rawImages.path ?? "images",
                                  folder: resolve(rawImages.absolutePath ?? "/var/lib/liveboot/images"),
                                  listen: rawImages.listen ?? "0.0.0.0")
        guard (0...65535).contains(images.port) else {
            throw LivebootError.configInvalid(path: path, reason: "images.port must be between 0 and 65535")
        }
        if let days = rawImages.keepSeeds {
            guard days > 0, days <= 3650 else {
                throw LivebootError.configInvalid(path: path, reason: "images.keep-seeds must be a number of days above 0")
            }
            images.seedRetention = .seconds(days * 86400)
        }

        var keys: [SSHPublicKey] = []
        for (index, line) in (raw.authorizedKeys ?? []).enumerated() {
            do { keys.append(try SSHPublicKey(line: line)) } catch {
                throw LivebootError.badKey(source: "\(path) authorized-keys[\(index)]", reason: "\(error)")
            }
        }
        if let file = raw.authorizedKeysFile {
            keys += try loadKeys(resolve(file))
        }

        var fragment: UserDataFragment?
        if let file = raw.userDataFragment.map(resolve) {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw LivebootError.configInvalid(path: path, reason: "cannot read user-data-fragment \(file)")
            }
            do {
                fragment = try UserDataFragment(yaml: String(decoding: data, as: UTF8.self), source: file)
            } catch {
                throw LivebootError.configInvalid(path: path, reason: "\(error)")
            }
        }

        var timing = Timing()
        if let t = raw.timing {
            func d(_ s: Double?) -> Duration? { s.map { .milliseconds(Int64($0 * 1000)) } }
            timing.pollInterval = d(t.pollInterval) ?? timing.pollInterval
            timing.gracefulShutdown = d(t.gracefulShutdown) ?? timing.gracefulShutdown
            timing.powerChange = d(t.powerChange) ?? timing.powerChange
            timing.sshWait = d(t.sshWait) ?? timing.sshWait
            timing.probe = d(t.probe) ?? timing.probe
            timing.connect = d(t.connect) ?? timing.connect
            timing.request = d(t.request) ?? timing.request
            timing.retries = t.retries ?? timing.retries
            timing.backoff = d(t.backoff) ?? timing.backoff
            timing.statusDeadline = d(t.statusDeadline) ?? timing.statusDeadline
            timing.headerTimeout = d(t.headerTimeout) ?? timing.headerTimeout
            timing.idleTimeout = d(t.idleTimeout) ?? timing.idleTimeout
            timing.mediaInsert = d(t.mediaInsert) ?? timing.mediaInsert
            timing.mediaEject = d(t.mediaEject) ?? timing.mediaEject
            timing.bmcReady = d(t.bmcReady) ?? timing.bmcReady
            timing.busyBackoff = d(t.busyBackoff) ?? timing.busyBackoff
            timing.reportGrace = d(t.reportGrace) ?? timing.reportGrace
            if let retries = t.busyRetries {
                guard (0...20).contains(retries) else {
                    throw LivebootError.configInvalid(path: path, reason: "timing.busy-retries must be between 0 and 20")
                }
                timing.busyRetries = retries
            }
            for (name, value) in [("header-timeout", t.headerTimeout), ("idle-timeout", t.idleTimeout),
                                  ("status-deadline", t.statusDeadline), ("media-insert", t.mediaInsert),
                                  ("media-eject", t.mediaEject), ("bmc-ready", t.bmcReady), ("busy-backoff", t.busyBackoff),
                                  ("report-grace", t.reportGrace)] {
                if let value, !(value > 0 && value.isFinite) {
                    throw LivebootError.configInvalid(path: path, reason: "timing.\(name) must be a number of seconds above 0")
                }
            }
        }
        var portal = PortalAddress()
        if let p = raw.portal {
            portal.listen = p.listen ?? portal.listen
            if let port = p.port {
                guard (0...65535).contains(port) else {
                    throw LivebootError.configInvalid(path: path, reason: "portal.port must be between 0 and 65535")
                }
                portal.port = port
            }
            if var url = p.nodeURL {
                while url.hasSuffix("/") { url.removeLast() }
                guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil,
                      parsed.query == nil else {
                    throw LivebootError.configInvalid(path: path, reason: "portal.node-url must be an http(s) URL such as "
                        + "http://10.0.0.1:8081 (the portal as the nodes' OS reaches it)")
                }
                portal.nodeURL = url
            }
        }
        return LivebootConfig(path: path, nodes: nodes, statusBios: raw.status?.bios ?? ["SysProfile", "ProcCStates"],
                              images: images, testbedKeys: keys, userDataFragment: fragment, timing: timing, portal: portal,
                              source: text)
    }

    /// Keys from a file: the original's `sopnode-keys.yaml` (`authorized_keys: [...]`) or a plain
    /// `authorized_keys` / `.pub` file.
    public static func loadKeys(_ path: String) throws -> [SSHPublicKey] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LivebootError.badKey(source: path, reason: "cannot read the file")
        }
        let text = String(decoding: data, as: UTF8.self)
        struct KeysFile: Decodable { let authorized_keys: [String] }
        let lines: [String]
        if let yaml = try? YAMLDecoder().decode(KeysFile.self, from: text) {
            lines = yaml.authorized_keys
        } else {
            lines = text.split(separator: "\n").map(String.init)
        }
        let parsed = SSHPublicKey.parseMany(lines.joined(separator: "\n"))
        if let first = parsed.errors.first {
            throw LivebootError.badKey(source: "\(path) line \(first.line)", reason: first.message)
        }
        return parsed.keys
    }

    static func splitHostPort(_ value: String, defaultPort: Int, path: String) throws -> (String, Int) {
        if value.hasPrefix("["), let close = value.firstIndex(of: "]") {  // [v6]:port
            let host = String(value[value.index(after: value.startIndex)..<close])
            let rest = value[value.index(after: close)...]
            guard rest.hasPrefix(":") else { return (host, defaultPort) }
            guard let port = Int(rest.dropFirst()) else { throw LivebootError.configInvalid(path: path, reason: "bad port in \(value)") }
            return (host, port)
        }
        let parts = value.split(separator: ":")
        guard parts.count == 2 else { return (value, defaultPort) }
        guard let port = Int(parts[1]), (1...65535).contains(port) else {
            throw LivebootError.configInvalid(path: path, reason: "bad port in hostname \(value)")
        }
        return (String(parts[0]), port)
    }

    /// A decoding error as a user can act on it: the path and what was wrong there.
    public static func explain(_ error: any Error) -> String {
        if case DecodingError.typeMismatch(_, let context) = error {
            return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        }
        if case DecodingError.keyNotFound(let key, let context) = error {
            return "missing \((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
        }
        return "\(error)"
    }
}

/// BMC credentials kept out of the main config. Refused when group- or world-readable.
struct Secrets: Decodable {
    struct Entry: Decodable {
        let username: String?
        let password: String?
        enum CodingKeys: String, CodingKey { case username = "drac-username", password = "drac-password" }
    }
    var username: String?
    var password: String?
    var nodes: [String: Entry] = [:]

    enum CodingKeys: String, CodingKey { case username = "drac-username", password = "drac-password", nodes }

    init() {}
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        username = try c.decodeIfPresent(String.self, forKey: .username)
        password = try c.decodeIfPresent(String.self, forKey: .password)
        nodes = try c.decodeIfPresent([String: Entry].self, forKey: .nodes) ?? [:]
    }

    static func load(_ path: String) throws -> Secrets {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard let attributes, let data = FileManager.default.contents(atPath: path) else {
            throw LivebootError.configInvalid(path: path, reason: "cannot read the secrets file")
        }
        let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0
        guard mode & 0o077 == 0 else { throw LivebootError.insecureSecrets(path: path, mode: String(mode, radix: 8)) }
        do {
            return try YAMLDecoder().decode(Secrets.self, from: String(decoding: data, as: UTF8.self))
        } catch {
            throw LivebootError.configInvalid(path: path, reason: LivebootConfig.explain(error))
        }
    }
}

struct RawConfig: Decodable {
    var nodes: [String: RawNode]?
    var status: RawStatus?
    var images: RawImages?
    var authorizedKeys: [String]?
    var authorizedKeysFile: String?
    var secretsFile: String?
    var userDataFragment: String?
    var timing: RawTiming?
    var portal: RawPortalAddress?

    enum CodingKeys: String, CodingKey {
        case nodes, status, images, timing, portal
        case authorizedKeys = "authorized-keys", authorizedKeysFile = "authorized-keys-file", secretsFile = "secrets-file"
        case userDataFragment = "user-data-fragment"
    }
}

struct RawNode: Decodable {
    var hostname: String?
    var drac: String?
    var dracUsername: String?
    var dracPassword: String?
    var dracCAFile: String?
    var system: String?
    var vendor: String?
    enum CodingKeys: String, CodingKey {
        case hostname, drac, dracUsername = "drac-username", dracPassword = "drac-password", dracCAFile = "drac-ca-file"
        case system, vendor
    }
}

struct RawStatus: Decodable { var bios: [String]? }

/// The keys of `portal:` the core reads; the portal decodes the whole section.
struct RawPortalAddress: Decodable {
    var listen: String?
    var port: Int?
    var nodeURL: String?
    enum CodingKeys: String, CodingKey { case listen, port, nodeURL = "node-url" }
}

struct RawImages: Decodable {
    var proto: String?
    var ip: String?
    var port: Int?
    var path: String?
    var absolutePath: String?
    var listen: String?
    var keepSeeds: Double?
    enum CodingKeys: String, CodingKey { case proto, ip, port, path, listen, absolutePath = "absolute-path", keepSeeds = "keep-seeds" }
}

struct RawTiming: Decodable {
    var pollInterval, gracefulShutdown, powerChange, sshWait, probe, connect, request, backoff: Double?
    var headerTimeout, idleTimeout, statusDeadline: Double?
    var mediaInsert, mediaEject, bmcReady, busyBackoff, reportGrace: Double?
    var retries, busyRetries: Int?
    enum CodingKeys: String, CodingKey {
        case mediaInsert = "media-insert", mediaEject = "media-eject", bmcReady = "bmc-ready", busyBackoff = "busy-backoff"
        case busyRetries = "busy-retries", reportGrace = "report-grace"
        case pollInterval = "poll-interval", gracefulShutdown = "graceful-shutdown", powerChange = "power-change"
        case sshWait = "ssh-wait", probe, connect, request, retries, backoff
        case headerTimeout = "header-timeout", idleTimeout = "idle-timeout", statusDeadline = "status-deadline"
    }
}
