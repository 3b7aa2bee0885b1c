import Foundation

/// Turns command-line node arguments into configured nodes: names, ranges (`w1-4`), lists (`w1,w3`), `all`.
public enum NodeSelection {
    public static func select(_ arguments: [String], from nodes: [Node]) throws -> [Node] {
        guard !arguments.isEmpty else { throw LivebootError.noNodes }
        let byName = Dictionary(uniqueKeysWithValues: nodes.map { ($0.name, $0) })
        var chosen: [Node] = []
        var seen = Set<String>()
        func add(_ name: String) throws {
            guard let node = byName[name] else {
                throw LivebootError.unknownNode(name, known: nodes.map(\.name))
            }
            if seen.insert(name).inserted { chosen.append(node) }
        }
        for argument in arguments.flatMap({ $0.split(separator: ",").map(String.init) }) {
            if argument == "all" {
                for node in nodes { try add(node.name) }
            } else if byName[argument] != nil {
                try add(argument)
            } else if let names = expandRange(argument) {
                for name in names { try add(name) }
            } else {
                try add(argument)
            }
        }
        return chosen
    }

    /// `w1-4` → w1 w2 w3 w4; `w01-03` keeps the width. Nil when not a range.
    static func expandRange(_ text: String) -> [String]? {
        guard let match = text.wholeMatch(of: /([A-Za-z_.-]*?)(\d+)-(?:[A-Za-z_.-]*?)(\d+)/) else { return nil }
        let prefix = String(match.1), first = String(match.2)
        guard let low = Int(first), let high = Int(match.3), low <= high, high - low < 1000 else { return nil }
        let width = first.hasPrefix("0") ? first.count : 0
        return (low...high).map { prefix + (width > 0 ? String(format: "%0\(width)d", $0) : String($0)) }
    }

    /// w2 before w10.
    public static func naturalLess(_ a: String, _ b: String) -> Bool {
        a.compare(b, options: [.numeric]) == .orderedAscending
    }
}
