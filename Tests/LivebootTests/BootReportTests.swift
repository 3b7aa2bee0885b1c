import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LivebootCore
import LivebootServer
import Logging
import PortalStore
import Seed
import XCTest

/// `POST /boot-reports/<instance-id>` through the portal's one seam: only a boot started here, only once, only a
/// well-formed report — anything else a 4xx that stores nothing.
final class BootReportTests: XCTestCase {
    static let ed25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMXl/wzGybfXj2lMrWlB6k89taQ4ufIbSzJGzgqzivmX root@w1-live"
    static let boot = "liveboot-w1-20261203T101010-0123456789abcdef"

    static func form(_ fields: [(String, String)]) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
    }

    /// What cloud-init 23.x posts for `post: all` on an OS with an ed25519 key only.
    static func cloudInitForm(instance: String = boot) -> String {
        form([("pub_key_rsa", "N/A"), ("pub_key_ecdsa", "N/A"), ("pub_key_ed25519", ed25519 + "\n"),
              ("instance_id", instance), ("hostname", "w1-live"), ("fqdn", "w1-live")])
    }

    static func withPortal(_ body: @escaping @Sendable (PortalDatabase, any TestClientProtocol) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("reports-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("images"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try LivebootConfig.parse("""
            nodes:
              w1: {hostname: "127.0.0.1:1", drac: "http://127.0.0.1:1", drac-password: x}
            images: {proto: http, ip: 127.0.0.1, port: 0, path: images, absolute-path: \(folder.path)/images}
            """, path: folder.appendingPathComponent("liveboot.yaml").path)
        let database = try PortalDatabase(path: nil, bcryptCost: 4)
        let app = try await LivebootServer.buildApplication(config: config, options: Testbed.serveOptions(), logger: Logger(label: "test"),
                                                            repositories: database)
        try await app.test(.router) { client in try await body(database, client) }
    }

    static func post(_ client: any TestClientProtocol, _ id: String, _ body: String,
              contentType: String = "application/x-www-form-urlencoded") async throws -> (Int, String) {
        let answer = try await client.execute(uri: "/boot-reports/\(id)", method: .post,
                                              headers: [.contentType: contentType], body: ByteBuffer(string: body))
        return (Int(answer.status.code), String(buffer: answer.body))
    }

    func testOnlyABootStartedHereReportsAndOnlyOnce() async throws {
        try await Self.withPortal { database, client in
            let (unknown, said) = try await Self.post(client, Self.boot, Self.cloudInitForm())
            XCTAssertEqual(unknown, 404, said)
            let none = try await database.report(for: Self.boot)
            XCTAssertNil(none)

            try await database.register(BootTicket(id: Self.boot, node: "w1", startedAt: Date()))
            let (recorded, text) = try await Self.post(client, Self.boot, Self.cloudInitForm())
            XCTAssertEqual(recorded, 200, text)
            let report = try await database.report(for: Self.boot)
            let key = try SSHPublicKey(line: Self.ed25519)
            XCTAssertEqual(report?.hostKeys, [HostKey(key)], "N/A fields are no keys; the comment is dropped")
            XCTAssertEqual(report?.hostKeys.first?.fingerprint, key.fingerprint)
            XCTAssertEqual(report?.hostname, "w1-live")
            XCTAssertEqual(report?.node, "w1")

            // A replay, even with other keys, changes nothing.
            let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICbtH/7W9QWCVVeK5kG54w/15gA7XYpwLddXsGCr9oV6 evil"
            let (replay, _) = try await Self.post(client, Self.boot,
                                                  Self.form([("pub_key_ed25519", other), ("instance_id", Self.boot)]))
            XCTAssertEqual(replay, 409)
            let kept = try await database.report(for: Self.boot)
            XCTAssertEqual(kept, report)
        }
    }

    /// A later boot (or a disk boot) closes the earlier one: its late report is refused.
    func testASupersededBootCannotReport() async throws {
        try await Self.withPortal { database, client in
            try await database.register(BootTicket(id: Self.boot, node: "w1", startedAt: Date()))
            try await database.register(BootTicket(id: Self.boot + "b", node: "w1", startedAt: Date()))
            let (late, _) = try await Self.post(client, Self.boot, Self.cloudInitForm())
            XCTAssertEqual(late, 409)
            try await database.closeBoots(of: "w1")
            let (closed, _) = try await Self.post(client, Self.boot + "b", Self.cloudInitForm(instance: Self.boot + "b"))
            XCTAssertEqual(closed, 409)
            let latest = try await database.latestBoot(of: "w1")
            XCTAssertEqual(latest?.ticket.id, Self.boot + "b")
            XCTAssertEqual(latest?.isOpen, false)
            XCTAssertEqual(latest?.hasEnded, true)
            XCTAssertNil(latest?.report)
        }
    }

    func testMalformedOversizeOrMisaddressedReportsAreRefusedAndStoreNothing() async throws {
        try await Self.withPortal { database, client in
            try await database.register(BootTicket(id: Self.boot, node: "w1", startedAt: Date()))
            let cases: [(String, String, String, Int)] = [
                ("not a form", Self.cloudInitForm(), "application/json", 415),
                ("no instance id", Self.form([("pub_key_ed25519", Self.ed25519)]), "application/x-www-form-urlencoded", 400),
                ("another boot's id", Self.cloudInitForm(instance: "liveboot-other"), "application/x-www-form-urlencoded", 400),
                ("no host key", Self.form([("pub_key_rsa", "N/A"), ("instance_id", Self.boot)]), "application/x-www-form-urlencoded", 400),
                ("a key that is not one", Self.form([("pub_key_ed25519", "ssh-ed25519 AAAA"), ("instance_id", Self.boot)]),
                 "application/x-www-form-urlencoded", 400),
                ("broken encoding", "instance_id=%zz&pub_key_ed25519=x", "application/x-www-form-urlencoded", 400),
                ("a field twice", Self.cloudInitForm() + "&instance_id=" + Self.boot, "application/x-www-form-urlencoded", 400),
                ("a hostname with a newline", Self.form([("pub_key_ed25519", Self.ed25519), ("instance_id", Self.boot),
                                                        ("hostname", "w1\nInjected: yes")]), "application/x-www-form-urlencoded", 400),
                ("oversize", Self.cloudInitForm() + "&pad=" + String(repeating: "a", count: 64 * 1024),
                 "application/x-www-form-urlencoded", 413),
            ]
            for (what, body, type, expected) in cases {
                let (status, said) = try await Self.post(client, Self.boot, body, contentType: type)
                XCTAssertEqual(status, expected, "\(what): \(said)")
                let stored = try await database.report(for: Self.boot)
                XCTAssertNil(stored, what)
            }
            // Still open: the real report is recorded after all that.
            let (status, _) = try await Self.post(client, Self.boot, Self.cloudInitForm())
            XCTAssertEqual(status, 200)
        }
    }

    /// Older cloud-init (Ubuntu 18.04) adds `pub_key_dsa`; all three modern key types are read.
    func testEveryKeyFieldCloudInitPostsIsRead() throws {
        let ecdsa = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDq9+3FbS6bUsA/bkh2C2Je59wwBLiTMS+wn7n5ryEB4hB94DGBDv9Z1tBN9J7pLd23QVn5FLofHttZrKNNyWw4= root@h"
        let form = Self.form([("pub_key_dsa", "N/A"), ("pub_key_rsa", "N/A"), ("pub_key_ecdsa", ecdsa + "\n"),
                              ("pub_key_ed25519", Self.ed25519 + "\n"), ("instance_id", Self.boot), ("hostname", "h"), ("fqdn", "N/A")])
        let parsed = try BootReportForm(body: Data(form.utf8), pathID: Self.boot)
        XCTAssertEqual(parsed.hostKeys.map(\.type), ["ssh-ed25519", "ecdsa-sha2-nistp256"])
        XCTAssertEqual(parsed.hostname, "h")
        XCTAssertNil(parsed.fqdn)
        XCTAssertThrowsError(try BootReportForm(body: Data((form + "&x=" + String(repeating: "y", count: 20_000)).utf8), pathID: Self.boot))
    }

    /// The seed asks cloud-init for a report: `phone_home` with the URL of the portal as the nodes reach it and the
    /// boot's own instance id.
    func testTheSeedAsksForTheReport() throws {
        let seed = try SeedBuilder.build(SeedRequest(hostname: "w1-live", keys: [SSHPublicKey(line: Self.ed25519)], bootID: "b1",
                                                     phoneHome: "http://10.0.0.1:8081/boot-reports/$INSTANCE_ID"))
        XCTAssertTrue(seed.userData.contains("phone_home:"), seed.userData)
        XCTAssertTrue(seed.userData.contains("url: 'http://10.0.0.1:8081/boot-reports/$INSTANCE_ID'")
                      || seed.userData.contains("url: \"http://10.0.0.1:8081/boot-reports/$INSTANCE_ID\""), seed.userData)
        XCTAssertTrue(seed.userData.contains("post: all"), seed.userData)
        XCTAssertTrue(seed.metaData.contains("instance-id: liveboot-b1"), seed.metaData)
    }

    /// `portal.node-url` when set; else the portal's own address, when it names one; else a refusal that says why.
    func testTheReportURLIsConfiguredOrDerived() throws {
        func config(_ portal: String) throws -> LivebootConfig {
            try LivebootConfig.parse("portal: {\(portal)}\n", path: "/etc/liveboot/liveboot.yaml")
        }
        XCTAssertEqual(try config("node-url: 'http://10.9.0.1:8081/'").phoneHomeURL(), "http://10.9.0.1:8081/boot-reports/$INSTANCE_ID")
        XCTAssertEqual(try config("listen: 10.1.0.1, port: 9000").phoneHomeURL(), "http://10.1.0.1:9000/boot-reports/$INSTANCE_ID")
        XCTAssertEqual(try config("listen: 'fd00::1'").phoneHomeURL(), "http://[fd00::1]:8081/boot-reports/$INSTANCE_ID")
        XCTAssertThrowsError(try config("listen: 0.0.0.0").phoneHomeURL()) { error in
            XCTAssertTrue("\(error)".contains("set portal.node-url"), "\(error)")
        }
        XCTAssertThrowsError(try config("node-url: 'ftp://x'")) { XCTAssertTrue("\($0)".contains("portal.node-url must be")) }
    }
}
