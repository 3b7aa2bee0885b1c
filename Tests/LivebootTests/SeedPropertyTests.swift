import Foundation
import Seed
import XCTest
import Yams

/// Random keys, comments and fragments: the user-data always parses to exactly the intended structure.
final class SeedPropertyTests: XCTestCase {
    /// A seeded generator, so a failure can be replayed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let yamlHostile = Array(":#{}[]&*!|>'\"%@`,?-= \t\\/~^$.()<;+éß漢🙂") + Array("abcXYZ019")

    func randomComment(_ rng: inout SplitMix) -> String {
        String((0..<Int.random(in: 0...40, using: &rng)).map { _ in Self.yamlHostile.randomElement(using: &rng)! })
    }

    func randomEd25519(_ rng: inout SplitMix) -> String {
        func field(_ bytes: [UInt8]) -> [UInt8] { [0, 0, 0, UInt8(bytes.count)] + bytes }
        let key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return "ssh-ed25519 " + Data(field(Array("ssh-ed25519".utf8)) + field(key)).base64EncodedString()
    }

    func testRandomCommentsNeverChangeTheStructure() throws {
        var rng = SplitMix(state: 20261129)
        for round in 0..<300 {
            let lines = (0..<Int.random(in: 1...4, using: &rng)).map { _ in randomEd25519(&rng) + " " + randomComment(&rng) }
            let keys = try lines.map { try SSHPublicKey(line: $0) }
            let bootID = "b\(round)"
            let seed = try SeedBuilder.build(SeedRequest(hostname: "w\(round % 40)-live", keys: keys, bootID: bootID))
            let parsed = try XCTUnwrap(try Yams.load(yaml: seed.userData) as? [String: Any], seed.userData)
            XCTAssertEqual(Set(parsed.keys), ["disable_root", "ssh_pwauth", "hostname", "users", "ssh_authorized_keys", "runcmd"],
                           seed.userData)
            var seen = Set<Data>()
            let expected = keys.filter { seen.insert($0.blob).inserted }.map(\.line)
            XCTAssertEqual(parsed["ssh_authorized_keys"] as? [String], expected, seed.userData)
            let users = try XCTUnwrap(parsed["users"] as? [[String: Any]])
            XCTAssertEqual(users.count, 1)
            XCTAssertEqual(users[0]["name"] as? String, "root")
            XCTAssertEqual(users[0]["ssh_authorized_keys"] as? [String], expected)
            XCTAssertEqual(parsed["ssh_pwauth"] as? Bool, false)
            // Same input, same bytes; the instance-id follows the boot id.
            XCTAssertEqual(try SeedBuilder.build(SeedRequest(hostname: "w\(round % 40)-live", keys: keys, bootID: bootID)).image,
                           seed.image)
            let meta = try XCTUnwrap(try Yams.load(yaml: seed.metaData) as? [String: String])
            XCTAssertEqual(meta["instance-id"], "liveboot-\(bootID)")
        }
    }

    func testHostnamesAreValidatedNotEscaped() {
        for bad in ["", "-w3", "w3 live", "w3\nautoinstall: {}", "w3:live", String(repeating: "a", count: 300)] {
            XCTAssertThrowsError(try SeedBuilder.build(SeedRequest(hostname: bad, keys: [key], bootID: "b")), bad)
        }
    }

    var key: SSHPublicKey {
        try! SSHPublicKey(line: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMXl/wzGybfXj2lMrWlB6k89taQ4ufIbSzJGzgqzivmX admin@gatekeeper")
    }

    func testFragmentIsMergedAsData() throws {
        let fragment = try UserDataFragment(yaml: """
            timezone: Europe/Paris
            packages: [iperf3]
            runcmd: [[touch, /run/extra]]
            """, source: "test")
        let seed = try SeedBuilder.build(SeedRequest(hostname: "w3-live", keys: [key], bootID: "b", packages: ["htop"],
                                                     fragment: fragment))
        let parsed = try XCTUnwrap(try Yams.load(yaml: seed.userData) as? [String: Any])
        XCTAssertEqual(parsed["timezone"] as? String, "Europe/Paris")
        XCTAssertEqual(parsed["packages"] as? [String], ["htop", "iperf3"])
        XCTAssertEqual((parsed["runcmd"] as? [[String]])?.map { $0.joined(separator: " ") }, ["usermod -p * root", "touch /run/extra"])
        XCTAssertEqual(parsed["ssh_pwauth"] as? Bool, false)
    }

    func testShippedTemplateFragmentIsAccepted() throws {
        let path = Fixtures.packageRoot.appendingPathComponent("Templates/cloud-init/user-data.yaml").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertNoThrow(try UserDataFragment(yaml: text, source: path))
    }

    func testFragmentsThatWouldTouchTheDiskOrLoginsAreRefused() {
        let refused: [(String, String)] = [
            ("autoinstall: {version: 1}", "autoinstall"),
            ("write_files: [{path: /x, content: {autoinstall: 1}}]", "autoinstall"),
            ("AutoInstall: {}", "autoinstall"),
            ("ssh_pwauth: true", "ssh_pwauth"),
            ("users: [{name: eve}]", "users"),
            ("chpasswd: {expire: false}", "chpasswd"),
            ("- just a list", "mapping"),
            ("key: [unclosed", "not valid YAML"),
        ]
        for (yaml, word) in refused {
            XCTAssertThrowsError(try UserDataFragment(yaml: yaml, source: "frag.yaml"), yaml) {
                XCTAssertTrue("\($0)".contains(word), "\(yaml): \($0)")
            }
        }
    }
}
