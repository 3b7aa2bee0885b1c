import Foundation
import Hummingbird
import LivebootCore
import Mustache

/// `GET /`: the read-only node dashboard.
struct DashboardController: Sendable {
    let board: StatusBoard
    let templates: MustacheLibrary
    let catalog: ImageCatalog
    let refreshSeconds: Int

    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/") { _, _ in try await render() }
    }

    func render() async throws -> HTML {
        let page = DashboardPage(statuses: await board.statuses, updatedAt: await board.updatedAt,
                                 images: (try? catalog.list()) ?? [], refreshSeconds: refreshSeconds)
        guard let html = templates.render(page, withTemplate: "dashboard") else { throw HTTPError(.internalServerError) }
        return HTML(html)
    }
}

/// A rendered page.
struct HTML: ResponseGenerator {
    let text: String
    init(_ text: String) { self.text = text }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// What the dashboard template shows: one struct per page, never a dictionary.
struct DashboardPage {
    struct Row {
        let name: String
        let power: String
        let powerClass: String
        let bios: String
        let slots: [Slot]
        let ping: String
        let pingClass: String
        let ssh: String
        let sshClass: String
        let bootOnce: String?
        let error: String?
    }

    struct Slot {
        let id: String
        let image: String
        let inserted: Bool
    }

    struct Image {
        let name: String
        let shortNames: String
        let size: String
    }

    let rows: [Row]
    let hasRows: Bool
    let images: [Image]
    let updated: String
    let refreshSeconds: Int

    init(statuses: [NodeStatus], updatedAt: Date?, images: [CatalogEntry], refreshSeconds: Int) {
        func css(_ probe: ProbeResult) -> String {
            switch probe { case .ok: "ok"; case .ko: "ko"; case .unavailable: "na" }
        }
        rows = statuses.map { status in
            Row(name: status.node, power: status.power ?? "unknown",
                powerClass: status.power == "On" ? "ok" : status.power == "Off" ? "off" : "na",
                bios: status.bios.map { "\($0.name)=\($0.value)" }.joined(separator: " "),
                slots: status.vmedia.map { Slot(id: $0.id, image: $0.image.map { URL(string: $0)?.lastPathComponent ?? $0 } ?? "not connected",
                                                inserted: $0.image != nil) },
                ping: status.ping.description, pingClass: css(status.ping), ssh: status.ssh.description,
                sshClass: css(status.ssh), bootOnce: status.bootOverride, error: status.error)
        }
        hasRows = !rows.isEmpty
        self.images = images.map {
            Image(name: $0.name, shortNames: $0.shortNames.joined(separator: ", "),
                  size: ByteCountFormatter.string(fromByteCount: $0.size, countStyle: .binary))
        }
        let formatter = ISO8601DateFormatter()
        updated = updatedAt.map { formatter.string(from: $0) } ?? "not yet (the first status round is running)"
        self.refreshSeconds = refreshSeconds
    }
}
