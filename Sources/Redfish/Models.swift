import Foundation

/// A reference to another resource: `{"@odata.id": "/redfish/v1/..."}`.
public struct Link: Codable, Hashable, Sendable {
    public let id: String
    public init(_ id: String) { self.id = id }
    enum CodingKeys: String, CodingKey { case id = "@odata.id" }
}

/// Any collection: only its members' links matter to us.
public struct ResourceCollection: Decodable, Sendable {
    public let members: [Link]
    enum CodingKeys: String, CodingKey { case members = "Members" }
}

/// A collection fetched with `$expand`, members decoded in place.
public struct ExpandedCollection<Member: Decodable & Sendable>: Decodable, Sendable {
    public let members: [Member]
    enum CodingKeys: String, CodingKey { case members = "Members" }
}

/// An action as published by the service: where to POST, and what it accepts.
public struct Action: Decodable, Hashable, Sendable {
    public let target: String
    /// `<Parameter>@Redfish.AllowableValues`, keyed by parameter name.
    public let allowableValues: [String: [String]]

    public init(target: String, allowableValues: [String: [String]] = [:]) {
        self.target = target
        self.allowableValues = allowableValues
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        target = try container.decode(String.self, forKey: AnyKey("target"))
        var allowed: [String: [String]] = [:]
        for key in container.allKeys where key.stringValue.hasSuffix("@Redfish.AllowableValues") {
            let parameter = String(key.stringValue.dropLast("@Redfish.AllowableValues".count))
            allowed[parameter] = try? container.decode([String].self, forKey: key)
        }
        allowableValues = allowed
    }
}

/// Decodes `Actions` objects: `#Type.Name` keys to `Action`, with any `Oem` block flattened in.
public struct Actions: Decodable, Sendable {
    public let byName: [String: Action]

    public init(_ byName: [String: Action] = [:]) { self.byName = byName }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        var found: [String: Action] = [:]
        for key in container.allKeys {
            if key.stringValue == "Oem" {
                let oem = try container.decode(Actions.self, forKey: key)
                found.merge(oem.byName) { first, _ in first }
            } else if let action = try? container.decode(Action.self, forKey: key) {
                found[key.stringValue] = action
            }
        }
        byName = found
    }

    /// The action whose name ends with `suffix` (OEM names carry vendor prefixes such as
    /// `#OemManager.v1_4_0.OemManager#OemManager.ImportSystemConfiguration`).
    public func named(_ suffix: String) -> Action? {
        if let exact = byName["#" + suffix] { return exact }
        return byName.first { $0.key.hasSuffix(suffix) }?.value
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// `ComputerSystem.PowerState`; unknown spellings kept.
public enum PowerState: Decodable, Sendable, Hashable, CustomStringConvertible {
    case on, off, poweringOn, poweringOff, paused
    case unknown(String)

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        self = .init(raw: raw)
    }

    public init(raw: String) {
        switch raw {
        case "On": self = .on
        case "Off": self = .off
        case "PoweringOn": self = .poweringOn
        case "PoweringOff": self = .poweringOff
        case "Paused": self = .paused
        default: self = .unknown(raw)
        }
    }

    public var description: String {
        switch self {
        case .on: "On"
        case .off: "Off"
        case .poweringOn: "PoweringOn"
        case .poweringOff: "PoweringOff"
        case .paused: "Paused"
        case .unknown(let raw): raw
        }
    }
}

/// `/redfish/v1`.
public struct ServiceRoot: Decodable, Sendable {
    public let redfishVersion: String?
    public let vendor: String?
    public let product: String?
    public let systems: Link?
    public let managers: Link?
    public let sessionService: Link?
    public let links: RootLinks?
    public let tasks: Link?
    public let protocolFeaturesSupported: ProtocolFeatures?
    /// Only the names of the vendor blocks: enough to tell a Dell from the rest.
    public let oemVendors: [String]

    public struct RootLinks: Decodable, Sendable {
        public let sessions: Link?
        enum CodingKeys: String, CodingKey { case sessions = "Sessions" }
    }

    public struct ProtocolFeatures: Decodable, Sendable {
        public let expandQuery: ExpandQuery?
        enum CodingKeys: String, CodingKey { case expandQuery = "ExpandQuery" }
        public struct ExpandQuery: Decodable, Sendable {
            public let expandAll: Bool?
            public let levels: Bool?
            public let noLinks: Bool?
            enum CodingKeys: String, CodingKey { case expandAll = "ExpandAll", levels = "Levels", noLinks = "NoLinks" }
        }
    }

    /// Whether `?$expand=.($levels=1)` may be used to fetch a collection with its members in one call.
    public var supportsExpand: Bool {
        guard let query = protocolFeaturesSupported?.expandQuery else { return false }
        return (query.noLinks ?? query.expandAll ?? false) && (query.levels ?? false)
    }

    enum CodingKeys: String, CodingKey {
        case redfishVersion = "RedfishVersion", vendor = "Vendor", product = "Product", systems = "Systems"
        case managers = "Managers", sessionService = "SessionService", links = "Links", tasks = "Tasks"
        case protocolFeaturesSupported = "ProtocolFeaturesSupported", oem = "Oem"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        redfishVersion = try c.decodeIfPresent(String.self, forKey: .redfishVersion)
        vendor = try c.decodeIfPresent(String.self, forKey: .vendor)
        product = try c.decodeIfPresent(String.self, forKey: .product)
        systems = try c.decodeIfPresent(Link.self, forKey: .systems)
        managers = try c.decodeIfPresent(Link.self, forKey: .managers)
        sessionService = try c.decodeIfPresent(Link.self, forKey: .sessionService)
        links = try c.decodeIfPresent(RootLinks.self, forKey: .links)
        tasks = try c.decodeIfPresent(Link.self, forKey: .tasks)
        protocolFeaturesSupported = try? c.decodeIfPresent(ProtocolFeatures.self, forKey: .protocolFeaturesSupported)
        if c.contains(.oem), let oem = try? c.nestedContainer(keyedBy: AnyKey.self, forKey: .oem) {
            oemVendors = oem.allKeys.map(\.stringValue).sorted()
        } else {
            oemVendors = []
        }
    }
}

/// `Systems/<id>`.
public struct ComputerSystem: Decodable, Sendable {
    public let odataID: String
    public let id: String
    public let powerState: PowerState?
    public let manufacturer: String?
    public let model: String?
    public let biosVersion: String?
    public let bios: Link?
    public let virtualMedia: Link?
    public let boot: Boot?
    public let actions: Actions?
    public let links: SystemLinks?
    /// `BootProgress` (Redfish 2020.4+), where the BMC keeps it.
    public let bootProgress: BootProgressObject?

    public struct BootProgressObject: Decodable, Sendable {
        public let lastState: BootProgressState?
        enum CodingKeys: String, CodingKey { case lastState = "LastState" }
    }

    /// Whether the system says how its boot goes (worth watching during a boot).
    public var bootProgressAdvertised: Bool { bootProgress != nil }

    public struct SystemLinks: Decodable, Sendable {
        public let managedBy: [Link]?
        enum CodingKeys: String, CodingKey { case managedBy = "ManagedBy" }
    }

    public var resetAction: Action? { actions?.named("ComputerSystem.Reset") }
    /// The reset types the BMC lists as allowed; nil when it lists none (then any may be tried).
    public var allowedResetTypes: [ResetType]? { resetAction?.allowableValues["ResetType"]?.map(ResetType.init(rawValue:)) }

    enum CodingKeys: String, CodingKey {
        case odataID = "@odata.id", id = "Id", powerState = "PowerState", manufacturer = "Manufacturer"
        case model = "Model", biosVersion = "BiosVersion", bios = "Bios", virtualMedia = "VirtualMedia"
        case boot = "Boot", actions = "Actions", links = "Links", bootProgress = "BootProgress"
    }
}

/// The `Boot` object of a ComputerSystem: the one-time override we set for live boots.
public struct Boot: Codable, Sendable, Hashable {
    public var bootSourceOverrideTarget: BootSource?
    public var bootSourceOverrideEnabled: BootOverrideEnabled?
    public var allowableTargets: [BootSource]?

    public init(target: BootSource?, enabled: BootOverrideEnabled?) {
        bootSourceOverrideTarget = target
        bootSourceOverrideEnabled = enabled
        allowableTargets = nil
    }

    enum CodingKeys: String, CodingKey {
        case bootSourceOverrideTarget = "BootSourceOverrideTarget"
        case bootSourceOverrideEnabled = "BootSourceOverrideEnabled"
        case allowableTargets = "BootSourceOverrideTarget@Redfish.AllowableValues"
    }
}

/// `Managers/<id>`.
public struct Manager: Decodable, Sendable {
    public let odataID: String
    public let id: String
    public let firmwareVersion: String?
    public let model: String?
    public let virtualMedia: Link?
    public let actions: Actions?
    /// The host's serial console as the manager offers it (`Manager.SerialConsole`).
    public let serialConsole: ConsoleService?
    /// The manager's own command shell (`Manager.CommandShell`): SSH, IPMI …
    public let commandShell: ConsoleService?

    enum CodingKeys: String, CodingKey {
        case odataID = "@odata.id", id = "Id", firmwareVersion = "FirmwareVersion", model = "Model"
        case virtualMedia = "VirtualMedia", actions = "Actions", serialConsole = "SerialConsole"
        case commandShell = "CommandShell"
    }
}

/// `Manager.SerialConsole`, `CommandShell`, `GraphicalConsole`: a console service and how one connects to it.
public struct ConsoleService: Decodable, Sendable, Equatable {
    public let serviceEnabled: Bool?
    public let connectTypesSupported: [ConsoleConnectType]
    public let maxConcurrentSessions: Int?

    public init(serviceEnabled: Bool?, connectTypesSupported: [ConsoleConnectType], maxConcurrentSessions: Int?) {
        self.serviceEnabled = serviceEnabled
        self.connectTypesSupported = connectTypesSupported
        self.maxConcurrentSessions = maxConcurrentSessions
    }

    enum CodingKeys: String, CodingKey {
        case serviceEnabled = "ServiceEnabled", connectTypesSupported = "ConnectTypesSupported"
        case maxConcurrentSessions = "MaxConcurrentSessions"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        serviceEnabled = try c.decodeIfPresent(Bool.self, forKey: .serviceEnabled)
        connectTypesSupported = try c.decodeIfPresent([ConsoleConnectType].self, forKey: .connectTypesSupported) ?? []
        maxConcurrentSessions = try c.decodeIfPresent(Int.self, forKey: .maxConcurrentSessions)
    }

    /// Enabled and reachable over SSH, the only way liveboot relays a console.
    public var offersSSH: Bool { serviceEnabled == true && connectTypesSupported.contains(.ssh) }

    /// "enabled over SSH, IPMI", "disabled, no connect types" — what a user reads when it is not usable.
    public var summary: String {
        let enabled = serviceEnabled.map { $0 ? "enabled" : "disabled" } ?? "state not given"
        let types = connectTypesSupported.isEmpty ? "no connect types" : "over " + connectTypesSupported.map(\.rawValue).joined(separator: ", ")
        return enabled + ", " + types
    }
}

/// One virtual-media slot.
public struct VirtualMedia: Decodable, Sendable {
    public let odataID: String
    public let id: String
    public let name: String?
    public let image: String?
    public let imageName: String?
    public let inserted: Bool?
    public let connectedVia: String?
    public let mediaTypes: [MediaType]
    public let actions: Actions?

    public var insertAction: Action? { actions?.named("VirtualMedia.InsertMedia") }
    public var ejectAction: Action? { actions?.named("VirtualMedia.EjectMedia") }
    /// A slot counts as busy when it says so, or when it still holds an image URL.
    public var isInserted: Bool { inserted ?? false || !(image ?? "").isEmpty }
    public var canHoldCD: Bool { mediaTypes.isEmpty || mediaTypes.contains { $0 == .cd || $0 == .dvd } }

    /// `Id` order, numbers by value (`2` before `10`), then names (`CD` before `RemovableDisk`).
    public static func identityOrder(_ a: VirtualMedia, _ b: VirtualMedia) -> Bool {
        switch (Int(a.id), Int(b.id)) {
        case let (x?, y?): x < y
        case (_?, nil): true
        case (nil, _?): false
        case (nil, nil): a.id < b.id
        }
    }

    enum CodingKeys: String, CodingKey {
        case odataID = "@odata.id", id = "Id", name = "Name", image = "Image", imageName = "ImageName"
        case inserted = "Inserted", connectedVia = "ConnectedVia", mediaTypes = "MediaTypes", actions = "Actions"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        odataID = try c.decode(String.self, forKey: .odataID)
        id = try c.decode(String.self, forKey: .id)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        image = try c.decodeIfPresent(String.self, forKey: .image)
        imageName = try c.decodeIfPresent(String.self, forKey: .imageName)
        inserted = try c.decodeIfPresent(Bool.self, forKey: .inserted)
        connectedVia = try c.decodeIfPresent(String.self, forKey: .connectedVia)
        mediaTypes = try c.decodeIfPresent([MediaType].self, forKey: .mediaTypes) ?? []
        actions = try c.decodeIfPresent(Actions.self, forKey: .actions)
    }
}

/// A BIOS attribute value as the BMC sends it.
public enum AttributeValue: Codable, Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case integer(Int)
    case number(Double)
    case bool(Bool)
    case null

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else { self = .string(try c.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .integer(let i): try c.encode(i)
        case .number(let d): try c.encode(d)
        case .bool(let b): try c.encode(b)
        case .null: try c.encodeNil()
        }
    }

    public var description: String {
        switch self {
        case .string(let s): s
        case .integer(let i): String(i)
        case .number(let d): String(d)
        case .bool(let b): String(b)
        case .null: "null"
        }
    }
}

/// `Systems/<id>/Bios`.
public struct Bios: Decodable, Sendable {
    public let odataID: String
    public let attributeRegistry: String?
    public let attributes: [String: AttributeValue]
    public let actions: Actions?
    public let settings: SettingsLink?

    /// `@Redfish.Settings`: where pending values are written, and when they may apply.
    public struct SettingsLink: Decodable, Sendable {
        public let settingsObject: Link?
        public let supportedApplyTimes: [String]?
        /// Sent back as `If-Match` when writing, where the BMC gives one.
        public let etag: String?
        enum CodingKeys: String, CodingKey {
            case settingsObject = "SettingsObject", supportedApplyTimes = "SupportedApplyTimes", etag = "ETag"
        }
    }

    public var resetBiosAction: Action? { actions?.named("Bios.ResetBios") }

    enum CodingKeys: String, CodingKey {
        case odataID = "@odata.id", attributeRegistry = "AttributeRegistry", attributes = "Attributes"
        case actions = "Actions", settings = "@Redfish.Settings"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        odataID = try c.decode(String.self, forKey: .odataID)
        attributeRegistry = try c.decodeIfPresent(String.self, forKey: .attributeRegistry)
        attributes = try c.decodeIfPresent([String: AttributeValue].self, forKey: .attributes) ?? [:]
        actions = try c.decodeIfPresent(Actions.self, forKey: .actions)
        settings = try c.decodeIfPresent(SettingsLink.self, forKey: .settings)
    }
}

/// An AttributeRegistry (Dell: `Bios/BiosRegistry`).
public struct AttributeRegistry: Decodable, Sendable {
    public let registryEntries: Entries

    public struct Entries: Decodable, Sendable {
        public let attributes: [Attribute]
        enum CodingKeys: String, CodingKey { case attributes = "Attributes" }
    }

    public struct Attribute: Decodable, Sendable {
        public let name: String
        public let type: String
        public let readOnly: Bool
        public let values: [String]
        public let lowerBound: Int?
        public let upperBound: Int?
        public let minLength: Int?
        public let maxLength: Int?
        public let displayName: String?

        struct Value: Decodable { let ValueName: String }

        enum CodingKeys: String, CodingKey {
            case name = "AttributeName", type = "Type", readOnly = "ReadOnly", values = "Value"
            case lowerBound = "LowerBound", upperBound = "UpperBound", minLength = "MinLength"
            case maxLength = "MaxLength", displayName = "DisplayName"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            type = try c.decode(String.self, forKey: .type)
            readOnly = try c.decodeIfPresent(Bool.self, forKey: .readOnly) ?? false
            values = (try c.decodeIfPresent([Value].self, forKey: .values) ?? []).map(\.ValueName)
            lowerBound = Self.bound(c, .lowerBound)
            upperBound = Self.bound(c, .upperBound)
            minLength = try c.decodeIfPresent(Int.self, forKey: .minLength)
            maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength)
            displayName = try c.decodeIfPresent(String.self, forKey: .displayName)
        }

        /// iDRAC 9 (6.00.30.00) publishes `UpperBound: 18446744073709551615` (UInt64.max) on its SGX attributes,
        /// which does not fit an Int: such a bound is clamped rather than failing the whole 682-entry registry.
        static func bound(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) -> Int? {
            if let value = try? c.decodeIfPresent(Int.self, forKey: key) { return value }
            if let value = try? c.decodeIfPresent(UInt64.self, forKey: key) { return value > UInt64(Int.max) ? Int.max : Int(value) }
            if let value = try? c.decodeIfPresent(Double.self, forKey: key) {
                return value >= Double(Int.max) ? Int.max : value <= Double(Int.min) ? Int.min : Int(value)
            }
            return nil
        }
    }

    enum CodingKeys: String, CodingKey { case registryEntries = "RegistryEntries" }
}

/// A Redfish message (`@Message.ExtendedInfo` entries, task messages).
public struct RedfishMessage: Codable, Sendable, Hashable {
    public let messageId: String
    public let message: String?
    public let resolution: String?
    public let severity: String?

    public init(messageId: String, message: String?, resolution: String? = nil, severity: String? = nil) {
        self.messageId = messageId
        self.message = message
        self.resolution = resolution
        self.severity = severity
    }

    enum CodingKeys: String, CodingKey {
        case messageId = "MessageId", message = "Message", resolution = "Resolution", severity = "Severity"
    }
}

/// The body of a Redfish error response.
public struct RedfishErrorBody: Decodable, Sendable {
    public let error: Inner
    public struct Inner: Decodable, Sendable {
        public let code: String?
        public let message: String?
        public let extendedInfo: [RedfishMessage]?
        enum CodingKeys: String, CodingKey {
            case code, message, extendedInfo = "@Message.ExtendedInfo"
        }
    }

    /// Messages in the order a user should read them; falls back to `code`/`message`.
    public var messages: [RedfishMessage] {
        if let info = error.extendedInfo, !info.isEmpty { return info }
        guard let code = error.code else { return [] }
        return [RedfishMessage(messageId: code, message: error.message)]
    }
}

/// `TaskService/Tasks/<id>` — the task monitor of an asynchronous operation.
public struct RedfishTask: Decodable, Sendable {
    public let id: String
    public let name: String?
    public let taskState: TaskState
    public let taskStatus: String?
    public let percentComplete: Int?
    public let messages: [RedfishMessage]?

    public var isFinished: Bool { taskState.isFinal }

    enum CodingKeys: String, CodingKey {
        case id = "Id", name = "Name", taskState = "TaskState", taskStatus = "TaskStatus"
        case percentComplete = "PercentComplete", messages = "Messages"
    }
}
