import Foundation
import Hummingbird
import PortalStore

/// Login, logout and the user's API token.
struct AccountController: Sendable {
    let accounts: AccountService
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

    /// Mounted at `/`.
    var publicRoutes: RouteCollection<PortalRequestContext> {
        let group = RouteCollection(context: PortalRequestContext.self)
        group.get("/login") { request, context in
            if context.identity != nil { return PageRenderer.redirect("/") }
            return try loginPage(next: request.uri.queryParameters["next"].map(String.init), error: nil, name: "")
        }
        group.post("/login") { request, context in try await login(request, context: context) }
        return group
    }

    /// Mounted at `/`.
    var routes: RouteCollection<MemberRequestContext> {
        let group = RouteCollection(context: MemberRequestContext.self)
        group.post("/logout") { _, context in
            try await accounts.closeSession(context.identity)
            var response = PageRenderer.redirect("/login")
            response.setCookie(settings.cookie(Authenticator.cookieName, value: "", maxAge: 0))
            return response
        }
        @Sendable func page(_ context: MemberRequestContext, token: APIToken? = nil, notice: String? = nil, error: String? = nil,
                  status: HTTPResponse.Status = .ok) async throws -> Response {
            let user = context.user
            return try pages.render(AccountPage(chrome: Chrome(title: "Account", identity: context.identity), token: token?.token,
                                                tokenExpires: token.map { $0.expiresAt.formatted(.iso8601) },
                                                slices: try await accounts.slices(of: user), notice: notice, error: error),
                                    "account", status: status)
        }
        group.get("/account") { _, context in try await page(context) }
        group.post("/account/token") { _, context in
            let user = context.user
            let token = try await accounts.issueToken(for: user)
            return try await page(context, token: token)
        }
        group.post("/account/password") { request, context in
            let user = context.user
            var request = request
            let form = try await FormBody.decode(PasswordForm.self, from: &request)
            guard form.password == form.confirm else {
                return try await page(context, error: "The two new passwords differ.", status: .badRequest)
            }
            do {
                switch try await accounts.changePassword(of: context.identity, current: form.current, to: form.password,
                                                         from: context.remoteAddress) {
                case .locked(let wait):
                    return try await page(context, error: "Too many failed attempts: try again in \(wait) s.", status: .tooManyRequests)
                case .refused:
                    return try await page(context, error: "The current password is wrong.", status: .forbidden)
                case .accepted:
                    break
                }
            } catch let error as PortalStoreError {
                return try await page(context, error: error.description + ".", status: .badRequest)
            }
            return try await page(context, notice: "Password changed. Your other sessions are closed and your API token is revoked.")
        }
        return group
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
    static func safeNext(_ next: String?) -> String { localPath(next) ?? "/" }

    /// `path` when it is a local path in that alphabet (the login's `next`, a form's `back`), else nil.
    static func localPath(_ path: String?) -> String? {
        guard let path, path.utf8.count <= 512, path.hasPrefix("/"), !path.hasPrefix("//"),
              path.unicodeScalars.allSatisfy({ nextAlphabet.contains($0) }) else { return nil }
        return path
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
        switch try await accounts.check(name: form.name, password: form.password, from: context.remoteAddress, for: "login") {
        case .locked(let wait):
            var response = try loginPage(next: form.next, error: "Too many failed attempts: try again in \(wait) s.",
                                         name: form.name, status: .tooManyRequests)
            response.headers[.retryAfter] = "\(wait)"
            return response
        case .refused:
            return try loginPage(next: form.next, error: "Unknown user or wrong password.", name: form.name, status: .unauthorized)
        case .accepted(let accepted):
            user = accepted
        }
        let session = try await accounts.openSession(for: user, lifetime: settings.sessionLifetime, from: context.remoteAddress)
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
