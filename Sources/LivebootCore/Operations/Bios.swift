import DellIDRAC
import Foundation
import Redfish

public struct BiosReport: Codable, Sendable {
    public let node: String
    public let capturedAt: Date
    public let pattern: String
    public let attributes: [NamedValue]
    public let pending: [NamedValue]
}

public struct BiosChange: Codable, Sendable {
    public let node: String
    public let applied: [NamedValue]
    public let jobID: String?
}

extension Liveboot {
    /// Attributes whose name matches `pattern` (case-insensitive regular expression), sorted by name.
    public func biosGet(_ node: Node, pattern: String) async throws -> BiosReport {
        let regex: Regex<AnyRegexOutput>
        do { regex = try Regex(pattern).ignoresCase() } catch {
            throw LivebootError.badArgument("pattern `\(pattern)` is not a valid regular expression: \(error)")
        }
        return try await withSession(node) { session in
            let bios = try await session.bmc.bios(of: session.system)
            let pending: [String: AttributeValue]
            if let settings = bios.settings?.settingsObject {
                pending = (try? await session.bmc.client.get(Bios.self, at: settings.id).attributes) ?? [:]
            } else {
                pending = [:]
            }
            func matching(_ attributes: [String: AttributeValue]) -> [NamedValue] {
                attributes.filter { (try? regex.firstMatch(in: $0.key)) != nil }
                    .sorted { $0.key < $1.key }.map { NamedValue(name: $0.key, value: $0.value.description) }
            }
            return BiosReport(node: node.name, capturedAt: Date(), pattern: pattern,
                              attributes: matching(bios.attributes), pending: matching(pending))
        }
    }

    /// Validates every `NAME=VALUE` against the BIOS registry, then writes them in one PATCH applied at the
    /// next reset.
    public func biosSet(_ node: Node, assignments: [String]) async throws -> BiosChange {
        let pairs = try assignments.map { text -> (String, String) in
            guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
                throw LivebootError.badArgument("\"\(text)\" is not NAME=VALUE")
            }
            return (String(text[..<eq]), String(text[text.index(after: eq)...]))
        }
        guard !pairs.isEmpty else { throw LivebootError.badArgument("nothing to set: give NAME=VALUE pairs") }
        return try await withSession(node) { session in
            let bios = try await session.bmc.bios(of: session.system)
            let registry = try await session.bmc.biosRegistry(bios)
            let values = try BiosValidator(registry: registry).validate(pairs)
            let job = try await session.bmc.setPendingBios(Dictionary(uniqueKeysWithValues: values.map { ($0.0, $0.1) }),
                                                            bios: bios)
            return BiosChange(node: node.name, applied: values.map { NamedValue(name: $0.0, value: $0.1.description) },
                              jobID: job)
        }
    }

    public func biosReset(_ node: Node) async throws {
        try await withSession(node) { session in
            try await session.bmc.resetBios(try await session.bmc.bios(of: session.system))
        }
    }
}

/// Checks values against an AttributeRegistry: names and enumeration values case-insensitively (answering
/// with the registry's spelling), Integer bounds, string lengths; read-only attributes refused.
public struct BiosValidator: Sendable {
    let byName: [String: AttributeRegistry.Attribute]

    public init(registry: AttributeRegistry) {
        byName = Dictionary(registry.registryEntries.attributes.map { ($0.name.lowercased(), $0) }) { first, _ in first }
    }

    public func validate(_ pairs: [(String, String)]) throws -> [(String, AttributeValue)] {
        try pairs.map { name, value in
            guard let attribute = byName[name.lowercased()] else {
                let close = byName.values.map(\.name).filter { $0.lowercased().contains(name.lowercased()) }.sorted().prefix(5)
                throw LivebootError.badArgument("unknown BIOS attribute \(name)"
                    + (close.isEmpty ? "" : " (did you mean \(close.joined(separator: ", "))?)"))
            }
            guard !attribute.readOnly else {
                throw LivebootError.badArgument("BIOS attribute \(attribute.name) is read-only")
            }
            switch attribute.type {
            case "Enumeration":
                guard let canonical = attribute.values.first(where: { $0.lowercased() == value.lowercased() }) else {
                    throw LivebootError.badArgument("\(attribute.name)=\(value) is not allowed; choose one of "
                        + attribute.values.joined(separator: ", "))
                }
                return (attribute.name, .string(canonical))
            case "Integer":
                guard let number = Int(value) else {
                    throw LivebootError.badArgument("\(attribute.name) takes an integer, not \"\(value)\"")
                }
                if let low = attribute.lowerBound, number < low {
                    throw LivebootError.badArgument("\(attribute.name)=\(number) is below its minimum \(low)")
                }
                if let high = attribute.upperBound, number > high {
                    throw LivebootError.badArgument("\(attribute.name)=\(number) is above its maximum \(high)")
                }
                return (attribute.name, .integer(number))
            case "Boolean":
                guard let flag = Bool(value.lowercased()) else {
                    throw LivebootError.badArgument("\(attribute.name) takes true or false, not \"\(value)\"")
                }
                return (attribute.name, .bool(flag))
            default:
                if let low = attribute.minLength, value.count < low {
                    throw LivebootError.badArgument("\(attribute.name) needs at least \(low) characters")
                }
                if let high = attribute.maxLength, value.count > high {
                    throw LivebootError.badArgument("\(attribute.name) takes at most \(high) characters")
                }
                return (attribute.name, .string(value))
            }
        }
    }
}
