import Foundation
import Redfish

/// What was found by following links from the service root: the one system and its manager.
public struct Discovery: Sendable {
    public let root: ServiceRoot
    public let system: ComputerSystem
}

/// A Dell iDRAC 9, reached through Redfish. Every Dell-specific behaviour lives here, each with a note
/// naming the firmware that needs it.
public struct IDRAC: Sendable {
    public let client: RedfishClient

    public init(client: RedfishClient) { self.client = client }

    var bmc: String { client.endpoint.baseURL }

    // MARK: Discovery

    /// Service root and login run together (the login URI is fixed by the specification), then the Systems
    /// collection is read with its member in one `$expand` call when the service offers it.
    public func connect() async throws -> Discovery {
        async let root = client.get(ServiceRoot.self, at: "/redfish/v1")
        try await client.login()
        let serviceRoot = try await root
        return Discovery(root: serviceRoot, system: try await system(root: serviceRoot))
    }

    public func system(root: ServiceRoot) async throws -> ComputerSystem {
        guard let systems = root.systems else { throw RedfishError.notSupported(bmc: bmc, what: "a Systems collection") }
        let members = try await client.members(ComputerSystem.self, of: systems.id, expand: root.supportsExpand)
        guard let system = members.first else { throw RedfishError.notSupported(bmc: bmc, what: "any ComputerSystem") }
        return system
    }

    public func refresh(_ system: ComputerSystem) async throws -> ComputerSystem {
        try await client.get(ComputerSystem.self, at: system.odataID)
    }

    public func manager(of system: ComputerSystem) async throws -> Manager {
        guard let link = system.links?.managedBy?.first else {
            throw RedfishError.notSupported(bmc: bmc, what: "a manager for \(system.id)")
        }
        return try await client.get(Manager.self, at: link.id)
    }

    // MARK: Power

    /// Posts a `ComputerSystem.Reset`, refusing values the BMC does not list as allowable.
    public func reset(_ system: ComputerSystem, type: String) async throws {
        guard let action = system.resetAction else {
            throw RedfishError.notSupported(bmc: bmc, what: "ComputerSystem.Reset")
        }
        if let allowed = action.allowableValues["ResetType"], !allowed.contains(type) {
            throw RedfishError.notAllowed(bmc: bmc, what: "ResetType \(type)", allowed: allowed)
        }
        struct Body: Encodable { let ResetType: String }
        try await client.post(action.target, body: Body(ResetType: type))
    }

    // MARK: Virtual media

    /// iDRAC ≥ 6.00 exposes its two slots under the System (`VirtualMedia/1`, `/2`), and deprecates the
    /// Manager's `CD` / `RemovableDisk`, which older firmware (4.x, 5.x) only has. Use the System's when the
    /// service links it.
    public func virtualMediaSlots(_ discovery: Discovery) async throws -> [VirtualMedia] {
        let collection: Link
        if let link = discovery.system.virtualMedia {
            collection = link
        } else {
            let manager = try await manager(of: discovery.system)
            guard let link = manager.virtualMedia else { throw RedfishError.notSupported(bmc: bmc, what: "virtual media") }
            collection = link
        }
        return try await client.members(VirtualMedia.self, of: collection.id, expand: discovery.root.supportsExpand)
    }

    public func refresh(_ slot: VirtualMedia) async throws -> VirtualMedia {
        try await client.get(VirtualMedia.self, at: slot.odataID)
    }

    public func insert(_ url: String, into slot: VirtualMedia) async throws {
        guard let action = slot.insertAction else {
            throw RedfishError.notSupported(bmc: bmc, what: "InsertMedia on slot \(slot.id)")
        }
        // iDRAC 9 rejects TransferProtocolType on some 6.x builds and infers it from the URL, so only
        // Image/Inserted/WriteProtected are sent.
        struct Body: Encodable { let Image: String; let Inserted: Bool; let WriteProtected: Bool }
        try await client.post(action.target, body: Body(Image: url, Inserted: true, WriteProtected: true))
    }

    public func eject(_ slot: VirtualMedia) async throws {
        guard let action = slot.ejectAction else {
            throw RedfishError.notSupported(bmc: bmc, what: "EjectMedia on slot \(slot.id)")
        }
        struct Empty: Encodable {}
        do {
            try await client.post(action.target, body: Empty())
        } catch let error as RedfishError where error.messageIDs.contains(where: { $0.hasSuffix("VRM0009") }) {
            // VRM0009: "Virtual Media is detached or Virtual Media devices are already disconnected" — the
            // goal is reached.
        }
    }

    // MARK: Boot override

    public enum BootTarget: String, Sendable { case cd = "Cd", hdd = "Hdd", none = "None" }

    /// Sets a one-time boot. The standard PATCH is tried first and read back: some iDRAC 9 firmware (seen on
    /// 4.x and early 5.x) answers 200 and silently keeps the old value for `Cd`, and some refuse it outright.
    /// Then the Dell way: an SCP import of `ServerBoot.1#BootOnce` + `FirstBootDevice=VCD-DVD`.
    /// - Returns: how it was done, for the progress log, and the system as read back (nil after an SCP import).
    @discardableResult
    public func setBootOnce(_ target: BootTarget, on system: ComputerSystem,
                            progress: @Sendable (String) -> Void = { _ in }) async throws -> (how: String, readBack: ComputerSystem?) {
        let wanted = Boot(target: target.rawValue, enabled: target == .none ? "Disabled" : "Once")
        struct Body: Encodable { let Boot: Redfish.Boot }
        var standardError: RedfishError?
        do {
            try await client.patch(system.odataID, body: Body(Boot: wanted))
            let readBack = try await refresh(system)
            let after = readBack.boot
            if after?.bootSourceOverrideTarget == wanted.bootSourceOverrideTarget,
               target == .none || after?.bootSourceOverrideEnabled == "Once" {
                return ("standard Boot override", readBack)
            }
        } catch let error as RedfishError {
            guard case .requestFailed = error else { throw error }
            standardError = error
        }
        guard target == .cd else {
            throw standardError ?? RedfishError.notSupported(bmc: bmc, what: "a one-time boot to \(target.rawValue)")
        }
        progress("standard boot override did not stick; using the SCP import (ServerBoot.1#BootOnce)")
        try await importBootOnceVirtualCD(system)
        return ("SCP import ServerBoot.1#BootOnce", nil)
    }

    /// `EID_674_Manager.ImportSystemConfiguration` with a one-line XML buffer (the iDRAC's parser rejects
    /// insignificant whitespace between elements), then the task is polled to its end.
    func importBootOnceVirtualCD(_ system: ComputerSystem) async throws {
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
        let task = try await waitForTask(at: RedfishClient.path(of: location))
        if task.taskState != "Completed" {
            let said = (task.messages ?? []).map { "\($0.messageId): \($0.message ?? "")" }.joined(separator: "; ")
            throw DellError.taskFailed(bmc: bmc, task: task.id, state: task.taskState, messages: said)
        }
    }

    /// Polls a task monitor until it ends, honouring `Retry-After`, within `deadline`.
    public func waitForTask(at path: String, deadline: Duration = .seconds(180)) async throws -> RedfishTask {
        let clock = ContinuousClock()
        let end = clock.now + deadline
        while true {
            let response = try await client.send("GET", path)
            let task = try await client.decode(RedfishTask.self, from: response, method: "GET", path: path)
            if task.isFinished { return task }
            guard clock.now < end else { throw DellError.taskTimedOut(bmc: bmc, task: task.id, state: task.taskState) }
            try await Task.sleep(for: min(response.retryAfter ?? .seconds(1), .seconds(10)))
        }
    }

    // MARK: BIOS

    public func bios(of system: ComputerSystem) async throws -> Bios {
        guard let link = system.bios else { throw RedfishError.notSupported(bmc: bmc, what: "BIOS settings") }
        return try await client.get(Bios.self, at: link.id)
    }

    /// iDRAC 9 serves its attribute registry at `Bios/BiosRegistry` and links it from nowhere in the Bios
    /// resource (the `Registries` entry points there too, one call later).
    public func biosRegistry(_ bios: Bios) async throws -> AttributeRegistry {
        try await client.get(AttributeRegistry.self, at: bios.odataID + "/BiosRegistry")
    }

    /// Writes pending BIOS values with `@Redfish.SettingsApplyTime: OnReset`: iDRAC 9 then creates the
    /// BIOS configuration job itself (no second POST to the job service is needed).
    /// - Returns: the job id the iDRAC created, when it says.
    public func setPendingBios(_ attributes: [String: AttributeValue], bios: Bios) async throws -> String? {
        guard let settings = bios.settings?.settingsObject else {
            throw RedfishError.notSupported(bmc: bmc, what: "pending BIOS settings (@Redfish.Settings)")
        }
        struct ApplyTime: Encodable { let ApplyTime: String }
        struct Body: Encodable {
            let applyTime: ApplyTime
            let attributes: [String: AttributeValue]
            enum CodingKeys: String, CodingKey { case applyTime = "@Redfish.SettingsApplyTime", attributes = "Attributes" }
        }
        let response = try await client.patch(settings.id, body: Body(applyTime: ApplyTime(ApplyTime: "OnReset"),
                                                                       attributes: attributes))
        return response.location.map { String(RedfishClient.path(of: $0).split(separator: "/").last ?? "") }
    }

    public func resetBios(_ bios: Bios) async throws {
        guard let action = bios.resetBiosAction else { throw RedfishError.notSupported(bmc: bmc, what: "Bios.ResetBios") }
        struct Empty: Encodable {}
        try await client.post(action.target, body: Empty())
    }

    // MARK: Job queue

    public func jobs(_ discovery: Discovery) async throws -> [Job] {
        let manager = try await manager(of: discovery.system)
        guard let jobs = manager.links?.oem?.dell?.jobs else {
            throw RedfishError.notSupported(bmc: bmc, what: "the Dell job queue")
        }
        return try await client.members(Job.self, of: jobs.id, expand: discovery.root.supportsExpand)
    }

    /// Older path of the job service, on iDRAC 9 firmware before 4.x (kept by Dell for compatibility).
    static let legacyDeleteJobQueue =
        "/redfish/v1/Dell/Managers/iDRAC.Embedded.1/DellJobService/Actions/DellJobService.DeleteJobQueue"

    /// Deletes one job, or the whole queue with `JID_CLEARALL` (which also clears pending BIOS changes).
    public func deleteJobs(_ discovery: Discovery, jobID: String = "JID_CLEARALL") async throws {
        struct Body: Encodable { let JobID: String }
        var target = Self.legacyDeleteJobQueue
        if let manager = try? await manager(of: discovery.system), let link = manager.links?.oem?.dell?.jobService,
           let service = try? await client.get(DellJobService.self, at: link.id),
           let action = service.actions?.named("DellJobService.DeleteJobQueue") {
            target = action.target
        }
        do {
            try await client.post(target, body: Body(JobID: jobID))
        } catch let error as RedfishError where error.status == 404 && target != Self.legacyDeleteJobQueue {
            try await client.post(Self.legacyDeleteJobQueue, body: Body(JobID: jobID))
        }
    }

    struct DellJobService: Decodable {
        let actions: Actions?
        enum CodingKeys: String, CodingKey { case actions = "Actions" }
    }
}

/// Dell-specific failures, explained.
public enum DellError: Error, Sendable, CustomStringConvertible {
    case pendingConfiguration(bmc: String, underlying: RedfishError)
    case taskFailed(bmc: String, task: String, state: String, messages: String)
    case taskTimedOut(bmc: String, task: String, state: String)

    public var description: String {
        switch self {
        case .pendingConfiguration(let bmc, let underlying):
            return "\(underlying)\nBMC \(bmc) has pending BIOS/attribute changes or a running configuration job (LC068), "
                + "so it refuses the configuration import. Run `lb queueclear NODE` to drop them, or reboot the node "
                + "to apply them, then try again."
        case .taskFailed(let bmc, let task, let state, let messages):
            return "BMC \(bmc): task \(task) ended \(state)" + (messages.isEmpty ? "" : ": \(messages)")
        case .taskTimedOut(let bmc, let task, let state):
            return "BMC \(bmc): task \(task) still \(state) after the deadline"
        }
    }
}

extension DellError: LocalizedError {
    public var errorDescription: String? { description }
}
