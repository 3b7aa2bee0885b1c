import DellIDRAC
import Foundation
import LivebootCore
import Redfish
import XCTest

/// The typed models against real captures (Dell iDRAC 9 6.00.30.00, sushy's Dell samples, generic BMCs).
final class FixtureDecodingTests: XCTestCase {
    let decoder = JSONDecoder()

    func testDellServiceRootAdvertisesExpandAndVendor() throws {
        let root = try decoder.decode(ServiceRoot.self, from: Fixtures.dellResource(""))
        XCTAssertEqual(root.vendor, "Dell")
        XCTAssertEqual(root.systems?.id, "/redfish/v1/Systems")
        XCTAssertEqual(root.links?.sessions?.id, "/redfish/v1/SessionService/Sessions")
        XCTAssertTrue(root.supportsExpand)
        XCTAssertEqual(root.oemVendors, ["Dell"])
    }

    func testDellSystemKeepsResetTargetAndAllowableValues() throws {
        let system = try decoder.decode(ComputerSystem.self, from: Fixtures.dellResource("Systems/System.Embedded.1"))
        XCTAssertEqual(system.powerState, .on)
        XCTAssertEqual(system.model, "PowerEdge R750")
        let reset = try XCTUnwrap(system.resetAction)
        XCTAssertEqual(reset.target, "/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset")
        XCTAssertEqual(reset.allowableValues["ResetType"]?.contains("ForceRestart"), true)
        XCTAssertEqual(reset.allowableValues["ResetType"]?.contains("Bogus"), false)
        XCTAssertEqual(system.virtualMedia?.id, "/redfish/v1/Systems/System.Embedded.1/VirtualMedia")
        XCTAssertEqual(system.bios?.id, "/redfish/v1/Systems/System.Embedded.1/Bios")
        XCTAssertEqual(system.links?.managedBy?.first?.id, "/redfish/v1/Managers/iDRAC.Embedded.1")
        XCTAssertEqual(system.boot?.allowableTargets?.contains(.cd), true)
        XCTAssertEqual(system.boot?.bootSourceOverrideEnabled, .disabled)
    }

    func testDellVirtualMediaUnderSystemAndManager() throws {
        let slot = try decoder.decode(VirtualMedia.self, from: Fixtures.dellResource("Systems/System.Embedded.1/VirtualMedia/1"))
        XCTAssertEqual(slot.id, "1")
        XCTAssertFalse(slot.isInserted)
        XCTAssertTrue(slot.canHoldCD)
        XCTAssertEqual(slot.insertAction?.target,
                       "/redfish/v1/Systems/System.Embedded.1/VirtualMedia/1/Actions/VirtualMedia.InsertMedia")
        let cd = try decoder.decode(VirtualMedia.self, from: Fixtures.dellResource("Managers/iDRAC.Embedded.1/VirtualMedia/CD"))
        XCTAssertEqual(cd.mediaTypes, [.cd, .dvd])
        XCTAssertEqual(cd.ejectAction?.target, "/redfish/v1/Managers/iDRAC.Embedded.1/VirtualMedia/CD/Actions/VirtualMedia.EjectMedia")
        let removable = try decoder.decode(VirtualMedia.self,
                                           from: Fixtures.dellResource("Managers/iDRAC.Embedded.1/VirtualMedia/RemovableDisk"))
        XCTAssertEqual(removable.mediaTypes, [.usbStick])
        XCTAssertFalse(removable.canHoldCD)
    }

    func testDellBiosAndRegistry() throws {
        let bios = try decoder.decode(Bios.self, from: Fixtures.dellResource("Systems/System.Embedded.1/Bios"))
        XCTAssertGreaterThan(bios.attributes.count, 100)
        XCTAssertEqual(bios.attributes["BootMode"], .string("Uefi"))
        XCTAssertEqual(bios.settings?.settingsObject?.id, "/redfish/v1/Systems/System.Embedded.1/Bios/Settings")
        XCTAssertEqual(bios.resetBiosAction?.target, "/redfish/v1/Systems/System.Embedded.1/Bios/Actions/Bios.ResetBios")

        let registry = try decoder.decode(AttributeRegistry.self,
                                          from: Fixtures.dellResource("Systems/System.Embedded.1/Bios/BiosRegistry"))
        XCTAssertEqual(registry.registryEntries.attributes.count, 682)
        let profile = try XCTUnwrap(registry.registryEntries.attributes.first { $0.name == "SysProfile" })
        XCTAssertEqual(profile.type, "Enumeration")
        XCTAssertTrue(profile.values.contains("PerfOptimized"))
    }

    func testBiosValidatorOnTheRealRegistry() throws {
        let registry = try decoder.decode(AttributeRegistry.self,
                                          from: Fixtures.dellResource("Systems/System.Embedded.1/Bios/BiosRegistry"))
        let validator = BiosValidator(registry: registry)
        let values = try validator.validate([("sysprofile", "perfoptimized"), ("CpuMinSevAsid", "4")])
        XCTAssertEqual(values.map(\.0), ["SysProfile", "CpuMinSevAsid"])
        XCTAssertEqual(values[0].1, .string("PerfOptimized"))
        XCTAssertEqual(values[1].1, .integer(4))
        XCTAssertThrowsError(try validator.validate([("ProcCStates", "Disabled")])) {
            XCTAssertTrue("\($0)".contains("read-only"), "\($0)")
        }
        XCTAssertThrowsError(try validator.validate([("CpuMinSevAsid", "511")])) {
            XCTAssertTrue("\($0)".contains("maximum 510"), "\($0)")
        }
        XCTAssertThrowsError(try validator.validate([("SysProfile", "Turbo")])) {
            XCTAssertTrue("\($0)".contains("PerfPerWattOptimizedDapc"), "\($0)")
        }
        XCTAssertThrowsError(try validator.validate([("NoSuchThing", "1")])) {
            XCTAssertTrue("\($0)".contains("unknown BIOS attribute"), "\($0)")
        }
    }

    func testDellManagerOemActionsAndJobs() throws {
        let manager = try decoder.decode(Manager.self, from: Fixtures.dellResource("Managers/iDRAC.Embedded.1"))
        XCTAssertEqual(manager.firmwareVersion, "6.00.30.00")
        XCTAssertEqual(manager.actions?.named("ImportSystemConfiguration")?.target,
                       "/redfish/v1/Managers/iDRAC.Embedded.1/Actions/Oem/EID_674_Manager.ImportSystemConfiguration")
        XCTAssertEqual(manager.actions?.named("ImportSystemConfiguration")?.allowableValues["ShutdownType"]?.contains("NoReboot"), true)
        let dell = try decoder.decode(DellManager.self, from: Fixtures.dellResource("Managers/iDRAC.Embedded.1"))
        XCTAssertEqual(dell.jobs?.id, "/redfish/v1/Managers/iDRAC.Embedded.1/Oem/Dell/Jobs")
        XCTAssertEqual(dell.jobService?.id, "/redfish/v1/Managers/iDRAC.Embedded.1/Oem/Dell/DellJobService")

        let job = try decoder.decode(DellJob.self, from: Fixtures.dellResource("Managers/iDRAC.Embedded.1/Oem/Dell/Jobs/JID_102241909559"))
        XCTAssertEqual(job.jobState, .completed)
        XCTAssertTrue(job.jobState.isFinished)
        XCTAssertEqual(job.jobType, "BIOSConfiguration")
        let collection = try decoder.decode(ResourceCollection.self, from: Fixtures.dellResource("Managers/iDRAC.Embedded.1/Oem/Dell/Jobs"))
        XCTAssertEqual(collection.members.count, 1)
    }

    func testSushyDellTaskErrorAndExpandedJobs() throws {
        let task = try decoder.decode(RedfishTask.self, from: Fixtures.data(Fixtures.sushyDell, "task.json"))
        XCTAssertEqual(task.id, "JID_257309938313")
        XCTAssertFalse(task.isFinished)
        XCTAssertEqual(task.taskState, TaskState(rawValue: "Starting"), "a state the code does not name is kept")
        XCTAssertEqual(task.messages?.first?.messageId, "IDRAC.2.5.JCP001")

        let error = try decoder.decode(RedfishErrorBody.self, from: Fixtures.data(Fixtures.sushyDell, "error_pending_job.json"))
        XCTAssertEqual(error.messages.first?.messageId, "IDRAC.2.8.LC068")
        XCTAssertTrue(error.messages.first?.message?.contains("pending attribute changes") == true)

        let jobs = try decoder.decode(ExpandedCollection<DellJob>.self, from: Fixtures.data(Fixtures.sushyDell, "job_collection_expanded.json"))
        XCTAssertEqual(jobs.members.first?.jobState, .running)
        XCTAssertFalse(jobs.members.first?.jobState.isFinished ?? true)
    }

    /// Every ServiceRoot, ComputerSystem, Manager, VirtualMedia and Bios in every capture decodes.
    func testEveryCapturedResourceDecodes() throws {
        let root = try Fixtures.folder("")
        var counts: [String: Int] = [:]
        for file in Fixtures.allJSON(under: root) {
            guard let data = FileManager.default.contents(atPath: file.path),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let type = object["@odata.type"] as? String else { continue }
            let kinds: [(String, (Data) throws -> Void)] = [
                ("#ServiceRoot.", { _ = try self.decoder.decode(ServiceRoot.self, from: $0) }),
                ("#ComputerSystem.", { _ = try self.decoder.decode(ComputerSystem.self, from: $0) }),
                ("#Manager.", { _ = try self.decoder.decode(Manager.self, from: $0) }),
                ("#VirtualMedia.", { _ = try self.decoder.decode(VirtualMedia.self, from: $0) }),
                ("#Bios.", { _ = try self.decoder.decode(Bios.self, from: $0) }),
                ("#Task.", { _ = try self.decoder.decode(RedfishTask.self, from: $0) }),
            ]
            for (prefix, decode) in kinds where type.hasPrefix(prefix) {
                XCTAssertNoThrow(try decode(data), file.path)
                counts[prefix, default: 0] += 1
            }
        }
        XCTAssertGreaterThanOrEqual(counts["#ServiceRoot.", default: 0], 10, "\(counts)")
        XCTAssertGreaterThanOrEqual(counts["#ComputerSystem.", default: 0], 5, "\(counts)")
        XCTAssertGreaterThanOrEqual(counts["#VirtualMedia.", default: 0], 5, "\(counts)")
        XCTAssertGreaterThanOrEqual(counts["#Bios.", default: 0], 5, "\(counts)")
    }
}
