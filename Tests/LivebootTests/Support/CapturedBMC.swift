import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1
@testable import Redfish

/// A `RedfishTransport` that answers from a captured mockup tree (`<fixture>/redfish/v1/…/index.json`, as
/// `../shared/fixtures/redfish/` holds them) and records every request, for unit tests of one adapter's quirks
/// without a server. GETs of captured resources are answered as captured (`$expand` builds the expanded collection
/// from the captured members); a login gets a token; what a test scripts (a method and path) answers as scripted;
/// anything else is a 404 with a Redfish error body, as a BMC would give.
final class CapturedBMC: RedfishTransport {
    struct Sent: Sendable {
        let method: String
        let path: String
        let body: Data?

        /// The JSON body as a dictionary of its top-level fields, for assertions.
        var json: [String: Any] { body.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:] }
    }

    let root: URL
    private let state = NIOLockedValueBox<(sent: [Sent], scripted: [String: [RedfishResponse]])>(([], [:]))

    /// `folder`: a fixture folder under `../shared/fixtures/redfish/`.
    init(fixture folder: String) { root = Fixtures.redfish.appendingPathComponent(folder) }

    var sent: [Sent] { state.withLockedValue { $0.sent } }
    func sent(_ method: String) -> [Sent] { sent.filter { $0.method == method } }

    /// The next `method path` gets these answers, one per request, the last one repeated.
    func script(_ method: String, _ path: String, _ answers: RedfishResponse...) {
        state.withLockedValue { $0.scripted[method + " " + path] = answers }
    }

    static func answer(_ status: Int, json: Data = Data("{}".utf8), headers: [(String, String)] = []) -> RedfishResponse {
        RedfishResponse(status: status, headers: HTTPHeaders(headers), body: json)
    }

    static func error(_ status: Int, messageID: String, message: String) -> RedfishResponse {
        let body = #"{"error":{"code":"\#(messageID)","message":"\#(message)","@Message.ExtendedInfo":[{"MessageId":"\#(messageID)","Message":"\#(message)"}]}}"#
        return answer(status, json: Data(body.utf8))
    }

    func client() -> RedfishClient {
        RedfishClient(endpoint: BMCEndpoint(baseURL: "https://captured.invalid", username: "root", password: "calvin"),
                      transport: self)
    }

    func execute(_ request: RedfishRequest) async throws -> RedfishResponse {
        let scripted = state.withLockedValue { state -> RedfishResponse? in
            state.sent.append(Sent(method: request.method, path: request.path, body: request.body))
            let key = request.method + " " + request.path
            guard var answers = state.scripted[key], let first = answers.first else { return nil }
            if answers.count > 1 { answers.removeFirst() }
            state.scripted[key] = answers
            return first
        }
        if let scripted { return scripted }
        if request.method == "POST", request.path == "/redfish/v1/SessionService/Sessions" {
            return Self.answer(201, headers: [("X-Auth-Token", "captured-token"),
                                              ("Location", "/redfish/v1/SessionService/Sessions/1")])
        }
        if request.method == "DELETE", request.path.hasPrefix("/redfish/v1/SessionService/Sessions/") { return Self.answer(204) }
        guard request.method == "GET" else {
            return Self.error(405, messageID: "Base.1.8.OperationNotAllowed", message: "not scripted: \(request.method) \(request.path)")
        }
        let (path, query) = Self.split(request.path)
        guard let resource = resource(at: path) else {
            return Self.error(404, messageID: "Base.1.8.ResourceMissingAtURI", message: "\(path) is not captured")
        }
        guard query.contains("$expand"), let members = resource["Members"] as? [[String: Any]] else {
            return Self.answer(200, json: try JSONSerialization.data(withJSONObject: resource))
        }
        var expanded = resource
        expanded["Members"] = members.compactMap { ($0["@odata.id"] as? String).flatMap(self.resource(at:)) }
        return Self.answer(200, json: try JSONSerialization.data(withJSONObject: expanded))
    }

    private func resource(at path: String) -> [String: Any]? {
        var trimmed = path
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        let file = root.appendingPathComponent(String(trimmed.dropFirst())).appendingPathComponent("index.json")
        guard let data = FileManager.default.contents(atPath: file.path) else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    private static func split(_ path: String) -> (String, String) {
        guard let mark = path.firstIndex(of: "?") else { return (path, "") }
        return (String(path[..<mark]), String(path[path.index(after: mark)...]))
    }
}
