import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Redfish
import ServiceLifecycle
import XCTest

/// Discovery over real HTTP against captured generic BMC trees (HPE iLO 5 and 7, Gigabyte, Intel, OpenBMC, DMTF's
/// public-rackmount1), each served read-only as it was captured: the standard adapter must find power, boot,
/// virtual media and BIOS by following links only.
final class GenericFixtureTests: XCTestCase {
    /// Serves `<folder>/redfish/v1/…/index.json` for `GET /redfish/v1/…`; refuses sessions so Basic is used.
    func serve(_ folder: URL) async throws -> (port: Int, stop: @Sendable () async -> Void) {
        let router = Router()
        router.get("**") { request, _ -> Response in
            var path = request.uri.path
            while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
            // iLO treats URIs case-insensitively (its links say /redfish/v1/systems/1/bios/): so does this server.
            var directory = folder
            for segment in path.split(separator: "/") {
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
                guard let match = entries.first(where: { $0.lowercased() == segment.lowercased() }) else {
                    return Response(status: .notFound)
                }
                directory = directory.appendingPathComponent(match)
            }
            guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent("index.json").path) else {
                return Response(status: .notFound)
            }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.post("**") { _, _ in Response(status: .methodNotAllowed) }
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? 0); continuation.finish() },
                              logger: Logger(label: "fixtures"))
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "fixtures")))
        let task = Task { try await group.run() }
        var port = 0
        for await bound in stream { port = bound }
        return (port, { await group.triggerGracefulShutdown(); _ = try? await task.value })
    }

    struct Found {
        var vendor: Vendor
        var power: PowerState?
        var reset: Bool
        var bootTargets: [String]
        var slots: [String]
        var biosAttributes: Int?
    }

    func discover(_ name: String) async throws -> Found {
        let folder = try Fixtures.folder(name)
        let (port, stop) = try await serve(folder)
        let client = try RedfishClient(endpoint: BMCEndpoint(baseURL: "http://127.0.0.1:\(port)", username: "u", password: "p",
                                                             retry: RetryPolicy(attempts: 1)))
        do {
            let discovery = try await BMCConnector.discover(client)
            let bmc = GenericBMC(client: client, vendor: discovery.vendor)
            let slots = (try? await bmc.virtualMediaSlots(discovery)) ?? []
            let bios = try? await bmc.bios(of: discovery.system)
            let found = Found(vendor: discovery.vendor, power: discovery.system.powerState,
                              reset: discovery.system.resetAction != nil,
                              bootTargets: (discovery.system.boot?.allowableTargets ?? []).map(\.rawValue),
                              slots: slots.map(\.id), biosAttributes: bios?.attributes.count)
                await stop()
            return found
        } catch {
                await stop()
            throw error
        }
    }

    func testHPEiLO5AndiLO7() async throws {
        for name in ["generic-hpe-ilo5-dl360-gen10_hpe-ilo-redfish-emulator", "generic-hpe-ilo7-dl380a-gen12_hpe-ilo-redfish-emulator"] {
            let found = try await discover(name)
            XCTAssertEqual(found.vendor, .hpe, name)
            XCTAssertNotNil(found.power, name)
            XCTAssertTrue(found.reset, name)
            XCTAssertFalse(found.slots.isEmpty, "\(name): \(found)")
            XCTAssertGreaterThan(found.biosAttributes ?? 0, 100, "\(name): \(found)")
        }
    }

    func testPublicRackmount1() async throws {
        let found = try await discover("generic-public-rackmount1_cray-csm-redfish-interface-emulator")
        XCTAssertNotNil(found.power)
        XCTAssertTrue(found.reset)
        XCTAssertTrue(found.bootTargets.contains("Cd"), "\(found)")
        XCTAssertFalse(found.slots.isEmpty, "\(found)")
        XCTAssertNotNil(found.biosAttributes, "\(found)")
    }

    func testGigabyteHasOneVirtualCD() async throws {
        let found = try await discover("generic-gigabyte_cray-csm-redfish-interface-emulator")
        XCTAssertEqual(found.slots, ["CD1"])
        XCTAssertGreaterThan(found.biosAttributes ?? 0, 100)
    }

    func testIntelGigabyteOpenBMC() async throws {
        for name in ["generic-intel_cray-csm-redfish-interface-emulator", "generic-gigabyte_cray-csm-redfish-interface-emulator",
                     "generic-openbmc-stock_cray-csm-redfish-interface-emulator"] {
            let found = try await discover(name)
            XCTAssertNotNil(found.power, "\(name): \(found)")
            XCTAssertTrue(found.reset, name)
            XCTAssertTrue(found.bootTargets.contains("Cd"), name)
            XCTAssertNotNil(found.biosAttributes, name)
        }
    }
}
