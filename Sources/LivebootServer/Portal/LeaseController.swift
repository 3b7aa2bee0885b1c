import Foundation
import Hummingbird
import PortalStore

/// Leases: who holds which node when. Admins book for any slice; members for their own slices, within the rules.
struct LeaseController: Sendable {
    let leases: LeaseService
    let slices: SliceService
    let pages: PageRenderer

    struct LeasesPage {
        struct Item {
            let id: Int64
            let node: String
            let slice: String
            let from: String
            let to: String
            let now: Bool
            let createdBy: String
        }
        let chrome: Chrome
        let leases: [Item]
        let hasLeases: Bool
        let nodes: [String]
        let slices: [String]
        let canBook: Bool
        let maxHours: Int
    }

    struct BookForm: Decodable {
        let node: String
        let slice: String
        /// `datetime-local` value (UTC) or empty for now.
        let start: String?
        let hours: Double
    }

    /// Mounted at `/leases`.
    var routes: RouteCollection<MemberRequestContext> {
        let group = RouteCollection(context: MemberRequestContext.self)
        group.get("") { _, context in
            let user = context.user
            let now = leases.clock.now
            let items = try await leases.upcoming().map {
                LeasesPage.Item(id: $0.id, node: $0.node, slice: $0.slice, from: Format.date($0.startsAt), to: Format.date($0.endsAt),
                                now: $0.startsAt <= now && $0.endsAt > now, createdBy: $0.createdBy)
            }
            let slices = try await self.slices.visible(to: user)
            return try pages.render(LeasesPage(chrome: Chrome(title: "Leases", identity: context.identity, section: "leases"),
                                               leases: items, hasLeases: !items.isEmpty,
                                               nodes: leases.nodes, slices: slices.map(\.name),
                                               canBook: !slices.isEmpty, maxHours: Int(leases.rules.maxHours)), "leases")
        }
        group.post("") { request, context in
            var request = request
            let form = try await FormBody.decode(BookForm.self, from: &request)
            _ = try await leases.book(node: form.node, slice: form.slice, from: try Self.parseStart(form.start), hours: form.hours,
                                       by: context.user)
            return PageRenderer.redirect("/leases")
        }
        group.post("/:id/cancel") { _, context in
            guard let id = Int64(try context.parameters.require("id")) else { throw HTTPError(.notFound) }
            try await leases.cancelLease(id, by: context.user)
            return PageRenderer.redirect("/leases")
        }
        return group
    }

    /// `2026-11-29T14:00` (an HTML `datetime-local`, read as UTC), an ISO 8601 date, or empty for now.
    static func parseStart(_ text: String?) throws -> Date {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return Date() }
        if let date = ISO8601DateFormatter().date(from: text) { return date }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        for format in ["yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd HH:mm"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        throw Refusal.invalid("cannot read the start time \"\(text)\": use YYYY-MM-DDTHH:MM (UTC)")
    }
}
