import Foundation
@testable import Seed
import XCTest
import Yams

final class SeedTests: XCTestCase {
    let admin = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMXl/wzGybfXj2lMrWlB6k89taQ4ufIbSzJGzgqzivmX admin@gatekeeper"

    func request(bootID: String = "w3-1", comment: String = "alice@slice") throws -> SeedRequest {
        let alice = try SSHPublicKey(line: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICbtH/7W9QWCVVeK5kG54w/15gA7XYpwLddXsGCr9oV6 \(comment)")
        return SeedRequest(hostname: "sopnode-w3-live", keys: [try SSHPublicKey(line: admin), alice], bootID: bootID)
    }

    func testSameInputsGiveSameBytesAndNewBootIDChangesThem() throws {
        let a = try SeedBuilder.build(request())
        let b = try SeedBuilder.build(request())
        XCTAssertEqual(a.image, b.image)
        XCTAssertEqual(a.contentID, b.contentID)
        let c = try SeedBuilder.build(request(bootID: "w3-2"))
        XCTAssertNotEqual(a.image, c.image)
        XCTAssertEqual(a.image.count % 2048, 0)
    }

    func testReaderFindsRockRidgeNamesAndContents() throws {
        let seed = try SeedBuilder.build(request())
        let iso = try CidataReader(seed.image)
        XCTAssertEqual(iso.volumeID, "cidata")
        XCTAssertEqual(Set(iso.files.keys), ["user-data", "meta-data"])
        let userData = String(decoding: try XCTUnwrap(iso.files["user-data"]), as: UTF8.self)
        XCTAssertTrue(userData.hasPrefix("#cloud-config\n"))
        let parsed = try XCTUnwrap(try Yams.load(yaml: userData) as? [String: Any])
        XCTAssertEqual(parsed["ssh_authorized_keys"] as? [String], [admin,
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICbtH/7W9QWCVVeK5kG54w/15gA7XYpwLddXsGCr9oV6 alice@slice"])
        XCTAssertEqual(parsed["disable_root"] as? Bool, false)
        XCTAssertEqual(parsed["ssh_pwauth"] as? Bool, false)
        XCTAssertNil(parsed["autoinstall"])
        let meta = try XCTUnwrap(try Yams.load(yaml: String(decoding: iso.files["meta-data"]!, as: UTF8.self)) as? [String: Any])
        XCTAssertEqual(meta["instance-id"] as? String, "liveboot-w3-1")
        XCTAssertEqual(meta["local-hostname"] as? String, "sopnode-w3-live")
    }

    /// A comment that would break a string template stays one YAML string.
    func testHostileCommentStaysData() throws {
        let seed = try SeedBuilder.build(request(comment: "x: y # autoinstall: {a: b} - [z]"))
        let parsed = try XCTUnwrap(try Yams.load(yaml: seed.userData) as? [String: Any])
        XCTAssertNil(parsed["autoinstall"])
        XCTAssertEqual((parsed["ssh_authorized_keys"] as? [String])?.last?.hasSuffix("x: y # autoinstall: {a: b} - [z]"), true)
    }

    /// Other readers agree: isoinfo (Rock Ridge and Joliet), blkid's label. Runs where genisoimage is installed
    /// (.ci/run installs it).
    func testSystemToolsReadTheSeed() throws {
        let isoinfo = ["/usr/bin/isoinfo", "/bin/isoinfo"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let isoinfo else { throw XCTSkip("isoinfo not installed (apt-get install genisoimage)") }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("seed-\(UUID()).iso")
        try SeedBuilder.build(request()).image.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        XCTAssertTrue(try run(isoinfo, ["-d", "-i", file.path]).contains("Volume id: cidata"))
        let rock = try run(isoinfo, ["-R", "-l", "-i", file.path])
        XCTAssertTrue(rock.contains(" user-data") && rock.contains(" meta-data"), rock)
        let joliet = try run(isoinfo, ["-J", "-l", "-i", file.path])
        XCTAssertTrue(joliet.contains(" user-data") && joliet.contains(" meta-data"), joliet)
        XCTAssertTrue(try run(isoinfo, ["-R", "-x", "/user-data", "-i", file.path]).hasPrefix("#cloud-config"))
    }

    func run(_ path: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    func testISOWriterRefusesBadNames() {
        XCTAssertThrowsError(try CidataISO(files: [.init(name: "../etc", contents: Data())], timestamp: Date()))
        XCTAssertThrowsError(try CidataISO(files: [.init(name: "User-Data", contents: Data())], timestamp: Date()))
        XCTAssertThrowsError(try CidataISO(files: [.init(name: "a", contents: Data()), .init(name: "a", contents: Data())],
                                           timestamp: Date()))
    }

    func testKeyFingerprintMatchesSSHKeygen() throws {
        // `ssh-keygen -lf` of this key prints SHA256:coTZpacyiN0PmVKHihvx4aFqK/06KYQ1epTPf+L4TDg
        XCTAssertEqual(try SSHPublicKey(line: admin).fingerprint, "SHA256:coTZpacyiN0PmVKHihvx4aFqK/06KYQ1epTPf+L4TDg")
    }

    func testMalformedKeysAreRefusedPrecisely() {
        func failure(_ line: String) -> SSHPublicKey.Failure? {
            do { _ = try SSHPublicKey(line: line); return nil } catch { return error as? SSHPublicKey.Failure }
        }
        XCTAssertEqual(failure(""), .empty)
        XCTAssertEqual(failure("command=\"rm -rf /\" " + admin), .optionsPrefix("command=\"rm"))
        XCTAssertEqual(failure("ssh-dss AAAAB3NzaC1kc3M="), .unknownType("ssh-dss"))
        XCTAssertEqual(failure("ssh-ed25519 not-base64!!"), .badBase64)
        // An ed25519 blob declared as RSA.
        XCTAssertEqual(failure("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIMXl/wzGybfXj2lMrWlB6k89taQ4ufIbSzJGzgqzivmX"),
                       .typeMismatch(declared: "ssh-rsa", inner: "ssh-ed25519"))
        XCTAssertEqual(failure(admin + "\u{07}bell"), .controlCharacters)
        XCTAssertEqual(failure(String(repeating: "a", count: 9000)), .tooLong(9000))
        // RSA blobs built by hand: 1024-bit modulus refused, 2048-bit accepted.
        func rsa(bits: Int) -> String {
            func field(_ bytes: [UInt8]) -> [UInt8] {
                let n = bytes.count
                return [UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + bytes
            }
            let modulus = [0x00, 0xC3] + [UInt8](repeating: 0x5A, count: bits / 8 - 1)
            return "ssh-rsa " + Data(field(Array("ssh-rsa".utf8)) + field([0x01, 0x00, 0x01]) + field(modulus)).base64EncodedString()
        }
        XCTAssertEqual(failure(rsa(bits: 1024)), .rsaTooShort(bits: 1024))
        XCTAssertNil(failure(rsa(bits: 2048)))
    }

    func testParseManyReportsLineNumbers() {
        let text = "# team keys\n\(admin)\n\nssh-ed25519 garbage\n"
        let parsed = SSHPublicKey.parseMany(text)
        XCTAssertEqual(parsed.keys.count, 1)
        XCTAssertEqual(parsed.errors.map(\.line), [4])
    }

    /// The ISO's dates come from hand-written calendar arithmetic: it must agree with Foundation's Gregorian calendar.
    func testUTCDateAgreesWithFoundation() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var generator = SystemRandomNumberGenerator()
        let samples = [0, -1, 951_782_400, 4_107_542_399] + (0..<500).map { _ in Int.random(in: -2_208_988_800...4_102_444_800, using: &generator) }
        for seconds in samples {
            let date = Date(timeIntervalSince1970: TimeInterval(seconds))
            let ours = UTCDate(date)
            let theirs = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            XCTAssertEqual([ours.year, ours.month, ours.day, ours.hour, ours.minute, ours.second],
                           [theirs.year!, theirs.month!, theirs.day!, theirs.hour!, theirs.minute!, theirs.second!], "\(seconds)")
        }
    }

    /// meta-data is two validated scalars; a host name YAML would read as something else stays a string.
    func testMetaDataHostNamesStayStrings() throws {
        let key = try SSHPublicKey(line: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMXl/wzGybfXj2lMrWlB6k89taQ4ufIbSzJGzgqzivmX a@b")
        for hostname in ["null", "true", "123", "1e5", "0x1F", "no", "w3-live"] {
            let seed = try SeedBuilder.build(SeedRequest(hostname: hostname, keys: [key], bootID: "b-\(hostname)"))
            let meta = try XCTUnwrap(try Yams.load(yaml: seed.metaData) as? [String: Any])
            XCTAssertEqual(meta["local-hostname"] as? String, hostname, seed.metaData)
            XCTAssertEqual(meta["instance-id"] as? String, "liveboot-b-\(hostname)", seed.metaData)
        }
        XCTAssertThrowsError(try SeedBuilder.build(SeedRequest(hostname: "bad host", keys: [key], bootID: "b")))
        XCTAssertThrowsError(try SeedBuilder.build(SeedRequest(hostname: "-lead", keys: [key], bootID: "b")))
        XCTAssertThrowsError(try SeedBuilder.build(SeedRequest(hostname: "w3", keys: [key], bootID: "bad/id")))
        XCTAssertThrowsError(try SeedBuilder.build(SeedRequest(hostname: "w3", keys: [key], bootID: String(repeating: "b", count: 65))))
    }

    /// The rendered user-data is reused across boots, but never across different contents.
    func testUserDataReuseFollowsTheContent() throws {
        let a = try SSHPublicKey(line: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMXl/wzGybfXj2lMrWlB6k89taQ4ufIbSzJGzgqzivmX a@b")
        let b = try SSHPublicKey(line: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICbtH/7W9QWCVVeK5kG54w/15gA7XYpwLddXsGCr9oV6 c@d")
        let first = try SeedBuilder.build(SeedRequest(hostname: "w3-live", keys: [a], bootID: "1"))
        let nextBoot = try SeedBuilder.build(SeedRequest(hostname: "w3-live", keys: [a], bootID: "2"))
        let otherKeys = try SeedBuilder.build(SeedRequest(hostname: "w3-live", keys: [a, b], bootID: "2"))
        let otherHost = try SeedBuilder.build(SeedRequest(hostname: "w4-live", keys: [a], bootID: "2"))
        XCTAssertEqual(first.userData, nextBoot.userData)
        XCTAssertNotEqual(first.contentID, nextBoot.contentID, "a new boot is a new seed")
        XCTAssertTrue(otherKeys.userData.contains("c@d"))
        XCTAssertTrue(otherHost.userData.contains("hostname: w4-live"))
        XCTAssertEqual(try SeedBuilder.renderUserData(SeedRequest(hostname: "w3-live", keys: [a, b], bootID: "x"), keys: [a.line, b.line]),
                       otherKeys.userData)
    }
}
