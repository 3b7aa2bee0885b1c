import Foundation
import Hummingbird
import PortalStore

/// Login, logout and the user's API token.
struct AccountController: Sendable {
    let users: any UserRepository
    let sessions: any SessionRepository
    let audit: any AuditLog
    let throttle: LoginThrottle
    let pages: PageRenderer
    let settings: PortalSettings

    /// Before login there is no session to hold a CSRF token: the login form uses a double-submit cookie instead.
    static let loginCookie = "lb_login"

    struct LoginPage {
        let chrome: Chrome
        let csrf: String
        let next: String
        let error: String?
        let name: String
    }

    struct LoginForm: Decodable {
        let name: String
        let password: String
        let next: String?
        let _csrf: String?
    }

    struct AccountPage {
        let chrome: Chrome
        let token: String?
        let slices: [String]
    }

    func addPublicRoutes(to group: RouterGroup<PortalRequestContext>) {
        group.get("/login") { request, context in
            if context.identity != nil { return PageRenderer.redirect("/") }
            return try loginPage(next: request.uri.queryParameters["next"].map(String.init), error: nil, name: "")
        }
        group.post("/login") { request, context in try await login(request, context: context) }
    }

    func addRoutes(to group: RouterGroup<PortalRequestContext>, slices: any SliceRepository) {
        group.post("/logout") { _, context in
            if case .session(let token) = context.identity?.means { try await sessions.closeSession(token: token) }
            var response = PageRenderer.redirect("/login")
            response.setCookie(settings.cookie(Authenticator.cookieName, value: "", maxAge: 0))
            return response
        }
        group.get("/account") { _, context in
            let user = try context.requireUser()
            return try pages.render(AccountPage(chrome: Chrome(title: "Account", identity: context.identity), token: nil,
                                                slices: try await slices.slices(of: user).map(\.name)), "account")
        }
        group.post("/account/token") { _, context in
            let user = try context.requireUser()
            let token = try await users.issueAPIToken(for: user)
            try await audit.record(user: user.name, slice: nil, node: nil, action: "new API token", result: "ok")
            return try pages.render(AccountPage(chrome: Chrome(title: "Account", identity: context.identity), token: token,
                                                slices: try await slices.slices(of: user).map(\.name)), "account")
        }
    }

    func loginPage(next: String?, error: String?, name: String, status: HTTPResponse.Status = .ok) throws -> Response {
        let csrf = PortalDatabase.randomToken()
        var response = try pages.render(LoginPage(chrome: Chrome(title: "Log in", identity: nil), csrf: csrf,
                                                  next: Self.safeNext(next), error: error, name: name), "login", status: status)
        response.setCookie(settings.cookie(Self.loginCookie, value: csrf, maxAge: 3600, path: "/login"))
        return response
    }

    /// Only local paths: a login link cannot send the user to another site afterwards.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\") else { return "/" }
        return next
    }

    func login(_ request: Request, context: PortalRequestContext) async throws -> Response {
        var request = request
        let form = try await FormBody.decode(LoginForm.self, from: &request)
        guard let cookie = request.cookies[Self.loginCookie]?.value, let sent = form._csrf, sent.constantTimeEquals(cookie) else {
            throw HTTPError(.forbidden, message: "missing or wrong CSRF token: reload the login page and try again")
        }
        let user: User
        switch try await throttle.attempt(name: form.name, password: form.password, from: context.remoteAddress, users: users) {
        case .locked(let wait):
            var response = try loginPage(next: form.next, error: "Too many failed attempts: try again in \(wait) s.",
                                         name: form.name, status: .tooManyRequests)
            response.headers[.retryAfter] = "\(wait)"
            return response
        case .refused:
            try await audit.record(user: form.name, slice: nil, node: nil, action: "login", result: "refused from \(context.remoteAddress)")
            return try loginPage(next: form.next, error: "Unknown user or wrong password.", name: form.name, status: .unauthorized)
        case .accepted(let accepted):
            user = accepted
        }
        let session = try await sessions.openSession(for: user, lifetime: settings.sessionLifetime)
        try await audit.record(user: user.name, slice: nil, node: nil, action: "login", result: "ok from \(context.remoteAddress)")
        var response = PageRenderer.redirect(Self.safeNext(form.next))
        response.setCookie(settings.cookie(Authenticator.cookieName, value: session.token,
                                           maxAge: Int(settings.sessionLifetime.components.seconds)))
        response.setCookie(settings.cookie(Self.loginCookie, value: "", maxAge: 0, path: "/login"))
        return response
    }
}

/// Cookie and session settings of the portal.
struct PortalSettings: Sendable {
    var sessionLifetime: Duration = .seconds(12 * 3600)
    /// Behind a TLS terminator (or served over TLS): cookies get `Secure`.
    var secureCookies = false

    func cookie(_ name: String, value: String, maxAge: Int, path: String = "/") -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: path, secure: secureCookies, httpOnly: true, sameSite: .strict)
    }
}
