import AsyncHTTPClient
import Foundation
import XCTest

/// OpenStack's sushy-tools Redfish emulator with its fake driver, started for a test on a free loopback port.
/// Found at $SUSHY_EMULATOR, then `.build-venv/bin/sushy-emulator` (what deploy/test.sh installs), then on PATH.
final class SushyEmulator: @unchecked Sendable {
    let process = Process()
    let port: Int
    let stateDirectory: URL
    var baseURL: String { "http://127.0.0.1:\(port)" }

    static func binary() throws -> String {
        let env = ProcessInfo.processInfo.environment
        var candidates = [env["SUSHY_EMULATOR"], Fixtures.packageRoot.appendingPathComponent(".build-venv/bin/sushy-emulator").path,
                          "/opt/sushy-venv/bin/sushy-emulator"].compactMap { $0 }
        candidates += (env["PATH"] ?? "").split(separator: ":").map { "\($0)/sushy-emulator" }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("sushy-emulator not installed (deploy/test.sh installs sushy-tools into .build-venv)")
        }
        return found
    }

    init() async throws {
        let binary = try Self.binary()
        port = try Self.freePort()
        stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("sushy-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
        let config = stateDirectory.appendingPathComponent("emulator.conf")
        // One fake system, On; state kept in this test's folder only.
        try """
        SUSHY_EMULATOR_STATE_DIR = '\(stateDirectory.path)'
        SUSHY_EMULATOR_FAKE_SYSTEMS = [{'uuid': '27946b59-9e44-4fa7-8e91-f3527a1ef094', 'name': 'vm1',
                                        'power_state': 'On', 'nics': [{'mac': '00:5c:52:31:3a:9c', 'ip': '192.0.2.10'}]}]
        """.write(to: config, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--config", config.path, "--fake", "-i", "127.0.0.1", "-p", String(port)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: {
            let log = stateDirectory.appendingPathComponent("emulator.log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            return log
        }())
        try process.run()
        for _ in 0..<150 {
            if (try? await json("/redfish/v1")) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        await stop()
        XCTFail("sushy-emulator did not start; see \(stateDirectory.path)/emulator.log")
        throw CocoaError(.fileReadUnknown)
    }

    /// Polls instead of `waitUntilExit()`, which spins the calling thread's run loop on Linux and stalls async tests.
    func stop() async {
        if process.isRunning { process.terminate() }
        for _ in 0..<50 where process.isRunning { try? await Task.sleep(for: .milliseconds(100)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: stateDirectory)
    }

    /// A resource of the emulator, as JSON, to assert its state.
    func json(_ path: String) async throws -> [String: Any] {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: baseURL + path), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok, let object = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        return object
    }

    static let system = "/redfish/v1/Systems/27946b59-9e44-4fa7-8e91-f3527a1ef094"

    func power() async throws -> String? { try await json(Self.system)["PowerState"] as? String }
    func boot() async throws -> [String: Any] { try await json(Self.system)["Boot"] as? [String: Any] ?? [:] }

    /// Images in the emulator's slots, by slot id.
    func slots() async throws -> [String: String] {
        let collection = try await json(Self.system + "/VirtualMedia")
        var result: [String: String] = [:]
        for member in collection["Members"] as? [[String: Any]] ?? [] {
            guard let link = member["@odata.id"] as? String else { continue }
            let slot = try await json(link)
            result[slot["Id"] as? String ?? link] = (slot["Image"] as? String) ?? ""
        }
        return result
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
