import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore

/// A browser-like client over Hummingbird's test client: keeps cookies, reads each page's CSRF token, sends forms.
final class PortalClient: @unchecked Sendable {
    let client: any TestClientProtocol
    var cookies: [String: String] = [:]
    var csrf: String?

    init(_ client: any TestClientProtocol) { self.client = client }

    struct Answer {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let body: String
        /// The body as sent (an image, say).
        let bytes: Data
        var code: Int { status.code }
    }

    @discardableResult
    func send(_ method: HTTPRequest.Method, _ path: String, form: [(String, String)]? = nil, json: String? = nil,
              text: String? = nil, headers extra: HTTPFields = [:], csrfField: Bool = true) async throws -> Answer {
        var headers = extra
        if !cookies.isEmpty { headers[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        var body: ByteBuffer?
        if var form {
            if csrfField, let csrf { form.append(("_csrf", csrf)) }
            headers[.contentType] = "application/x-www-form-urlencoded"
            body = ByteBuffer(string: form.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&"))
        } else if let json {
            headers[.contentType] = "application/json"
            body = ByteBuffer(string: json)
        } else if let text {
            headers[.contentType] = "text/plain"
            body = ByteBuffer(string: text)
        }
        let response = try await client.execute(uri: path, method: method, headers: headers, body: body)
        for cookie in response.headers[values: .setCookie] {
            let pair = cookie.split(separator: ";")[0].split(separator: "=", maxSplits: 1)
            let name = String(pair[0]), value = pair.count > 1 ? String(pair[1]) : ""
            if value.isEmpty || cookie.contains("Max-Age=0") { cookies[name] = nil } else { cookies[name] = value }
        }
        let text = String(buffer: response.body)
        if let token = Self.csrfToken(in: text) { csrf = token }
        return Answer(status: response.status, headers: response.headers, body: text, bytes: Data(response.body.readableBytesView))
    }

    func get(_ path: String) async throws -> Answer { try await send(.get, path) }

    func post(_ path: String, _ form: [(String, String)] = []) async throws -> Answer { try await send(.post, path, form: form) }

    /// Logs in through the login form, as a browser does.
    @discardableResult
    func login(_ name: String, _ password: String) async throws -> Answer {
        _ = try await get("/login")
        return try await post("/login", [("name", name), ("password", password), ("next", "/")])
    }

    static func csrfToken(in html: String) -> String? {
        guard let range = html.range(of: #"name="_csrf" value="([^"]+)""#, options: .regularExpression) else { return nil }
        let match = html[range]
        return match.split(separator: "\"").dropFirst(3).first.map(String.init)
    }

    static func encode(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~"))) ?? value
    }
}
