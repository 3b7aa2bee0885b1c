import Foundation
import PortalStore

/// The Leases page's picture: nodes × the next 7 days (UTC, from the start of today), one row per node, each lease a
/// block with its slice's name, now marked, every free stretch of a day a link that prefills the booking form.
/// Drawn as one SVG in viewBox units (the page's policy allows no inline style; SVG geometry is attributes), so it
/// scales to the page's width and stays one element with a hundred nodes.
struct LeaseTimeline {
    struct Day { let x: Int; let label: String }
    struct Row {
        let node: String
        let y: Int
        let textY: Int
        let free: [Free]
        let blocks: [Block]
    }
    struct Free { let x: Int; let width: Int; let href: String; let title: String }
    struct Block {
        let x: Int
        let width: Int
        let label: String
        let title: String
        let mine: Bool
        let labelX: Int
    }

    static let gutter = 60, hourWidth = 5, rowHeight = 24, header = 26, days = 7

    let days: [Day]
    let rows: [Row]
    let width: Int
    let height: Int
    let nowX: Int
    let nowLabelX: Int

    /// - Parameter mine: the slices whose blocks are drawn as the viewer's.
    init(nodes: [String], leases: [LeaseView], now: Date, mine: Set<String>) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let start = calendar.startOfDay(for: now)
        let span = TimeInterval(Self.days * 86400)
        let end = start + span
        func x(_ date: Date) -> Int {
            Self.gutter + Int((min(max(date.timeIntervalSince(start), 0), span) / 3600 * Double(Self.hourWidth)).rounded())
        }
        let dayFormat = DateFormatter()
        dayFormat.locale = Locale(identifier: "en_US_POSIX")
        dayFormat.timeZone = calendar.timeZone
        dayFormat.dateFormat = "EEE d MMM"
        days = (0..<Self.days).map { Day(x: Self.gutter + $0 * 24 * Self.hourWidth + 6, label: dayFormat.string(from: start + TimeInterval($0 * 86400))) }
        let startFormat = DateFormatter()
        startFormat.locale = Locale(identifier: "en_US_POSIX")
        startFormat.timeZone = calendar.timeZone
        startFormat.dateFormat = "yyyy-MM-dd'T'HH:mm"

        let byNode = Dictionary(grouping: leases.filter { $0.endsAt > start && $0.startsAt < end }, by: \.node)
        rows = nodes.enumerated().map { index, node in
            let held = (byNode[node] ?? []).sorted { $0.startsAt < $1.startsAt }
            let y = Self.header + index * Self.rowHeight
            // Free: each day's stretches between leases, from now on (the past is not bookable).
            var free: [Free] = []
            for day in 0..<Self.days {
                let dayStart = start + TimeInterval(day * 86400), dayEnd = dayStart + 86400
                var cursor = max(dayStart, now)
                for lease in held where lease.endsAt > cursor && lease.startsAt < dayEnd {
                    if lease.startsAt > cursor { free.append(Self.free(node, cursor, lease.startsAt, x, startFormat)) }
                    cursor = max(cursor, lease.endsAt)
                }
                if cursor < dayEnd { free.append(Self.free(node, cursor, dayEnd, x, startFormat)) }
            }
            let blocks = held.map { lease in
                let left = x(lease.startsAt), right = x(lease.endsAt)
                return Block(x: left, width: max(right - left, 2), label: right - left >= 6 * Self.hourWidth ? lease.slice : "",
                             title: "\(lease.slice): \(Format.date(lease.startsAt)) – \(Format.date(lease.endsAt))",
                             mine: mine.contains(lease.slice), labelX: left + 4)
            }
            return Row(node: node, y: y, textY: y + 15, free: free.filter { $0.width >= 2 }, blocks: blocks)
        }
        width = Self.gutter + Self.days * 24 * Self.hourWidth
        height = Self.header + max(nodes.count, 1) * Self.rowHeight
        nowX = x(now)
        nowLabelX = nowX + 3
    }

    static func free(_ node: String, _ from: Date, _ to: Date, _ x: (Date) -> Int, _ format: DateFormatter) -> Free {
        // The booking form's start: the stretch's beginning, to the next quarter hour.
        let quarter = (from.timeIntervalSinceReferenceDate / 900).rounded(.up) * 900
        let start = format.string(from: Date(timeIntervalSinceReferenceDate: quarter))
        let query = "node=\(node)&start=\(start)".addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? ""
        return Free(x: x(from), width: x(to) - x(from), href: "/leases?\(query)#book",
                    title: "\(node) is free from \(Format.date(from)): book it")
    }
}
