import Foundation
import XCTest

/// Runs the real `liveboot` binary, as an admin would.
struct CLIResult {
    let status: Int32
    let stdout: String
    let stderr: String
    var all: String { stdout + stderr }
}

enum CLI {
    static var binary: URL {
        get throws {
            let fm = FileManager.default
            var candidates: [URL] = []
            if let explicit = ProcessInfo.processInfo.environment["LIVEBOOT_BIN"] { candidates.append(URL(fileURLWithPath: explicit)) }
            let argv0 = URL(fileURLWithPath: CommandLine.arguments[0])
            // swift test runs …/debug/livebootPackageTests.xctest; the executables sit beside it.
            candidates.append(argv0.deletingLastPathComponent().appendingPathComponent("liveboot"))
            candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("liveboot"))
            candidates.append(Fixtures.packageRoot.appendingPathComponent(".build/debug/liveboot"))
            guard let found = candidates.first(where: { fm.isExecutableFile(atPath: $0.path) }) else {
                XCTFail("liveboot binary not found (looked at \(candidates.map(\.path))); run `swift build` first")
                throw CocoaError(.fileNoSuchFile)
            }
            return found
        }
    }

    /// Runs `liveboot ARGS` with the given config, killing it after `timeout` seconds.
    static func run(_ arguments: [String], config: String? = nil, environment: [String: String] = [:],
                    timeout: Double = 90) async throws -> CLIResult {
        let process = Process()
        process.executableURL = try binary
        process.arguments = (config.map { ["--config", $0] } ?? []).isEmpty ? arguments : injectConfig(arguments, config!)
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "LIVEBOOT_CONFIG")
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let outData = Drain(out.fileHandleForReading), errData = Drain(err.fileHandleForReading)
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                XCTFail("liveboot \(arguments.joined(separator: " ")) did not finish within \(timeout) s")
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.waitUntilExit()
        return CLIResult(status: process.terminationStatus, stdout: outData.text(), stderr: errData.text())
    }

    /// `--config` goes after the subcommand name.
    static func injectConfig(_ arguments: [String], _ config: String) -> [String] {
        guard let first = arguments.first else { return arguments }
        return [first, "--config", config] + arguments.dropFirst()
    }
}

/// Reads a pipe to its end on a thread of its own, so a chatty child never blocks on a full pipe.
final class Drain: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func text() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}
