import Foundation
@testable import VmediaServer
import XCTest

/// The per-reader tally of the vmedia listener: what it adds up, what it hands over, and its bounds.
final class MediaTallyTests: XCTestCase {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func testChangesAreWhatWasReadSinceTheLastTake() {
        let tally = MediaTally()
        tally.add(100, key: "b1", name: "u22.iso", at: t0)
        tally.add(50, key: "b1", name: "u22.iso", at: t0.addingTimeInterval(0.5))
        tally.add(25, key: "b1", name: "u22.iso", at: t0.addingTimeInterval(3.2))
        tally.add(7, key: "b2", name: "u22.iso", at: t0)
        let first = tally.takeChanges(now: t0.addingTimeInterval(4))
        XCTAssertEqual(first["b1"], MediaTally.Reading(name: "u22.iso", bytes: 175, firstRead: t0, lastRead: t0.addingTimeInterval(3.2),
                                                       activeSeconds: 2))
        XCTAssertEqual(first["b2"]?.bytes, 7)
        XCTAssertEqual(tally.takeChanges(now: t0.addingTimeInterval(5)), [:], "nothing read since")
        // The same second as the last read is not a second one.
        tally.add(10, key: "b1", name: "u22.iso", at: t0.addingTimeInterval(3.9))
        tally.add(10, key: "b1", name: "u22.iso", at: t0.addingTimeInterval(4.1))
        XCTAssertEqual(tally.takeChanges(now: t0.addingTimeInterval(5))["b1"]?.activeSeconds, 1)
    }

    func testReadersAreBoundedAndForgottenWhenIdle() {
        let tally = MediaTally(capacity: 2, idleExpiry: .seconds(60))
        tally.add(1, key: "a", name: "x.iso", at: t0)
        tally.add(1, key: "b", name: "x.iso", at: t0)
        tally.add(1, key: "c", name: "x.iso", at: t0)
        XCTAssertEqual(Set(tally.takeChanges(now: t0).keys), ["a", "b"], "a tally full of untaken counts counts no new reader")
        tally.add(1, key: "b", name: "x.iso", at: t0.addingTimeInterval(30))
        _ = tally.takeChanges(now: t0.addingTimeInterval(61))  // a: idle for a minute, forgotten; b read since
        tally.add(1, key: "c", name: "x.iso", at: t0.addingTimeInterval(62))
        XCTAssertEqual(Set(tally.takeChanges(now: t0.addingTimeInterval(62)).keys), ["c"])
    }

    /// Anybody may ask for `/boot/<made up>/u22.iso`: a tally filled with such paths before a boot starts must still
    /// count the boot, and so must one sprayed with new made-up paths, one fewer than its places, between two takes.
    func testMadeUpReadersCannotKeepABootUncounted() {
        let tally = MediaTally(capacity: 8, idleExpiry: .seconds(900))
        for index in 0..<8 { tally.add(1, key: "junk-\(index)", name: "u22.iso", at: t0) }
        XCTAssertEqual(tally.takeChanges(now: t0).count, 8)
        var read = 0, counted = 0
        for second in 1...30 {
            let now = t0.addingTimeInterval(Double(second))
            for index in 0..<7 { tally.add(1, key: "junk-\(second)-\(index)", name: "u22.iso", at: now) }
            tally.add(4096, key: "boot-1", name: "u22.iso", at: now.addingTimeInterval(0.5))
            read += 4096
            let changes = tally.takeChanges(now: now.addingTimeInterval(0.9))
            counted += changes["boot-1"]?.bytes ?? 0
            XCTAssertLessThanOrEqual(changes.count, 8)
        }
        XCTAssertEqual(counted, read, "every byte the boot read was counted")
    }

    func testRoutesTakeTheReaderOutOfTheName() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tally-\(UUID().uuidString)").path
        struct AnyISO: MediaNaming {
            func candidates(for name: String) -> [String] { name.hasSuffix(".iso") && !name.contains("/") ? [name] : [] }
            func servesFile(atRelativePath path: String) -> Bool { true }
        }
        let library = MediaLibrary(folder: folder, naming: AnyISO())
        let tally = MediaTally()
        let routes = VmediaRoutes([VmediaRoute(prefix: "/boot/", library: library, tally: (tally, .leadingComponent)),
                                   VmediaRoute(prefix: "/seeds/", library: library, tally: (tally, .name)),
                                   VmediaRoute(prefix: "/images/", library: library)])
        let own = try XCTUnwrap(routes.target(of: "/boot/liveboot-w1-1/u22.iso"))
        XCTAssertEqual(own.name, "u22.iso")
        XCTAssertEqual(own.reader?.key, "liveboot-w1-1")
        // Our own checks add a query: the same file, nobody's reading.
        let probe = try XCTUnwrap(routes.target(of: "/boot/liveboot-w1-1/u22.iso?probe"))
        XCTAssertEqual(probe.name, "u22.iso")
        XCTAssertNil(probe.reader)
        XCTAssertNil(routes.target(of: "/seeds/cidata-1.iso?probe")?.reader)
        XCTAssertEqual(routes.target(of: "/seeds/cidata-1.iso")?.reader?.key, "cidata-1.iso")
        XCTAssertNil(try XCTUnwrap(routes.target(of: "/images/u22.iso")).reader)
        for path in ["/boot/u22.iso", "/boot//u22.iso", "/boot/\(String(repeating: "k", count: 129))/u22.iso"] {
            let target = try XCTUnwrap(routes.target(of: path))
            XCTAssertEqual(target.name, "", path)
            XCTAssertNil(target.reader, path)
        }
    }
}
