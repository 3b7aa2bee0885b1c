import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOSSL

/// Where a BMC is and how to log in. The password never appears in `description`.
public struct BMCEndpoint: Sendable, CustomStringConvertible, CustomReflectable {
    /// `https://host[:port]` (or `http://` for simulators), no trailing slash.
    public var baseURL: String
    public var username: String
    public var password: String
    /// Verify the BMC's certificate against this PEM bundle; `nil` skips verification, because BMCs
    /// ship self-signed certificates that nobody replaces.
    public var caFile: String?
    public var timeouts: Timeouts
    public var retry: RetryPolicy
    /// The node the BMC manages, for metrics (`node` label); the BMC's address when unnamed.
    public var name: String?

    public init(baseURL: String, username: String, password: String, caFile: String? = nil,
                timeouts: Timeouts = .init(), retry: RetryPolicy = .init(), name: String? = nil) {
        self.name = name
        self.baseURL = baseURL
        self.username = username
        self.password = password
        self.caFile = caFile
        self.timeouts = timeouts
        self.retry = retry
    }

    public var description: String { baseURL }

    /// The BMC's host name or address, from `baseURL`: where its other services (SSH) listen.
    public var host: String {
        get throws {
            guard let host = URLComponents(string: baseURL)?.host, !host.isEmpty else {
                throw RedfishError.notSupported(bmc: baseURL, what: "a host name in the BMC's URL")
            }
            return host
        }
    }
    public var customMirror: Mirror { Mirror(self, children: ["baseURL": baseURL, "username": username]) }

    /// Accepts `host`, `host:port` or a URL; bare hosts get `https://`.
    public static func normalize(_ drac: String) -> String {
        var url = drac.trimmingCharacters(in: .whitespaces)
        if !url.contains("://") { url = "https://" + url }
        while url.hasSuffix("/") { url.removeLast() }
        if url.hasSuffix("/redfish/v1") { url.removeLast("/redfish/v1".count) }
        return url
    }
}

public struct Timeouts: Sendable {
    /// TCP connect. A BMC that drops SYNs costs this much per attempt.
    public var connect: Duration
    /// One request, headers to last body byte. iDRAC 9 takes several seconds on Bios/BiosRegistry.
    public var request: Duration

    public init(connect: Duration = .seconds(5), request: Duration = .seconds(60)) {
        self.connect = connect
        self.request = request
    }
}

/// Bounded retries with exponential backoff, for connection errors and 503s only.
public struct RetryPolicy: Sendable {
    public var attempts: Int
    public var initialBackoff: Duration
    public var maxBackoff: Duration

    public init(attempts: Int = 4, initialBackoff: Duration = .milliseconds(250), maxBackoff: Duration = .seconds(4)) {
        self.attempts = max(1, attempts)
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }

    func backoff(afterAttempt attempt: Int) -> Duration {
        let factor = 1 << min(attempt - 1, 10)
        return min(initialBackoff * factor, maxBackoff)
    }
}

/// A BMC's answer: status, the headers we use, body bytes.
public struct RedfishResponse: Sendable {
    public let status: Int
    public let headers: HTTPHeaders
    public let body: Data

    public init(status: Int, headers: HTTPHeaders = [:], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var location: String? { headers.first(name: "Location") }
    public var etag: String? { headers.first(name: "ETag") }
    /// `Retry-After` in seconds (the delta form; BMCs do not send dates).
    public var retryAfter: Duration? { headers.first(name: "Retry-After").flatMap(Int.init).map { .seconds($0) } }
}

/// One request as the client sends it: the path under the BMC's base URL, every header (authentication included).
public struct RedfishRequest: Sendable {
    public let method: String
    public let path: String
    public let headers: HTTPHeaders
    public let body: Data?
}

/// What carries requests to a BMC and brings its answers back. Failures to get an answer at all throw
/// `RedfishError` (`.unreachable`, `.timedOut`, `.invalidResponse`); any answer, error statuses included, returns.
public protocol RedfishTransport: Sendable {
    func execute(_ request: RedfishRequest) async throws -> RedfishResponse
}

/// HTTP(S) through AsyncHTTPClient, whose client is shared with every session of the same settings
/// (`SharedHTTPClients`).
public struct HTTPTransport: RedfishTransport {
    let endpoint: BMCEndpoint
    let http: HTTPClient

    public init(endpoint: BMCEndpoint) {
        self.endpoint = endpoint
        http = SharedHTTPClients.client(for: endpoint)
    }

    public func execute(_ redfish: RedfishRequest) async throws -> RedfishResponse {
        let bmc = endpoint.baseURL, method = redfish.method, path = redfish.path
        var request = HTTPClientRequest(url: endpoint.baseURL + path)
        request.method = HTTPMethod(rawValue: method)
        request.headers = redfish.headers
        if let body = redfish.body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let timeout = endpoint.timeouts.request
        let http = self.http, outgoing = request
        do {
            // One request at a time to this BMC, a bounded number in all (`RequestGate`).
            let node = endpoint.name ?? bmc
            return try await RequestGate.shared.withPermit(for: bmc) {
                let start = ContinuousClock.now
                do {
                    let response = try await http.execute(outgoing, timeout: .init(timeout))
                    let bytes = try await response.body.collect(upTo: 64 << 20)
                    Self.record(node: node, method: method, status: String(response.status.code), since: start)
                    return RedfishResponse(status: Int(response.status.code), headers: response.headers,
                                           body: Data(bytes.readableBytesView))
                } catch {
                    Self.record(node: node, method: method, status: "none", since: start)
                    throw error
                }
            }
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw RedfishError.timedOut(bmc: bmc, method: method, path: path, seconds: timeout.seconds)
        } catch let error as HTTPClientError where error == .remoteConnectionClosed {
            // Half-sent requests are not replayed: a BMC closing mid-answer is reported, not retried.
            throw RedfishError.invalidResponse(bmc: bmc, method: method, path: path, reason: "connection closed mid-answer")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw RedfishError.unreachable(bmc: bmc, reason: RedfishClient.explain(error))
        }
    }
}

extension HTTPTransport {
    /// `liveboot_bmc_requests_total` and `liveboot_bmc_request_duration_seconds`, by node, method and status (`none`:
    /// no answer), through swift-metrics: a no-op unless the process bootstrapped a backend (`liveboot serve` does).
    static func record(node: String, method: String, status: String, since start: ContinuousClock.Instant) {
        let dimensions = [("node", node), ("method", method), ("status", status)]
        Counter(label: "liveboot_bmc_requests_total", dimensions: dimensions).increment()
        Metrics.Timer(label: "liveboot_bmc_request_duration_seconds", dimensions: dimensions).record(duration: ContinuousClock.now - start)
    }
}

/// A Redfish client for one BMC. Requests may run concurrently (the actor only guards the session).
public actor RedfishClient {
    public nonisolated let endpoint: BMCEndpoint
    private let transport: any RedfishTransport
    private let logger: Logger
    private var auth: Authorization = .none
    private var sessionURI: String?
    /// Every request sent, for benchmarks and `--verbose` summaries.
    public private(set) var requestCount = 0

    enum Authorization: Sendable {
        case none
        case session(token: String)
        case basic(String)
    }

    /// - Parameter transport: nil for HTTP(S) to `endpoint.baseURL`; tests hand in a fake that answers from captures.
    public init(endpoint: BMCEndpoint, transport: (any RedfishTransport)? = nil, logger: Logger = Logger(label: "redfish")) {
        self.endpoint = endpoint
        self.logger = logger
        self.transport = transport ?? HTTPTransport(endpoint: endpoint)
    }

    private var bmc: String { endpoint.baseURL }

    // MARK: Session

    /// Opens a Redfish session (`POST /redfish/v1/SessionService/Sessions`, the URI the specification fixes
    /// for login). Services without sessions (404/405/501) get HTTP Basic instead.
    public func login(sessionsURI: String = "/redfish/v1/SessionService/Sessions") async throws {
        struct Credentials: Encodable { let UserName: String; let Password: String }
        let body = try JSONEncoder().encode(Credentials(UserName: endpoint.username, Password: endpoint.password))
        do {
            let response = try await send("POST", sessionsURI, body: body, authorized: false)
            guard let token = response.headers.first(name: "X-Auth-Token") else {
                throw RedfishError.invalidResponse(bmc: bmc, method: "POST", path: sessionsURI,
                                                   reason: "session created without an X-Auth-Token header")
            }
            auth = .session(token: token)
            sessionURI = response.location.map { Self.path(of: $0) }
        } catch RedfishError.requestFailed(_, _, _, let status, _) where [404, 405, 501].contains(status) {
            useBasicAuthentication()
        } catch RedfishError.requestFailed(_, _, _, let status, _) where status == 401 || status == 403 {
            throw RedfishError.authenticationFailed(bmc: bmc, status: status)
        }
    }

    /// HTTP Basic on every request, for BMCs that have no session service.
    public func useBasicAuthentication() {
        let credentials = Data("\(endpoint.username):\(endpoint.password)".utf8).base64EncodedString()
        auth = .basic("Basic " + credentials)
    }

    /// Deletes the session, so that the BMC's small session table (iDRAC: 8) does not fill up.
    public func logout() async {
        defer { auth = .none; sessionURI = nil }
        guard case .session = auth, let sessionURI else { return }
        do { _ = try await send("DELETE", sessionURI) } catch {
            logger.debug("session delete failed", metadata: ["bmc": "\(bmc)", "error": "\(error)"])
        }
    }

    // MARK: Requests

    /// Fetches and decodes one resource.
    public func get<T: Decodable>(_ type: T.Type, at path: String) async throws -> T {
        try decode(type, from: try await send("GET", path), method: "GET", path: path)
    }

    /// Fetches a collection's members, in one `$expand` request when the service supports it. A service that
    /// advertises `$expand` and then answers with bare links (seen on emulators and some BMC builds) gets its
    /// members fetched one by one from that same answer.
    public func members<T: Decodable & Sendable>(_ type: T.Type, of collection: String, expand: Bool) async throws -> [T] {
        let links: [Link]
        if expand {
            let path = collection + (collection.contains("?") ? "&" : "?") + "$expand=.($levels=1)"
            let response = try await send("GET", path)
            if let expanded = try? JSONDecoder().decode(ExpandedCollection<T>.self, from: response.body) { return expanded.members }
            links = try decode(ResourceCollection.self, from: response, method: "GET", path: path).members
        } else {
            links = try await get(ResourceCollection.self, at: collection).members
        }
        return try await withThrowingTaskGroup(of: (Int, T).self) { group in
            for (index, link) in links.enumerated() {
                group.addTask { (index, try await self.get(T.self, at: link.id)) }
            }
            var found: [(Int, T)] = []
            for try await member in group { found.append(member) }
            return found.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    @discardableResult
    public func post(_ path: String, body: some Encodable) async throws -> RedfishResponse {
        try await send("POST", path, body: try JSONEncoder().encode(body))
    }

    @discardableResult
    public func patch(_ path: String, body: some Encodable, ifMatch: String? = nil) async throws -> RedfishResponse {
        var headers = HTTPHeaders()
        if let ifMatch { headers.add(name: "If-Match", value: ifMatch) }
        return try await send("PATCH", path, body: try JSONEncoder().encode(body), headers: headers)
    }

    public func decode<T: Decodable>(_ type: T.Type, from response: RedfishResponse, method: String, path: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: response.body)
        } catch {
            throw RedfishError.invalidResponse(bmc: bmc, method: method, path: path, reason: Self.explain(error))
        }
    }

    /// Sends one request, retrying connection failures and 503s within the policy. Error statuses throw
    /// `RedfishError` carrying the BMC's messages.
    @discardableResult
    public func send(_ method: String, _ path: String, body: Data? = nil, headers extra: HTTPHeaders = [:],
                     authorized: Bool = true) async throws -> RedfishResponse {
        let policy = endpoint.retry
        var attempt = 0
        while true {
            attempt += 1
            let response: RedfishResponse
            do {
                response = try await execute(method, path, body: body, headers: extra, authorized: authorized)
            } catch let error as RedfishError {
                // Only a connection that never got established is safe to retry for every method.
                guard case .unreachable = error, attempt < policy.attempts else { throw error }
                try await Task.sleep(for: policy.backoff(afterAttempt: attempt))
                continue
            }
            if response.status == 503 {
                guard attempt < policy.attempts else {
                    throw RedfishError.serviceUnavailable(bmc: bmc, method: method, path: path, attempts: attempt)
                }
                let wait = min(response.retryAfter ?? policy.backoff(afterAttempt: attempt), policy.maxBackoff)
                try await Task.sleep(for: wait)
                continue
            }
            if response.status == 401 || (response.status == 403 && !authorized) {
                throw RedfishError.authenticationFailed(bmc: bmc, status: response.status)
            }
            guard response.status < 400 else {
                let messages = (try? JSONDecoder().decode(RedfishErrorBody.self, from: response.body))?.messages ?? []
                throw RedfishError.requestFailed(bmc: bmc, method: method, path: path, status: response.status,
                                                 messages: messages)
            }
            return response
        }
    }

    private func execute(_ method: String, _ path: String, body: Data?, headers extra: HTTPHeaders,
                         authorized: Bool) async throws -> RedfishResponse {
        requestCount += 1
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "OData-Version", value: "4.0")
        if authorized {
            switch auth {
            case .none: break
            case .session(let token): headers.add(name: "X-Auth-Token", value: token)
            case .basic(let value): headers.add(name: "Authorization", value: value)
            }
        }
        if body != nil { headers.add(name: "Content-Type", value: "application/json") }
        headers.add(contentsOf: extra)
        let started = ContinuousClock.now
        let response = try await transport.execute(RedfishRequest(method: method, path: path, headers: headers, body: body))
        logger.debug("\(method) \(path) → \(response.status)",
                     metadata: ["bmc": "\(bmc)", "ms": "\((ContinuousClock.now - started).milliseconds)"])
        return response
    }

    /// `https://host/redfish/v1/x` → `/redfish/v1/x` (Location headers may be absolute).
    public static func path(of uri: String) -> String {
        guard uri.contains("://"), let url = URL(string: uri) else { return uri }
        return url.path + (url.query.map { "?" + $0 } ?? "")
    }

    static func explain(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context):
            return "not JSON (\(context.debugDescription))"
        case DecodingError.keyNotFound(let key, let context):
            return "missing \(([key] + context.codingPath).map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "unexpected value at \(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        default:
            let text = String(describing: error)
            let lower = text.lowercased()
            if lower.contains("connecttimeout") || lower.contains("timed out") { return "connection timed out" }
            if lower.contains("connectionrefused") || lower.contains("connection refused") || lower.contains("errno: 111") {
                return "connection refused"
            }
            if lower.contains("no address") || lower.contains("nodename nor servname") || lower.contains("name or service not known") {
                return "unknown host name"
            }
            if lower.contains("handshake") || lower.contains("certificate") { return "TLS failure: \(text)" }
            return text
        }
    }
}

extension Duration {
    /// The duration as a number of seconds.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
