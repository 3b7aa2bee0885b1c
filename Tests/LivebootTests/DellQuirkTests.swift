@testable import DellIDRAC
import Foundation
@testable import Redfish
import NIOConcurrencyHelpers
import XCTest

/// Each iDRAC quirk `IDRAC` handles, against the captured answers of a real iDRAC 9 (R750, 6.00.30.00) and sushy's
/// Dell samples, through a transport that answers from the captures — no server, no simulator.
final class DellQuirkTests: XCTestCase {
    var bmc: CapturedBMC!
    var idrac: IDRAC!
    var discovery: Discovery!

    override func setUp() async throws {
        bmc = CapturedBMC(fixture: Fixtures.dell)
        let client = bmc.client()
        idrac = IDRAC(client: client)
        discovery = try await BMCConnector.discover(client)
    }

    /// A message of the iDRAC's own registry (EEMI, captured), as its error bodies carry it.
    func registryMessage(_ id: String) throws -> String {
        let registry = try JSONSerialization.jsonObject(with: Fixtures.dellResource("Registries/Messages/EEMIRegistry"))
        let messages = (registry as? [String: Any])?["Messages"] as? [String: [String: Any]]
        return try XCTUnwrap(messages?[id]?["Message"] as? String)
    }

    func testTheCapturedServiceIsADell() {
        XCTAssertEqual(discovery.vendor, .dell)
        XCTAssertEqual(discovery.system.id, "System.Embedded.1")
    }

    /// Firmware 6.x: the System's two slots, not the Manager's deprecated `CD`/`RemovableDisk`, read with `$expand`.
    func testSlotsAreTheSystemsOnFirmware6() async throws {
        let slots = try await idrac.virtualMediaSlots(discovery)
        XCTAssertEqual(slots.map(\.id), ["1", "2"])
        XCTAssertEqual(slots.first?.mediaTypes, [.cd, .dvd, .usbStick])
        XCTAssertTrue(bmc.sent("GET").contains { $0.path.hasPrefix("/redfish/v1/Systems/System.Embedded.1/VirtualMedia?$expand") })
        XCTAssertFalse(bmc.sent("GET").contains { $0.path.contains("Managers/iDRAC.Embedded.1/VirtualMedia") })
    }

    /// InsertMedia without `TransferProtocolType` (some 6.x builds reject it; the iDRAC infers it from the URL), to
    /// the action's captured target.
    func testInsertSendsOnlyImageInsertedAndWriteProtected() async throws {
        let slot = try await idrac.virtualMediaSlots(discovery)[0]
        bmc.script("POST", "/redfish/v1/Systems/System.Embedded.1/VirtualMedia/1/Actions/VirtualMedia.InsertMedia",
                   CapturedBMC.answer(204))
        try await idrac.insert("http://10.0.0.1:8080/images/u22.iso", into: slot)
        let post = try XCTUnwrap(bmc.sent("POST").last)
        XCTAssertEqual(post.path, "/redfish/v1/Systems/System.Embedded.1/VirtualMedia/1/Actions/VirtualMedia.InsertMedia")
        XCTAssertEqual(Set(post.json.keys), ["Image", "Inserted", "WriteProtected"])
        XCTAssertEqual(post.json["Image"] as? String, "http://10.0.0.1:8080/images/u22.iso")
    }

    /// VRM0009 ("No Virtual Media devices are currently connected") to an eject: the goal is reached. Another
    /// refusal (VRM0021, "in use") still fails.
    func testEjectOfAnEmptySlotIsDoneAndOtherRefusalsAreNot() async throws {
        let slot = try await idrac.virtualMediaSlots(discovery)[1]
        let eject = "/redfish/v1/Systems/System.Embedded.1/VirtualMedia/2/Actions/VirtualMedia.EjectMedia"
        bmc.script("POST", eject, CapturedBMC.error(400, messageID: "IDRAC.2.8.VRM0009", message: try registryMessage("VRM0009")))
        try await idrac.eject(slot)
        bmc.script("POST", eject, CapturedBMC.error(400, messageID: "IDRAC.2.8.VRM0021", message: try registryMessage("VRM0021")))
        do {
            try await idrac.eject(slot)
            XCTFail("VRM0021 is not success")
        } catch let error as RedfishError {
            XCTAssertEqual(error.messageIDs, ["IDRAC.2.8.VRM0021"])
        }
    }

    /// A PATCH that answers 200 and reads back unchanged (4.x/early 5.x): the SCP import of `ServerBoot.1#BootOnce`
    /// instead — a one-line buffer, `NoReboot`, the task polled to `Completed` through its `Starting` (sushy's
    /// captured task monitor).
    func testBootOnceFallsBackToTheSCPImportWhenThePatchDoesNotStick() async throws {
        bmc.script("PATCH", "/redfish/v1/Systems/System.Embedded.1", CapturedBMC.answer(200))
        let importPath = "/redfish/v1/Managers/iDRAC.Embedded.1/Actions/Oem/EID_674_Manager.ImportSystemConfiguration"
        let task = "/redfish/v1/TaskService/Tasks/JID_257309938313"
        bmc.script("POST", importPath, CapturedBMC.answer(202, headers: [("Location", task)]))
        let starting = try Fixtures.data(Fixtures.sushyDell, "task.json")
        var completed = try XCTUnwrap(JSONSerialization.jsonObject(with: starting) as? [String: Any])
        completed["TaskState"] = "Completed"
        bmc.script("GET", task, CapturedBMC.answer(200, json: starting, headers: [("Retry-After", "0")]),
                   CapturedBMC.answer(200, json: try JSONSerialization.data(withJSONObject: completed)))
        let steps = NIOLockedSteps()
        let result = try await idrac.setBootOnce(.cd, on: discovery.system, progress: { steps.append($0) })
        XCTAssertEqual(result.how, "SCP import ServerBoot.1#BootOnce")
        let patch = try XCTUnwrap(bmc.sent("PATCH").first?.json["Boot"] as? [String: String])
        XCTAssertEqual(patch, ["BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once"])
        let scp = try XCTUnwrap(bmc.sent("POST").first { $0.path == importPath }?.json)
        XCTAssertEqual(scp["ShutdownType"] as? String, "NoReboot")
        let buffer = try XCTUnwrap(scp["ImportBuffer"] as? String)
        XCTAssertFalse(buffer.contains("> <") || buffer.contains(">\n"), "no whitespace between elements")
        XCTAssertTrue(buffer.contains("<Attribute Name=\"ServerBoot.1#FirstBootDevice\">VCD-DVD</Attribute>"))
        XCTAssertEqual(bmc.sent("GET").filter { $0.path == task }.count, 2)
        XCTAssertTrue(steps.all.contains { $0.contains("Starting") }, "\(steps.all)")
    }

    /// LC068 to the import (sushy's captured body): pending changes, said with what to do about them.
    func testPendingConfigurationIsExplained() async throws {
        bmc.script("PATCH", "/redfish/v1/Systems/System.Embedded.1", CapturedBMC.answer(200))
        bmc.script("POST", "/redfish/v1/Managers/iDRAC.Embedded.1/Actions/Oem/EID_674_Manager.ImportSystemConfiguration",
                   CapturedBMC.answer(400, json: try Fixtures.data(Fixtures.sushyDell, "error_pending_job.json")))
        do {
            _ = try await idrac.setBootOnce(.cd, on: discovery.system, progress: { _ in })
            XCTFail("LC068 must fail the boot override")
        } catch let error as DellError {
            XCTAssertTrue(error.description.contains("lb queueclear"), error.description)
            XCTAssertTrue(error.description.contains("IDRAC.2.8.LC068"), error.description)
        }
    }

    /// The job queue is under the Manager's `Links.Oem.Dell.Jobs`, not in the standard Manager.
    func testJobsComeFromTheDellLinks() async throws {
        let manager = try JSONDecoder().decode(DellManager.self, from: Fixtures.dellResource("Managers/iDRAC.Embedded.1"))
        XCTAssertEqual(manager.jobs?.id, "/redfish/v1/Managers/iDRAC.Embedded.1/Oem/Dell/Jobs")
        XCTAssertEqual(manager.jobService?.id, "/redfish/v1/Managers/iDRAC.Embedded.1/Oem/Dell/DellJobService")
        XCTAssertEqual(manager.standard.id, "iDRAC.Embedded.1")
        let jobs = try await idrac.jobs(discovery)
        XCTAssertEqual(jobs.map(\.id), ["JID_102241909559"])
        XCTAssertNotEqual(jobs.first?.jobState.rawValue, "")
    }

    /// `JID_CLEARALL` to the DellJobService's advertised action; when that answers 404 (early 4.x), the legacy path.
    func testClearingTheQueueUsesTheAdvertisedActionThenTheLegacyPath() async throws {
        let advertised = "/redfish/v1/Managers/iDRAC.Embedded.1/Oem/Dell/DellJobService/Actions/DellJobService.DeleteJobQueue"
        bmc.script("POST", advertised, CapturedBMC.answer(200))
        try await idrac.clearJobQueue(discovery)
        XCTAssertEqual(bmc.sent("POST").last?.path, advertised)
        XCTAssertEqual(bmc.sent("POST").last?.json["JobID"] as? String, "JID_CLEARALL")

        bmc.script("POST", advertised, CapturedBMC.error(404, messageID: "Base.1.8.ResourceMissingAtURI", message: "gone"))
        bmc.script("POST", IDRAC.legacyDeleteJobQueue, CapturedBMC.answer(200))
        try await idrac.deleteJob("JID_102241909559", discovery)
        XCTAssertEqual(bmc.sent("POST").last?.path, IDRAC.legacyDeleteJobQueue)
        XCTAssertEqual(bmc.sent("POST").last?.json["JobID"] as? String, "JID_102241909559")
    }

    /// The attribute registry straight from `Bios/BiosRegistry` (one call, not through `Registries`).
    func testBiosRegistryIsReadBesideTheBios() async throws {
        let bios = try await idrac.bios(of: discovery.system)
        let before = bmc.sent("GET").count
        let registry = try await idrac.biosRegistry(bios)
        XCTAssertEqual(bmc.sent("GET").dropFirst(before).map(\.path), ["/redfish/v1/Systems/System.Embedded.1/Bios/BiosRegistry"])
        XCTAssertTrue(registry.registryEntries.attributes.contains { $0.name == "SysProfile" })
    }

    /// Boot targets the iDRAC lists beyond the ones liveboot names (`SDCard`, `UefiHttp`, `Utilities`) are kept.
    func testUnknownBootTargetsAreKept() throws {
        let boot = try XCTUnwrap(discovery.system.boot)
        let targets = try XCTUnwrap(boot.allowableTargets)
        XCTAssertTrue(targets.contains(.cd) && targets.contains(.hdd))
        XCTAssertTrue(targets.contains(BootSource(rawValue: "UefiHttp")))
        XCTAssertEqual(boot.bootSourceOverrideEnabled, .disabled)
        let again = try JSONDecoder().decode(Boot.self, from: JSONEncoder().encode(boot))
        XCTAssertEqual(again.allowableTargets, targets, "an unknown spelling goes back out as it came")
    }

    /// `ExportServerScreenShot` at the target the captured `DellLCService` publishes, with the `FileType` it allows;
    /// the answer's base64 `ServerScreenShotFile` is the PNG.
    func testAScreenshotIsThePublishedActionsPNG() async throws {
        let service = try JSONSerialization.jsonObject(with: Fixtures.dellResource("Managers/iDRAC.Embedded.1/Oem/Dell/DellLCService")) as? [String: Any]
        let action = try XCTUnwrap((service?["Actions"] as? [String: [String: Any]])?["#DellLCService.ExportServerScreenShot"])
        let target = try XCTUnwrap(action["target"] as? String)
        XCTAssertTrue((action["FileType@Redfish.AllowableValues"] as? [String])?.contains("ServerScreenShot") == true)
        let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3])
        bmc.script("POST", target, CapturedBMC.answer(200, json: Data(#"{"ServerScreenShotFile":"\#(png.base64EncodedString())"}"#.utf8)))
        let capture = try await idrac.screenshot(discovery)
        XCTAssertEqual(capture, .png(png))
        let post = try XCTUnwrap(bmc.sent("POST").last)
        XCTAssertEqual(post.path, target)
        XCTAssertEqual(post.json as? [String: String], ["FileType": "ServerScreenShot"])

        bmc.script("POST", target, CapturedBMC.answer(200, json: Data(#"{"ServerScreenShotFile":"bm90IGEgcG5n"}"#.utf8)))
        do {
            _ = try await idrac.screenshot(discovery)
            XCTFail("a file that is not a PNG is not a screenshot")
        } catch let error as RedfishError {
            guard case .invalidResponse = error else { return XCTFail("\(error)") }
        }
    }

    /// LC099 (no video signal: the server is off) is an answer, with the iDRAC's words; LC098 (a capture already
    /// running) is transient; a generic BMC has no screenshot and says so.
    func testNoVideoIsAnAnswerAndABusyCaptureIsTransient() async throws {
        let target = "/redfish/v1/Managers/iDRAC.Embedded.1/Oem/Dell/DellLCService/Actions/DellLCService.ExportServerScreenShot"
        let noVideo = try registryMessage("LC099")
        bmc.script("POST", target, CapturedBMC.error(400, messageID: "IDRAC.2.8.LC099", message: noVideo))
        let capture = try await idrac.screenshot(discovery)
        XCTAssertEqual(capture, .noVideo(noVideo))

        bmc.script("POST", target, CapturedBMC.error(400, messageID: "IDRAC.2.8.LC098", message: try registryMessage("LC098")))
        do {
            _ = try await idrac.screenshot(discovery)
            XCTFail("LC098 is not a screenshot")
        } catch let error as RedfishError {
            XCTAssertEqual(idrac.refusal(error), .busy)
        }

        let generic: any BMC = GenericBMC(client: bmc.client(), vendor: .generic)
        do {
            _ = try await generic.screenshot(discovery)
            XCTFail("standard Redfish has no screenshot")
        } catch let error as RedfishError {
            guard case .notSupported = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("screenshot"))
        }
    }

    /// A BMC without the capability is told so, not sent Dell's paths.
    func testAGenericBMCHasNoJobQueue() {
        let generic: any BMC = GenericBMC(client: bmc.client(), vendor: .generic)
        XCTAssertNil(generic as? any JobQueue)
        XCTAssertNotNil(idrac as (any BMC) as? any JobQueue)
    }
}

/// Progress lines collected from a `@Sendable` callback.
final class NIOLockedSteps: Sendable {
    private let lines = NIOLockedValueBox<[String]>([])
    func append(_ line: String) { lines.withLockedValue { $0.append(line) } }
    var all: [String] { lines.withLockedValue { $0 } }
}
