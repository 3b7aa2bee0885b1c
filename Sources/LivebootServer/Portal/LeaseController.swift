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
        struct NodeOption { let name: String; let selected: Bool }
        let chrome: Chrome
        let timeline: LeaseTimeline
        let leases: [Item]
        let hasLeases: Bool
        let nodes: [NodeOption]
        /// The booking form's start, when a free stretch of the timeline was clicked.
        let start: String?
        let slices: [String]
        let canBook: Bool
        let maxHours: Int
    }

    struct ExtendForm: Decodable {
        let hours: Double
        /// The page to go back to (a path of this site).
        let back: String?
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
        group.get("") { request, context in
            let user = context.user
            let now = leases.clock.now
            let upcoming = try await leases.upcoming()
            let items = upcoming.map {
                LeasesPage.Item(id: $0.id, node: $0.node, slice: $0.slice, from: Format.date($0.startsAt), to: Format.date($0.endsAt),
                                now: $0.startsAt <= now && $0.endsAt > now, createdBy: $0.createdBy)
            }
            let slices = try await self.slices.visible(to: user)
            // A click on a free stretch of the timeline: its node and start, checked (a name we list, a time we read).
            let asked = request.uri.queryParameters["node"].map(String.init).flatMap { leases.nodes.contains($0) ? $0 : nil }
            let start = request.uri.queryParameters["start"].map(String.init).flatMap { (try? Self.parseStart($0, now: now)) != nil ? $0 : nil }
            let timeline = LeaseTimeline(nodes: leases.nodes, leases: upcoming, now: now,
                                         mine: user.isAdmin ? [] : Set(slices.map(\.name)))
            return try pages.render(LeasesPage(chrome: Chrome(title: "Leases", identity: context.identity, section: "leases"),
                                               timeline: timeline, leases: items, hasLeases: !items.isEmpty,
                                               nodes: leases.nodes.map { .init(name: $0, selected: $0 == asked) }, start: start,
                                               slices: slices.map(\.name),
                                               canBook: !slices.isEmpty, maxHours: Int(leases.rules.maxHours)), "leases")
        }
        group.post("") { request, context in
            var request = request
            let form = try await FormBody.decode(BookForm.self, from: &request)
            _ = try await leases.book(node: form.node, slice: form.slice, from: try Self.parseStart(form.start, now: leases.clock.now), hours: form.hours,
                                       by: context.user)
            return PageRenderer.redirect("/leases")
        }
        group.post("/:id/extend") { request, context in
            guard let id = Int64(try context.parameters.require("id")) else { throw HTTPError(.notFound) }
            var request = request
            let form = try await FormBody.decode(ExtendForm.self, from: &request)
            let lease = try await leases.extend(id, byHours: form.hours, by: context.user)
            return PageRenderer.redirect(AccountController.localPath(form.back) ?? "/nodes/\(lease.node)")
        }
        group.post("/:id/cancel") { _, context in
            guard let id = Int64(try context.parameters.require("id")) else { throw HTTPError(.notFound) }
            try await leases.cancelLease(id, by: context.user)
            return PageRenderer.redirect("/leases")
        }
        return group
    }

    /// `2026-11-29T14:00` (an HTML `datetime-local`, read as UTC), an ISO 8601 date, or empty for now.
    static func parseStart(_ text: String?, now: Date) throws -> Date {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return now }
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
