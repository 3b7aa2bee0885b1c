import Foundation
import Hummingbird
import Metrics
import Prometheus

/// The service's metrics for its operators, in the Prometheus text format at `GET /metrics`: swift-metrics is the
/// API everywhere (the Redfish layer counts its requests through it), swift-prometheus the backend, bootstrapped once
/// per process by the first server built (tests build many).
enum PortalMetrics {
    static let registry = PrometheusCollectorRegistry()

    private static let bootstrap: Void = {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Seconds from a BMC's answer to a live session's report: buckets that tell a 1 s BMC from a 10 s one, and a
        // 2-minute boot from a 10-minute one.
        factory.defaultDurationHistogramBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600].map { .milliseconds(Int64($0 * 1000)) }
        MetricsSystem.bootstrap(factory)
    }()

    static func start() { _ = bootstrap }

    /// An operation ended: by kind and result; a live boot that got ready, its time to ready.
    static func operationEnded(kind: String, result: String, after duration: Duration) {
        Counter(label: "liveboot_operations_total", dimensions: [("kind", kind), ("result", result)]).increment()
        Metrics.Timer(label: "liveboot_operation_duration_seconds", dimensions: [("kind", kind), ("result", result)])
            .record(duration: duration)
        if kind == "liveboot", result == "succeeded" {
            Metrics.Timer(label: "liveboot_time_to_ready_seconds").record(duration: duration)
        }
    }

    /// How long one step of an operation lasted (until the next step).
    static func step(_ name: String, of action: String, took duration: Duration) {
        Metrics.Timer(label: "liveboot_step_duration_seconds", dimensions: [("action", action), ("step", name)]).record(duration: duration)
    }

    static func statusRound(took duration: Duration, nodes: Int) {
        Metrics.Timer(label: "liveboot_status_round_duration_seconds").record(duration: duration)
        Gauge(label: "liveboot_nodes").record(nodes)
    }

    static func leaseReturned(result: String) {
        Counter(label: "liveboot_lease_returns_total", dimensions: [("result", result)]).increment()
    }
}

/// `GET /metrics`: open to loopback only unless `portal.metrics-token` is set, then to `Authorization: Bearer TOKEN`
/// from anywhere (a Prometheus server elsewhere). Nothing secret is among the metrics (nodes, methods, statuses).
struct MetricsController: Sendable {
    let token: String?

    func response(_ request: Request, from address: String) throws -> Response {
        if let token {
            let given = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
            guard let given, Self.same(given, token) else {
                throw HTTPError(.unauthorized, headers: [.wwwAuthenticate: "Bearer"], message: "metrics need the bearer token (portal.metrics-token)")
            }
        } else {
            guard ["127.0.0.1", "::1", "::ffff:127.0.0.1"].contains(address) else {
                throw HTTPError(.forbidden, message: "metrics are open to loopback only (set portal.metrics-token to read them from elsewhere)")
            }
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: PortalMetrics.registry.emitToBuffer())))
    }

    /// Compared in constant time: a token's prefix is not found by timing.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
