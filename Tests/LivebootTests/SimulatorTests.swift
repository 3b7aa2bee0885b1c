import DellIDRAC
import Foundation
import IDRACSimulator
import Redfish
import XCTest

/// The Redfish and Dell layers in-process against the simulator: protocol details the CLI tests do not show.
final class SimulatorTests: XCTestCase {
    var simulator: IDRACSimulator!
    var client: RedfishClient!
    var idrac: IDRAC { IDRAC(client: client) }

    override func setUp() async throws {
        simulator = IDRACSimulator()
        let info = try await simulator.addNode(name: "w1", behaviour: .fast)
        client = try RedfishClient(endpoint: BMCEndpoint(baseURL: "http://127.0.0.1:\(info.redfishPort)", username: "root",
                                                         password: Testbed.password))
    }

    override func tearDown() async throws {
        await client.logout()
        await simulator.shutdown()
    }

    func nodeState() async throws -> SimulatorState {
        let node = await simulator.node("w1")
        return await try XCTUnwrap(node).state()
    }

    func testDellIsDetectedFromTheServiceRoot() async throws {
        let discovery = try await BMCConnector.discover(client)
        XCTAssertEqual(discovery.vendor, .dell)
    }

    func testRequestsWithoutSessionAreRefused() async throws {
        do {
            _ = try await client.get(ComputerSystem.self, at: "/redfish/v1/Systems/System.Embedded.1")
            XCTFail("an unauthenticated request was answered")
        } catch let error as RedfishError {
            XCTAssertEqual(error.status, 401)
        }
    }

    func testSessionIsCreatedAndDeleted() async throws {
        let discovery = try await BMCConnector.discover(client)
        XCTAssertEqual(discovery.system.id, "System.Embedded.1")
        var state = try await nodeState()
        XCTAssertEqual(state.sessions, 1)
        await client.logout()
        state = try await nodeState()
        XCTAssertEqual(state.sessions, 0)
    }

    func testExpandedCollectionMatchesMemberByMember() async throws {
        _ = try await BMCConnector.discover(client)
        let expanded = try await client.members(VirtualMedia.self, of: "/redfish/v1/Systems/System.Embedded.1/VirtualMedia", expand: true)
        let oneByOne = try await client.members(VirtualMedia.self, of: "/redfish/v1/Systems/System.Embedded.1/VirtualMedia", expand: false)
        XCTAssertEqual(expanded.map(\.odataID), oneByOne.map(\.odataID))
        // As firmware 7.x lists them: 2 first (the BMC layer sorts by Id; the collection itself does not).
        XCTAssertEqual(expanded.map(\.id), ["2", "1"])
    }

    /// Like an iDRAC, InsertMedia reads the URL first, and refuses one it cannot read.
    func testInsertMediaOfAnUnreachableURLFailsWithRAC0904() async throws {
        let discovery = try await BMCConnector.discover(client)
        let slot = try await idrac.virtualMediaSlots(discovery)[0]
        do {
            try await idrac.insert("http://127.0.0.1:1/nothing.iso", into: slot)
            XCTFail("insert of an unreachable URL succeeded")
        } catch let error as RedfishError {
            XCTAssertEqual(error.messageIDs, ["IDRAC.2.8.RAC0904"])
            XCTAssertTrue("\(error)".contains("Unable to connect to the virtual media image"), "\(error)")
        }
        let after = try await idrac.refresh(slot)
        XCTAssertFalse(after.isInserted)
    }

    func testResetRefusesValuesTheBMCDoesNotAllowWithoutSendingThem() async throws {
        let discovery = try await BMCConnector.discover(client)
        let before = try await nodeState().requests
        do {
            try await idrac.reset(discovery.system, type: ResetType(rawValue: "Explode"))
            XCTFail("a reset type outside @Redfish.AllowableValues was sent")
        } catch let error as RedfishError {
            guard case .notAllowed(_, _, let allowed) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(allowed.contains("ForceRestart"))
        }
        let after = try await nodeState().requests
        XCTAssertEqual(before, after)
    }

    func testBootPatchIsReadBack() async throws {
        let discovery = try await BMCConnector.discover(client)
        let override = try await idrac.setBootOnce(.cd, on: discovery.system)
        XCTAssertEqual(override.how, "standard Boot override")
        XCTAssertEqual(override.readBack?.boot?.bootSourceOverrideTarget, .cd)
        let system = try await idrac.refresh(discovery.system)
        XCTAssertEqual(system.boot?.bootSourceOverrideTarget, .cd)
        XCTAssertEqual(system.boot?.bootSourceOverrideEnabled, .once)
    }

    func testConnectionRefusedFailsFastWithBoundedRetries() async throws {
        let dead = try RedfishClient(endpoint: BMCEndpoint(
            baseURL: "http://127.0.0.1:1", username: "root", password: "x",
            retry: RetryPolicy(attempts: 3, initialBackoff: .milliseconds(10))))
        do {
            _ = try await dead.get(ServiceRoot.self, at: "/redfish/v1")
            XCTFail("a closed port answered")
        } catch let error as RedfishError {
            guard case .unreachable(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(reason, "connection refused")
        }
        let attempts = await dead.requestCount
        XCTAssertEqual(attempts, 3)
    }
}
