import Foundation
import XCTest

/// `../shared/fixtures/redfish`, read in place. Tests that need it skip, saying why, when it is absent.
enum Fixtures {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let redfish = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures/redfish")

    static func folder(_ name: String) throws -> URL {
        let url = redfish.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("fixtures absent: \(url.path) (they live in ../shared beside the repository)")
        }
        return url
    }

    static func data(_ folder: String, _ path: String) throws -> Data {
        let url = try self.folder(folder).appendingPathComponent(path)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw XCTSkip("fixture absent: \(url.path)")
        }
        return data
    }

    static let dell = "dell-r750-idrac9-6.00.30.00_nvidia-ncx"
    static let sushyDell = "dell-idrac9-3.x_openstack-sushy"

    static func dellResource(_ path: String) throws -> Data {
        try data(dell, "redfish/v1" + (path.isEmpty ? "" : "/" + path) + "/index.json")
    }

    /// Every JSON file under a fixture folder.
    static func allJSON(under folder: URL) -> [URL] {
        let enumerator = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil)
        return (enumerator?.allObjects as? [URL] ?? []).filter { $0.pathExtension == "json" }.sorted { $0.path < $1.path }
    }
}
