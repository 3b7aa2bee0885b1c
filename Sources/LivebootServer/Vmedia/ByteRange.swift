/// What a `Range` header asks of an entity of `size` bytes (RFC 9110 §14).
public enum RangeDecision: Equatable, Sendable {
    /// No Range, one we ignore (malformed, not `bytes`, several ranges): the whole entity, 200.
    case whole
    /// One satisfiable range: 206 with `Content-Range: bytes first-last/size`.
    case partial(ClosedRange<Int>)
    /// No range of the set overlaps the entity: 416 with `Content-Range: bytes */size`.
    case unsatisfiable
}

public enum ByteRange {
    /// Parses `Range` against an entity of `size` bytes.
    ///
    /// - `bytes=a-b` (b clamped to the last byte), `bytes=a-`, `bytes=-n` (the last n bytes);
    /// - a syntactically invalid header, or another unit, is ignored (§14.2: "a server MAY ignore the Range
    ///   header field"; an invalid one MUST be);
    /// - several ranges are answered with the whole entity (allowed by §14.2) unless none is satisfiable.
    public static func decide(_ header: String?, size: Int) -> RangeDecision {
        guard let header else { return .whole }
        let trimmed = header.trimmingWhitespace()
        guard trimmed.count > 6, trimmed.prefix(6).lowercased() == "bytes=" else { return .whole }
        let specs = trimmed.dropFirst(6).split(separator: ",", omittingEmptySubsequences: false)
            .map { String($0).trimmingWhitespace() }
        var ranges: [ClosedRange<Int>?] = []  // nil: valid syntax, not satisfiable
        for spec in specs {
            if spec.isEmpty { continue }  // empty list elements are allowed by the list syntax
            guard let range = parse(spec, size: size) else { return .whole }
            ranges.append(range)
        }
        guard !ranges.isEmpty else { return .whole }
        let satisfiable = ranges.compactMap { $0 }
        if satisfiable.isEmpty { return .unsatisfiable }
        if ranges.count > 1 { return .whole }
        return .partial(satisfiable[0])
    }

    /// One range-spec. Returns nil for a syntax error wrapped as `.none`; `.some(nil)` when unsatisfiable.
    private static func parse(_ spec: String, size: Int) -> ClosedRange<Int>?? {
        guard let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        guard first.allSatisfy(\.isASCIIDigit), last.allSatisfy(\.isASCIIDigit), !(first.isEmpty && last.isEmpty) else {
            return nil
        }
        // Digits only: a value too large for Int is a position past any file.
        if first.isEmpty {
            guard let suffix = Int(last) ?? (last.isEmpty ? nil : Int.max) else { return nil }
            guard suffix > 0, size > 0 else { return .some(nil) }
            return .some(max(0, size - suffix)...(size - 1))
        }
        let start = Int(first) ?? Int.max
        if last.isEmpty {
            return .some(start < size ? start...(size - 1) : nil)
        }
        let end = Int(last) ?? Int.max
        guard end >= start else { return nil }  // invalid: the whole header is ignored
        return .some(start < size ? start...min(end, size - 1) : nil)
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension String {
    func trimmingWhitespace() -> String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" { view.removeFirst() }
        while let last = view.last, last == " " || last == "\t" { view.removeLast() }
        return String(view)
    }
}
