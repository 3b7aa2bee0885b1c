import Foundation
import Hummingbird
import HummingbirdWebSocket
import LivebootCore
import NIOCore
import PortalStore

/// A node's serial console in the browser: a WebSocket relayed to the node's one BMC session (the BMC's credentials
/// stay in the server), and the console log of a boot as text.
///
/// Over the socket: binary frames carry the console's bytes (to the browser) and the keys typed (from it); text
/// frames from the server are JSON, `{"notice": …}`, `{"keyboard": {"mine": …, "holder": …}}` or `{"ended": …}`.
struct ConsoleController: Sendable {
    let consoles: ConsoleService

    /// On the WebSocket router (the upgrade requests): an upgrade only for a user who may open the console, from a
    /// page of this portal (a cookie alone would let any site's page open it: the Origin must be this host's).
    func addWebSocketRoute(to router: Router<PortalRequestContext>) {
        router.ws("/nodes/:node/console/ws", shouldUpgrade: { request, context in
            guard let user = context.identity?.user, Self.sameOrigin(request) else { return .dontUpgrade }
            let name = try context.parameters.require("node")
            // Authorized here, where a refusal can still be an HTTP answer (the page route below says why).
            _ = try await consoles.authorize(name, by: user)
            return .upgrade([:])
        }, onUpgrade: { inbound, outbound, context in
            guard let user = context.requestContext.identity?.user,
                  let name = context.requestContext.parameters.get("node") else { return }
            let takeOver = context.request.uri.queryParameters["takeover"] == "1"
            let (console, request) = try await consoles.open(name, by: user, takeOver: takeOver)
            let attachment = await console.attach(request)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await event in attachment.events {
                        switch event {
                        case .output(let bytes): try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
                        default: try await outbound.write(.text(Self.json(event)))
                        }
                    }
                }
                group.addTask {
                    for try await message in inbound.messages(maxSize: 64 << 10) {
                        switch message {
                        case .binary(let buffer): await attachment.type(Array(buffer.readableBytesView))
                        case .text(let text): await attachment.type(Array(text.utf8))
                        }
                    }
                }
                // Whichever ends first (the browser left, the console closed for everyone) ends both.
                _ = try await group.next()
                group.cancelAll()
            }
            await attachment.leave()
        })
    }

    /// Mounted at `/nodes`: the same path as an ordinary request, which says why no upgrade happened.
    var routes: RouteCollection<MemberRequestContext> {
        let group = RouteCollection(context: MemberRequestContext.self)
        group.get("/:node/console/ws") { request, context -> Response in
            let name = try context.parameters.require("node")
            _ = try await consoles.authorize(name, by: context.user)
            guard Self.sameOrigin(request) else { throw Refusal.forbidden("the console opens from this portal's pages only") }
            throw HTTPError(.badRequest, message: "the console is a WebSocket: open it from the node's page")
        }
        return group
    }

    /// Mounted at `/nodes` too: whether the console will show the boot (the BMC's and the BIOS's settings), for the
    /// panel; asked by the page's script, so that the page itself never waits for the BMC.
    var readinessRoutes: RouteCollection<MemberRequestContext> {
        let group = RouteCollection(context: MemberRequestContext.self)
        group.get("/:node/console/readiness") { _, context -> ReadinessAnswer in
            let name = try context.parameters.require("node")
            let readiness = try await consoles.readiness(of: name, by: context.user)
            return ReadinessAnswer(summary: readiness.summary, ready: readiness.isReady, problems: readiness.problems,
                                   setup: readiness.biosChanges.isEmpty ? nil : "lb console --setup \(name)")
        }
        return group
    }

    /// Mounted at `/operations`: the boot's console log as text (escape sequences removed).
    var operationRoutes: RouteCollection<MemberRequestContext> {
        let group = RouteCollection(context: MemberRequestContext.self)
        group.get("/:id/console.txt") { _, context -> Response in
            guard let id = Int64(try context.parameters.require("id")) else { throw HTTPError(.notFound) }
            let operation = try await consoles.nodes.operation(id, for: context.user)
            guard let log = try await consoles.log(of: operation) else { throw Refusal.notFound("operation #\(id) has no console log") }
            let text = log.unavailable.map { "(no console log: \($0))\n" } ?? log.text
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        return group
    }

    /// A browser's WebSocket always says where its page came from (`http(s)://host:port`): it must be this portal,
    /// or any site's page could open the console with the user's cookie. Non-browser clients send no Origin or a
    /// `ws(s)://` one, which no browser sends; `null` (a sandboxed or local page) is refused.
    static func sameOrigin(_ request: Request) -> Bool {
        guard let origin = request.headers[.origin] else { return true }
        guard let components = URLComponents(string: origin), let scheme = components.scheme?.lowercased() else { return false }
        if scheme == "ws" || scheme == "wss" { return true }
        guard scheme == "http" || scheme == "https", let host = request.head.authority else { return false }
        return (components.host ?? "") + (components.port.map { ":\($0)" } ?? "") == host
    }

    /// What the panel's readiness line says.
    struct ReadinessAnswer: ResponseEncodable {
        let summary: String
        let ready: Bool
        let problems: [String]
        /// The command that fixes the BIOS's part, when something is wrong.
        let setup: String?
    }

    /// A text frame: one of its fields, as the event says.
    struct ControlMessage: Encodable {
        struct Keyboard: Encodable {
            let mine: Bool
            let holder: String?
        }
        var notice: String?
        var keyboard: Keyboard?
        var ended: String?
    }

    static func json(_ event: ConsoleEvent) -> String {
        var message = ControlMessage()
        switch event {
        case .notice(let text): message.notice = text
        case .keyboard(let mine, let holder): message.keyboard = .init(mine: mine, holder: holder)
        case .ended(let why): message.ended = why
        case .output: break
        }
        return (try? JSONEncoder().encode(message)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
