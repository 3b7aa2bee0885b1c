import DellIDRAC
import Foundation
import Redfish

/// One virtual-media slot as `status` and `vmedia` show it.
public struct SlotStatus: Codable, Sendable, Equatable {
    public let id: String
    public let image: String?
    public let mediaTypes: [String]
    public var display: String { image ?? "not connected" }

    init(_ slot: VirtualMedia) {
        id = slot.id
        image = slot.isInserted ? (slot.image ?? slot.imageName) : nil
        mediaTypes = slot.mediaTypes.map(\.rawValue)
    }
}

public struct NamedValue: Codable, Sendable, Equatable {
    public let name: String
    public let value: String
}

/// Everything `lb status` reports of one node. BMC failures land in `error`; probes still run.
public struct NodeStatus: Codable, Sendable {
    public let node: String
    public var power: String?
    public var bios: [NamedValue] = []
    public var vmedia: [SlotStatus] = []
    public var bootOverride: String?
    public var ping: ProbeResult
    public var ssh: ProbeResult
    public var vendor: String?
    public var model: String?
    public var firmware: String?
    /// With `--bmc`: whether the serial console will show the boot, and what to change.
    public var serialConsole: SerialReadiness?
    public var error: String?
}

extension Liveboot {
    /// The Bios resource, or nil on a BMC without one (sushy-tools' fake driver, some OpenBMC builds): the rest of
    /// the status is still worth showing.
    func optionalBios(_ session: NodeSession) async throws -> Bios? {
        do {
            return try await session.bmc.bios(of: session.system)
        } catch let error as RedfishError {
            if case .notSupported = error { return nil }
            throw error
        }
    }

    /// Power, chosen BIOS attributes, vmedia slots, boot override, ping and ssh. The probes and the BMC calls run
    /// concurrently; after discovery, Bios and VirtualMedia are fetched together. The BMC part has
    /// `timing.status-deadline`: a BMC that hangs is reported as such and delays no other node. `serialConsole`: also
    /// whether the serial console will show the boot, in the same session and with the same BIOS answer.
    public func status(_ node: Node, verbose: Bool = false, serialConsole: Bool = false) async -> NodeStatus {
        async let ping = Probes.ping(node.host, timeout: config.timing.probe)
        async let ssh = Probes.ssh(node.host, port: node.sshPort, timeout: config.timing.probe)
        var status = NodeStatus(node: node.name, ping: .ko(""), ssh: .ko(""))
        do {
            let wanted = config.statusBios
            let found = try await Deadline.run(within: config.timing.statusDeadline, waitingFor: "the BMC of \(node.name)") {
                try await withSession(node) { session in
                    async let bios = wanted.isEmpty ? nil : optionalBios(session)
                    async let slots = session.bmc.virtualMediaSlots(session.discovery)
                    async let manager: Manager? = verbose ? session.bmc.manager(of: session.system) : nil
                    let fetched = try await bios
                    let serial = serialConsole ? await serialReadiness(session, bios: {
                        wanted.isEmpty ? try? await session.bmc.bios(of: session.system) : fetched
                    }) : nil
                    return (fetched, try await slots, session.system, try await manager, serial)
                }
            }
            let (bios, slots, system, manager, serial) = found
            status.serialConsole = serial
            status.power = system.powerState?.description
            if let boot = system.boot, let target = boot.bootSourceOverrideTarget, target != .none,
               let enabled = boot.bootSourceOverrideEnabled, enabled != .disabled {
                status.bootOverride = "\(target) (\(enabled))"
            }
            status.bios = wanted.map { name in
                NamedValue(name: name, value: bios == nil ? "(this BMC has no BIOS resource)"
                                                          : bios?.attributes[name]?.description ?? "(not on this BMC)")
            }
            status.vmedia = slots.map(SlotStatus.init)
            status.vendor = system.manufacturer
            status.model = system.model
            status.firmware = manager?.firmwareVersion
        } catch {
            status.error = "\(error)"
        }
        status.ping = await ping
        status.ssh = await ssh
        return status
    }
}
