import Foundation
import XCTest

/// The fuzz targets' seeds and the crashes fuzzing found (bench/fuzz-seeds/TARGET/) replayed through the plain build
/// of `liveboot-fuzz`: each input still holds every property its target checks (bench/fuzz.sh runs the fuzzer).
final class FuzzSeedTests: XCTestCase {
    func testEverySeedHoldsItsTargetsProperties() throws {
        let fuzz = try CLI.binary.deletingLastPathComponent().appendingPathComponent("liveboot-fuzz")
        let seeds = Fixtures.packageRoot.appendingPathComponent("bench/fuzz-seeds")
        let targets = try FileManager.default.contentsOfDirectory(atPath: seeds.path).filter { !$0.hasSuffix(".dict") }.sorted()
        XCTAssertEqual(targets, ["form", "range-conditional", "ssh-key", "vmedia-request"])
        for target in targets {
            let folder = seeds.appendingPathComponent(target)
            let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().map { folder.appendingPathComponent($0).path }
            XCTAssertFalse(files.isEmpty, "no seeds for \(target)")
            let process = Process()
            process.executableURL = fuzz
            process.arguments = [target] + files
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, "\(target): \(text.suffix(1000))")
            XCTAssertEqual(text.split(separator: "\n").filter { $0.hasSuffix(": ok") }.count, files.count, text)
        }
    }
}
