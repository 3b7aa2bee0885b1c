import Foundation

/// What was found by following links from the service root: the system a node is, and whose BMC it is.
public struct Discovery: Sendable {
    public let root: ServiceRoot
    public let system: ComputerSystem
    public let vendor: Vendor
}

/// Who made the BMC, from the service root (`Vendor`, `Oem` keys) or the system's `Manufacturer`.
public enum Vendor: String, Sendable, Codable, CaseIterable {
    case dell, hpe, lenovo, supermicro, generic

    public static func detect(root: ServiceRoot, manufacturer: String? = nil) -> Vendor {
        let names = ([root.vendor, manufacturer, root.product].compactMap { $0 } + root.oemVendors).map { $0.lowercased() }
        if names.contains(where: { $0.contains("dell") }) { return .dell }
        if names.contains(where: { $0 == "hpe" || $0.contains("hewlett") || $0 == "hp" }) { return .hpe }
        if names.contains(where: { $0.contains("lenovo") }) { return .lenovo }
        if names.contains(where: { $0.contains("supermicro") }) { return .supermicro }
        return .generic
    }
}

/// How a one-time boot was set, in words a user reads ("standard Boot override", "SCP import …"), and the system as
/// read back when that was done (its power state saves a call).
public struct BootOverrideResult: Sendable {
    public let how: String
    public let readBack: ComputerSystem?

    public init(how: String, readBack: ComputerSystem?) {
        self.how = how
        self.readBack = readBack
    }
}

/// What a BMC's refusal means for whoever retries.
public enum Refusal: Sendable, Equatable {
    /// The slot is already connected or in use: eject it, then try again.
    case slotInUse
    /// Transient: the BMC is busy or hit an internal error; the same request later may pass.
    case busy
}

/// What the server's screen showed when asked.
public enum ScreenCapture: Sendable, Equatable {
    /// A PNG of the screen.
    case png(Data)
    /// The BMC sees no video signal (the server is off, or its output is not the BMC's): what it said.
    case noVideo(String)
}

/// Where and how the host's serial console is reached: an SSH session to the BMC, logged in with the BMC's own
/// credentials, and the command that attaches it.
public struct SerialConsoleAccess: Sendable, Equatable {
    public let host: String
    public let port: Int
    /// Run in the session (Dell: `console com2`); nil: the session's shell is the console.
    public let command: String?
    /// What leaves the console on the BMC's side, as the BMC names it (`^\\`): a relay must not pass it through.
    public let bmcEscape: [UInt8]
    /// The BMC's own settings that decide whether the console shows anything, as they are and should be.
    public let settings: [SerialSetting]

    public init(host: String, port: Int, command: String?, bmcEscape: [UInt8] = [], settings: [SerialSetting] = []) {
        self.host = host
        self.port = port
        self.command = command
        self.bmcEscape = bmcEscape
        self.settings = settings
    }
}

/// One setting the serial console depends on: where it lives (`BIOS`, `iDRAC`), its value and the one it needs.
public struct SerialSetting: Sendable, Equatable, Codable {
    /// The scope of the BIOS's attributes (the one `lb console --setup` changes); BMC settings name their BMC.
    public static let biosScope = "BIOS"
    public let scope: String
    public let name: String
    /// Nil when the BMC does not have it.
    public let value: String?
    /// The values that work; the first is what `lb console --setup` sets.
    public let accepted: [String]
    /// Why it matters, for a user who reads "wrong".
    public let why: String

    public init(scope: String, name: String, value: String?, accepted: [String], why: String) {
        self.scope = scope
        self.name = name
        self.value = value
        self.accepted = accepted
        self.why = why
    }

    public var isRight: Bool { value.map(accepted.contains) ?? false }
    /// "BIOS SerialComm is OnNoConRedir, wants OnConRedir (the BIOS …)".
    public var problem: String {
        "\(scope) \(name) is \(value ?? "missing"), wants \(accepted.first ?? "?") (\(why))"
    }
}

/// The operations liveboot needs from a BMC. `GenericBMC` does them the standard Redfish way; vendor adapters
/// (Dell's `IDRAC`) are `StandardBackedBMC`s: every requirement they do not implement is the standard one.
public protocol BMC: Sendable {
    var client: RedfishClient { get }
    var vendor: Vendor { get }

    func refresh(_ system: ComputerSystem) async throws -> ComputerSystem
    func manager(of system: ComputerSystem) async throws -> Manager
    func reset(_ system: ComputerSystem, type: ResetType) async throws

    /// The slots in `Id` order: a collection's member order is not a contract (iDRAC 7.x lists `2` before `1`).
    func virtualMediaSlots(_ discovery: Discovery) async throws -> [VirtualMedia]
    func refresh(_ slot: VirtualMedia) async throws -> VirtualMedia
    /// Where a bootable image goes: the slot a one-time `Cd` boot boots from.
    func bootSlot(among slots: [VirtualMedia]) -> VirtualMedia?
    func insert(_ url: String, into slot: VirtualMedia) async throws
    func eject(_ slot: VirtualMedia) async throws
    /// What a refusal means for a retry (the BMC's own message ids); nil: a plain failure.
    func refusal(_ error: RedfishError) -> Refusal?
    /// Why the BMC cannot take provisioning work now (Dell's Lifecycle Controller still loading), or nil when it can.
    func notReadyReason(_ discovery: Discovery) async throws -> String?

    /// A picture of the server's screen. Standard Redfish has none: `RedfishError.notSupported` unless a vendor
    /// adapter knows its BMC's action.
    func screenshot(_ discovery: Discovery) async throws -> ScreenCapture

    /// How to reach the host's serial console; `RedfishError.notSupported`, with the BMC's reason, when it offers
    /// none that liveboot can relay.
    func serialConsole(_ discovery: Discovery) async throws -> SerialConsoleAccess
    /// The BIOS attributes the serial console needs, as `bios` has them (none known for a standard BMC).
    func serialBiosSettings(_ bios: Bios) -> [SerialSetting]

    /// Sets (or, with `.none`, clears) a one-time boot and reads it back.
    func setBootOnce(_ target: BootSource, on system: ComputerSystem,
                     progress: @Sendable (String) -> Void) async throws -> BootOverrideResult

    func bios(of system: ComputerSystem) async throws -> Bios
    func biosRegistry(_ bios: Bios) async throws -> AttributeRegistry
    /// - Returns: the job or task the BMC created for the change, when it says.
    func setPendingBios(_ attributes: [String: AttributeValue], bios: Bios) async throws -> String?
    func resetBios(_ bios: Bios) async throws
}

/// A vendor adapter over the standard way: it holds a `GenericBMC` and implements only what its firmware does
/// differently.
public protocol StandardBackedBMC: BMC {
    var standard: GenericBMC { get }
}

extension StandardBackedBMC {
    public var client: RedfishClient { standard.client }
    public func refresh(_ system: ComputerSystem) async throws -> ComputerSystem { try await standard.refresh(system) }
    public func manager(of system: ComputerSystem) async throws -> Manager { try await standard.manager(of: system) }
    public func reset(_ system: ComputerSystem, type: ResetType) async throws { try await standard.reset(system, type: type) }
    public func virtualMediaSlots(_ discovery: Discovery) async throws -> [VirtualMedia] {
        try await standard.virtualMediaSlots(discovery)
    }
    public func refresh(_ slot: VirtualMedia) async throws -> VirtualMedia { try await standard.refresh(slot) }
    public func bootSlot(among slots: [VirtualMedia]) -> VirtualMedia? { standard.bootSlot(among: slots) }
    public func refusal(_ error: RedfishError) -> Refusal? { standard.refusal(error) }
    public func notReadyReason(_ discovery: Discovery) async throws -> String? { try await standard.notReadyReason(discovery) }
    public func screenshot(_ discovery: Discovery) async throws -> ScreenCapture { try await standard.screenshot(discovery) }
    public func serialConsole(_ discovery: Discovery) async throws -> SerialConsoleAccess {
        try await standard.serialConsole(discovery)
    }
    public func serialBiosSettings(_ bios: Bios) -> [SerialSetting] { standard.serialBiosSettings(bios) }
    public func insert(_ url: String, into slot: VirtualMedia) async throws { try await standard.insert(url, into: slot) }
    public func eject(_ slot: VirtualMedia) async throws { try await standard.eject(slot) }
    public func setBootOnce(_ target: BootSource, on system: ComputerSystem,
                            progress: @Sendable (String) -> Void) async throws -> BootOverrideResult {
        try await standard.setBootOnce(target, on: system, progress: progress)
    }
    public func bios(of system: ComputerSystem) async throws -> Bios { try await standard.bios(of: system) }
    public func biosRegistry(_ bios: Bios) async throws -> AttributeRegistry { try await standard.biosRegistry(bios) }
    public func setPendingBios(_ attributes: [String: AttributeValue], bios: Bios) async throws -> String? {
        try await standard.setPendingBios(attributes, bios: bios)
    }
    public func resetBios(_ bios: Bios) async throws { try await standard.resetBios(bios) }
}

/// Opens a session and finds the system. The vendor adapter is chosen by the caller, which knows them all.
public enum BMCConnector {
    /// Service root and login run together (the login URI is fixed by the specification), then the system is found
    /// from the root's `Systems` (`systemID` when the BMC manages several).
    public static func discover(_ client: RedfishClient, systemID: String? = nil, vendor forced: Vendor? = nil)
        async throws -> Discovery {
        async let root = client.get(ServiceRoot.self, at: "/redfish/v1")
        try await client.login()
        let serviceRoot = try await root
        let system = try await GenericBMC(client: client, vendor: .generic).system(root: serviceRoot, id: systemID)
        return Discovery(root: serviceRoot, system: system,
                         vendor: forced ?? Vendor.detect(root: serviceRoot, manufacturer: system.manufacturer))
    }
}
