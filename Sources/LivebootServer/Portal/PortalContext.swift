import Hummingbird
import HummingbirdWebSocket
import NIOCore
import PortalStore

/// Who is making a request, and how they proved it.
struct Identity: Sendable {
    enum Means: Sendable { case session(token: String), apiToken }
    let user: User
    let means: Means
    /// The session's CSRF token (browser sessions only): put in every form, checked on every POST.
    let csrf: String?
}

/// The portal's typed request context: the caller's identity once `Authenticator` has run.
struct PortalRequestContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    var identity: Identity?
    /// Set by a WebSocket route (the console) that accepts the upgrade.
    let webSocket = WebSocketHandlerReference<PortalRequestContext>()
    /// The client's IP address (login throttling, audit): the peer's, or the one a trusted proxy names (`ClientAddress`).
    var remoteAddress: String

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// Forms and JSON bodies are small; key files are the biggest thing a user sends.
    var maxUploadSize: Int { FormBody.limit }
}

/// A request whose caller is logged in: it cannot exist without a user, so the routes under it never ask whether
/// there is one. Made from the portal's context once `RequireLogin` has let the request through.
struct MemberRequestContext: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    let identity: Identity
    let remoteAddress: String
    var user: User { identity.user }
    var actor: Actor { Actor(identity.user) }

    init(context: PortalRequestContext) throws {
        guard let identity = context.identity else { throw HTTPError(.unauthorized, message: "log in first") }
        coreContext = context.coreContext
        self.identity = identity
        remoteAddress = context.remoteAddress
    }

    var maxUploadSize: Int { FormBody.limit }
}

/// A request of an administrator: under `/admin`, refused with 403 for anyone else before a handler runs.
struct AdminRequestContext: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    let identity: Identity
    var admin: Actor { Actor(identity.user) }

    init(context: MemberRequestContext) throws {
        guard context.user.isAdmin else { throw Refusal.forbidden("administrators only") }
        coreContext = context.coreContext
        identity = context.identity
    }

    var maxUploadSize: Int { FormBody.limit }
}
