import AsyncHTTPClient
import Foundation
import NIOCore
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
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "LIVEBOOT_CONFIG")
        for (k, v) in environment { env[k] = v }
        return try await Subprocess.run(try binary.path, config.map { injectConfig(arguments, $0) } ?? arguments,
                                        environment: env, timeout: .milliseconds(Int64(timeout * 1000)))
    }

    /// POSTs a form as cloud-init's phone_home would, with `contentType` and `body`; the answer's status.
    static func post(_ url: String, form body: String, contentType: String = "application/x-www-form-urlencoded") async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }

    /// `--config` goes after the subcommand name.
    static func injectConfig(_ arguments: [String], _ config: String) -> [String] {
        guard let first = arguments.first else { return arguments }
        if first == "admin", arguments.count >= 2 {  // a command group: after `admin add`, `admin user` …
            return Array(arguments.prefix(2)) + ["--config", config] + arguments.dropFirst(2)
        }
        return [first, "--config", config] + arguments.dropFirst()
    }
}

/// A child process with its output collected, polled rather than waited for (no blocking call in async tests).
///
/// Whether the child has exited is asked of the kernel (`waitid` with `WNOWAIT`, which leaves the reaping to
/// Foundation), not of `Process.isRunning`: on Linux, Foundation learns of the exit when a socket it leaves open in
/// the child closes, and a daemon the child starts (a tmux server) inherits that socket and keeps it open — the child
/// is gone, `isRunning` stays true and `waitUntilExit()` spins for ever (swift-corelibs-foundation #4795).
enum Subprocess {
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                    currentDirectory: String? = nil, timeout: Duration) async throws -> CLIResult {
        let process = Process()
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let outData = Drain(out.fileHandleForReading), errData = Drain(err.fileHandleForReading)
        try process.run()
        let pid = process.processIdentifier
        let what = "\(URL(fileURLWithPath: executable).lastPathComponent) \(arguments.joined(separator: " "))"
        func exited(within limit: Duration) async throws -> Int32? {
            let deadline = ContinuousClock.now + limit
            while ContinuousClock.now < deadline {
                if let status = exitStatus(of: process) { return status }
                try await Task.sleep(for: .milliseconds(20))
            }
            return exitStatus(of: process)
        }
        var status = try await exited(within: timeout)
        if status == nil {
            XCTFail("\(what) did not finish within \(timeout)")
            kill(pid, SIGKILL)
            status = try await exited(within: .seconds(5))
        }
        return CLIResult(status: status ?? -1, stdout: outData.text(within: .seconds(10)), stderr: errData.text(within: .seconds(10)))
    }

    /// The child's exit code (or the signal that ended it, as `Process.terminationStatus` says it), nil while it
    /// runs: Foundation's word once it has seen the exit (it has reaped the child then), else the kernel's, the child
    /// left for Foundation to reap.
    static func exitStatus(of process: Process) -> Int32? {
        if !process.isRunning { return process.terminationStatus }
        let pid = process.processIdentifier
        var info = siginfo_t()
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0, info._sifields._sigchld.si_pid == pid else {
            return process.isRunning ? nil : process.terminationStatus  // reaped by Foundation in between
        }
        return info._sifields._sigchld.si_status
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

    /// What was read, once the pipe's writers have all closed it; empty, and a failure, if one still holds it open
    /// after `limit` (a daemon the child started with its output not sent elsewhere).
    func text(within limit: Duration) -> String {
        guard done.wait(timeout: .now() + .milliseconds(Int(limit.components.seconds * 1000))) == .success else {
            XCTFail("a child's output pipe stayed open \(limit) after it exited: something it started holds it")
            return ""
        }
        return String(decoding: data, as: UTF8.self)
    }
}
