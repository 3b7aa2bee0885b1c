import Foundation
import Hummingbird
import PortalStore

/// Slices: their members and ssh keys (paste or upload a `.pub` / `authorized_keys` file).
struct SliceController: Sendable {
    let slices: SliceService
    let leases: LeaseService
    let nodes: NodeService
    let pages: PageRenderer

    struct SlicesPage {
        struct Item { let name: String; let keys: Int; let members: Int }
        let chrome: Chrome
        let slices: [Item]
        let hasSlices: Bool
    }

    struct SlicePage {
        struct Key {
            let id: Int64
            let type: String
            let fingerprint: String
            let comment: String
            let addedBy: String
            let addedAt: String
        }
        struct LineError { let line: Int; let message: String }
        let chrome: Chrome
        let name: String
        let members: [PublicUser]
        /// The nodes the slice holds now, and the images a run on them may boot.
        let held: [LeaseNoticeView]
        let holdsNodes: Bool
        let images: [String]
        let keys: [Key]
        let hasKeys: Bool
        let errors: [LineError]
        let hasErrors: Bool
        let notice: String?
        let pasted: String
    }

    /// The key form: pasted text, an uploaded file, or both.
    struct KeyForm: Decodable {
        let keys: String?
        let file: String?
    }

    /// Mounted at `/slices`.
    var routes: RouteCollection<MemberRequestContext> {
        let group = RouteCollection(context: MemberRequestContext.self)
        group.get("") { _, context in
            let user = context.user
            var items: [SlicesPage.Item] = []
            for slice in try await slices.visible(to: user) {
                items.append(.init(name: slice.name, keys: try await slices.keys(of: slice).count,
                                   members: try await slices.members(of: slice).count))
            }
            return try pages.render(SlicesPage(chrome: Chrome(title: "Slices", identity: context.identity, section: "slices"),
                                               slices: items, hasSlices: !items.isEmpty), "slices")
        }
        group.get("/:slice") { _, context in
            try await page(try context.parameters.require("slice"), context: context)
        }
        group.post("/:slice/keys") { request, context in
            let name = try context.parameters.require("slice")
            var request = request
            let form = try await FormBody.decode(KeyForm.self, from: &request, accepting: .urlEncodedOrMultipart)
            let text = [form.keys, form.file].compactMap { $0 }.joined(separator: "\n")
            let upload = try await slices.addKeys(text, to: name, by: context.user)
            if !upload.errors.isEmpty {
                return try await page(name, context: context, errors: upload.errors, pasted: form.keys ?? "", status: .unprocessableContent)
            }
            let notice = "\(upload.added.count) key\(upload.added.count == 1 ? "" : "s") added"
                + (upload.duplicates > 0 ? ", \(upload.duplicates) already there" : "")
            return try await page(name, context: context, notice: notice)
        }
        group.post("/:slice/keys/:id/delete") { _, context in
            let name = try context.parameters.require("slice")
            guard let id = Int64(try context.parameters.require("id")) else { throw HTTPError(.notFound) }
            try await slices.deleteKey(id, from: name, by: context.user)
            return PageRenderer.redirect("/slices/\(name)")
        }
        return group
    }

    func page(_ name: String, context: MemberRequestContext, errors: [(line: Int, message: String)] = [], pasted: String = "",
              notice: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        let slice = try await slices.slice(named: name, for: context.user)
        let keys = try await slices.keys(of: slice).map {
            SlicePage.Key(id: $0.id ?? 0, type: $0.type, fingerprint: $0.fingerprint, comment: $0.comment,
                          addedBy: $0.addedBy, addedAt: Format.date($0.addedAt))
        }
        let held = try await leases.notices().values.filter { $0.slice == slice.name }.sorted { $0.node < $1.node }
            .map(LeaseNoticeView.init)
        let page = SlicePage(chrome: Chrome(title: "Slice \(name)", identity: context.identity, section: "slices"),
                             name: name, members: try await slices.members(of: slice), held: held, holdsNodes: !held.isEmpty,
                             images: ((try? nodes.images()) ?? []).map(\.name),
                             keys: keys, hasKeys: !keys.isEmpty,
                             errors: errors.map { .init(line: $0.line, message: $0.message) }, hasErrors: !errors.isEmpty,
                             notice: notice, pasted: pasted)
        return try pages.render(page, "slice", status: status)
    }
}
