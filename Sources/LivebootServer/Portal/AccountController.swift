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
    let loginTokens: LoginTokens

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
        let tokenExpires: String?
        let slices: [String]
        var notice: String? = nil
        var error: String? = nil
    }

    struct PasswordForm: Decodable {
        let current: String
        let password: String
        let confirm: String
    }

    func addPublicRoutes(to group: RouterGroup<PortalRequestContext>) {
        group.get("/login") { request, context in
            if context.identity != nil { return PageRenderer.redirect("/") }
            return try loginPage(next: request.uri.queryParameters["next"].map(String.init), error: nil, name: "")
        }
        group.post("/login") { request, context in try await login(request, context: context) }
    }

    func addRoutes(to group: RouterGroup<MemberRequestContext>, slices: any SliceRepository) {
        group.post("/logout") { _, context in
            if case .session(let token) = context.identity.means { try await sessions.closeSession(token: token) }
            var response = PageRenderer.redirect("/login")
            response.setCookie(settings.cookie(Authenticator.cookieName, value: "", maxAge: 0))
            return response
        }
        @Sendable func page(_ context: MemberRequestContext, token: APIToken? = nil, notice: String? = nil, error: String? = nil,
                  status: HTTPResponse.Status = .ok) async throws -> Response {
            let user = context.user
            return try pages.render(AccountPage(chrome: Chrome(title: "Account", identity: context.identity), token: token?.token,
                                                tokenExpires: token.map { $0.expiresAt.formatted(.iso8601) },
                                                slices: try await slices.slices(of: user).map(\.name), notice: notice, error: error),
                                    "account", status: status)
        }
        group.get("/account") { _, context in try await page(context) }
        group.post("/account/token") { _, context in
            let user = context.user
            let token = try await users.issueAPIToken(for: user)
            try await audit.record(user: user.name, slice: nil, node: nil, action: "new API token", result: "ok")
            return try await page(context, token: token)
        }
        group.post("/account/password") { request, context in
            let user = context.user
            var request = request
            let form = try await FormBody.decode(PasswordForm.self, from: &request)
            guard form.password == form.confirm else {
                return try await page(context, error: "The two new passwords differ.", status: .badRequest)
            }
            switch try await throttle.attempt(name: user.name, password: form.current, from: context.remoteAddress, users: users) {
            case .locked(let wait, _):
                return try await page(context, error: "Too many failed attempts: try again in \(wait) s.", status: .tooManyRequests)
            case .refused:
                try await audit.record(user: user.name, slice: nil, node: nil, action: "change password", result: "refused: wrong current password")
                return try await page(context, error: "The current password is wrong.", status: .forbidden)
            case .accepted:
                break
            }
            do {
                var kept: String?
                if case .session(let token) = context.identity.means { kept = token }
                try await users.changePassword(of: user, to: form.password, keepingSession: kept)
            } catch let error as PortalStoreError {
                return try await page(context, error: error.description + ".", status: .badRequest)
            }
            try await audit.record(user: user.name, slice: nil, node: nil, action: "change password", result: "ok")
            return try await page(context, notice: "Password changed. Your other sessions are closed and your API token is revoked.")
        }
    }

    func loginPage(next: String?, error: String?, name: String, status: HTTPResponse.Status = .ok) throws -> Response {
        let csrf = loginTokens.make()
        var response = try pages.render(LoginPage(chrome: Chrome(title: "Log in", identity: nil), csrf: csrf,
                                                  next: Self.safeNext(next), error: error, name: name), "login", status: status)
        response.setCookie(settings.cookie(Self.loginCookie, value: csrf, maxAge: 3600, path: "/login"))
        return response
    }

    /// Only local paths, in a plain alphabet: a login link cannot send the user to another site afterwards. Browsers
    /// drop tabs and newlines and read `\` as `/`, so `/\t/other-host` is `//other-host`: anything outside the
    /// alphabet below gives `/`.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.utf8.count <= 512, next.hasPrefix("/"), !next.hasPrefix("//"),
              next.unicodeScalars.allSatisfy({ nextAlphabet.contains($0) }) else { return "/" }
        return next
    }

    static let nextAlphabet = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/-._~?=&%+:,;@")

    func login(_ request: Request, context: PortalRequestContext) async throws -> Response {
        var request = request
        let form = try await FormBody.decode(LoginForm.self, from: &request, limit: FormBody.loginLimit)
        guard let cookie = request.cookies[Self.loginCookie]?.value, let sent = form._csrf, sent.constantTimeEquals(cookie),
              loginTokens.isValid(sent) else {
            throw HTTPError(.forbidden, message: "missing or wrong CSRF token: reload the login page and try again")
        }
        let user: User
        switch try await throttle.attempt(name: form.name, password: form.password, from: context.remoteAddress, users: users) {
        case .locked(let wait, let newLockout):
            if newLockout {
                try await audit.record(user: form.name, slice: nil, node: nil, action: "login",
                                       result: "locked out for \(wait) s from \(context.remoteAddress)")
            }
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
