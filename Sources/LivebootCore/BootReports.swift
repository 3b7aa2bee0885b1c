import Foundation
import Seed

/// A live boot the server (or the CLI) started and whose report it expects: the seed's cloud-init instance id.
public struct BootTicket: Sendable, Codable, Equatable {
    /// The instance id, as `phone_home` posts it and puts in the URL.
    public let id: String
    public let node: String
    public let startedAt: Date
    /// The seed file the boot's second slot holds (`cidata-….iso`), whose reads are the boot's; nil for a seed over
    /// HTTP (NoCloud), which cloud-init reads, not the BMC.
    public let seedFile: String?

    public init(id: String, node: String, startedAt: Date, seedFile: String? = nil) {
        self.id = id
        self.node = node
        self.startedAt = startedAt
        self.seedFile = seedFile
    }
}

/// One of the live session's host keys, as its sshd will offer it.
public struct HostKey: Sendable, Codable, Hashable {
    /// `ssh-ed25519 AAAA…`, without a comment.
    public let key: String
    /// `SHA256:…`, as `ssh-keygen -lf` and ssh's first-connection prompt show it.
    public let fingerprint: String

    public init(_ key: SSHPublicKey) {
        self.key = "\(key.type) \(key.blob.base64EncodedString())"
        fingerprint = key.fingerprint
    }

    public var type: String { String(key.prefix { $0 != " " }) }

    /// The `known_hosts` line for the session at `host`:`port` (`[host]:port` off port 22, as ssh writes it).
    public func knownHostsLine(host: String, port: Int) -> String { Self.knownHostsName(host: host, port: port) + " " + key }

    public static func knownHostsName(host: String, port: Int) -> String { port == 22 ? host : "[\(host)]:\(port)" }
}

/// What the live session said about itself: cloud-init's `phone_home`, received by `liveboot serve`.
public struct BootReport: Sendable, Codable, Equatable {
    public let bootID: String
    public let node: String
    public let hostKeys: [HostKey]
    public let hostname: String?
    public let fqdn: String?
    public let reportedAt: Date
    /// The address the report came from.
    public let from: String?

    public init(bootID: String, node: String, hostKeys: [HostKey], hostname: String?, fqdn: String?, reportedAt: Date, from: String?) {
        self.bootID = bootID
        self.node = node
        self.hostKeys = hostKeys
        self.hostname = hostname
        self.fqdn = fqdn
        self.reportedAt = reportedAt
        self.from = from
    }
}

/// The body of a `phone_home` POST, read as cloud-init's `cc_phone_home` sends it: form-encoded `pub_key_rsa`,
/// `pub_key_ecdsa`, `pub_key_ed25519` (older versions add `pub_key_dsa`), `instance_id`, `hostname`, `fqdn`; a key
/// type the OS has none of is posted as `N/A`.
public struct BootReportForm: Sendable, Equatable {
    public let instanceID: String
    public let hostKeys: [SSHPublicKey]
    public let hostname: String?
    public let fqdn: String?

    /// The most a report may weigh: three host keys (an RSA 16384-bit one is ~2.8 KB) and two names.
    public static let maxBytes = 16 * 1024

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case notForm
        case missing(String)
        case instanceMismatch(path: String, body: String)
        case badHostKey(field: String, reason: String)
        case noHostKey
        case badName(String)

        public var description: String {
            switch self {
            case .notForm: "the body is not application/x-www-form-urlencoded"
            case .missing(let field): "the report has no \(field)"
            case .instanceMismatch(let path, let body): "the report is for \(body), posted to \(path)"
            case .badHostKey(let field, let reason): "\(field) is not a public key: \(reason)"
            case .noHostKey: "the report carries no host key"
            case .badName(let field): "\(field) is not a host name"
            }
        }
    }

    static let keyFields = ["pub_key_ed25519", "pub_key_ecdsa", "pub_key_rsa", "pub_key_dsa"]

    /// Parses and checks a report posted to `/boot-reports/<pathID>`.
    public init(body: Data, pathID: String) throws {
        guard body.count <= Self.maxBytes, let text = String(data: body, encoding: .utf8) else { throw Failure.notForm }
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]), let value = Self.decode(parts.count > 1 ? parts[1] : "") else {
                throw Failure.notForm
            }
            guard fields[name] == nil else { throw Failure.notForm }
            fields[name] = value
        }
        guard let instance = fields["instance_id"] else { throw Failure.missing("instance_id") }
        guard instance == pathID else { throw Failure.instanceMismatch(path: pathID, body: instance) }
        var keys: [SSHPublicKey] = []
        for field in Self.keyFields {
            guard let value = fields[field]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty, value != "N/A" else {
                continue
            }
            do { keys.append(try SSHPublicKey(line: value)) } catch {
                throw Failure.badHostKey(field: field, reason: "\(error)")
            }
        }
        guard !keys.isEmpty else { throw Failure.noHostKey }
        func name(_ field: String) throws -> String? {
            guard let value = fields[field], !value.isEmpty, value != "N/A" else { return nil }
            let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
            guard value.count <= 253, value.unicodeScalars.allSatisfy(allowed.contains) else { throw Failure.badName(field) }
            return value
        }
        instanceID = instance
        hostKeys = keys
        hostname = try name("hostname")
        fqdn = try name("fqdn")
    }

    /// `+` is a space, then percent-decoding; nil when the encoding is broken.
    static func decode(_ part: Substring) -> String? {
        String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}

/// What became of a posted report.
public enum BootReportOutcome: Sendable, Equatable {
    case recorded(BootReport)
    /// No boot with that id was started here.
    case unknownBoot
    /// The boot has reported already, or was superseded (a later boot, a disk boot) or given up.
    case closed
}

/// A registered boot as it stands.
public struct BootRecordState: Sendable, Equatable {
    public let ticket: BootTicket
    public let report: BootReport?
    /// Still waiting for its report (not reported, superseded or given up).
    public let isOpen: Bool
    /// The session is over: a later boot, a disk boot, a failed wait.
    public let hasEnded: Bool

    public init(ticket: BootTicket, report: BootReport?, isOpen: Bool, hasEnded: Bool) {
        self.ticket = ticket
        self.report = report
        self.isOpen = isOpen
        self.hasEnded = hasEnded
    }
}

/// Where boots are registered and their reports kept: the portal's database, which the CLI opens too, so that a
/// report received by `liveboot serve` reaches a boot started from the CLI.
public protocol BootRegistry: Sendable {
    /// Registers a boot about to start; earlier open boots of the node are closed (their reports refused).
    func register(_ ticket: BootTicket) async throws
    /// The report of a boot, once received.
    func report(for bootID: String) async throws -> BootReport?
    /// Records a report, once, for an open boot.
    func record(bootID: String, hostKeys: [HostKey], hostname: String?, fqdn: String?, from: String?, at: Date) async throws
        -> BootReportOutcome
    /// The node's latest boot, with its report if any.
    func latestBoot(of node: String) async throws -> BootRecordState?
    /// Ends the node's boots (a disk boot, a failed live boot): a late report changes nothing, and no session of
    /// theirs is offered to ssh to.
    func closeBoots(of node: String) async throws
    /// How the boot's wait ended (once: a later call changes nothing).
    func recordOutcome(bootID: String, _ outcome: BootOutcome) async throws
    /// The boots started since `date`, of `nodes` (all when nil), oldest first.
    func bootHistory(since date: Date, nodes: [String]?) async throws -> [BootHistoryEntry]
    /// Adds what the vmedia listener counted to the boots the counts name; returns the counts that name no boot
    /// (yet: a boot registers once its media are in, after the BMC's first reads).
    func addMediaReads(_ counts: [BootMediumReadCount]) async throws -> [BootMediumReadCount]
    /// What the boot's BMC read of each of its media, image first.
    func mediaReads(bootID: String) async throws -> [BootMediumRead]
    /// Keeps the boot's console log (replacing any earlier one of the boot).
    func recordConsoleLog(bootID: String, _ log: ConsoleLog) async throws
    /// The boot's console log, if one was recorded.
    func consoleLog(bootID: String) async throws -> ConsoleLog?
}
