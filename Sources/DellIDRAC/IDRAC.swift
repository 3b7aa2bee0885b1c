import Foundation
import Redfish

/// A Dell iDRAC 9: the standard Redfish way (`GenericBMC`), plus what Dell firmware does differently — each
/// difference here, with a note naming the firmware that needs it.
public struct IDRAC: BMC {
    public let standard: GenericBMC
    public var client: RedfishClient { standard.client }
    public var vendor: Vendor { .dell }

    public init(client: RedfishClient) { standard = GenericBMC(client: client, vendor: .dell) }

    var bmc: String { client.endpoint.baseURL }

    // MARK: As standard

    public func refresh(_ system: ComputerSystem) async throws -> ComputerSystem { try await standard.refresh(system) }
    public func manager(of system: ComputerSystem) async throws -> Manager { try await standard.manager(of: system) }
    public func reset(_ system: ComputerSystem, type: String) async throws { try await standard.reset(system, type: type) }
    public func refresh(_ slot: VirtualMedia) async throws -> VirtualMedia { try await standard.refresh(slot) }
    public func bios(of system: ComputerSystem) async throws -> Bios { try await standard.bios(of: system) }
    public func resetBios(_ bios: Bios) async throws { try await standard.resetBios(bios) }

    // MARK: Virtual media

    /// iDRAC ≥ 6.00 exposes its two slots under the System (`VirtualMedia/1`, `/2`) and keeps the Manager's
    /// collection, deprecated and empty; 4.x and 5.x have only the Manager's `CD` and `RemovableDisk`. The standard
    /// order (System first, then managers) picks the right one for both.
    public func virtualMediaSlots(_ discovery: Discovery) async throws -> [VirtualMedia] {
        try await standard.virtualMediaSlots(discovery)
    }

    /// iDRAC 9 infers the protocol from the URL, and some 6.x builds reject `TransferProtocolType`: only
    /// Image/Inserted/WriteProtected are sent.
    public func insert(_ url: String, into slot: VirtualMedia) async throws {
        guard let action = slot.insertAction else {
            throw RedfishError.notSupported(bmc: bmc, what: "InsertMedia on slot \(slot.id)")
        }
        struct Body: Encodable { let Image: String; let Inserted: Bool; let WriteProtected: Bool }
        try await client.post(action.target, body: Body(Image: url, Inserted: true, WriteProtected: true))
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
    public func setBootOnce(_ target: BootTarget, on system: ComputerSystem,
                            progress: @Sendable (String) -> Void = { _ in }) async throws -> (how: String, readBack: ComputerSystem?) {
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
        let end = ContinuousClock.now + deadline
        while true {
            let response = try await client.send("GET", path)
            let task = try await client.decode(RedfishTask.self, from: response, method: "GET", path: path)
            if task.isFinished { return task }
            guard ContinuousClock.now < end else { throw DellError.taskTimedOut(bmc: bmc, task: task.id, state: task.taskState) }
            try await Task.sleep(for: min(response.retryAfter ?? .seconds(1), .seconds(10)))
        }
    }

    // MARK: BIOS

    /// iDRAC 9 serves its attribute registry at `Bios/BiosRegistry`, one call cheaper than through `Registries`
    /// (whose entry points there).
    public func biosRegistry(_ bios: Bios) async throws -> AttributeRegistry {
        try await client.get(AttributeRegistry.self, at: bios.odataID + "/BiosRegistry")
    }

    /// With `@Redfish.SettingsApplyTime: OnReset`, iDRAC 9 creates the BIOS configuration job itself (no second
    /// POST to the job service), and says where in `Location`.
    public func setPendingBios(_ attributes: [String: AttributeValue], bios: Bios) async throws -> String? {
        try await standard.setPendingBios(attributes, bios: bios)
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
