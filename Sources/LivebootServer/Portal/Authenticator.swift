import Foundation
import Hummingbird
import HTTPTypes
import PortalStore

/// Identifies the caller from the session cookie or an `Authorization: Bearer` API token, and enforces CSRF on
/// every state-changing request made with a cookie (API tokens are not sent by browsers on their own, so they need none).
struct Authenticator: RouterMiddleware {
    typealias Context = PortalRequestContext
    let sessions: any SessionRepository
    let users: any UserRepository

    static let cookieName = "lb_session"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        var request = request
        if let authorization = request.headers[.authorization], authorization.lowercased().hasPrefix("bearer ") {
            let token = String(authorization.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
            guard let user = try await users.user(apiToken: token) else {
                throw HTTPError(.unauthorized, message: "unknown or revoked API token")
            }
            context.identity = Identity(user: user, means: .apiToken, csrf: nil)
        } else if let token = request.cookies[Self.cookieName]?.value,
                  let (user, csrf) = try await sessions.session(token: token, now: Date()) {
            context.identity = Identity(user: user, means: .session(token: token), csrf: csrf)
            if request.method != .get && request.method != .head {
                // The body is collected here and handed on, so handlers decode the same bytes.
                let field: CSRFField?
                do {
                    field = try await FormBody.decode(CSRFField.self, from: &request, accepting: .urlEncodedOrMultipart)
                } catch let error as HTTPError where error.status == .contentTooLarge {
                    throw error
                } catch {
                    field = nil  // not a form (a script's JSON): the header must carry the token
                }
                guard let sent = field?._csrf ?? request.headers[.csrfToken], sent.constantTimeEquals(csrf) else {
                    throw HTTPError(.forbidden, message: "missing or wrong CSRF token: reload the page and try again")
                }
            }
        }
        return try await next(request, context)
    }
}

/// Pages need a logged-in user: browsers go to the login page, API callers get 401.
struct RequireLogin: RouterMiddleware {
    typealias Context = PortalRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard context.identity != nil else {
            if request.uri.path.hasPrefix("/api/") { throw HTTPError(.unauthorized, message: "log in or send an API token") }
            let next = request.method == .get ? "?next=" + (request.uri.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "/-_."))) ?? "/") : ""
            return Response(status: .seeOther, headers: [.location: "/login" + next])
        }
        return try await next(request, context)
    }
}

extension HTTPField.Name {
    /// Scripts (the page's own JavaScript) may send the CSRF token as a header instead of a form field.
    static let csrfToken = Self("X-CSRF-Token")!
}
