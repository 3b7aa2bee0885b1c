import Foundation
import Hummingbird
import PortalStore

/// Administration: users, slices, memberships, and the audit log.
struct AdminController: Sendable {
    let administration: Administration
    let nodes: NodeService
    let pages: PageRenderer
    /// A node is listed as flaky above this failure rate (over 30 days, at least 3 boots that ended).
    static let flakyThreshold = 0.2

    struct AdminPage {
        struct UserItem { let name: String; let isAdmin: Bool; let slices: String }
        struct AuditItem { let at: String; let user: String; let slice: String?; let node: String?; let action: String; let result: String }
        let chrome: Chrome
        let users: [UserItem]
        let slices: [String]
        let audit: [AuditItem]
        let flaky: [BootStatsView]
        let flakyPercent: Int
    }

    struct UserForm: Decodable {
        let name: String
        let password: String
        let admin: String?
    }

    struct SliceForm: Decodable { let name: String }
    struct MemberForm: Decodable { let user: String; let slice: String }

    /// Nodes failing more often than the threshold, the worst first.
    func flaky() async throws -> [BootStatsView] {
        try await nodes.bootStats(of: nodes.liveboot.config.nodes.map(\.name))
            .filter { $0.isFlaky(threshold: Self.flakyThreshold) }
            .sorted { ($0.successRate ?? 1, $0.node) < ($1.successRate ?? 1, $1.node) }
            .map(BootStatsView.init)
    }

    /// Mounted at `/admin`.
    var routes: RouteCollection<AdminRequestContext> {
        let group = RouteCollection(context: AdminRequestContext.self)
        group.get("") { _, context in
            let overview = try await administration.overview(for: context.admin)
            let users = overview.users.map { AdminPage.UserItem(name: $0.user.name, isAdmin: $0.user.isAdmin, slices: $0.slices.joined(separator: ", ")) }
            let audit = overview.audit.map {
                AdminPage.AuditItem(at: Format.date($0.at), user: $0.user, slice: $0.slice, node: $0.node, action: $0.action, result: $0.result)
            }
            return try pages.render(AdminPage(chrome: Chrome(title: "Administration", identity: context.identity, section: "admin"),
                                              users: users, slices: overview.slices, audit: audit,
                                              flaky: try await flaky(), flakyPercent: Int(Self.flakyThreshold * 100)), "admin")
        }
        group.post("/users") { request, context in
            let admin = context.admin
            var request = request
            let form = try await FormBody.decode(UserForm.self, from: &request)
            _ = try await administration.addUser(name: form.name, password: form.password, isAdmin: form.admin != nil, by: admin)
            return PageRenderer.redirect("/admin")
        }
        group.post("/slices") { request, context in
            let admin = context.admin
            var request = request
            let form = try await FormBody.decode(SliceForm.self, from: &request)
            _ = try await administration.addSlice(name: form.name, by: admin)
            return PageRenderer.redirect("/admin")
        }
        group.post("/members") { request, context in
            let admin = context.admin
            var request = request
            let form = try await FormBody.decode(MemberForm.self, from: &request)
            _ = try await administration.addMember(form.user, to: form.slice, by: admin)
            return PageRenderer.redirect("/admin")
        }
        return group
    }
}
