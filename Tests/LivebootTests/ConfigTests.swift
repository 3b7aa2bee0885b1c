import Foundation
import LivebootCore
import PortalStore
import XCTest

final class ConfigTests: XCTestCase {
    let original = """
    nodes:
      w1: {hostname: sopnode-w1.inria.fr, drac: sopnode-w1-drac.inria.fr, drac-username: root, drac-password: s3cret}
      w2: {hostname: "sopnode-w2.inria.fr:2222", drac: "10.0.0.2:8443", drac-password: s3cret}
      w10: {hostname: sopnode-w10.inria.fr, drac: "http://127.0.0.1:9000/redfish/v1/"}
    status:
      bios: [SysProfile, ProcCStates]
    images:
      proto: http
      ip: 138.96.245.50
      port: 8080
      path: bootable-images
      absolute-path: /var/lib/images
    """

    func testOriginalFormat() throws {
        let config = try LivebootConfig.parse(original, path: "/etc/sopnode/sopnodes.yaml")
        XCTAssertEqual(config.nodes.map(\.name), ["w1", "w2", "w10"])
        XCTAssertEqual(config.nodes[0].bmc, "https://sopnode-w1-drac.inria.fr")
        XCTAssertEqual(config.nodes[1].bmc, "https://10.0.0.2:8443")
        XCTAssertEqual(config.nodes[1].host, "sopnode-w2.inria.fr")
        XCTAssertEqual(config.nodes[1].sshPort, 2222)
        XCTAssertEqual(config.nodes[2].bmc, "http://127.0.0.1:9000")
        XCTAssertEqual(config.nodes[0].sshPort, 22)
        XCTAssertEqual(config.images.baseURL, "http://138.96.245.50:8080/bootable-images")
        XCTAssertEqual(config.statusBios, ["SysProfile", "ProcCStates"])
    }

    /// The portal's section is the portal's: read by PortalStore from the file the core loaded, checked there.
    func testThePortalReadsItsOwnSection() throws {
        let nodes = "nodes: {w1: {drac: w1-drac, drac-password: x}}\n"
        let config = try LivebootConfig.parse(nodes + "portal: {database: db/portal.sqlite, port: 9090, listen: 10.0.0.1, token-days: 7}\n",
                                              path: "/etc/lb/liveboot.yaml")
        let portal = try PortalConfig(config)
        XCTAssertEqual(portal.database, "/etc/lb/db/portal.sqlite", "relative to the config's folder")
        XCTAssertEqual(portal.port, 9090)
        XCTAssertEqual(portal.listen, "10.0.0.1")
        XCTAssertEqual(portal.tokenDays, 7)
        XCTAssertEqual(try PortalConfig(LivebootConfig.parse(nodes, path: "/etc/lb/liveboot.yaml")).port, 8081, "the default")
        XCTAssertThrowsError(try LivebootConfig.parse(nodes + "portal: {port: 70000}\n", path: "/etc/lb/liveboot.yaml")) {
            XCTAssertTrue("\($0)".contains("portal.port"), "\($0)")
        }
    }

    func testNodeSelection() throws {
        let nodes = try LivebootConfig.parse(original, path: "x").nodes
        XCTAssertEqual(try NodeSelection.select(["all"], from: nodes).map(\.name), ["w1", "w2", "w10"])
        XCTAssertEqual(try NodeSelection.select(["w1-2"], from: nodes).map(\.name), ["w1", "w2"])
        XCTAssertEqual(try NodeSelection.select(["w10,w1", "w1"], from: nodes).map(\.name), ["w10", "w1"])
        XCTAssertThrowsError(try NodeSelection.select(["w3"], from: nodes)) { error in
            XCTAssertEqual(error as? LivebootError, .unknownNode("w3", known: ["w1", "w2", "w10"]))
            XCTAssertTrue("\(error)".contains("known nodes: w1, w2, w10"))
        }
        XCTAssertThrowsError(try NodeSelection.select(["w1-3"], from: nodes))  // w3 does not exist
    }

    func testPasswordsFromSecretsFileAndEnvironment() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let secrets = dir.appendingPathComponent("secrets.yaml")
        try "drac-password: fromfile\nnodes: {w2: {drac-password: w2file}}\n".write(to: secrets, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: secrets.path)
        let yaml = "secrets-file: secrets.yaml\nnodes:\n  w1: {drac: a}\n  w2: {drac: b}\n  w3: {drac: c}\n"
        XCTAssertThrowsError(try LivebootConfig.parse(yaml, path: dir.appendingPathComponent("c.yaml").path)) {
            XCTAssertTrue("\($0)".contains("chmod 600"), "\($0)")
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: secrets.path)
        let config = try LivebootConfig.parse(yaml, path: dir.appendingPathComponent("c.yaml").path,
                                              environment: ["LIVEBOOT_DRAC_PASSWORD_W3": "w3env"])
        let endpoints = try config.nodes.map { try $0.endpoint(timeouts: .init(), retry: .init()) }
        XCTAssertEqual(endpoints.map(\.password), ["fromfile", "w2file", "w3env"])
        // Secrets stay out of descriptions.
        XCTAssertFalse("\(config.nodes) \(endpoints)".contains("fromfile"))
    }

    func testMissingPasswordIsAClearError() throws {
        let config = try LivebootConfig.parse("nodes: {w1: {drac: a}}", path: "x")
        XCTAssertThrowsError(try config.nodes[0].endpoint(timeouts: .init(), retry: .init())) {
            XCTAssertEqual($0 as? LivebootError, .noCredentials(node: "w1"))
        }
    }

    func testInvalidYAMLSaysWhere() {
        XCTAssertThrowsError(try LivebootConfig.parse("nodes: {w1: {drac: [1, 2]}}", path: "/x.yaml")) {
            XCTAssertTrue("\($0)".contains("/x.yaml"), "\($0)")
        }
    }

    func testKeysFileInBothShapes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMXl/wzGybfXj2lMrWlB6k89taQ4ufIbSzJGzgqzivmX admin@gatekeeper"
        try "authorized_keys:\n  - \(key)\n".write(to: dir.appendingPathComponent("k.yaml"), atomically: true, encoding: .utf8)
        try "# comment\n\(key)\n".write(to: dir.appendingPathComponent("authorized_keys"), atomically: true, encoding: .utf8)
        try "\(key)\nssh-ed25519 broken\n".write(to: dir.appendingPathComponent("bad"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try LivebootConfig.loadKeys(dir.appendingPathComponent("k.yaml").path).count, 1)
        XCTAssertEqual(try LivebootConfig.loadKeys(dir.appendingPathComponent("authorized_keys").path).count, 1)
        XCTAssertThrowsError(try LivebootConfig.loadKeys(dir.appendingPathComponent("bad").path)) {
            XCTAssertTrue("\($0)".contains("line 2"), "\($0)")
        }
    }

    func testImageResolutionStaysInsideTheFolder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("img-\(UUID())")
        let images = dir.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("iso".utf8).write(to: images.appendingPathComponent("ubuntu-22.04.iso"))
        try Data("secret".utf8).write(to: dir.appendingPathComponent("outside.iso"))
        try FileManager.default.createSymbolicLink(atPath: images.appendingPathComponent("u22").path, withDestinationPath: "ubuntu-22.04.iso")
        try FileManager.default.createSymbolicLink(atPath: images.appendingPathComponent("evil.iso").path,
                                                   withDestinationPath: dir.appendingPathComponent("outside.iso").path)
        let catalog = ImageCatalog(config: ImagesConfig(proto: "http", ip: "10.1.1.1", port: 80, path: "images", folder: images.path))
        XCTAssertEqual(try catalog.resolve("u22").url, "http://10.1.1.1:80/images/ubuntu-22.04.iso")
        XCTAssertEqual(try catalog.resolve("ubuntu-22.04").name, "ubuntu-22.04.iso")
        XCTAssertEqual(try catalog.resolve(images.appendingPathComponent("ubuntu-22.04.iso").path).name, "ubuntu-22.04.iso")
        XCTAssertThrowsError(try catalog.resolve("evil.iso")) { XCTAssertTrue("\($0)".contains("not inside"), "\($0)") }
        XCTAssertThrowsError(try catalog.resolve(dir.appendingPathComponent("outside.iso").path))
        XCTAssertThrowsError(try catalog.resolve("../outside.iso"))
        XCTAssertThrowsError(try catalog.resolve("u99")) { XCTAssertTrue("\($0)".contains("available: ubuntu-22.04.iso, u22"), "\($0)") }
        let listing = try catalog.list()
        XCTAssertEqual(listing.map(\.name), ["ubuntu-22.04.iso"])
        XCTAssertEqual(listing.first?.shortNames, ["u22"])
    }
}
