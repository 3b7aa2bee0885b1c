@testable import DellIDRAC
import Foundation
@testable import LivebootCore
@testable import Redfish
import XCTest

/// Slots chosen by identity and virtual media driven with deadlines, against the captured iDRAC 9 (R750, 6.00.30.00)
/// and HPE iLO 5, with scripted answers where real firmware lags or refuses: a read-back that lags, a stale
/// `Inserted`, VRM0012, SYS446, the Lifecycle Controller reloading.
final class VirtualMediaDeadlineTests: XCTestCase {
    static let slot1 = "/redfish/v1/Systems/System.Embedded.1/VirtualMedia/1"
    static let url = "http://10.0.0.1:8080/images/u22.iso"
    var bmc: CapturedBMC!
    var liveboot: Liveboot!
    var steps: StepLog!

    override func setUp() async throws {
        _ = try Fixtures.folder(Fixtures.dell)
        bmc = CapturedBMC(fixture: Fixtures.dell)
        steps = StepLog()
        let config = try LivebootConfig.parse("""
            nodes:
              r750: {hostname: "127.0.0.1:1", drac: "https://captured.invalid", drac-password: never-shown}
            timing: {poll-interval: 0.01, media-insert: 0.3, media-eject: 0.3, busy-backoff: 0.01, busy-retries: 2, bmc-ready: 0.3}
            """, path: "/tmp/liveboot-captured.yaml")
        let transport = bmc!
        liveboot = Liveboot(config: config, bmcs: { _ in transport })
    }

    /// A slot as the captured iDRAC shows it, holding `image` (nil: empty) with `Inserted` as given.
    func slotAnswer(image: String?, inserted: Bool) throws -> RedfishResponse {
        var slot = try XCTUnwrap(JSONSerialization.jsonObject(with: Fixtures.dellResource("Systems/System.Embedded.1/VirtualMedia/1")) as? [String: Any])
        slot["Image"] = image ?? NSNull()
        slot["Inserted"] = inserted
        return CapturedBMC.answer(200, json: try JSONSerialization.data(withJSONObject: slot))
    }

    func registryMessage(_ id: String) throws -> String {
        let registry = try JSONSerialization.jsonObject(with: Fixtures.dellResource("Registries/Messages/EEMIRegistry"))
        let messages = (registry as? [String: Any])?["Messages"] as? [String: [String: Any]]
        return try XCTUnwrap(messages?[id]?["Message"] as? String)
    }

    func refusal(_ id: String) throws -> RedfishResponse {
        CapturedBMC.error(500, messageID: "IDRAC.2.8.\(id)", message: try registryMessage(id))
    }

    /// Runs `body` with a drive on the captured node's first slot.
    func withDrive<T: Sendable>(_ body: @escaping @Sendable (MediaDrive, VirtualMedia) async throws -> T) async throws -> T {
        let node = try XCTUnwrap(liveboot.config.nodes.first)
        let steps = self.steps!
        return try await liveboot.withSession(node) { session in
            let slot = try await session.bmc.virtualMediaSlots(session.discovery)[0]
            return try await body(MediaDrive(session: session, timing: self.liveboot.config.timing, progress: { steps.add($0) }), slot)
        }
    }

    func posts(to suffix: String) -> Int { bmc.sent("POST").filter { $0.path.hasSuffix(suffix) }.count }

    // MARK: slot choice

    /// iDRAC 7.x lists 2 before 1: the live image still goes to slot 1 (the one a `Cd` boot boots), the seed to 2.
    func testDellLiveSlotIsOneWhateverTheListingOrder() async throws {
        let node = try XCTUnwrap(liveboot.config.nodes.first)
        let (live, seed) = try await liveboot.withSession(node) { session in
            let slots = try await session.bmc.virtualMediaSlots(session.discovery)
            XCTAssertEqual(slots.map(\.id), ["1", "2"])
            let chosen = try self.liveboot.chooseSlots(slots.reversed(), bmc: session.bmc, node: node)
            return (chosen.0.id, chosen.1?.id)
        }
        XCTAssertEqual(live, "1")
        XCTAssertEqual(seed, "2")
    }

    /// A generic BMC: the CD-capable slot with the lowest Id (iLO 5: `2`, since `1` is Floppy/USBStick), the seed in
    /// the other; the same whatever the order the slots came in.
    func testGenericLiveSlotIsTheLowestCDCapableId() throws {
        let folder = "generic-hpe-ilo5-dl360-gen10_hpe-ilo-redfish-emulator"
        let slots = try [1, 2].map { id in
            try JSONDecoder().decode(VirtualMedia.self, from: Fixtures.data(folder, "redfish/v1/Managers/1/VirtualMedia/\(id)/index.json"))
        }
        let generic = GenericBMC(client: CapturedBMC(fixture: folder).client(), vendor: .hpe)
        let node = try XCTUnwrap(liveboot.config.nodes.first)
        for order in [slots, slots.reversed()] {
            let (live, seed) = try liveboot.chooseSlots(order, bmc: generic, node: node)
            XCTAssertEqual(live.id, "2")
            XCTAssertEqual(seed?.id, "1")
            XCTAssertEqual(order.sorted(by: VirtualMedia.identityOrder).map(\.id), ["1", "2"])
        }
    }

    func testIdentityOrderIsNumericThenByName() throws {
        func slot(_ id: String) throws -> VirtualMedia {
            try JSONDecoder().decode(VirtualMedia.self, from: Data(#"{"@odata.id":"/v/\#(id)","Id":"\#(id)"}"#.utf8))
        }
        let sorted = try ["10", "RemovableDisk", "2", "CD", "1"].map(slot).sorted(by: VirtualMedia.identityOrder)
        XCTAssertEqual(sorted.map(\.id), ["1", "2", "10", "CD", "RemovableDisk"])
    }

    // MARK: deadlines

    /// The iDRAC answers 204 first; the slot reads empty, then `Inserted` with the previous image (stale), then the
    /// image asked for: the drive polls through both and says once that it waits.
    func testInsertPollsTheReadBackThroughALagAndAStaleInserted() async throws {
        bmc.script("POST", Self.slot1 + "/Actions/VirtualMedia.InsertMedia", CapturedBMC.answer(204))
        bmc.script("GET", Self.slot1, try slotAnswer(image: nil, inserted: false),
                   try slotAnswer(image: "http://10.0.0.1:8080/images/old.iso", inserted: true),
                   try slotAnswer(image: Self.url, inserted: true))
        let slot = try await withDrive { drive, slot in try await drive.insert(Self.url, into: slot) }
        XCTAssertEqual(slot.image, Self.url)
        XCTAssertEqual(bmc.sent("GET").filter { $0.path == Self.slot1 }.count, 3)
        XCTAssertEqual(steps.all.filter { if case .slotWaiting = $0 { true } else { false } }.count, 1, "\(steps.all)")
    }

    func testInsertThatNeverReadsBackFailsAtItsDeadline() async throws {
        bmc.script("POST", Self.slot1 + "/Actions/VirtualMedia.InsertMedia", CapturedBMC.answer(204))
        bmc.script("GET", Self.slot1, try slotAnswer(image: nil, inserted: false))
        do {
            _ = try await withDrive { drive, slot in try await drive.insert(Self.url, into: slot) }
            XCTFail("an insert that never mounts must fail")
        } catch let error as LivebootError {
            guard case .mediaNotInserted(_, "1", Self.url, nil, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("timing.media-insert"), "\(error)")
        }
    }

    /// VRM0012 ("already connected"): the slot is ejected, the eject is read back, and the insert tried once more.
    func testAlreadyConnectedIsEjectedThenInsertedOnceMore() async throws {
        bmc.script("POST", Self.slot1 + "/Actions/VirtualMedia.InsertMedia", try refusal("VRM0012"), CapturedBMC.answer(204))
        bmc.script("POST", Self.slot1 + "/Actions/VirtualMedia.EjectMedia", CapturedBMC.answer(204))
        bmc.script("GET", Self.slot1, try slotAnswer(image: nil, inserted: false), try slotAnswer(image: Self.url, inserted: true))
        _ = try await withDrive { drive, slot in try await drive.insert(Self.url, into: slot) }
        let actions = bmc.sent("POST").map(\.path).filter { $0.hasPrefix(Self.slot1) }.map { $0.split(separator: ".").last! }
        XCTAssertEqual(actions, ["InsertMedia", "EjectMedia", "InsertMedia"])
        XCTAssertTrue(steps.all.contains(.slotInUse(slot: "1", said: "IDRAC.2.8.VRM0012")), "\(steps.all)")
    }

    /// Twice VRM0012 is not retried for ever: the second refusal is the error.
    func testAlreadyConnectedTwiceFails() async throws {
        bmc.script("POST", Self.slot1 + "/Actions/VirtualMedia.InsertMedia", try refusal("VRM0012"))
        bmc.script("POST", Self.slot1 + "/Actions/VirtualMedia.EjectMedia", CapturedBMC.answer(204))
        do {
            _ = try await withDrive { drive, slot in try await drive.insert(Self.url, into: slot) }
            XCTFail("must fail")
        } catch let error as RedfishError {
            XCTAssertEqual(error.messageIDs, ["IDRAC.2.8.VRM0012"])
        }
        XCTAssertEqual(posts(to: "InsertMedia"), 2)
    }

    /// SYS446 and RAC0508 are retried with backoff, at most `busy-retries` times; then the refusal is the error.
    func testTransientRefusalsAreRetriedABoundedNumberOfTimes() async throws {
        bmc.script("POST", Self.slot1 + "/Actions/VirtualMedia.InsertMedia", try refusal("SYS446"), try refusal("RAC0508"),
                   CapturedBMC.answer(204))
        bmc.script("GET", Self.slot1, try slotAnswer(image: Self.url, inserted: true))
        _ = try await withDrive { drive, slot in try await drive.insert(Self.url, into: slot) }
        XCTAssertEqual(posts(to: "InsertMedia"), 3)
        XCTAssertEqual(steps.all.filter { if case .bmcBusy = $0 { true } else { false } }.count, 2)

        bmc.script("POST", Self.slot1 + "/Actions/VirtualMedia.InsertMedia", try refusal("SYS446"))
        do {
            _ = try await withDrive { drive, slot in try await drive.insert(Self.url, into: slot) }
            XCTFail("must give up")
        } catch let error as RedfishError {
            XCTAssertEqual(error.messageIDs, ["IDRAC.2.8.SYS446"])
        }
        XCTAssertEqual(posts(to: "InsertMedia"), 3 + 3, "one try and two retries")
    }

    /// An eject is read back too; one that never empties the slot fails at its deadline.
    func testEjectWaitsUntilTheSlotReadsEmpty() async throws {
        bmc.script("POST", Self.slot1 + "/Actions/VirtualMedia.EjectMedia", CapturedBMC.answer(204))
        bmc.script("GET", Self.slot1, try slotAnswer(image: Self.url, inserted: true), try slotAnswer(image: nil, inserted: false))
        try await withDrive { drive, slot in try await drive.eject(slot, force: true) }
        bmc.script("GET", Self.slot1, try slotAnswer(image: Self.url, inserted: true))
        do {
            try await withDrive { drive, slot in try await drive.eject(slot, force: true) }
            XCTFail("must fail")
        } catch let error as LivebootError {
            guard case .mediaNotEjected(_, "1", Self.url, _) = error else { return XCTFail("\(error)") }
        }
    }

    // MARK: Lifecycle Controller

    /// `GetRemoteServicesAPIStatus` at the captured action's target; while it says `Reloading`, the operation waits
    /// (saying so once), then goes on; one that never gets ready fails at `timing.bmc-ready`.
    func testLifecycleControllerNotReadyIsWaitedFor() async throws {
        let lc = try XCTUnwrap(JSONSerialization.jsonObject(with: Fixtures.dellResource("Managers/iDRAC.Embedded.1/Oem/Dell/DellLCService")) as? [String: Any])
        let actions = try XCTUnwrap(lc["Actions"] as? [String: [String: Any]])
        let target = try XCTUnwrap(actions["#DellLCService.GetRemoteServicesAPIStatus"]?["target"] as? String)
        let reloading = CapturedBMC.answer(200, json: Data(#"{"LCStatus":"Reloading","RTStatus":"Ready","ServerStatus":"InPOST","Status":"NotReady"}"#.utf8))
        let ready = CapturedBMC.answer(200, json: Data(#"{"LCStatus":"Ready","RTStatus":"Ready","ServerStatus":"OutOfPOST","Status":"Ready"}"#.utf8))
        bmc.script("POST", target, reloading, reloading, ready)
        let node = try XCTUnwrap(liveboot.config.nodes.first)
        let steps = self.steps!
        try await liveboot.withSession(node) { session in
            try await self.liveboot.waitUntilBMCReady(session, progress: { steps.add($0) })
        }
        XCTAssertEqual(posts(to: "GetRemoteServicesAPIStatus"), 3)
        XCTAssertEqual(steps.all.map(\.text), ["the BMC is not ready (Lifecycle Controller Reloading, remote services NotReady, "
                                                + "server InPOST); waiting up to 0.3 s"])
        bmc.script("POST", target, reloading)
        do {
            try await liveboot.withSession(node) { session in try await self.liveboot.waitUntilBMCReady(session, progress: { _ in }) }
            XCTFail("must give up")
        } catch let error as LivebootError {
            guard case .bmcNotReady(_, let reason, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("Reloading"), reason)
        }
    }

    /// Firmware without the service (404 at both paths) counts as ready.
    func testNoLifecycleServiceCountsAsReady() async throws {
        let node = try XCTUnwrap(liveboot.config.nodes.first)
        try await liveboot.withSession(node) { session in try await self.liveboot.waitUntilBMCReady(session, progress: { _ in }) }
        let tried = bmc.sent("POST").map(\.path).filter { $0.hasSuffix("GetRemoteServicesAPIStatus") }
        XCTAssertEqual(tried, ["/redfish/v1/Managers/iDRAC.Embedded.1/Oem/Dell/DellLCService/Actions/DellLCService.GetRemoteServicesAPIStatus",
                               "/redfish/v1/Dell/Managers/iDRAC.Embedded.1/DellLCService/Actions/DellLCService.GetRemoteServicesAPIStatus"])
    }

    /// Dell's refusals by their registry ids; the standard InternalError is transient for any BMC.
    func testRefusalsAreClassifiedByMessageID() throws {
        let idrac = IDRAC(client: bmc.client())
        func error(_ id: String) -> RedfishError {
            .requestFailed(bmc: "b", method: "POST", path: "/p", status: 500, messages: [RedfishMessage(messageId: id, message: nil)])
        }
        XCTAssertEqual(idrac.refusal(error("IDRAC.2.8.VRM0012")), .slotInUse)
        XCTAssertEqual(idrac.refusal(error("IDRAC.2.9.VRM0021")), .slotInUse)
        XCTAssertEqual(idrac.refusal(error("IDRAC.2.8.SYS446")), .busy)
        XCTAssertEqual(idrac.refusal(error("IDRAC.2.8.RAC0508")), .busy)
        XCTAssertEqual(idrac.refusal(error("Base.1.12.InternalError")), .busy)
        XCTAssertNil(idrac.refusal(error("IDRAC.2.8.RAC0904")), "cannot reach the image: not transient")
        XCTAssertNil(idrac.standard.refusal(error("IDRAC.2.8.VRM0012")), "a generic BMC knows no Dell id")
    }
}

/// The steps an operation reported, for assertions.
final class StepLog: @unchecked Sendable {
    private let lock = NSLock()
    private var steps: [NodeStep] = []
    func add(_ step: NodeStep) { lock.lock(); steps.append(step); lock.unlock() }
    var all: [NodeStep] { lock.lock(); defer { lock.unlock() }; return steps }
}
