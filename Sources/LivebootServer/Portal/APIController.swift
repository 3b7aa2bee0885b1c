import Foundation
import Hummingbird
import LivebootCore
import NIOCore
import PortalStore

/// The JSON API under `/api/v1`: what the pages do, for scripts and the CLI (`Authorization: Bearer TOKEN`).
struct APIController: Sendable {
    let services: PortalServices
    let accounts: AccountService
    var nodes: NodeService { services.nodes }
    var slices: SliceService { services.slices }
    var leases: LeaseService { services.leases }

    struct Credentials: Decodable { let name: String; let password: String }
    struct TokenAnswer: Encodable { let token: String; let expiresAt: Date; let user: PublicUser }
    struct NodeAnswer: Encodable {
        let node: String
        let status: NodeStatus?
        let holder: String?
        /// The current lease: until when, the seconds left, whether it is ending (`leases.warn-minutes`).
        let lease: LeaseNotice?
        let lastOperation: NodeOperation?
    }
    struct OperationAnswer: Encodable { let operation: NodeOperation; let steps: [OperationStep] }
    struct ActionBody: Decodable { let image: String? }
    struct KeysBody: Decodable { let keys: String }
    struct KeysAnswer: Encodable {
        struct LineError: Encodable { let line: Int; let message: String }
        let added: [SliceKey]
        let duplicates: Int
        let errors: [LineError]
    }
    struct LeaseBody: Decodable { let node: String; let slice: String; let start: String?; let hours: Double }
    struct ExtendBody: Decodable { let hours: Double }
    struct BatchBody: Decodable { let action: String; let nodes: [String]; let image: String? }
    struct SliceAnswer: Encodable { let name: String; let members: [PublicUser]; let keys: [SliceKey] }

    /// Mounted at `/api/v1`.
    var publicRoutes: RouteCollection<PortalRequestContext> {
        let group = RouteCollection(context: PortalRequestContext.self)
        group.post("/token") { request, context in
            let body = try await Self.decode(Credentials.self, request)
            let user: User
            switch try await accounts.check(name: body.name, password: body.password, from: context.remoteAddress, for: "API token") {
            case .locked(let wait):
                throw HTTPError(.tooManyRequests, headers: [.retryAfter: "\(wait)"], message: "too many failed attempts: retry in \(wait) s")
            case .refused:
                throw HTTPError(.unauthorized, message: "unknown user or wrong password")
            case .accepted(let accepted):
                user = accepted
            }
            let token = try await accounts.issueToken(for: user)
            return try JSONAnswer(TokenAnswer(token: token.token, expiresAt: token.expiresAt, user: user.publicView))
        }
        return group
    }

    /// Mounted at `/api/v1`.
    var routes: RouteCollection<MemberRequestContext> {
        let group = RouteCollection(context: MemberRequestContext.self)
        group.get("/nodes") { _, _ in
            let statuses = Dictionary(await nodes.statuses().map { ($0.node, $0) }, uniquingKeysWith: { a, _ in a })
            let current = try await leases.notices()
            return try JSONAnswer(try await nodes.summaries().map {
                NodeAnswer(node: $0.node.name, status: statuses[$0.node.name], holder: $0.holder, lease: current[$0.node.name],
                           lastOperation: $0.last)
            })
        }
        group.get("/nodes/:node") { _, context in
            let node = try nodes.node(named: try context.parameters.require("node"))
            let status = await nodes.refreshStatus(of: node)
            let lease = try await leases.notices()[node.name]
            return try JSONAnswer(NodeAnswer(node: node.name, status: status, holder: lease?.slice, lease: lease, lastOperation: try await nodes.history(of: node.name, limit: 1).first))
        }
        group.post("/nodes/:node/:action") { request, context in
            guard let action = NodeAction(rawValue: try context.parameters.require("action")) else { throw HTTPError(.notFound) }
            let body = try await Self.decodeIfAny(ActionBody.self, request)
            let operation = try await nodes.start(action, on: try context.parameters.require("node"), image: body?.image,
                                                    by: context.user)
            return try JSONAnswer(operation, status: .accepted, headers: [.location: "/api/v1/operations/\(operation.id!)"])
        }
        // Many nodes at once: one operation per node, started together; refusals per node.
        group.post("/operations") { request, context in
            let body = try await Self.decode(BatchBody.self, request)
            guard let action = NodeAction(rawValue: body.action), action.isUserAction else {
                throw Refusal.invalid("unknown action \(body.action)")
            }
            let entries = try await nodes.start(action, on: body.nodes, image: body.image, by: context.user)
            return try JSONAnswer(entries, status: entries.contains { $0.operation != nil } ? .accepted : .forbidden)
        }
        group.get("/operations/:id") { _, context in
            guard let id = Int64(try context.parameters.require("id")) else { throw HTTPError(.notFound) }
            let operation = try await nodes.operation(id, for: context.user)
            return try JSONAnswer(OperationAnswer(operation: operation, steps: try await nodes.steps(of: operation)))
        }
        group.get("/operations/:id/events") { _, context in
            guard let id = Int64(try context.parameters.require("id")) else { throw HTTPError(.notFound) }
            let operation = try await nodes.operation(id, for: context.user)
            return try await nodes.feed(operation)
        }
        group.get("/operations/:id/screenshot.png") { _, context in
            guard let id = Int64(try context.parameters.require("id")) else { throw HTTPError(.notFound) }
            return try await nodes.screenshot(of: try await nodes.operation(id, for: context.user))
        }
        group.get("/images") { _, _ in try JSONAnswer(try nodes.images()) }
        group.get("/slices") { _, context in
            let user = context.user
            var answers: [SliceAnswer] = []
            for slice in try await slices.visible(to: user) {
                answers.append(SliceAnswer(name: slice.name, members: try await slices.members(of: slice),
                                           keys: try await slices.keys(of: slice)))
            }
            return try JSONAnswer(answers)
        }
        group.get("/slices/:slice/keys") { _, context in
            let slice = try await slices.slice(named: try context.parameters.require("slice"), for: context.user)
            return try JSONAnswer(try await slices.keys(of: slice))
        }
        group.post("/slices/:slice/keys") { request, context in
            // A JSON body `{"keys": "..."}` or the key file itself as text/plain.
            var request = request
            let buffer = try await RequestBody.collect(&request)
            let text: String
            if request.headers[.contentType]?.hasPrefix("application/json") == true {
                guard let body = try? JSONDecoder().decode(KeysBody.self, from: Data(buffer: buffer)) else {
                    throw HTTPError(.badRequest, message: "the body must be JSON {\"keys\": \"...\"} or the key file as text/plain")
                }
                text = body.keys
            } else {
                text = String(buffer: buffer)
            }
            let upload = try await slices.addKeys(text, to: try context.parameters.require("slice"), by: context.user)
            return try JSONAnswer(KeysAnswer(added: upload.added, duplicates: upload.duplicates,
                                             errors: upload.errors.map { .init(line: $0.line, message: $0.message) }),
                                  status: upload.errors.isEmpty ? .created : .unprocessableContent)
        }
        group.delete("/slices/:slice/keys/:id") { _, context in
            guard let id = Int64(try context.parameters.require("id")) else { throw HTTPError(.notFound) }
            try await slices.deleteKey(id, from: try context.parameters.require("slice"), by: context.user)
            return Response(status: .noContent)
        }
        group.get("/leases") { _, _ in try JSONAnswer(try await leases.upcoming()) }
        group.post("/leases") { request, context in
            let body = try await Self.decode(LeaseBody.self, request)
            let lease = try await leases.book(node: body.node, slice: body.slice, from: try LeaseController.parseStart(body.start, now: leases.clock.now),
                                               hours: body.hours, by: context.user)
            return try JSONAnswer(lease, status: .created)
        }
        // Extending a current lease: `{"hours": 1}` more (PATCH, or PUT with the same body).
        for method in [HTTPRequest.Method.patch, .put] {
            group.on("/leases/:id", method: method) { request, context in
                guard let id = Int64(try context.parameters.require("id")) else { throw HTTPError(.notFound) }
                let body = try await Self.decode(ExtendBody.self, request)
                return try JSONAnswer(try await leases.extend(id, byHours: body.hours, by: context.user))
            }
        }
        group.delete("/leases/:id") { _, context in
            guard let id = Int64(try context.parameters.require("id")) else { throw HTTPError(.notFound) }
            try await leases.cancelLease(id, by: context.user)
            return Response(status: .noContent)
        }
        return group
    }

    static func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        guard let value = try await decodeIfAny(type, request) else { throw HTTPError(.badRequest, message: "a JSON body is required") }
        return value
    }

    static func decodeIfAny<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T? {
        var request = request
        let buffer = try await RequestBody.collect(&request)
        guard buffer.readableBytes > 0 else { return nil }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch {
            var reason = LivebootConfig.explain(error)
            if case DecodingError.dataCorrupted = error { reason = "not valid JSON" }
            throw HTTPError(.badRequest, message: "malformed JSON body: \(reason)")
        }
    }
}

/// A JSON answer with ISO 8601 dates.
struct JSONAnswer: ResponseGenerator {
    let data: Data
    let status: HTTPResponse.Status
    let headers: HTTPFields

    init(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        data = try encoder.encode(value)
        self.status = status
        self.headers = headers
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns the portal's refusals into statuses: HTML pages get the error page, the API `{"error": "..."}`.
struct PortalErrors: RouterMiddleware {
    typealias Context = PortalRequestContext
    let pages: PageRenderer

    struct ErrorPage {
        let chrome: Chrome
        let status: Int
        let reason: String
        let message: String
    }

    struct ErrorAnswer: Encodable { let error: String }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let (status, message, headers) = Self.classify(error)
            if status.kind == .serverError {
                // Internals (SQL, types, paths) go to the log, never to the client.
                context.logger.error("request failed", metadata: ["path": .string(request.uri.path), "error": "\(error)"])
            }
            if request.uri.path.hasPrefix("/api/") {
                return try JSONAnswer(ErrorAnswer(error: message), status: status, headers: headers).response(from: request, context: context)
            }
            if status == .notFound && message.isEmpty { throw error }  // unknown routes keep the plain 404
            var response = try pages.render(ErrorPage(chrome: Chrome(title: status.reasonPhrase, identity: context.identity),
                                                      status: status.code, reason: status.reasonPhrase, message: message),
                                            "error", status: status)
            for field in headers { response.headers.append(field) }
            return response
        }
    }

    static func classify(_ error: any Error) -> (HTTPResponse.Status, String, HTTPFields) {
        switch error {
        case let denied as Refusal: (denied.status, denied.description, [:])
        case let store as PortalStoreError:
            switch store {
            case .busy, .leaseConflict, .nameTaken: (.conflict, store.description, [:])
            case .unknownNode: (.notFound, store.description, [:])
            default: (.badRequest, store.description, [:])
            }
        case let http as HTTPError: (http.status, http.body ?? "", http.headers)
        case is NIOTooManyBytesError: (.contentTooLarge, "the request body is too large", [:])
        case is DecodingError: (.badRequest, "the request body is malformed", [:])
        default: (.internalServerError, "internal error: the server's log has the details", [:])
        }
    }
}
