import Foundation

/// A BMC driven the standard Redfish way (DSP0266 / the DMTF schemas), with the fallbacks that real generic BMCs
/// need, each noted where handled.
public struct GenericBMC: BMC {
    public let client: RedfishClient
    public let vendor: Vendor

    public init(client: RedfishClient, vendor: Vendor) {
        self.client = client
        self.vendor = vendor
    }

    var bmc: String { client.endpoint.baseURL }

    // MARK: Discovery

    /// The system with `id`, or the only (first) one; `$expand` when the service offers it.
    public func system(root: ServiceRoot, id: String?) async throws -> ComputerSystem {
        guard let systems = root.systems else { throw RedfishError.notSupported(bmc: bmc, what: "a Systems collection") }
        let members = try await client.members(ComputerSystem.self, of: systems.id, expand: root.supportsExpand)
        if let id {
            guard let system = members.first(where: { $0.id == id }) else {
                throw RedfishError.notSupported(bmc: bmc, what: "a system \(id) (found: \(members.map(\.id).joined(separator: ", ")))")
            }
            return system
        }
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
    public func reset(_ system: ComputerSystem, type: ResetType) async throws {
        guard let action = system.resetAction else {
            throw RedfishError.notSupported(bmc: bmc, what: "ComputerSystem.Reset")
        }
        if let allowed = system.allowedResetTypes, !allowed.contains(type) {
            throw RedfishError.notAllowed(bmc: bmc, what: "ResetType \(type)", allowed: allowed.map(\.rawValue))
        }
        struct Body: Encodable { let ResetType: Redfish.ResetType }
        try await client.post(action.target, body: Body(ResetType: type))
    }

    // MARK: Virtual media

    /// VirtualMedia under the System first (Redfish 1.11+ places it there), then under each of its managers.
    public func virtualMediaSlots(_ discovery: Discovery) async throws -> [VirtualMedia] {
        if let link = discovery.system.virtualMedia {
            let slots = try await client.members(VirtualMedia.self, of: link.id, expand: discovery.root.supportsExpand)
            if !slots.isEmpty { return slots.sorted(by: VirtualMedia.identityOrder) }
        }
        var slots: [VirtualMedia] = []
        for link in discovery.system.links?.managedBy ?? [] {
            let manager = try await client.get(Manager.self, at: link.id)
            guard let collection = manager.virtualMedia else { continue }
            slots += try await client.members(VirtualMedia.self, of: collection.id, expand: discovery.root.supportsExpand)
        }
        guard !slots.isEmpty else { throw RedfishError.notSupported(bmc: bmc, what: "virtual media") }
        return slots.sorted(by: VirtualMedia.identityOrder)
    }

    /// The CD-capable slot with the lowest `Id`.
    public func bootSlot(among slots: [VirtualMedia]) -> VirtualMedia? {
        slots.sorted(by: VirtualMedia.identityOrder).first(where: \.canHoldCD)
    }

    /// `Base.*.InternalError` (DSP8011: "the request failed for an unknown internal error but the service is still
    /// operational") is worth a retry; nothing standard says a slot is in use.
    public func refusal(_ error: RedfishError) -> Refusal? {
        error.messageIDs.contains { $0.hasPrefix("Base.") && $0.hasSuffix(".InternalError") } ? .busy : nil
    }

    /// Standard Redfish has no readiness to ask for: a service that answers takes requests.
    public func notReadyReason(_ discovery: Discovery) async throws -> String? { nil }

    /// DMTF Redfish defines no screenshot: each vendor that offers one has its own OEM action.
    public func screenshot(_ discovery: Discovery) async throws -> ScreenCapture {
        throw RedfishError.notSupported(bmc: client.endpoint.baseURL,
                                        what: "a screenshot of the server's screen (no standard Redfish action for it)")
    }

    /// `Manager.SerialConsole` enabled over SSH: a session on the BMC's port 22 whose shell is the console (the
    /// standard says no more). Anything else is not supported, saying what the BMC advertised.
    public func serialConsole(_ discovery: Discovery) async throws -> SerialConsoleAccess {
        let manager = try await manager(of: discovery.system)
        guard let console = manager.serialConsole, console.offersSSH else {
            throw RedfishError.notSupported(bmc: bmc, what: "a serial console over SSH (the manager's SerialConsole is "
                + (manager.serialConsole?.summary ?? "not advertised") + ")")
        }
        return SerialConsoleAccess(host: try client.endpoint.host, port: 22, command: nil)
    }

    public func serialBiosSettings(_ bios: Bios) -> [SerialSetting] { [] }

    public func refresh(_ slot: VirtualMedia) async throws -> VirtualMedia {
        try await client.get(VirtualMedia.self, at: slot.odataID)
    }

    /// `InsertMedia` with the minimal body; when the BMC asks for `TransferProtocolType` / `TransferMethod` (seen on
    /// Supermicro and some HPE firmware: `ActionParameterMissing`), again with them; without the action (Redfish
    /// before 1.6, old iLO), a PATCH of `Image` and `Inserted`.
    public func insert(_ url: String, into slot: VirtualMedia) async throws {
        struct Minimal: Encodable { let Image: String; let Inserted: Bool; let WriteProtected: Bool }
        struct Full: Encodable {
            let Image: String; let Inserted: Bool; let WriteProtected: Bool
            let TransferProtocolType: String; let TransferMethod: String
        }
        guard let action = slot.insertAction else {
            struct Patch: Encodable { let Image: String; let Inserted: Bool }
            try await client.patch(slot.odataID, body: Patch(Image: url, Inserted: true))
            return
        }
        do {
            try await client.post(action.target, body: Minimal(Image: url, Inserted: true, WriteProtected: true))
        } catch let error as RedfishError where Self.asksForTransferParameters(error) {
            let proto = url.lowercased().hasPrefix("https") ? "HTTPS" : "HTTP"
            try await client.post(action.target, body: Full(Image: url, Inserted: true, WriteProtected: true,
                                                             TransferProtocolType: proto, TransferMethod: "Stream"))
        }
    }

    static func asksForTransferParameters(_ error: RedfishError) -> Bool {
        guard case .requestFailed(_, _, _, let status, let messages) = error, status == 400 else { return false }
        return messages.contains { message in
            let text = (message.message ?? "") + " " + message.messageId
            return text.contains("TransferProtocolType") || text.contains("TransferMethod")
                || message.messageId.hasSuffix("ActionParameterMissing")
        }
    }

    public func eject(_ slot: VirtualMedia) async throws {
        guard let action = slot.ejectAction else {
            struct Patch: Encodable { let Image: String?; let Inserted: Bool }
            try await client.patch(slot.odataID, body: Patch(Image: nil, Inserted: false))
            return
        }
        struct Empty: Encodable {}
        try await client.post(action.target, body: Empty())
    }

    // MARK: Boot

    public func setBootOnce(_ target: BootSource, on system: ComputerSystem,
                            progress: @Sendable (String) -> Void = { _ in }) async throws -> BootOverrideResult {
        let wanted = Boot(target: target, enabled: target == .none ? .disabled : .once)
        struct Body: Encodable { let Boot: Redfish.Boot }
        try await client.patch(system.odataID, body: Body(Boot: wanted))
        let readBack = try await refresh(system)
        let enabled = readBack.boot?.bootSourceOverrideEnabled
        // sushy-tools (and some generic BMCs) accept `Once` and report `Continuous`: the node then boots the CD until
        // `diskboot` sets the disk, which is what liveboot does anyway — accepted, and said.
        guard readBack.boot?.bootSourceOverrideTarget == wanted.bootSourceOverrideTarget,
              target == .none || enabled == .once || enabled == .continuous else {
            throw RedfishError.invalidResponse(
                bmc: bmc, method: "PATCH", path: system.odataID,
                reason: "the boot override reads back as \(readBack.boot?.bootSourceOverrideTarget?.rawValue ?? "nothing")/"
                    + "\(readBack.boot?.bootSourceOverrideEnabled?.rawValue ?? "nothing"), not \(target.rawValue)/Once")
        }
        if target != .none && enabled == .continuous {
            return BootOverrideResult(how: "standard Boot override; the BMC keeps it Continuous until `diskboot`", readBack: readBack)
        }
        return BootOverrideResult(how: "standard Boot override", readBack: readBack)
    }

    // MARK: BIOS

    public func bios(of system: ComputerSystem) async throws -> Bios {
        guard let link = system.bios else { throw RedfishError.notSupported(bmc: bmc, what: "BIOS settings") }
        return try await client.get(Bios.self, at: link.id)
    }

    /// The registry the Bios resource names, found through `/redfish/v1/Registries` (its `Location` URI).
    public func biosRegistry(_ bios: Bios) async throws -> AttributeRegistry {
        guard let name = bios.attributeRegistry else {
            throw RedfishError.notSupported(bmc: bmc, what: "an attribute registry for the BIOS")
        }
        let files = try await client.members(RegistryFile.self, of: "/redfish/v1/Registries", expand: false)
        guard let file = files.first(where: { $0.registry == name || $0.id == name || name.hasPrefix($0.id) }),
              let uri = file.location.first?.uri else {
            throw RedfishError.notSupported(bmc: bmc, what: "the registry \(name)")
        }
        return try await client.get(AttributeRegistry.self, at: uri)
    }

    /// PATCHes the settings object, with `@Redfish.SettingsApplyTime: OnReset` when the BMC lists it.
    public func setPendingBios(_ attributes: [String: AttributeValue], bios: Bios) async throws -> String? {
        guard let settings = bios.settings?.settingsObject else {
            throw RedfishError.notSupported(bmc: bmc, what: "pending BIOS settings (@Redfish.Settings)")
        }
        struct ApplyTime: Encodable { let ApplyTime: String }
        struct Body: Encodable {
            let applyTime: ApplyTime?
            let attributes: [String: AttributeValue]
            enum CodingKeys: String, CodingKey { case applyTime = "@Redfish.SettingsApplyTime", attributes = "Attributes" }
        }
        let onReset = (bios.settings?.supportedApplyTimes ?? []).contains("OnReset")
        let response = try await client.patch(settings.id, body: Body(applyTime: onReset ? ApplyTime(ApplyTime: "OnReset") : nil,
                                                                       attributes: attributes),
                                          ifMatch: bios.settings?.etag.flatMap { $0.isEmpty ? nil : $0 })
        return response.location.map { String(RedfishClient.path(of: $0).split(separator: "/").last ?? "") }
    }

    public func resetBios(_ bios: Bios) async throws {
        guard let action = bios.resetBiosAction else { throw RedfishError.notSupported(bmc: bmc, what: "Bios.ResetBios") }
        struct Empty: Encodable {}
        try await client.post(action.target, body: Empty())
    }
}

/// A member of `/redfish/v1/Registries`.
public struct RegistryFile: Decodable, Sendable {
    public let id: String
    public let registry: String?
    public let location: [Location]
    public struct Location: Decodable, Sendable {
        public let uri: String?
        enum CodingKeys: String, CodingKey { case uri = "Uri" }
    }
    enum CodingKeys: String, CodingKey { case id = "Id", registry = "Registry", location = "Location" }
}
