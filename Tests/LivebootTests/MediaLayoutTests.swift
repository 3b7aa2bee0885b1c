import Foundation
import LivebootCore
import XCTest

/// The one place that knows where media live and how they are named, and the pruning of old seeds.
final class MediaLayoutTests: XCTestCase {
    func layout(_ folder: String, path: String = "bootable-images") -> MediaLayout {
        MediaLayout(images: ImagesConfig(ip: "10.0.0.1", port: 8080, path: path, folder: folder))
    }

    func testURLsAndFolders() {
        let media = layout("/srv/images")
        XCTAssertEqual(media.imageURL("u.iso"), "http://10.0.0.1:8080/bootable-images/u.iso")
        XCTAssertEqual(media.seedURL(id: "cidata-ab"), "http://10.0.0.1:8080/seeds/cidata-ab.iso")
        XCTAssertEqual(media.noCloudURL(node: "w1"), "http://10.0.0.1:8080/seed/w1/")
        XCTAssertEqual(media.seedPath(id: "cidata-ab"), "/srv/images/seeds/cidata-ab.iso")
        XCTAssertEqual(media.noCloudFolder(node: "w1"), "/srv/images/seeds/nocloud/w1")
        XCTAssertEqual(layout("/srv/images", path: "/").urlPath(of: .image), "/")
        XCTAssertEqual(layout("/srv/images", path: "a//b/").urlPath(of: .image), "/a/b/")
        XCTAssertEqual(media.seedFile(inURL: "http://10.0.0.1:8080/seeds/cidata-ab.iso"), "cidata-ab.iso")
        XCTAssertNil(media.seedFile(inURL: "http://10.0.0.1:8080/bootable-images/u.iso"))
        XCTAssertNil(media.seedFile(inURL: "http://10.0.0.1:8080/seeds/../x.iso"))
    }

    func testNamesNeverPaths() {
        XCTAssertEqual(MediaLayout.candidates(for: "u22.iso", kind: .image), ["u22.iso", "u22"])
        XCTAssertEqual(MediaLayout.candidates(for: "cidata-1.iso", kind: .seed), ["cidata-1.iso"])
        for name in ["../x.iso", ".hidden.iso", "a/b.iso", "x.img", "", "é.iso", String(repeating: "a", count: 300) + ".iso"] {
            XCTAssertEqual(MediaLayout.candidates(for: name, kind: .image), [], name)
            XCTAssertEqual(MediaLayout.candidates(for: name, kind: .seed), [], name)
        }
        XCTAssertTrue(MediaLayout.servesFile(atRelativePath: "ubuntu.iso", kind: .image))
        XCTAssertFalse(MediaLayout.servesFile(atRelativePath: "notes", kind: .image), "a short name must reach an ISO")
        XCTAssertFalse(MediaLayout.servesFile(atRelativePath: "sub/ubuntu.iso", kind: .image))
    }

    /// Every boot publishes a seed of its own: those older than the retention and held by no slot go; recent ones,
    /// held ones and files that are not seeds stay.
    func testPruningKeepsRecentAndHeldSeeds() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("layout-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: folder) }
        let media = layout(folder.path)
        try FileManager.default.createDirectory(atPath: media.noCloudFolder(node: "w1"), withIntermediateDirectories: true)
        let now = Date()
        let files: [(String, TimeInterval)] = [("cidata-old.iso", 10), ("cidata-held.iso", 30), ("cidata-new.iso", 0.5),
                                               ("notes.txt", 30)]
        for (name, daysAgo) in files {
            let path = media.seedsFolder + "/" + name
            FileManager.default.createFile(atPath: path, contents: Data("x".utf8))
            try FileManager.default.setAttributes([.modificationDate: now.addingTimeInterval(-daysAgo * 86400)], ofItemAtPath: path)
        }
        let removed = media.pruneSeeds(inUse: ["cidata-held.iso"], retention: .seconds(7 * 86400), now: now)
        XCTAssertEqual(removed, ["cidata-old.iso"])
        let left = try FileManager.default.contentsOfDirectory(atPath: media.seedsFolder).sorted()
        XCTAssertEqual(left, ["cidata-held.iso", "cidata-new.iso", "nocloud", "notes.txt"])
        XCTAssertEqual(media.pruneSeeds(inUse: [], retention: .seconds(7 * 86400), now: now), ["cidata-held.iso"],
                       "once no slot holds it, an old seed goes too")
    }
}

/// The typed steps both faces render: their words, and failure as data.
final class NodeStepTests: XCTestCase {
    func testWordsAndErrors() {
        let steps: [(NodeStep, String)] = [
            (.started(.liveboot, image: "u.iso"), "live boot on u.iso"),
            (.seedPublished(url: "http://s/seeds/c.iso", keys: 1, asFloppy: false), "seed http://s/seeds/c.iso (1 key)"),
            (.seedPublished(url: "http://s/seeds/c.iso", keys: 2, asFloppy: true), "seed http://s/seeds/c.iso (2 keys, as a floppy image)"),
            (.slotEjecting(slot: "1", holding: nil), "slot 1: ejecting media"),
            (.slotInserting(slot: "2", url: "http://s/x.iso"), "slot 2 ← http://s/x.iso"),
            (.bootOverride(.cd, how: "standard Boot override"), "one-time boot on virtual CD (standard Boot override)"),
            (.bootOverride(.hdd, how: "x"), "one-time boot on the disk"),
            (.bootOverride(.none, how: "x"), "boot override cleared"),
            (.power(.cycle(.forceRestart)), "power cycle (ForceRestart)"),
            (.power(.forceOff(afterTimeout: .seconds(60))), "still on after 60.0 seconds: ForceOff"),
            (.ready(sshCommand: "ssh root@w1", hostKeys: []), "ready: ssh root@w1"),
            (.failed("BMC x is unreachable"), "failed: BMC x is unreachable"),
        ]
        for (step, text) in steps {
            XCTAssertEqual(step.text, text)
            XCTAssertEqual(step.isError, text.hasPrefix("failed:"), text)
        }
        XCTAssertEqual(NodeAction.reboot.power, .reboot)
        XCTAssertNil(NodeAction.liveboot.power)
    }
}
