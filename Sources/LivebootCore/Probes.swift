import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// The answer of a reachability probe.
public enum ProbeResult: Sendable, Codable, Equatable, CustomStringConvertible {
    case ok
    case ko(String)
    /// The probe could not be run here (no `ping`, no privilege): said, never faked.
    case unavailable(String)

    public var description: String {
        switch self {
        case .ok: "OK"
        case .ko: "KO"
        case .unavailable: "n/a"
        }
    }

    public var detail: String? {
        switch self {
        case .ok: nil
        case .ko(let why), .unavailable(let why): why
        }
    }

    enum CodingKeys: String, CodingKey { case result, detail }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(description, forKey: .result)
        try c.encodeIfPresent(detail, forKey: .detail)
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let detail = try c.decodeIfPresent(String.self, forKey: .detail) ?? ""
        switch try c.decode(String.self, forKey: .result) {
        case "OK": self = .ok
        case "KO": self = .ko(detail)
        default: self = .unavailable(detail)
        }
    }
}

public enum Probes {
    /// One ICMP echo: from the process's own ICMP socket (`ICMPEcho`) when it may have one and the host is IPv4, else
    /// through the system's `ping` (setuid or with cap_net_raw), which needs no privilege of ours.
    public static func ping(_ host: String, timeout: Duration) async -> ProbeResult {
        guard let echo = await ICMPEcho.shared else { return await pingBinary(host, timeout: timeout) }
        switch await resolve(host) {
        case .ipv4(let address):
            do {
                return try await echo.echo(address, timeout: max(timeout, .seconds(1))) ? .ok : .ko("no echo reply")
            } catch {
                return .ko("no echo reply (\(error))")
            }
        case .otherFamily:
            return await pingBinary(host, timeout: timeout)
        case .unknown:
            return .ko("unknown host or network error")
        }
    }

    enum Resolved {
        case ipv4(SocketAddress)
        /// IPv6: pinged by the binary.
        case otherFamily
        case unknown
    }

    /// The host's address; a name is resolved on NIO's thread pool, since `getaddrinfo` blocks.
    static func resolve(_ host: String) async -> Resolved {
        let address = try? SocketAddress(ipAddress: host, port: 0)
        let resolved = if let address { address } else {
            try? await NIOThreadPool.singleton.runIfActive { try SocketAddress.makeAddressResolvingHost(host, port: 0) }
        }
        guard let resolved else { return .unknown }
        return resolved.protocol == .inet ? .ipv4(resolved) : .otherFamily
    }

    /// One ICMP echo through the system's `ping`.
    static func pingBinary(_ host: String, timeout: Duration) async -> ProbeResult {
        let candidates = ["/usr/bin/ping", "/bin/ping", "/usr/sbin/ping"]
        guard let binary = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return .unavailable("ping is not installed (apt-get install iputils-ping)")
        }
        let seconds = max(1, Int(timeout.components.seconds))
        let (status, output) = await run(binary, ["-c", "1", "-W", String(seconds), "-n", host])
        if status == 0 { return .ok }
        if output.contains("Operation not permitted") || output.contains("permission") {
            return .unavailable("ICMP needs privileges this user lacks: \(output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return .ko(status == 2 ? "unknown host or network error" : "no echo reply")
    }

    /// TCP connect and read the banner; `OK` only when it starts with `SSH-`.
    public static func ssh(_ host: String, port: Int, timeout: Duration) async -> ProbeResult {
        do {
            return try await withThrowingTaskGroup(of: ProbeResult.self) { group in
                group.addTask { try await readBanner(host, port: port) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return .ko("no banner within \(timeout)")
                }
                let first = try await group.next()!
                group.cancelAll()
                return first
            }
        } catch {
            return .ko("\(error)")
        }
    }

    static func readBanner(_ host: String, port: Int) async throws -> ProbeResult {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(3))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        return try await channel.executeThenClose { inbound, _ in
            var banner = ""
            for try await var chunk in inbound {
                banner += chunk.readString(length: chunk.readableBytes) ?? ""
                if banner.contains("\n") || banner.count >= 255 { break }
            }
            return banner.hasPrefix("SSH-") ? .ok : .ko("port \(port) answers but not with an SSH banner")
        }
    }

    /// Runs a program, returning its exit status and combined output (the first 64 KiB); never blocks a thread of
    /// the pool. Through swift-subprocess: Foundation's `Process` stayed allocated after each run — the process, its
    /// pipe and URL, ≈ 0.8 KB a probe (heaptrack: 456 of 456), one per node per status round.
    static func run(_ path: String, _ arguments: [String]) async -> (Int32, String) {
        do {
            let result = try await Subprocess.run(.path(FilePath(path)), arguments: Arguments(arguments),
                                                  output: .string(limit: 64 * 1024), error: .combinedWithOutput)
            let status: Int32
            switch result.terminationStatus {
            case .exited(let code): status = code
            case .signaled(let signal): status = 128 + signal
            }
            return (status, result.standardOutput ?? "")
        } catch {
            return (127, "\(error)")
        }
    }
}

/// Checks that a URL is something a BMC can mount: `HEAD` answers 200 with `Accept-Ranges: bytes`
/// (the iDRAC's httpfs2 client gives up otherwise, and the node then hangs at boot).
public enum MediaURLCheck {
    /// One client for every check, kept for the process (a client per check stays allocated after its shutdown; see
    /// `SharedHTTPClients` in Redfish).
    private static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)))
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.tlsConfiguration = .makeClientConfiguration()
        configuration.tlsConfiguration?.certificateVerification = .none
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// `asProbe`: a URL of our own listener, checked without counting as a BMC's read (`VmediaCheck.probeQuery`).
    public static func check(_ url: String, timeout: Duration = .seconds(10), asProbe: Bool = false) async throws {
        // Plain HTTP: the full check the iDRAC's client would pass (status line, header size, ranges).
        if url.hasPrefix("http://") {
            let report = await VmediaCheck.run(url, asProbe: asProbe)
            if let problem = report.firstProblem {
                throw LivebootError.imageNotServed(url: url, reason: "\(problem.check): \(problem.detail)")
            }
            return
        }
        guard let parsed = URL(string: url), parsed.host != nil, ["http", "https"].contains(parsed.scheme ?? "") else {
            throw LivebootError.imageNotServed(url: url, reason: "not an http(s) URL")
        }
        var request = HTTPClientRequest(url: url)
        request.method = .HEAD
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000))
        } catch {
            let text = "\(error)".lowercased()
            throw LivebootError.imageNotServed(url: url, reason: text.contains("refused") ? "connection refused" : "\(error)")
        }
        guard response.status == .ok else {
            throw LivebootError.imageNotServed(url: url, reason: "HEAD answered \(response.status.code)")
        }
        guard response.headers["Accept-Ranges"].contains(where: { $0.lowercased().contains("bytes") }) else {
            throw LivebootError.imageNotServed(url: url, reason: "the server does not announce Accept-Ranges: bytes")
        }
    }
}
