import Foundation
import Redfish

/// A Dell iDRAC 9: the standard Redfish way (`GenericBMC`), plus what Dell firmware does differently — each
/// difference here, with a note naming the firmware that needs it. What is not here is standard, including:
/// - virtual media: iDRAC ≥ 6.00 exposes its two slots under the System (`VirtualMedia/1`, `/2`) and keeps the
///   Manager's collection, deprecated and empty; 4.x and 5.x have only the Manager's `CD` and `RemovableDisk`. The
///   standard order (System first, then managers) picks the right one for both;
/// - BIOS changes: with `@Redfish.SettingsApplyTime: OnReset`, iDRAC 9 creates the BIOS configuration job itself (no
///   second POST to the job service), and says where in `Location`.
public struct IDRAC: StandardBackedBMC {
    public let standard: GenericBMC
    public var vendor: Vendor { .dell }

    public init(client: RedfishClient) { standard = GenericBMC(client: client, vendor: .dell) }

    var bmc: String { client.endpoint.baseURL }

    // MARK: Virtual media

    /// iDRAC 9 infers the protocol from the URL, and some 6.x builds reject `TransferProtocolType`: only
    /// Image/Inserted/WriteProtected are sent.
    public func insert(_ url: String, into slot: VirtualMedia) async throws {
        guard let action = slot.insertAction else {
            throw RedfishError.notSupported(bmc: bmc, what: "InsertMedia on slot \(slot.id)")
        }
        struct Body: Encodable { let Image: String; let Inserted: Bool; let WriteProtected: Bool }
        try await client.post(action.target, body: Body(Image: url, Inserted: true, WriteProtected: true))
    }

    /// Slot `1` (`CD` before 6.00): the one a one-time `Cd` boot boots, as Dell advises for the bootable image.
    public func bootSlot(among slots: [VirtualMedia]) -> VirtualMedia? {
        slots.first { $0.id == "1" && $0.canHoldCD } ?? slots.first { $0.id == "CD" } ?? standard.bootSlot(among: slots)
    }

    /// Message ids of the EEMI registry (captured: `Registries/Messages/EEMIRegistry`):
    /// - VRM0012 "The Virtual Media image server is already connected.", VRM0021 "Virtual Media is detached or Virtual
    ///   Media devices are already in use." — a slot held by an earlier session or still mounting: eject, retry;
    /// - SYS446 "… cannot be completed because of an internal error." ("Retry the operation after a few minutes"),
    ///   RAC0508 "Unable to complete the operation because the provider is not ready.", LC098 "Unable to export the
    ///   server screen shot because the iDRAC is busy in capturing the current screen shot." — transient.
    public func refusal(_ error: RedfishError) -> Refusal? {
        let ids = error.messageIDs
        func said(_ id: String) -> Bool { ids.contains { $0 == id || $0.hasSuffix("." + id) } }
        if said("VRM0012") || said("VRM0021") { return .slotInUse }
        if said("SYS446") || said("RAC0508") || said("LC098") { return .busy }
        return standard.refusal(error)
    }

    /// `DellLCService.GetRemoteServicesAPIStatus`: while the Lifecycle Controller collects the inventory at boot
    /// (CSIOR) or reloads, it refuses vmedia and configuration work. Posted at the service's path under the manager
    /// (6.x, as captured), then at the pre-4.x path; a BMC with neither (404) is taken as ready. One request, not
    /// three: the path is fixed by Dell, where following the manager's `Links.Oem.Dell` would cost two GETs a boot.
    public func notReadyReason(_ discovery: Discovery) async throws -> String? {
        let manager = Self.manager(of: discovery)
        let managerID = manager.split(separator: "/").last.map(String.init) ?? "iDRAC.Embedded.1"
        let action = "/Actions/DellLCService.GetRemoteServicesAPIStatus"
        struct Empty: Encodable {}
        for target in [manager + "/Oem/Dell/DellLCService" + action, "/redfish/v1/Dell/Managers/\(managerID)/DellLCService" + action] {
            let answer: RedfishResponse
            do {
                answer = try await client.post(target, body: Empty())
            } catch let error as RedfishError where error.status == 404 || error.status == 405 {
                continue
            }
            do {
                return try JSONDecoder().decode(RemoteServicesStatus.self, from: answer.body).notReadyReason
            } catch {
                throw RedfishError.invalidResponse(bmc: bmc, method: "POST", path: target, reason: "\(error)")
            }
        }
        return nil
    }

    static func manager(of discovery: Discovery) -> String {
        discovery.system.links?.managedBy?.first?.id ?? "/redfish/v1/Managers/iDRAC.Embedded.1"
    }

    // MARK: Screen

    /// `DellLCService.ExportServerScreenShot` (iDRAC 9 ≥ 4.00), at the target and with the `FileType` the service
    /// publishes: the answer's `ServerScreenShotFile` is the PNG, base64-encoded. LC099 ("the video signal is not
    /// detected": the server is off, or in a state without video) is an answer, not a failure; LC098 (a capture
    /// already running) is transient (`refusal`). Firmware without the service (404) does not support it.
    public func screenshot(_ discovery: Discovery) async throws -> ScreenCapture {
        let servicePath = Self.manager(of: discovery) + "/Oem/Dell/DellLCService"
        let service: DellLCService
        do {
            service = try await client.get(DellLCService.self, at: servicePath)
        } catch let error as RedfishError where error.status == 404 {
            throw RedfishError.notSupported(bmc: bmc, what: "DellLCService (a screenshot needs iDRAC 9 firmware 4.00 or later)")
        }
        guard let action = service.actions?.named("DellLCService.ExportServerScreenShot") else {
            throw RedfishError.notSupported(bmc: bmc, what: "DellLCService.ExportServerScreenShot")
        }
        if let allowed = action.allowableValues["FileType"], !allowed.contains("ServerScreenShot") {
            throw RedfishError.notAllowed(bmc: bmc, what: "FileType ServerScreenShot", allowed: allowed)
        }
        struct Body: Encodable { let FileType = "ServerScreenShot" }
        let answer: RedfishResponse
        do {
            answer = try await client.post(action.target, body: Body())
        } catch RedfishError.requestFailed(_, _, _, _, let messages) where messages.contains(where: { $0.messageId.hasSuffix("LC099") }) {
            return .noVideo(messages.first { $0.messageId.hasSuffix("LC099") }?.message ?? "LC099")
        }
        let file = try await client.decode(ScreenShotExport.self, from: answer, method: "POST", path: action.target)
        guard let png = Data(base64Encoded: file.serverScreenShotFile, options: .ignoreUnknownCharacters),
              png.starts(with: [0x89, 0x50, 0x4E, 0x47]) else {
            throw RedfishError.invalidResponse(bmc: bmc, method: "POST", path: action.target,
                                               reason: "ServerScreenShotFile is not a base64 PNG")
        }
        return .png(png)
    }

    public func eject(_ slot: VirtualMedia) async throws {
        do {
            try await standard.eject(slot)
        } catch let error as RedfishError where error.messageIDs.contains(where: { $0.hasSuffix("VRM0009") }) {
            // VRM0009: "Virtual Media is detached or Virtual Media devices are already disconnected" — the goal is
            // reached.
        }
    }

    // MARK: Boot override

    /// The standard PATCH first, read back: some iDRAC 9 firmware (seen on 4.x and early 5.x) answers 200 and
    /// silently keeps the old value for `Cd`, and some refuse it outright. Then the Dell way: an SCP import of
    /// `ServerBoot.1#BootOnce` + `FirstBootDevice=VCD-DVD`.
    public func setBootOnce(_ target: BootSource, on system: ComputerSystem,
                            progress: @Sendable (String) -> Void = { _ in }) async throws -> BootOverrideResult {
        var standardError: RedfishError?
        do {
            return try await standard.setBootOnce(target, on: system, progress: progress)
        } catch let error as RedfishError {
            switch error {
            case .requestFailed, .invalidResponse: standardError = error
            default: throw error
            }
        }
        guard target == .cd else {
            throw standardError ?? RedfishError.notSupported(bmc: bmc, what: "a one-time boot to \(target.rawValue)")
        }
        progress("standard boot override did not stick; using the SCP import (ServerBoot.1#BootOnce)")
        try await importBootOnceVirtualCD(system, progress: progress)
        return BootOverrideResult(how: "SCP import ServerBoot.1#BootOnce", readBack: nil)
    }

    /// `EID_674_Manager.ImportSystemConfiguration` with a one-line XML buffer (the iDRAC's parser rejects
    /// insignificant whitespace between elements), then the task is polled to its end.
    func importBootOnceVirtualCD(_ system: ComputerSystem, progress: @Sendable (String) -> Void) async throws {
        let manager = try await manager(of: system)
        guard let action = manager.actions?.named("ImportSystemConfiguration") else {
            throw RedfishError.notSupported(bmc: bmc, what: "ImportSystemConfiguration")
        }
        let buffer = "<SystemConfiguration><Component FQDD=\"iDRAC.Embedded.1\">"
            + "<Attribute Name=\"ServerBoot.1#BootOnce\">Enabled</Attribute>"
            + "<Attribute Name=\"ServerBoot.1#FirstBootDevice\">VCD-DVD</Attribute>"
            + "</Component></SystemConfiguration>"
        struct Share: Encodable { let Target: String }
        struct Body: Encodable { let ShareParameters: Share; let ImportBuffer: String; let ShutdownType: String }
        let response: RedfishResponse
        do {
            response = try await client.post(action.target, body: Body(
                ShareParameters: Share(Target: "iDRAC"), ImportBuffer: buffer, ShutdownType: "NoReboot"))
        } catch let error as RedfishError where error.messageIDs.contains(where: { $0.hasSuffix("LC068") }) {
            throw DellError.pendingConfiguration(bmc: bmc, underlying: error)
        }
        guard let location = response.location else {
            throw RedfishError.invalidResponse(bmc: bmc, method: "POST", path: action.target,
                                               reason: "no Location header for the import task")
        }
        _ = try await client.waitForTask(at: location) { task in
            progress("configuration import \(task.id): \(task.taskState)" + (task.percentComplete.map { " (\($0) %)" } ?? ""))
        }
    }

    // MARK: BIOS

    /// iDRAC 9 serves its attribute registry at `Bios/BiosRegistry`, one call cheaper than through `Registries`
    /// (whose entry points there).
    public func biosRegistry(_ bios: Bios) async throws -> AttributeRegistry {
        try await client.get(AttributeRegistry.self, at: bios.odataID + "/BiosRegistry")
    }
}

/// `Managers/<id>/Oem/Dell/DellLCService`: only its actions matter here.
struct DellLCService: Decodable {
    let actions: Actions?
    enum CodingKeys: String, CodingKey { case actions = "Actions" }
}

/// The answer of `ExportServerScreenShot`.
struct ScreenShotExport: Decodable {
    let serverScreenShotFile: String
    enum CodingKeys: String, CodingKey { case serverScreenShotFile = "ServerScreenShotFile" }
}

/// The answer of `GetRemoteServicesAPIStatus`: `LCStatus` (`Ready`, `NotInitialized`, `Reloading`, `Disabled`,
/// `InRecovery`, `InUse`), the overall `Status` (`Ready`/`NotReady`), `ServerStatus` (`OutOfPOST`, `InPOST` …).
public struct RemoteServicesStatus: Decodable, Sendable {
    public let lcStatus: String?
    public let status: String?
    public let serverStatus: String?

    enum CodingKeys: String, CodingKey { case lcStatus = "LCStatus", status = "Status", serverStatus = "ServerStatus" }

    /// Nil when both the Lifecycle Controller and the overall status say `Ready` (an absent field says nothing).
    public var notReadyReason: String? {
        let lc = lcStatus.map { $0 == "Ready" } ?? true, overall = status.map { $0 == "Ready" } ?? true
        if lc && overall { return nil }
        return "Lifecycle Controller \(lcStatus ?? "?"), remote services \(status ?? "?")"
            + (serverStatus.map { ", server \($0)" } ?? "")
    }
}

/// Dell-specific failures, explained.
public enum DellError: Error, Sendable, CustomStringConvertible {
    case pendingConfiguration(bmc: String, underlying: RedfishError)

    public var description: String {
        switch self {
        case .pendingConfiguration(let bmc, let underlying):
            return "\(underlying)\nBMC \(bmc) has pending BIOS/attribute changes or a running configuration job (LC068), "
                + "so it refuses the configuration import. Run `lb queueclear NODE` to drop them, or reboot the node "
                + "to apply them, then try again."
        }
    }
}

extension DellError: LocalizedError {
    public var errorDescription: String? { description }
}
