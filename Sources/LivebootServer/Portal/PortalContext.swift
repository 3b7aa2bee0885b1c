import Hummingbird
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
struct PortalRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var identity: Identity?
    /// The client's IP address (login throttling, audit): the peer's, or the one a trusted proxy names (`ClientAddress`).
    var remoteAddress: String

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// Forms and JSON bodies are small; key files are the biggest thing a user sends.
    var maxUploadSize: Int { FormBody.limit }

    func requireUser() throws -> User {
        guard let user = identity?.user else { throw HTTPError(.unauthorized, message: "log in first") }
        return user
    }
}
