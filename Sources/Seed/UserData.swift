import Crypto
import Foundation
import Yams

/// What a live session's cloud-init seed says, built as data and emitted by a YAML serializer, never by
/// pasting user input into a template.
public struct SeedRequest: Sendable {
    public var hostname: String
    public var fqdn: String?
    public var keys: [SSHPublicKey]
    public var bootID: String
    public var packages: [String]
    /// An admin's YAML fragment (from `Templates/`), merged as data; see `UserDataFragment`.
    public var fragment: UserDataFragment?
    /// Where the live session reports itself: cloud-init's `phone_home` POSTs its host keys, instance id and names
    /// to this URL, `$INSTANCE_ID` replaced by the seed's instance id.
    public var phoneHome: String?

    public init(hostname: String, fqdn: String? = nil, keys: [SSHPublicKey], bootID: String, packages: [String] = [],
                fragment: UserDataFragment? = nil, phoneHome: String? = nil) {
        self.phoneHome = phoneHome
        self.hostname = hostname
        self.fqdn = fqdn
        self.keys = keys
        self.bootID = bootID
        self.packages = packages
        self.fragment = fragment
    }
}

/// A generated seed: the ISO bytes and a content-derived name.
public struct Seed: Sendable {
    public let image: Data
    public let userData: String
    public let metaData: String
    /// 16 hex digits naming the seed (its published file name): a SHA-256 of what determines the image — the two
    /// files and the writer's version — rather than of the 57 KB image itself (the same value for the same bytes,
    /// at a fortieth of the hashing).
    public let contentID: String

    init(image: Data, userData: String, metaData: String) {
        self.image = image
        self.userData = userData
        self.metaData = metaData
        var hasher = SHA256()
        hasher.update(data: Data("liveboot-cidata-v1\u{0}".utf8))
        hasher.update(data: Data(userData.utf8))
        hasher.update(data: Data("\u{0}".utf8))
        hasher.update(data: Data(metaData.utf8))
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(16)
        for byte in hasher.finalize().prefix(8) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        contentID = String(decoding: hex, as: UTF8.self)
    }
}

public enum SeedBuilder {
    public enum Failure: Error, CustomStringConvertible {
        case noKeys
        case badHostname(String)
        case badBootID(String)
        public var description: String {
            switch self {
            case .noKeys: "no ssh key to put in the seed: nobody could log in"
            case .badHostname(let h): "hostname \"\(h)\" is not a valid host name"
            case .badBootID(let b): "boot id \"\(b)\" must match [A-Za-z0-9._-]{1,64}"
            }
        }
    }

    /// Builds `user-data` + `meta-data` and the ISO. Same request → same bytes: the ISO's timestamp is the
    /// epoch, and key order is preserved with duplicates removed.
    public static func build(_ request: SeedRequest) throws -> Seed {
        guard !request.keys.isEmpty else { throw Failure.noKeys }
        guard Self.matches(request.hostname, first: Self.alphanumeric, rest: Self.hostnameCharacters, maxLength: 253) else {
            throw Failure.badHostname(request.hostname)
        }
        guard Self.matches(request.bootID, first: Self.bootIDCharacters, rest: Self.bootIDCharacters, maxLength: 64) else {
            throw Failure.badBootID(request.bootID)
        }
        var seen = Set<Data>()
        let keys = request.keys.filter { seen.insert($0.blob).inserted }.map(\.line)
        // Successive boots of a node by a slice differ only by their boot id, which is in meta-data alone: the
        // user-data (the YAML serializer is most of a seed's cost) is rendered once per distinct content.
        let cacheKey = UserDataCache.Key(hostname: request.hostname, fqdn: request.fqdn, keys: keys, packages: request.packages,
                                         fragment: request.fragment?.canonicalYAML, phoneHome: request.phoneHome)
        let userData = try UserDataCache.shared.value(for: cacheKey) { try renderUserData(request, keys: keys) }
        // Both values were checked above against character sets that cannot break out of a YAML scalar; the host
        // name is quoted all the same, since a name like `null`, `true` or `123` would otherwise not be a string.
        let metaData = "instance-id: \(instanceID(of: request.bootID))\nlocal-hostname: '\(request.hostname)'\n"
        let iso = try CidataISO(files: [
            .init(name: "meta-data", contents: Data(metaData.utf8)),
            .init(name: "user-data", contents: Data(userData.utf8)),
        ], timestamp: Date(timeIntervalSince1970: 0))
        return Seed(image: iso.bytes(), userData: userData, metaData: metaData)
    }

    /// The cloud-init instance id of a boot: what `phone_home` puts for `$INSTANCE_ID` and posts as `instance_id`.
    public static func instanceID(of bootID: String) -> String { "liveboot-\(bootID)" }

    static let alphanumeric = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)
    static let hostnameCharacters = alphanumeric.union(".-".utf8)
    static let bootIDCharacters = alphanumeric.union("._-".utf8)

    /// A hand-written check of `^[first][rest]{0,maxLength-1}$`: the regular expressions it replaces cost more
    /// than writing the whole ISO.
    static func matches(_ text: String, first: Set<UInt8>, rest: Set<UInt8>, maxLength: Int) -> Bool {
        let bytes = Array(text.utf8)
        guard let head = bytes.first, bytes.count <= maxLength, first.contains(head) else { return false }
        return bytes.dropFirst().allSatisfy(rest.contains)
    }

    static func renderUserData(_ request: SeedRequest, keys: [String]) throws -> String {
        // Shape verified on a real cloud-init boot (shared/e2e): root gets the keys both through `users` and
        // through the default `ssh_authorized_keys` with `disable_root: false`.
        var document: [String: Any] = [
            "disable_root": false,
            "ssh_pwauth": false,
            "hostname": request.hostname,
            "users": [["name": "root", "lock_passwd": true, "ssh_authorized_keys": keys] as [String: Any]],
            "ssh_authorized_keys": keys,
            // Key login needs root's password field unlocked ('*' = no password, but not '!' locked).
            "runcmd": [["usermod", "-p", "*", "root"]],
        ]
        if let fqdn = request.fqdn { document["fqdn"] = fqdn }
        // cloud-init's own module (in every distribution's cloud_final_modules), so any cloud-init image reports
        // without curl or a script; `all` is the field list of the image's cloud-init version.
        if let url = request.phoneHome { document["phone_home"] = ["url": url, "post": "all", "tries": 10] as [String: Any] }
        if !request.packages.isEmpty { document["packages"] = request.packages }
        if let fragment = request.fragment { try fragment.merge(into: &document) }
        // Keys are sorted as the tree is built: the output is stable without the serializer sorting again.
        return "#cloud-config\n" + (try Yams.serialize(node: try YAMLTree.node(document), width: -1))
    }
}

/// Turns the document into Yams nodes with every string's tag and style decided here, by a character check,
/// instead of by Yams's resolver: `Yams.dump(object:)` runs its regular-expression resolver twice per string (to
/// tell `yes`, `1e3` or `null` from a string), which was most of the cost of a seed. Still data through a YAML
/// serializer: libyaml emits and escapes every scalar.
enum YAMLTree {
    static func node(_ value: Any) throws -> Node {
        switch value {
        case let text as String: return .scalar(scalar(text))
        case let mapping as [String: Any]:
            return .mapping(Node.Mapping(try mapping.sorted { $0.key < $1.key }.map { (.scalar(scalar($0.key)), try node($0.value)) }))
        case let list as [Any]: return .sequence(Node.Sequence(try list.map(node)))
        case let other as NodeRepresentable: return try other.represented()  // Bool, Int, Double, Date: explicit tags
        default: throw YamlError.representer(problem: "cannot represent \(type(of: value)) in user-data")
        }
    }

    /// YAML 1.1 words that a plain scalar would turn into booleans or null.
    static let reserved: Set<String> = ["y", "yes", "n", "no", "true", "false", "on", "off", "null", "~"]
    static let plainCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-".utf8)

    /// A string stays plain when it starts with a letter, holds only `[A-Za-z0-9_./-]` and is not a reserved word
    /// (so it cannot read back as a number, a date, a boolean or null); anything else is single-quoted.
    static func scalar(_ text: String) -> Node.Scalar {
        let bytes = text.utf8
        let plain = bytes.first.map { ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A } == true
            && bytes.allSatisfy(plainCharacters.contains) && (bytes.count > 5 || !reserved.contains(text.lowercased()))
        return Node.Scalar(text, stringTag, plain ? .plain : .singleQuoted)
    }

    /// Made once: each `Tag(.str)` built Yams's default resolver and constructor tables anew.
    nonisolated(unsafe) static let stringTag = Tag(.str)
}

/// Rendered user-data by content, bounded: a testbed has a few hundred nodes × slices at most in use at a time.
final class UserDataCache: @unchecked Sendable {
    struct Key: Hashable {
        let hostname: String
        let fqdn: String?
        let keys: [String]
        let packages: [String]
        let fragment: String?
        let phoneHome: String?
    }

    static let shared = UserDataCache(capacity: 512)
    let capacity: Int
    private var values: [Key: String] = [:]
    private var order: [Key] = []
    private let lock = NSLock()

    init(capacity: Int) { self.capacity = capacity }

    func value(for key: Key, render: () throws -> String) rethrows -> String {
        lock.lock()
        if let hit = values[key] { lock.unlock(); return hit }
        lock.unlock()
        let rendered = try render()
        lock.lock()
        defer { lock.unlock() }
        if values.updateValue(rendered, forKey: key) == nil {
            order.append(key)
            if order.count > capacity { values[order.removeFirst()] = nil }
        }
        return rendered
    }
}

/// An admin's extension of every seed's `user-data`, merged as data: lists (`packages`, `runcmd`, `bootcmd`,
/// `write_files`) are appended to ours, other keys added. Keys that decide who can log in are ours alone, and an
/// `autoinstall` key anywhere is refused — on an Ubuntu live-server image it would let subiquity install onto the
/// node's disk.
public struct UserDataFragment: Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case notAMapping(String)
        case invalidYAML(String, String)
        case autoinstall(String)
        case managedKey(String, String)

        public var description: String {
            switch self {
            case .notAMapping(let source): "user-data fragment \(source) must be a YAML mapping"
            case .invalidYAML(let source, let reason): "user-data fragment \(source) is not valid YAML: \(reason)"
            case .autoinstall(let source):
                "user-data fragment \(source) contains an `autoinstall` key: refused, it would let an Ubuntu installer write to the node's disk"
            case .managedKey(let source, let key):
                "user-data fragment \(source) sets `\(key)`, which liveboot manages (root's keys and password login)"
            }
        }
    }

    public static let managedKeys: Set<String> = ["ssh_authorized_keys", "users", "disable_root", "ssh_pwauth", "chpasswd",
                                                  "password", "hostname", "fqdn", "user", "phone_home"]
    public static let appendedLists: Set<String> = ["packages", "runcmd", "bootcmd", "write_files"]

    public let source: String
    /// The fragment, re-serialized canonically (sorted keys), so that equal fragments give equal seeds.
    public let canonicalYAML: String

    public init(yaml: String, source: String) throws {
        let loaded: Any?
        do { loaded = try Yams.load(yaml: yaml) } catch { throw Failure.invalidYAML(source, "\(error)") }
        guard let mapping = (loaded ?? [String: Any]()) as? [String: Any] else { throw Failure.notAMapping(source) }
        if Self.containsAutoinstall(mapping) { throw Failure.autoinstall(source) }
        if let key = mapping.keys.sorted().first(where: Self.managedKeys.contains) { throw Failure.managedKey(source, key) }
        self.source = source
        canonicalYAML = try Yams.dump(object: mapping, width: -1, sortKeys: true)
    }

    static func containsAutoinstall(_ value: Any) -> Bool {
        if let mapping = value as? [String: Any] {
            return mapping.keys.contains { $0.lowercased() == "autoinstall" } || mapping.values.contains(where: containsAutoinstall)
        }
        if let list = value as? [Any] { return list.contains(where: containsAutoinstall) }
        return false
    }

    func merge(into document: inout [String: Any]) throws {
        guard let mapping = try Yams.load(yaml: canonicalYAML) as? [String: Any] else { return }
        for (key, value) in mapping {
            if Self.appendedLists.contains(key), let extra = value as? [Any] {
                document[key] = (document[key] as? [Any] ?? []) + extra
            } else {
                document[key] = value
            }
        }
    }
}
