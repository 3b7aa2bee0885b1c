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

public enum BootTarget: String, Sendable { case cd = "Cd", hdd = "Hdd", none = "None" }

/// The operations liveboot needs from a BMC. `GenericBMC` does them the standard Redfish way; vendor adapters
/// (Dell's `IDRAC`) wrap it and replace what their firmware does differently.
public protocol BMC: Sendable {
    var client: RedfishClient { get }
    var vendor: Vendor { get }

    func refresh(_ system: ComputerSystem) async throws -> ComputerSystem
    func manager(of system: ComputerSystem) async throws -> Manager
    func reset(_ system: ComputerSystem, type: String) async throws

    func virtualMediaSlots(_ discovery: Discovery) async throws -> [VirtualMedia]
    func refresh(_ slot: VirtualMedia) async throws -> VirtualMedia
    func insert(_ url: String, into slot: VirtualMedia) async throws
    func eject(_ slot: VirtualMedia) async throws

    /// Sets (or, with `.none`, clears) a one-time boot and reads it back.
    /// - Returns: how it was done, and the system as read back (its power state saves a call), if it was.
    func setBootOnce(_ target: BootTarget, on system: ComputerSystem,
                     progress: @Sendable (String) -> Void) async throws -> (how: String, readBack: ComputerSystem?)

    func bios(of system: ComputerSystem) async throws -> Bios
    func biosRegistry(_ bios: Bios) async throws -> AttributeRegistry
    /// - Returns: the job or task the BMC created for the change, when it says.
    func setPendingBios(_ attributes: [String: AttributeValue], bios: Bios) async throws -> String?
    func resetBios(_ bios: Bios) async throws

    func jobs(_ discovery: Discovery) async throws -> [Job]
    func deleteJobs(_ discovery: Discovery, jobID: String) async throws
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
