import Foundation
import Seed
import XCTest
import Yams

/// Our ISOs read back by real readers (not our own parser): isoinfo, xorriso, blkid, bsdtar, 7z and pycdlib,
/// each where installed (deploy/test.sh installs them; a missing one skips, saying which).
final class SeedReaderTests: XCTestCase {
    struct Tool {
        let path: String
        static func find(_ name: String, package: String) throws -> Tool {
            // $PATH first: python3 must be the one whose pip installed pycdlib.
            let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            for dir in path + ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
                return Tool(path: "\(dir)/\(name)")
            }
            throw XCTSkip("\(name) not installed (apt-get install \(package))")
        }

        @discardableResult
        func run(_ arguments: [String], stdin: Data? = nil) throws -> (status: Int32, output: Data) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, data)
        }
    }

    /// ISOs with 1, 2 and 4 files, one of them a multi-sector file.
    static let cases: [[CidataISO.File]] = {
        var big = Data()
        for i in 0..<(150 * 1024 / 16) { big.append(contentsOf: Array(String(format: "line %09d\n", i).utf8)) }
        return [
            [.init(name: "user-data", contents: Data("#cloud-config\n{}\n".utf8))],
            [.init(name: "user-data", contents: Data("#cloud-config\nhostname: a\n".utf8)),
             .init(name: "meta-data", contents: Data("instance-id: i-1\n".utf8))],
            [.init(name: "user-data", contents: big),
             .init(name: "meta-data", contents: Data("instance-id: i-2\nlocal-hostname: w3-live\n".utf8)),
             .init(name: "network-config", contents: Data("version: 2\n".utf8)),
             .init(name: "vendor-data", contents: Data())],
        ]
    }()

    func write(_ files: [CidataISO.File]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cidata-\(UUID()).iso")
        try CidataISO(files: files, timestamp: Date(timeIntervalSince1970: 1_700_000_000)).bytes().write(to: url)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testIsoinfoRockRidgeAndJoliet() throws {
        let isoinfo = try Tool.find("isoinfo", package: "genisoimage")
        for files in Self.cases {
            let iso = try write(files)
            let info = String(decoding: try isoinfo.run(["-d", "-i", iso.path]).output, as: UTF8.self)
            XCTAssertTrue(info.contains("Volume id: cidata"), info)
            XCTAssertTrue(info.contains("Joliet with UCS level 3 found"), info)
            XCTAssertTrue(info.contains("Rock Ridge signatures version 1 found"), info)
            for file in files {
                for mode in ["-R", "-J"] {
                    let read = try isoinfo.run([mode, "-x", "/\(file.name)", "-i", iso.path]).output
                    XCTAssertEqual(read, file.contents, "\(mode) \(file.name)")
                }
            }
        }
    }

    func testXorrisoFindsAndExtracts() throws {
        let xorriso = try Tool.find("xorriso", package: "xorriso")
        for files in Self.cases {
            let iso = try write(files)
            let listing = String(decoding: try xorriso.run(["-indev", iso.path, "-find", "/", "-type", "f"]).output, as: UTF8.self)
            for file in files { XCTAssertTrue(listing.contains("'/\(file.name)'"), listing) }
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("x-\(UUID())")
            defer { try? FileManager.default.removeItem(at: out) }
            let extract = try xorriso.run(["-osirrox", "on", "-indev", iso.path, "-extract", "/", out.path])
            XCTAssertEqual(extract.status, 0)
            for file in files {
                XCTAssertEqual(FileManager.default.contents(atPath: out.appendingPathComponent(file.name).path), file.contents, file.name)
            }
        }
    }

    func testBlkidSeesTheCidataLabel() throws {
        let blkid = try Tool.find("blkid", package: "util-linux")
        let iso = try write(Self.cases[1])
        let export = String(decoding: try blkid.run(["-p", "-o", "export", iso.path]).output, as: UTF8.self)
        XCTAssertTrue(export.contains("LABEL=cidata"), export)
        XCTAssertTrue(export.contains("TYPE=iso9660"), export)
    }

    func testBsdtarReads() throws {
        let bsdtar = try Tool.find("bsdtar", package: "libarchive-tools")
        for files in Self.cases {
            let iso = try write(files)
            for file in files {
                XCTAssertEqual(try bsdtar.run(["-xOf", iso.path, file.name]).output, file.contents, file.name)
            }
        }
    }

    func testSevenZipReads() throws {
        let sevenZip: Tool
        do { sevenZip = try Tool.find("7z", package: "p7zip-full") } catch { sevenZip = try Tool.find("7zz", package: "7zip") }
        for files in Self.cases {
            let iso = try write(files)
            for file in files {
                XCTAssertEqual(try sevenZip.run(["x", "-so", iso.path, file.name]).output, file.contents, file.name)
            }
        }
    }

    func testPycdlibReadsRockRidgeAndJoliet() throws {
        let python = try Tool.find("python3", package: "python3")
        guard try python.run(["-c", "import pycdlib"]).status == 0 else { throw XCTSkip("pycdlib not installed (pip install pycdlib)") }
        let script = """
        import sys, io, pycdlib
        iso = pycdlib.PyCdlib(); iso.open(sys.argv[1])
        assert iso.has_rock_ridge(), "no Rock Ridge"
        assert iso.has_joliet(), "no Joliet"
        for name in sys.argv[2:]:
            for kind in ("rr_path", "joliet_path"):
                out = io.BytesIO()
                iso.get_file_from_iso_fp(out, **{kind: "/" + name})
                sys.stdout.write("%s %s %d %s\\n" % (kind, name, len(out.getvalue()), out.getvalue().hex()[:64]))
        iso.close()
        """
        for files in Self.cases {
            let iso = try write(files)
            let result = try python.run(["-c", script, iso.path] + files.map(\.name))
            XCTAssertEqual(result.status, 0, "pycdlib refused the image")
            let lines = String(decoding: result.output, as: UTF8.self).split(separator: "\n")
            for file in files {
                for kind in ["rr_path", "joliet_path"] {
                    let expected = "\(kind) \(file.name) \(file.contents.count) " + file.contents.prefix(32).map { String(format: "%02x", $0) }.joined()
                    XCTAssertTrue(lines.contains(Substring(expected)), "\(expected) not in \(lines)")
                }
            }
        }
    }

    /// cloud-init's own schema validator accepts the user-data we emit.
    func testCloudInitSchemaAcceptsOurUserData() throws {
        let cloudInit = try Tool.find("cloud-init", package: "cloud-init")
        let keys = try [
            SSHPublicKey(line: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMXl/wzGybfXj2lMrWlB6k89taQ4ufIbSzJGzgqzivmX admin@gatekeeper"),
            SSHPublicKey(line: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICbtH/7W9QWCVVeK5kG54w/15gA7XYpwLddXsGCr9oV6 a: b # c"),
        ]
        let seeds = try [
            SeedBuilder.build(SeedRequest(hostname: "w3-live", keys: keys, bootID: "b1")),
            SeedBuilder.build(SeedRequest(hostname: "w3-live", fqdn: "w3-live.example.org", keys: keys, bootID: "b2",
                                          packages: ["iperf3", "htop"])),
        ]
        for seed in seeds {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("ud-\(UUID()).yaml")
            try seed.userData.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let result = try cloudInit.run(["schema", "--config-file", file.path])
            XCTAssertEqual(result.status, 0, "cloud-init schema refused:\n\(seed.userData)\n\(String(decoding: result.output, as: UTF8.self))")
        }
    }

    /// ssh-keygen's fingerprints for generated keys of each type.
    func testFingerprintsMatchSSHKeygenForEachType() throws {
        let keygen = try Tool.find("ssh-keygen", package: "openssh-client")
        for (type, bits) in [("ed25519", ""), ("ecdsa", "256"), ("ecdsa", "384"), ("ecdsa", "521"), ("rsa", "2048"), ("rsa", "3072")] {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("k-\(UUID())")
            defer {
                try? FileManager.default.removeItem(at: file)
                try? FileManager.default.removeItem(atPath: file.path + ".pub")
            }
            try keygen.run(["-q", "-t", type] + (bits.isEmpty ? [] : ["-b", bits]) + ["-N", "", "-C", "user@\(type)\(bits)", "-f", file.path])
            let line = try String(contentsOfFile: file.path + ".pub", encoding: .utf8)
            let printed = String(decoding: try keygen.run(["-lf", file.path + ".pub"]).output, as: UTF8.self)
            let key = try SSHPublicKey(line: line)
            XCTAssertTrue(printed.contains(key.fingerprint), "\(type)\(bits): \(printed) vs \(key.fingerprint)")
            XCTAssertEqual(key.comment, "user@\(type)\(bits)")
        }
    }
}
