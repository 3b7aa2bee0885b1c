import Foundation
import Hummingbird
import LivebootCore
import Logging

/// `POST /boot-reports/<instance-id>`: a live session says it is up (cloud-init's `phone_home`, form-encoded). Only a
/// boot this server (or the CLI, through the same database) started, and only once: anything else is a 4xx and
/// changes nothing. No login: the boot's id — random, and known only to the seed and the one who started the boot —
/// is the ticket, and the answer says nothing about other boots.
struct BootReportController {
    let boots: any BootRegistry
    let logger: Logger

    var routes: RouteCollection<PortalRequestContext> {
        let routes = RouteCollection(context: PortalRequestContext.self)
        routes.post(":id", use: receive)
        return routes
    }

    @Sendable func receive(_ request: Request, context: PortalRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true else {
            return Self.answer(.unsupportedMediaType, "a boot report is application/x-www-form-urlencoded, as cloud-init's phone_home posts it")
        }
        let body = try await request.body.collect(upTo: BootReportForm.maxBytes)
        let form: BootReportForm
        do {
            form = try BootReportForm(body: Data(body.readableBytesView), pathID: id)
        } catch {
            return Self.answer(.badRequest, "\(error)")
        }
        let outcome = try await boots.record(bootID: id, hostKeys: form.hostKeys.map(HostKey.init), hostname: form.hostname,
                                             fqdn: form.fqdn, from: context.remoteAddress, at: Date())
        switch outcome {
        case .recorded(let report):
            logger.info("live session reported", metadata: ["node": "\(report.node)", "boot": "\(id)", "from": "\(context.remoteAddress)"])
            return Self.answer(.ok, "recorded")
        case .unknownBoot:
            logger.notice("boot report for no known boot", metadata: ["boot": "\(id)", "from": "\(context.remoteAddress)"])
            return Self.answer(.notFound, "no boot \(id) was started here")
        case .closed:
            return Self.answer(.conflict, "boot \(id) has reported already or is over")
        }
    }

    static func answer(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }
}
