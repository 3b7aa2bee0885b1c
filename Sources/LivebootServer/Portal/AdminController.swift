import Foundation
import Hummingbird
import PortalStore

/// Administration: users, slices, memberships, and the audit log.
struct AdminController: Sendable {
    let actions: PortalActions
    let pages: PageRenderer

    struct AdminPage {
        struct UserItem { let name: String; let isAdmin: Bool; let slices: String }
        struct AuditItem { let at: String; let user: String; let slice: String?; let node: String?; let action: String; let result: String }
        let chrome: Chrome
        let users: [UserItem]
        let slices: [String]
        let audit: [AuditItem]
    }

    struct UserForm: Decodable {
        let name: String
        let password: String
        let admin: String?
    }

    struct SliceForm: Decodable { let name: String }
    struct MemberForm: Decodable { let user: String; let slice: String }

    func addRoutes(to group: RouterGroup<PortalRequestContext>) {
        group.get("/admin") { _, context in
            try actions.requireAdmin(try context.requireUser())
            var users: [AdminPage.UserItem] = []
            for user in try await actions.users.users() {
                users.append(.init(name: user.name, isAdmin: user.isAdmin,
                                   slices: try await actions.slices.slices(of: user).map(\.name).joined(separator: ", ")))
            }
            let audit = try await actions.audit.auditEntries(limit: 100).map {
                AdminPage.AuditItem(at: Format.date($0.at), user: $0.user, slice: $0.slice, node: $0.node, action: $0.action, result: $0.result)
            }
            return try pages.render(AdminPage(chrome: Chrome(title: "Administration", identity: context.identity, section: "admin"),
                                              users: users, slices: try await actions.slices.slices().map(\.name), audit: audit), "admin")
        }
        group.post("/admin/users") { request, context in
            let admin = try context.requireUser()
            try actions.requireAdmin(admin)
            var request = request
            let form = try await FormBody.decode(UserForm.self, from: &request)
            let user = try await actions.users.createUser(name: form.name, password: form.password, isAdmin: form.admin != nil)
            try await actions.audit.record(user: admin.name, slice: nil, node: nil,
                                           action: "add \(user.isAdmin ? "admin" : "user") \(user.name)", result: "ok")
            return PageRenderer.redirect("/admin")
        }
        group.post("/admin/slices") { request, context in
            let admin = try context.requireUser()
            try actions.requireAdmin(admin)
            var request = request
            let form = try await FormBody.decode(SliceForm.self, from: &request)
            let slice = try await actions.slices.createSlice(name: form.name)
            try await actions.audit.record(user: admin.name, slice: slice.name, node: nil, action: "add slice", result: "ok")
            return PageRenderer.redirect("/admin")
        }
        group.post("/admin/members") { request, context in
            let admin = try context.requireUser()
            try actions.requireAdmin(admin)
            var request = request
            let form = try await FormBody.decode(MemberForm.self, from: &request)
            guard let user = try await actions.users.user(named: form.user) else { throw PortalActions.Denied.invalid("no user named \(form.user)") }
            guard let slice = try await actions.slices.slice(named: form.slice) else { throw PortalActions.Denied.invalid("no slice named \(form.slice)") }
            try await actions.slices.addMember(user, to: slice)
            try await actions.audit.record(user: admin.name, slice: slice.name, node: nil, action: "add member \(user.name)", result: "ok")
            return PageRenderer.redirect("/admin")
        }
    }
}
