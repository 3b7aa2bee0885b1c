import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Seed
import Yams

/// Behaviour knobs of one simulated iDRAC (tests and benchmarks set them).
public struct SimulatorBehaviour: Sendable, Codable {
    /// Time a power transition takes.
    public var powerDelay: Double = 0.3
    /// Time from power-on to the node's ssh answering.
    public var sshDelay: Double = 1.0
    /// Added to every Redfish answer.
    public var latency: Double = 0
    /// Fraction of requests answered 503 with Retry-After: 1.
    public var errorRate: Double = 0
    /// Fraction of requests answered 200 with a body that is not JSON.
    public var garbageRate: Double = 0
    public var username = "root"
    public var password = "calvin"
    /// Firmware before 6.00: vmedia only under the Manager (CD, RemovableDisk), none under the System.
    public var legacyVirtualMedia = false
    /// Some 4.x/5.x firmware answers 200 to the Boot PATCH for Cd and keeps the old value.
    public var ignoreBootPatch = false
    /// The OS does not react to ACPI shutdown requests (hung, or no acpid).
    public var ignoreGracefulShutdown = false
    /// Only the pre-4.x job-service path exists.
    public var legacyJobServiceOnly = false
    /// Polls during which the SCP import task stays Running.
    public var taskPolls = 2
    /// One virtual-media slot only (iDRAC 10 style).
    public var singleSlot = false
    /// The NoCloud URL the live image's kernel command line carries (`ds=nocloud;s=…`): a live boot with no seed
    /// slot reads its keys from there, as cloud-init would.
    public var noCloudURL: String?
    /// iDRAC 7.x lists `VirtualMedia/2` before `VirtualMedia/1`: a collection's order is not a contract.
    public var listsSlotsInReverse = true
    /// Seconds from the 204 to `InsertMedia`/`EjectMedia` until the slot reads back so (R670/R760: several).
    public var mountDelay: Double = 1.0
    /// Seconds the Lifecycle Controller is busy (collecting the inventory) after the iDRAC starts and after each
    /// power-on: vmedia and configuration requests are refused with RAC0508 meanwhile.
    public var lifecycleBusy: Double = 0
    /// Seconds from the live OS's sshd answering to cloud-init's phone_home (it runs among the final modules).
    public var reportDelay: Double = 0.3
    /// Bytes of the live image a boot reads over virtual media (firmware, boot loader, kernel, initrd, the OS's first
    /// files; the whole image when smaller), as the iDRAC does: 64 KiB ranged reads, while the OS boots.
    public var bootReadBytes = 4 << 20

    public init() {}
}

/// A boot the simulated node went through: what it booted and which keys its root account would accept.
public struct BootRecord: Sendable, Codable, Equatable {
    public let mode: String  // "live" or "disk"
    public let image: String?
    public let seed: String?
    public var authorizedKeys: [String]
    public var hostname: String?
    /// The live OS's host keys (fresh at each boot), as its sshd would offer them.
    public var hostKeys: [String] = []
    /// The status of cloud-init's phone_home POST, once made.
    public var reported: Int?
    /// Bytes read from each medium's URL during this boot (the reads at insert are not the boot's).
    public var mediaRead: [String: Int] = [:]
}

/// What tests read back from `/sim/state`.
public struct SimulatorState: Sendable, Codable {
    public let power: String
    public let bootOverride: String
    public let bootOnceVirtualCD: Bool
    public let slots: [String: String?]
    public let boots: [BootRecord]
    public let bios: [String: String]
    public let pendingBios: [String: String]
    public let jobs: [String: String]
    public let sshUp: Bool
    public let requests: Int
    public let sessions: Int
    /// The most Redfish requests this iDRAC had in progress at once.
    public let peakConcurrentRequests: Int
    /// Bytes this iDRAC read over virtual media, by URL (at insert and during boots).
    public let mediaRead: [String: Int]
    /// What was typed on the serial console, and how many `console com2` sessions attached.
    public let consoleTyped: String
    public let consoleSessionsOpened: Int
    public let consoleAttached: Bool
    public let idrac: [String: String]
}

struct SimResponse: Sendable {
    var status: Int
    var headers: [(String, String)] = []
    var body: Data = Data()

    static func json(_ value: JSON, status: Int = 200, headers: [(String, String)] = []) -> SimResponse {
        SimResponse(status: status, headers: [("Content-Type", "application/json;odata.metadata=minimal")] + headers,
                    body: value.data())
    }

    static func noContent() -> SimResponse { SimResponse(status: 204) }

    /// An error as iDRAC 9 words it: `error.code`, `error.message`, `@Message.ExtendedInfo`.
    static func error(_ status: Int, _ id: String, _ message: String, resolution: String = "") -> SimResponse {
        json(["error": [
            "code": "Base.1.8.GeneralError",
            "message": "A general error has occurred. See ExtendedInfo for more information",
            "@Message.ExtendedInfo": [[
                "MessageId": .string(id), "Message": .string(message), "MessageArgs": [],
                "Resolution": .string(resolution), "Severity": "Critical",
            ]],
        ]], status: status)
    }
}

/// One simulated Dell iDRAC 9 and the server it manages.
public actor SimulatedNode {
    public let name: String
    public nonisolated let behaviour: SimulatorBehaviour
    let sshBanner: SSHBannerServer
    /// The iDRAC's own SSH service (its CLI): where `console com2` is.
    let sshService = SimulatedSSHService()
    var consoleViewer: ConsoleViewer?
    var consoleTyped: [UInt8] = []
    var consoleSessionsOpened = 0
    /// The iDRAC's attributes (`DellAttributes/iDRAC.Embedded.1`), those the console depends on.
    var idracAttributes: [String: String] = [
        "SSH.1.Enable": "Enabled", "SSH.1.Port": "22", "SSH.1.Timeout": "1800", "SSH.1.MaxSessions": "4",
        "SerialRedirection.1.Enable": "Enabled", "SerialRedirection.1.QuitKey": "^\\",
        "IPMISOL.1.Enable": "Enabled", "IPMISOL.1.BaudRate": "115200", "IPMISOL.1.MinPrivilege": "Administrator",
        "Serial.1.HistorySize": "8192", "Serial.1.IdleTimeout": "300",
    ]

    static let system = "/redfish/v1/Systems/System.Embedded.1"
    static let manager = "/redfish/v1/Managers/iDRAC.Embedded.1"

    var power = "On"
    var bootTarget = "None"
    var bootEnabled = "Disabled"
    var scpBootOnce = false
    var slots: [Slot]
    var bios: [String: JSON]
    var pendingBios: [String: JSON] = [:]
    var resetBiosPending = false
    var jobs: [(id: String, state: String, type: String, message: String)] = []
    var tasks: [String: Int] = [:]  // SCP task id → polls left
    var sessions: [String: String] = [:]  // id → token
    var boots: [BootRecord] = []
    var generation = 0
    var sshUp = false
    /// `BootProgress.LastState`.
    var bootProgress = "OSRunning"
    var lifecycleBusyUntil: ContinuousClock.Instant?
    /// The last one-time `Cd` boot found nothing bootable in slot 1 and went on to the disk.
    var cdBootFailed = false
    var inProgress = 0
    var peakInProgress = 0

    /// A request arrives (before the injected latency) and leaves: how many overlap.
    public func requestBegins() {
        inProgress += 1
        peakInProgress = max(peakInProgress, inProgress)
    }

    public func requestEnds() { inProgress -= 1 }

    /// The iDRAC is restarting (a firmware update, a reset): every Redfish request gets 503 until it is back.
    public private(set) var inOutage = false

    public func setOutage(_ down: Bool) { inOutage = down }
    var requests = 0
    var sequence = 0
    private let http: HTTPClient

    public init(name: String, behaviour: SimulatorBehaviour, sshPort: Int = 0) {
        self.name = name
        self.behaviour = behaviour
        slots = (behaviour.legacyVirtualMedia ? ["CD", "RemovableDisk"] : ["1", "2"]).map { Slot(id: $0) }
        if behaviour.singleSlot { slots = [slots[0]] }
        bios = Dictionary(uniqueKeysWithValues: BiosCatalogue.attributes.map { ($0.name, $0.defaultValue) })
        sshBanner = SSHBannerServer(port: sshPort)
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(3), read: .seconds(30)))
        configuration.connectionPool.retryConnectionEstablishment = false
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Starts the node's "OS": it is On and booted from disk, ssh answering.
    public func start() async throws -> Int {
        let port = try await sshBanner.start(banner: "SSH-2.0-OpenSSH_9.6 liveboot-sim \(name) disk")
        idracAttributes["SSH.1.Port"] = String(try await sshService.start(node: self, username: behaviour.username,
                                                                          password: behaviour.password))
        sshUp = true
        boots.append(BootRecord(mode: "disk", image: nil, seed: nil, authorizedKeys: [], hostname: nil))
        lifecycleBusy()
        return port
    }

    public func stop() async {
        await sshBanner.stop()
        dropConsole()
        await sshService.stop()
        try? await http.shutdown()
    }

    public func state() -> SimulatorState {
        SimulatorState(power: power, bootOverride: "\(bootTarget)/\(bootEnabled)", bootOnceVirtualCD: scpBootOnce,
                       slots: Dictionary(uniqueKeysWithValues: slots.map { ($0.id, $0.connected) }), boots: boots,
                       bios: bios.mapValues(Self.text), pendingBios: pendingBios.mapValues(Self.text),
                       jobs: Dictionary(uniqueKeysWithValues: jobs.map { ($0.id, $0.state) }), sshUp: sshUp,
                       requests: requests, sessions: sessions.count, peakConcurrentRequests: peakInProgress,
                       mediaRead: mediaRead, consoleTyped: String(decoding: consoleTyped, as: UTF8.self),
                       consoleSessionsOpened: consoleSessionsOpened, consoleAttached: consoleViewer != nil,
                       idrac: idracAttributes)
    }

    static func text(_ value: JSON) -> String {
        switch value {
        case .string(let s): s
        case .int(let i): String(i)
        case .bool(let b): String(b)
        default: "null"
        }
    }

    func nextID() -> String {
        sequence += 1
        return String(format: "%012d", 100_000_000_000 + sequence * 7919 + Int.random(in: 0..<1000))
    }

    // MARK: Request handling

    func handle(method: String, path rawPath: String, query: String, headers: HTTPHeaders, body: Data) async -> SimResponse {
        requests += 1
        let path = rawPath.count > 1 && rawPath.hasSuffix("/") ? String(rawPath.dropLast()) : rawPath
        let isLogin = method == "POST" && path == "/redfish/v1/SessionService/Sessions"
        if !(method == "GET" && (path == "/redfish/v1" || path == "/redfish")) && !isLogin && !authorized(headers) {
            return .error(401, "Base.1.8.NoValidSession", "There is no valid session established with the implementation.",
                          resolution: "Establish a session before attempting any operations.")
        }
        let expand = query.removingPercentEncoding?.contains("$expand") ?? false
        switch (method, path) {
        case ("GET", _): return get(path, expand: expand)
        case ("POST", "/redfish/v1/SessionService/Sessions"): return login(body)
        case ("DELETE", _) where path.hasPrefix("/redfish/v1/SessionService/Sessions/"):
            return sessions.removeValue(forKey: String(path.split(separator: "/").last!)) == nil
                ? .error(404, "Base.1.8.ResourceMissingAtURI", "The resource at the URI \(path) was not found.") : .noContent()
        case ("PATCH", Self.system): return patchBoot(body)
        case ("POST", Self.system + "/Actions/ComputerSystem.Reset"): return reset(body)
        case ("POST", _) where path.hasSuffix("/Actions/VirtualMedia.InsertMedia"):
            return await insert(slot: slotID(in: path), body: body)
        case ("POST", _) where path.hasSuffix("/Actions/VirtualMedia.EjectMedia"):
            return eject(slot: slotID(in: path))
        case ("POST", Self.manager + "/Actions/Oem/EID_674_Manager.ImportSystemConfiguration"):
            return lifecycleIsBusy ? providerNotReady : importSCP(body)
        case ("POST", Self.manager + "/Oem/Dell/DellLCService/Actions/DellLCService.GetRemoteServicesAPIStatus"):
            return remoteServicesStatus()
        case ("POST", Self.manager + "/Oem/Dell/DellLCService/Actions/DellLCService.ExportServerScreenShot"):
            return lifecycleIsBusy ? providerNotReady : exportScreenShot(body)
        case ("PATCH", Self.system + "/Bios/Settings"): return patchBios(body)
        case ("PATCH", Self.manager + "/Oem/Dell/DellAttributes/iDRAC.Embedded.1"): return patchIDRACAttributes(body)
        case ("POST", Self.system + "/Bios/Actions/Bios.ResetBios"):
            resetBiosPending = true
            return .noContent()
        case ("POST", Self.manager + "/Oem/Dell/DellJobService/Actions/DellJobService.DeleteJobQueue")
            where !behaviour.legacyJobServiceOnly:
            return deleteJobs(body)
        case ("POST", "/redfish/v1/Dell/Managers/iDRAC.Embedded.1/DellJobService/Actions/DellJobService.DeleteJobQueue"):
            return deleteJobs(body)
        default:
            return .error(method == "GET" || method == "POST" ? 404 : 405, "Base.1.8.ResourceMissingAtURI",
                          "The resource at the URI \(path) was not found.",
                          resolution: "Place a valid resource at the URI or correct the URI and resubmit the request.")
        }
    }

    func authorized(_ headers: HTTPHeaders) -> Bool {
        if let token = headers.first(name: "X-Auth-Token") { return sessions.values.contains(token) }
        if let basic = headers.first(name: "Authorization"), basic.hasPrefix("Basic "),
           let decoded = Data(base64Encoded: String(basic.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }) {
            return decoded == "\(behaviour.username):\(behaviour.password)"
        }
        return false
    }

    func login(_ body: Data) -> SimResponse {
        struct Credentials: Decodable { let UserName: String; let Password: String }
        guard let credentials = try? JSONDecoder().decode(Credentials.self, from: body) else {
            return .error(400, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON and could not be parsed by the receiving service.")
        }
        guard credentials.UserName == behaviour.username, credentials.Password == behaviour.password else {
            return .error(401, "Base.1.8.InsufficientPrivilege", "There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation.")
        }
        let id = String(sessions.count + 1 + sequence)
        sequence += 1
        let token = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        sessions[id] = token
        let location = "/redfish/v1/SessionService/Sessions/\(id)"
        return .json(["@odata.id": .string(location), "Id": .string(id), "UserName": .string(credentials.UserName)],
                     status: 201, headers: [("X-Auth-Token", token), ("Location", location)])
    }

    func slotID(in path: String) -> String {
        let parts = path.split(separator: "/")
        return parts.count >= 3 ? String(parts[parts.count - 3]) : ""
    }

    // MARK: Power and boot

    func patchBoot(_ body: Data) -> SimResponse {
        struct Patch: Decodable {
            struct BootPatch: Decodable { let BootSourceOverrideTarget: String?; let BootSourceOverrideEnabled: String? }
            let Boot: BootPatch?
        }
        guard let patch = try? JSONDecoder().decode(Patch.self, from: body), let boot = patch.Boot else {
            return .error(400, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON and could not be parsed by the receiving service.")
        }
        let allowedTargets = ["None", "Pxe", "Floppy", "Cd", "Hdd", "BiosSetup", "Utilities", "UefiTarget", "SDCard", "UefiHttp"]
        if let target = boot.BootSourceOverrideTarget, !allowedTargets.contains(target) {
            return .error(400, "Base.1.8.PropertyValueNotInList",
                          "The value \(target) for the property BootSourceOverrideTarget is not in the list of acceptable values.")
        }
        if let enabled = boot.BootSourceOverrideEnabled, !["Once", "Continuous", "Disabled"].contains(enabled) {
            return .error(400, "Base.1.8.PropertyValueNotInList",
                          "The value \(enabled) for the property BootSourceOverrideEnabled is not in the list of acceptable values.")
        }
        if behaviour.ignoreBootPatch && boot.BootSourceOverrideTarget == "Cd" {
            return .json(successInfo)  // accepted, and silently not applied
        }
        if let target = boot.BootSourceOverrideTarget { bootTarget = target }
        if let enabled = boot.BootSourceOverrideEnabled { bootEnabled = enabled }
        if bootTarget == "None" { bootEnabled = "Disabled" }
        return .json(successInfo)
    }

    var successInfo: JSON {
        ["@Message.ExtendedInfo": [["MessageId": "Base.1.8.Success", "Message": "Successfully Completed Request", "Severity": "OK"]]]
    }

    func reset(_ body: Data) -> SimResponse {
        struct Reset: Decodable { let ResetType: String }
        guard let reset = try? JSONDecoder().decode(Reset.self, from: body) else {
            return .error(400, "Base.1.8.ActionParameterMissing", "The action ComputerSystem.Reset requires the parameter ResetType to be present in the request body.")
        }
        // EEMI: PSU501 "Server is already powered ON.", PSU502 "Server is already powered OFF.".
        let conflict = power == "On" ? SimResponse.error(409, "IDRAC.2.8.PSU501", "Server is already powered ON.")
            : SimResponse.error(409, "IDRAC.2.8.PSU502", "Server is already powered OFF.")
        switch reset.ResetType {
        case "On":
            guard power == "Off" else { return conflict }
            schedule(after: behaviour.powerDelay) { await $0.setPower(on: true) }
        case "ForceOff":
            guard power == "On" else { return conflict }
            setPower(on: false)
        case "GracefulShutdown":
            guard power == "On" else { return conflict }
            if !behaviour.ignoreGracefulShutdown {
                schedule(after: behaviour.powerDelay) { await $0.setPower(on: false) }
            }
        case "ForceRestart", "GracefulRestart", "PowerCycle":
            guard power == "On" else { return conflict }
            setPower(on: false)
            schedule(after: behaviour.powerDelay) { await $0.setPower(on: true) }
        case "PushPowerButton":
            let wasOn = power == "On"
            schedule(after: behaviour.powerDelay) { await $0.setPower(on: !wasOn) }
        case "Nmi":
            break
        default:
            return .error(400, "Base.1.8.ActionParameterValueNotInList",
                          "The value \(reset.ResetType) for the parameter ResetType in the action ComputerSystem.Reset is not in the list of acceptable values.")
        }
        return .noContent()
    }

    func schedule(after seconds: Double, _ work: @escaping @Sendable (SimulatedNode) async -> Void) {
        Task { [self] in
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            await work(self)
        }
    }

    /// Powering on is a boot: pending BIOS work is applied, then the boot device is chosen as the firmware
    /// would (one-time override first), and ssh comes up after `sshDelay`. A `Cd` boot boots slot 1 (`CD` before
    /// 6.00) only, and only an image with an El Torito boot record; otherwise the firmware goes on to the disk.
    func setPower(on: Bool) {
        generation += 1
        if !on {
            power = "Off"
            sshUp = false
            bootProgress = "None"
            let banner = sshBanner
            Task { await banner.stop() }
            return
        }
        power = "On"
        bootProgress = "SystemHardwareInitializationComplete"
        lifecycleBusy()
        applyPendingBios()
        serialPOST()
        let bootSlot = slots.first
        let cdBoot = scpBootOnce || (bootTarget == "Cd" && bootEnabled != "Disabled")
        let live = cdBoot && bootSlot?.connected.map { bootable[$0] == true } == true
        if bootEnabled == "Once" { bootTarget = "None"; bootEnabled = "Disabled" }
        scpBootOnce = false
        cdBootFailed = cdBoot && !live
        var record: BootRecord
        if live, let image = bootSlot?.connected {
            let seedURL = slots.count > 1 ? slots[1].connected : behaviour.noCloudURL
            let seed = seedURL.flatMap { seedContents[$0] }
            record = BootRecord(mode: "live", image: image, seed: seedURL, authorizedKeys: seed?.keys ?? [],
                                hostname: seed?.hostname)
            record.hostKeys = SimulatedHostKeys.fresh(comment: "root@\(seed?.hostname ?? name)")
        } else {
            record = BootRecord(mode: "disk", image: nil, seed: nil, authorizedKeys: [], hostname: nil)
        }
        boots.append(record)
        let generation = self.generation, index = boots.count - 1
        let noCloud = slots.count == 1 ? behaviour.noCloudURL : nil, reportDelay = behaviour.reportDelay
        let isLive = record.mode == "live"
        let banner = "SSH-2.0-OpenSSH_9.6 liveboot-sim \(name) \(record.mode)"
        if isLive, let image = record.image {
            let seed = slots.count > 1 ? record.seed : nil, wanted = behaviour.bootReadBytes
            schedule(after: 0) { await $0.readMediaWhileBooting(image: image, seed: seed, imageBytes: wanted, generation: generation, index: index) }
        }
        let shownImage = record.image.map { URL(string: $0)?.lastPathComponent ?? $0 } ?? ""
        let hostname = record.hostname ?? name
        schedule(after: behaviour.sshDelay / 2) { await $0.osBooting(generation: generation, live: isLive, image: shownImage) }
        schedule(after: behaviour.sshDelay) { node in
            await node.sshComesUp(generation: generation, banner: banner, live: isLive, hostname: hostname)
            guard isLive else { return }
            // cloud-init: NoCloud over HTTP reads the seed now; phone_home runs among the final modules.
            if let noCloud { await node.readNoCloud(noCloud, into: index) }
            try? await Task.sleep(for: .milliseconds(Int(reportDelay * 1000)))
            await node.phoneHome(generation: generation, index: index)
        }
    }

    func osBooting(generation: Int, live: Bool, image: String) {
        guard generation == self.generation, power == "On" else { return }
        bootProgress = "OSBootStarted"
        serialOSLoader(live: live, image: image)
    }

    func sshComesUp(generation: Int, banner: String, live: Bool, hostname: String) async {
        guard generation == self.generation, power == "On" else { return }
        _ = try? await sshBanner.start(banner: banner)
        sshUp = true
        bootProgress = "OSRunning"
        serialOSUp(live: live, hostname: hostname)
    }

    /// What cloud-init's phone_home does (cc_phone_home): `$INSTANCE_ID` in the URL replaced, then a form-encoded
    /// POST of `post: all` — the host keys (`N/A` for a key type the OS has none of), instance_id, hostname, fqdn —
    /// tried `tries` times, 3 s apart (here, a tenth of that). Only a live OS whose seed asks for it reports; a disk
    /// OS never does.
    func phoneHome(generation: Int, index: Int) async {
        guard generation == self.generation, power == "On", index < boots.count else { return }
        let boot = boots[index]
        guard let seedURL = boot.seed, let seed = seedContents[seedURL], let template = seed.phoneHome,
              let instanceID = seed.instanceID else { return }
        let url = template.replacingOccurrences(of: "${INSTANCE_ID}", with: instanceID)
            .replacingOccurrences(of: "$INSTANCE_ID", with: instanceID)
        let key = { (type: String) in boot.hostKeys.first { $0.hasPrefix(type + " ") }.map { $0 + "\n" } ?? "N/A" }
        let fields = [("pub_key_rsa", key("ssh-rsa")), ("pub_key_ecdsa", key("ecdsa-sha2-nistp256")),
                      ("pub_key_ed25519", key("ssh-ed25519")), ("instance_id", instanceID),
                      ("hostname", seed.hostname ?? name), ("fqdn", seed.fqdn ?? seed.hostname ?? name)]
        let body = SimulatedHostKeys.formEncode(fields)
        for attempt in 1...max(1, seed.tries) {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.headers.add(name: "User-Agent", value: "Cloud-Init/23.4 (liveboot-sim)")
            request.body = .bytes(ByteBuffer(string: body))
            if let response = try? await http.execute(request, timeout: .seconds(10)) {
                _ = try? await response.body.collect(upTo: 1 << 16)
                if generation == self.generation, index < boots.count { boots[index].reported = Int(response.status.code) }
                // url_helper retries on errors only; a 4xx is final as well.
                if response.status.code < 500 { return }
            }
            if attempt < seed.tries { try? await Task.sleep(for: .milliseconds(300)) }
        }
    }

    /// `ExportServerScreenShot`: `FileType` as the action publishes it; no video while the server is off (LC099,
    /// as the EEMI registry words it); else the screen as `SimulatedScreen` draws it, base64 in `ServerScreenShotFile`.
    func exportScreenShot(_ body: Data) -> SimResponse {
        struct Export: Decodable { let FileType: String? }
        guard let export = try? JSONDecoder().decode(Export.self, from: body), let type = export.FileType else {
            return .error(400, "Base.1.8.ActionParameterMissing",
                          "The action DellLCService.ExportServerScreenShot requires the parameter FileType to be present in the request body.")
        }
        guard ["LastCrashScreenShot", "Preview", "ServerScreenShot"].contains(type) else {
            return .error(400, "Base.1.8.ActionParameterValueNotInList",
                          "The value \(type) for the parameter FileType in the action DellLCService.ExportServerScreenShot is not in the list of acceptable values.")
        }
        guard power == "On" else {
            return .error(400, "IDRAC.2.8.LC099", "Unable to export the server screen shot because the video signal is not detected.",
                          resolution: "Turn on the server if turned off, and then retry the operation.")
        }
        guard let png = try? screen().png() else {
            return .error(500, "IDRAC.2.8.SYS446", "Unable to complete the operation because of an internal error.")
        }
        return .json(["ServerScreenShotFile": .string(png.base64EncodedString()),
                      "@Message.ExtendedInfo": [["MessageId": "IDRAC.2.8.LC080",
                                                 "Message": "The screen shot is successfully exported.", "Severity": "Informational"]]])
    }

    /// What the monitor shows now, from the boot's phase.
    func screen() -> SimulatedScreen {
        let boot = boots.last
        let image = boot?.image.map { URL(string: $0)?.lastPathComponent ?? $0 } ?? "?"
        let host = boot?.hostname ?? name
        switch bootProgress {
        case "OSBootStarted":
            return boot?.mode == "live"
                ? SimulatedScreen(phase: .booting, lines: ["Booting from Virtual Optical Drive", image, "Loading Linux ..."])
                : SimulatedScreen(phase: .booting, lines: cdBootFailed
                    ? ["Boot Failed: Virtual Optical Drive", "Booting from disk ...", "GRUB loading."] : ["Booting from disk ...", "GRUB loading."])
        case "OSRunning":
            return boot?.mode == "live"
                ? SimulatedScreen(phase: .live, lines: ["\(image) (live)", "cloud-init: modules:final done",
                                                        "phone_home: " + (boot?.reported.map { "HTTP \($0)" } ?? "pending"), "", "\(host) login:"])
                : SimulatedScreen(phase: .disk, lines: ["Ubuntu 22.04 LTS \(name) tty1", "(installed system on the disk)", "", "\(name) login:"])
        default:
            return SimulatedScreen(phase: .post, lines: ["Dell PowerEdge R750", "BIOS 1.10.2  iDRAC 7.00.00",
                                                         "F2 = System Setup  F11 = Boot Manager", "Initializing firmware ..."])
        }
    }

    func applyPendingBios() {
        if resetBiosPending {
            bios = Dictionary(uniqueKeysWithValues: BiosCatalogue.attributes.map { ($0.name, $0.defaultValue) })
            resetBiosPending = false
        }
        bios.merge(pendingBios) { _, new in new }
        pendingBios = [:]
        for index in jobs.indices where jobs[index].state == "Scheduled" {
            jobs[index].state = "Completed"
            jobs[index].message = "Job completed successfully."
        }
    }

    // MARK: Virtual media

    /// What the node reads from a seed at insert time (as its cloud-init will at boot).
    struct SeedView: Sendable {
        var keys: [String] = []
        var hostname: String?
        var fqdn: String?
        var instanceID: String?
        var phoneHome: String?
        var tries = 10
    }

    /// Seeds read at insert time, by URL.
    var seedContents: [String: SeedView] = [:]
    var mediaRead: [String: Int] = [:]
    /// Images read at insert time: whether each has an El Torito boot record.
    var bootable: [String: Bool] = [:]

    /// The Lifecycle Controller is busy from now for `lifecycleBusy` seconds.
    func lifecycleBusy() {
        guard behaviour.lifecycleBusy > 0 else { return }
        lifecycleBusyUntil = ContinuousClock.now + .milliseconds(Int(behaviour.lifecycleBusy * 1000))
    }

    var lifecycleIsBusy: Bool { lifecycleBusyUntil.map { ContinuousClock.now < $0 } ?? false }

    var providerNotReady: SimResponse {
        .error(500, "IDRAC.2.8.RAC0508", "Unable to complete the operation because the provider is not ready.",
               resolution: "Wait for few minutes, refresh the page and retry. If the problem persists, reset the iDRAC and retry the operation.")
    }

    /// `GetRemoteServicesAPIStatus`, as iDRAC 9 answers it.
    func remoteServicesStatus() -> SimResponse {
        let busy = lifecycleIsBusy
        return .json(["LCStatus": busy ? "Reloading" : "Ready", "RTStatus": "Ready",
                      "ServerStatus": .string(power == "On" && !sshUp ? "InPOST" : "OutOfPOST"),
                      "Status": busy ? "NotReady" : "Ready", "TelemetryServiceStatus": "Ready",
                      "@Message.ExtendedInfo": [busy
                        ? ["MessageId": "IDRAC.2.8.LC053", "Message": "Lifecycle Controller Remote Services is currently unavailable."]
                        : ["MessageId": "IDRAC.2.8.LC061", "Message": "Lifecycle controller is ready to take provisioning requests"]]])
    }

    /// The iDRAC answers 204 at once and mounts after `mountDelay`: until then the slot reads back as before. A
    /// slot still connected refuses (VRM0012), one still being ejected too (VRM0021).
    func insert(slot id: String, body: Data) async -> SimResponse {
        struct Insert: Decodable { let Image: String?; let Inserted: Bool? }
        guard let index = slots.firstIndex(where: { $0.id == id }) else {
            return .error(404, "Base.1.8.ResourceMissingAtURI", "The resource at the URI for slot \(id) was not found.")
        }
        guard let insert = try? JSONDecoder().decode(Insert.self, from: body), let url = insert.Image else {
            return .error(400, "Base.1.8.ActionParameterMissing", "The action VirtualMedia.InsertMedia requires the parameter Image to be present in the request body.")
        }
        if lifecycleIsBusy { return providerNotReady }
        guard slots[index].connected == nil else {
            return .error(500, "IDRAC.2.8.VRM0012", "The Virtual Media image server is already connected.",
                          resolution: "No response action is required.")
        }
        guard slots[index].shown == nil else {
            return .error(500, "IDRAC.2.8.VRM0021", "Virtual Media is detached or Virtual Media devices are already in use.",
                          resolution: "Change the Virtual Media Attach Mode to Attach or Auto-Attach.Stop existing Virtual Media sessions and retry the operation.")
        }
        // Like the iDRAC's httpfs2 client: HEAD for the size and range support, then ranged reads.
        do {
            let (head, whole) = try await fetchLikeIDRAC(url)
            bootable[url] = ElTorito.isBootable(head)
            if whole, let seed = try? CidataReader(head), let userData = seed.files["user-data"] {
                var view = Self.seedView(fromUserData: userData)
                view.instanceID = seed.files["meta-data"].flatMap(Self.instanceID(fromMetaData:))
                seedContents[url] = view
            }
        } catch {
            return .error(500, "IDRAC.2.8.RAC0904", "Unable to connect to the virtual media image at \(url): \(error)",
                          resolution: "Make sure the image is reachable over HTTP(S), answers HEAD, and supports Range requests.")
        }
        slots[index].connected = url
        settle(slot: id, to: url)
        return .noContent()
    }

    func eject(slot id: String) -> SimResponse {
        guard let index = slots.firstIndex(where: { $0.id == id }) else {
            return .error(404, "Base.1.8.ResourceMissingAtURI", "The resource at the URI for slot \(id) was not found.")
        }
        if lifecycleIsBusy { return providerNotReady }
        guard slots[index].connected != nil || slots[index].shown != nil else {
            return .error(500, "IDRAC.2.8.VRM0009", "No Virtual Media devices are currently connected.",
                          resolution: "No response action is required.")
        }
        slots[index].connected = nil
        settle(slot: id, to: nil)
        return .noContent()
    }

    /// The read-back follows the connection after `mountDelay`, if nothing changed it meanwhile.
    func settle(slot id: String, to value: String?) {
        guard behaviour.mountDelay > 0 else {
            if let index = slots.firstIndex(where: { $0.id == id }) { slots[index].shown = value }
            return
        }
        schedule(after: behaviour.mountDelay) { node in await node.readBack(slot: id, as: value) }
    }

    func readBack(slot id: String, as value: String?) {
        guard let index = slots.firstIndex(where: { $0.id == id }), slots[index].connected == value else { return }
        slots[index].shown = value
    }

    struct FetchError: Error, CustomStringConvertible {
        let description: String
    }

    /// What a live boot reads over virtual media: the image's first `imageBytes` (firmware, boot loader, kernel,
    /// initrd), and the seed whole (cloud-init mounts it). Stops with the boot (a power-off, another boot).
    func readMediaWhileBooting(image: String, seed: String?, imageBytes: Int, generation: Int, index: Int) async {
        for (url, wanted) in [(image, imageBytes)] + (seed.map { [($0, Int.max)] } ?? []) {
            guard let length = try? await headLikeIDRAC(url) else { continue }
            var offset = 0
            let end = min(length, wanted)
            while offset < end, generation == self.generation, index < boots.count {
                guard let chunk = try? await readRangeLikeIDRAC(url, offset..<min(offset + 64 * 1024, end), of: length) else { break }
                boots[index].mediaRead[url, default: 0] += chunk.readableBytes
                offset += chunk.readableBytes
            }
        }
    }

    /// HEAD, then ranged GETs: the whole file when it is small enough to be a seed, else its first 64 KiB (where
    /// the volume descriptors are).
    func fetchLikeIDRAC(_ url: String) async throws -> (Data, whole: Bool) {
        let length = try await headLikeIDRAC(url)
        let whole = length <= 4 << 20
        var collected = Data()
        var offset = 0
        let end = whole ? length : min(length, 64 * 1024)
        while offset < end {
            let bytes = try await readRangeLikeIDRAC(url, offset..<min(offset + 64 * 1024, end), of: length)
            collected.append(contentsOf: bytes.readableBytesView)
            offset += bytes.readableBytes
        }
        return (collected, whole)
    }

    /// The HEAD the iDRAC's client starts with: 200, `Accept-Ranges: bytes`, a `Content-Length` (returned).
    func headLikeIDRAC(_ url: String) async throws -> Int {
        var head = HTTPClientRequest(url: url)
        head.method = .HEAD
        let headResponse = try await http.execute(head, timeout: .seconds(10))
        guard headResponse.status == .ok else { throw FetchError(description: "HEAD answered \(headResponse.status.code)") }
        guard headResponse.headers["Accept-Ranges"].contains(where: { $0.contains("bytes") }),
              let length = headResponse.headers.first(name: "Content-Length").flatMap(Int.init) else {
            throw FetchError(description: "no Accept-Ranges: bytes / Content-Length in the HEAD answer")
        }
        return length
    }

    /// One ranged read, checked as the iDRAC's client checks it: 206 with exactly the range asked for.
    func readRangeLikeIDRAC(_ url: String, _ range: Range<Int>, of length: Int) async throws -> ByteBuffer {
        let last = range.upperBound - 1
        var get = HTTPClientRequest(url: url)
        get.headers.add(name: "Range", value: "bytes=\(range.lowerBound)-\(last)")
        let response = try await http.execute(get, timeout: .seconds(30))
        guard response.status == .partialContent,
              response.headers.first(name: "Content-Range") == "bytes \(range.lowerBound)-\(last)/\(length)" else {
            throw FetchError(description: "Range bytes=\(range.lowerBound)-\(last) answered \(response.status.code) "
                + "with Content-Range \(response.headers.first(name: "Content-Range") ?? "none")")
        }
        let bytes = try await response.body.collect(upTo: range.count)
        guard bytes.readableBytes == range.count else { throw FetchError(description: "short ranged read") }
        mediaRead[url, default: 0] += bytes.readableBytes
        return bytes
    }

    /// What cloud-init does with `ds=nocloud;s=URL`: GET `URL` + `user-data` and `meta-data`.
    func readNoCloud(_ url: String, into index: Int) async {
        func get(_ name: String) async -> Data? {
            guard let response = try? await http.execute(HTTPClientRequest(url: url + name), timeout: .seconds(10)),
                  response.status == .ok, let body = try? await response.body.collect(upTo: 1 << 20) else { return nil }
            return Data(body.readableBytesView)
        }
        guard let userData = await get("user-data"), index < boots.count else { return }
        var view = Self.seedView(fromUserData: userData)
        view.instanceID = await get("meta-data").flatMap(Self.instanceID(fromMetaData:))
        seedContents[url] = view
        boots[index].authorizedKeys = view.keys
        boots[index].hostname = view.hostname
    }

    static func seedView(fromUserData data: Data) -> SeedView {
        guard let object = try? Yams.load(yaml: String(decoding: data, as: UTF8.self)) as? [String: Any] else { return SeedView() }
        var view = SeedView()
        view.keys = object["ssh_authorized_keys"] as? [String] ?? []
        for user in object["users"] as? [[String: Any]] ?? [] where user["name"] as? String == "root" {
            view.keys += (user["ssh_authorized_keys"] as? [String] ?? []).filter { !view.keys.contains($0) }
        }
        view.hostname = object["hostname"] as? String
        view.fqdn = object["fqdn"] as? String
        if let phoneHome = object["phone_home"] as? [String: Any] {
            view.phoneHome = phoneHome["url"] as? String
            view.tries = phoneHome["tries"] as? Int ?? 10
        }
        return view
    }

    static func instanceID(fromMetaData data: Data) -> String? {
        (try? Yams.load(yaml: String(decoding: data, as: UTF8.self)) as? [String: Any])?["instance-id"] as? String
    }

    // MARK: SCP import, tasks, BIOS, jobs

    func importSCP(_ body: Data) -> SimResponse {
        struct Import: Decodable { let ImportBuffer: String? }
        guard let request = try? JSONDecoder().decode(Import.self, from: body), let buffer = request.ImportBuffer else {
            return .error(400, "Base.1.8.ActionParameterMissing", "The action ImportSystemConfiguration requires the parameter ImportBuffer.")
        }
        if !pendingBios.isEmpty || jobs.contains(where: { $0.state == "Scheduled" || $0.state == "Running" }) {
            return .error(400, "IDRAC.2.8.LC068",
                          "Unable to perform the import or export operation because there are pending attribute changes or a configuration job is in progress.",
                          resolution: "Apply or cancel any pending attribute changes. Changes can be applied by creating a targeted configuration job, or the changes can be cancelled by invoking the DeletePendingConfiguration method. If a configuration job is in progress, wait until it is completed before retrying the import or export system configuration operation.")
        }
        // The iDRAC's SCP parser refuses whitespace between elements.
        if buffer.contains("> <") || buffer.contains(">\n") {
            return .error(400, "IDRAC.2.8.SYS041", "Unable to parse the configuration XML: insignificant whitespace is not accepted.")
        }
        let id = "JID_" + nextID()
        if buffer.contains("<Attribute Name=\"ServerBoot.1#BootOnce\">Enabled</Attribute>")
            && buffer.contains("<Attribute Name=\"ServerBoot.1#FirstBootDevice\">VCD-DVD</Attribute>") {
            scpBootOnce = true
        }
        tasks[id] = behaviour.taskPolls
        jobs.append((id, "Running", "ImportConfiguration", "Importing Server Configuration Profile."))
        return SimResponse(status: 202, headers: [("Location", "/redfish/v1/TaskService/Tasks/\(id)")])
    }

    func taskResource(_ id: String) -> SimResponse {
        guard let left = tasks[id] else {
            return .error(404, "Base.1.8.ResourceMissingAtURI", "The resource at the URI /redfish/v1/TaskService/Tasks/\(id) was not found.")
        }
        let done = left <= 0
        if done, let index = jobs.firstIndex(where: { $0.id == id }) {
            jobs[index].state = "Completed"
            jobs[index].message = "Successfully imported and applied Server Configuration Profile."
        } else {
            tasks[id] = left - 1
        }
        let message: JSON = done ? ["MessageId": "IDRAC.2.8.SYS053", "Message": "Successfully imported and applied Server Configuration Profile."]
            : ["MessageId": "IDRAC.2.8.SYS057", "Message": "Importing Server Configuration Profile."]
        return .json(["@odata.id": .string("/redfish/v1/TaskService/Tasks/\(id)"), "@odata.type": "#Task.v1_4_3.Task",
                      "Id": .string(id), "Name": "Import Configuration",
                      "TaskState": done ? "Completed" : "Running", "TaskStatus": "OK",
                      "PercentComplete": done ? 100 : 50, "Messages": [message]],
                     status: done ? 200 : 202, headers: done ? [] : [("Retry-After", "1")])
    }

    func patchBios(_ body: Data) -> SimResponse {
        struct Patch: Decodable {
            let Attributes: [String: AnyValue]
            let applyTime: ApplyTime?
            struct ApplyTime: Decodable { let ApplyTime: String }
            enum CodingKeys: String, CodingKey { case Attributes, applyTime = "@Redfish.SettingsApplyTime" }
        }
        guard let patch = try? JSONDecoder().decode(Patch.self, from: body) else {
            return .error(400, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON and could not be parsed by the receiving service.")
        }
        var accepted: [String: JSON] = [:]
        for (name, value) in patch.Attributes {
            guard let spec = BiosCatalogue.attributes.first(where: { $0.name == name }) else {
                return .error(400, "Base.1.8.PropertyUnknown", "The property \(name) is not in the list of valid properties for the resource.")
            }
            if spec.readOnly {
                return .error(400, "Base.1.8.PropertyNotWritable", "The property \(name) is a read only property and cannot be assigned a value.")
            }
            switch (spec.kind, value) {
            case (.enumeration(let values), .string(let s)) where values.contains(s): accepted[name] = .string(s)
            case (.integer(let range), .int(let i)) where range.contains(i): accepted[name] = .int(i)
            case (.string(let max), .string(let s)) where s.count <= max: accepted[name] = .string(s)
            default:
                return .error(400, "Base.1.8.PropertyValueNotInList", "The value for the property \(name) is not in the list of acceptable values.")
            }
        }
        pendingBios.merge(accepted) { _, new in new }
        guard patch.applyTime?.ApplyTime == "OnReset" else { return .json(successInfo) }
        if let index = jobs.firstIndex(where: { $0.type == "BIOSConfiguration" && $0.state == "Scheduled" }) {
            return .json(successInfo, status: 202, headers: [("Location", "\(Self.manager)/Jobs/\(jobs[index].id)")])
        }
        let id = "JID_" + nextID()
        jobs.append((id, "Scheduled", "BIOSConfiguration", "Task successfully scheduled."))
        return .json(successInfo, status: 202, headers: [("Location", "\(Self.manager)/Jobs/\(id)")])
    }

    enum AnyValue: Decodable {
        case string(String), int(Int), other
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let i = try? c.decode(Int.self) { self = .int(i) } else if let s = try? c.decode(String.self) { self = .string(s) } else { self = .other }
        }
    }

    func deleteJobs(_ body: Data) -> SimResponse {
        struct Delete: Decodable { let JobID: String }
        guard let request = try? JSONDecoder().decode(Delete.self, from: body) else {
            return .error(400, "Base.1.8.ActionParameterMissing", "The action DeleteJobQueue requires the parameter JobID.")
        }
        if request.JobID == "JID_CLEARALL" {
            jobs.removeAll()
            tasks.removeAll()
            pendingBios = [:]
            resetBiosPending = false
        } else {
            guard let index = jobs.firstIndex(where: { $0.id == request.JobID }) else {
                return .error(400, "IDRAC.2.8.SUP011", "Job ID \(request.JobID) is invalid.", resolution: "Enter a valid job ID and retry the operation.")
            }
            if jobs[index].type == "BIOSConfiguration" { pendingBios = [:] }
            jobs.remove(at: index)
        }
        return .json(["@Message.ExtendedInfo": [["MessageId": "IDRAC.2.8.SUP020", "Message": "Successfully deleted the Job(s)."]]])
    }
}
