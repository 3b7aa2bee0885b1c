import Foundation


/// The validators of a served file, and RFC 9110 §13 conditional requests against them.
public struct Validators: Sendable, Equatable {
    /// Strong: it changes whenever the bytes may have (size, mtime in nanoseconds, inode).
    public let etag: String
    public let lastModified: Date
    /// Formatted once: it goes out with every answer.
    public let lastModifiedHeader: String

    public init(etag: String, lastModified: Date) {
        self.etag = etag
        self.lastModified = lastModified
        lastModifiedHeader = HTTPDate.format(lastModified)
    }
}

public enum ConditionalOutcome: Equatable, Sendable {
    case proceed(honourRange: Bool)
    case notModified
    case preconditionFailed
}

public enum Conditional {
    /// Evaluates, in §13.2.2's order: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since, If-Range.
    public static func evaluate(ifMatch: String?, ifUnmodifiedSince: String?, ifNoneMatch: String?,
                                ifModifiedSince: String?, ifRange: String?, hasRange: Bool,
                                validators: Validators) -> ConditionalOutcome {
        let modified = validators.lastModified.timeIntervalSince1970.rounded(.down)
        if let ifMatch {
            if !(ifMatch.trimmingWhitespace() == "*" || tags(ifMatch).contains(where: { strongMatch($0, validators.etag) })) {
                return .preconditionFailed
            }
        } else if let since = ifUnmodifiedSince.flatMap(HTTPDate.parse), modified > since.timeIntervalSince1970 {
            return .preconditionFailed
        }
        if let ifNoneMatch {
            if ifNoneMatch.trimmingWhitespace() == "*" || tags(ifNoneMatch).contains(where: { weakMatch($0, validators.etag) }) {
                return .notModified
            }
        } else if let since = ifModifiedSince.flatMap(HTTPDate.parse), modified <= since.timeIntervalSince1970 {
            return .notModified
        }
        guard hasRange, let ifRange = ifRange?.trimmingWhitespace() else { return .proceed(honourRange: hasRange) }
        if ifRange.hasPrefix("\"") || ifRange.hasPrefix("W/") {
            return .proceed(honourRange: strongMatch(ifRange, validators.etag))
        }
        // A date validator only counts when it is exactly the Last-Modified we would send.
        guard let date = HTTPDate.parse(ifRange) else { return .proceed(honourRange: false) }
        return .proceed(honourRange: date.timeIntervalSince1970 == modified)
    }

    static func tags(_ header: String) -> [String] {
        header.split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
    }

    static func strongMatch(_ a: String, _ b: String) -> Bool { !a.hasPrefix("W/") && !b.hasPrefix("W/") && a == b }

    static func weakMatch(_ a: String, _ b: String) -> Bool {
        func opaque(_ t: String) -> Substring { t.hasPrefix("W/") ? t.dropFirst(2) : Substring(t) }
        return opaque(a) == opaque(b)
    }
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), and the two obsolete forms when parsing (§5.6.7).
public enum HTTPDate {
    static let formats = ["EEE, dd MMM yyyy HH:mm:ss 'GMT'", "EEEE, dd-MMM-yy HH:mm:ss 'GMT'", "EEE MMM d HH:mm:ss yyyy"]

    static func formatter(_ format: String) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = format
        return formatter
    }

    public static func format(_ date: Date) -> String { format(secondsSince1970: Int(date.timeIntervalSince1970.rounded(.down))) }

    /// By hand: a DateFormatter costs tens of microseconds to make, and the vmedia routes send a date per answer.
    public static func format(secondsSince1970 seconds: Int) -> String {
        var time = time_t(seconds), d = tm()
        gmtime_r(&time, &d)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : String(v) }
        return "\(weekdays[Int(d.tm_wday)]), \(two(d.tm_mday)) \(months[Int(d.tm_mon)]) \(d.tm_year + 1900) \(two(d.tm_hour)):\(two(d.tm_min)):\(two(d.tm_sec)) GMT"
    }

    static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The `Date` field's value for now, formatted again only when the second changes. Each connection keeps its own
    /// (a shared one behind a lock was measurable on 32 KiB ranged reads).
    struct Now {
        private var second = -1
        private var text: [UInt8] = []

        mutating func bytes() -> [UInt8] {
            let now = time(nil)
            if now != second {
                second = now
                text = Array(HTTPDate.format(secondsSince1970: now).utf8)
            }
            return text
        }
    }

    public static func parse(_ text: String) -> Date? {
        let trimmed = text.trimmingWhitespace()
        for format in formats {
            if let date = formatter(format).date(from: trimmed) { return date }
        }
        return nil
    }
}
