import Foundation
import Hummingbird
import LivebootCore
import PortalStore
import Seed

/// Slices and their keys, for their members and the admins, with the audit line of every change.
struct SliceService: Sendable {
    let slices: any SliceRepository
    let audit: any AuditLog

    typealias Denied = Refusal

    /// Keys per slice, at most: every seed and every slice page carries them all (11,277 keys made a 5 MB page).
    static let maxKeysPerSlice = 100

    /// A slice the user may see and change: admins any, members their own.
    func slice(named name: String, for user: User) async throws -> Slice {
        guard let slice = try await slices.slice(named: name) else { throw Denied.notFound("no slice named \(name)") }
        let member = try await slices.isMember(user, of: slice)
        guard user.isAdmin || member else {
            try await audit.record(user: user.name, slice: slice.name, node: nil, action: "open slice", result: "refused: not a member")
            throw Denied.forbidden("you are not a member of slice \(name)")
        }
        return slice
    }

    struct KeyUpload: Sendable {
        let added: [SliceKey]
        let duplicates: Int
        let errors: [(line: Int, message: String)]
    }

    /// Adds the valid keys of `text` (one key per line, `authorized_keys` style) and reports each bad line.
    /// Nothing is added when any line is bad: the user fixes the file and sends it again.
    func addKeys(_ text: String, to sliceName: String, by user: User) async throws -> KeyUpload {
        let slice = try await slice(named: sliceName, for: user)
        let parsed = SSHPublicKey.parseMany(text)
        if parsed.keys.isEmpty && parsed.errors.isEmpty { throw Denied.invalid("no key found: paste or choose a .pub file") }
        guard parsed.errors.isEmpty else { return KeyUpload(added: [], duplicates: 0, errors: parsed.errors) }
        let existing = Set(try await slices.keys(of: slice).map(\.fingerprint))
        let new = Set(parsed.keys.map(\.fingerprint)).subtracting(existing)
        guard existing.count + new.count <= Self.maxKeysPerSlice else {
            throw Denied.invalid("a slice holds at most \(Self.maxKeysPerSlice) keys: it has \(existing.count), "
                                 + "this adds \(new.count); remove keys no one uses first")
        }
        let added = try await slices.addKeys(parsed.keys, to: slice, by: user.name)
        try await audit.record(user: user.name, slice: slice.name, node: nil, action: "add keys",
                               result: added.map(\.fingerprint).joined(separator: " ").ifEmpty("nothing new"))
        return KeyUpload(added: added, duplicates: parsed.keys.count - added.count, errors: [])
    }

    func deleteKey(_ id: Int64, from sliceName: String, by user: User) async throws {
        let slice = try await slice(named: sliceName, for: user)
        guard try await slices.deleteKey(id: id, from: slice) else { throw Denied.notFound("no key #\(id) in slice \(sliceName)") }
        try await audit.record(user: user.name, slice: slice.name, node: nil, action: "delete key #\(id)", result: "ok")
    }

    // MARK: reads

    /// The slices a user sees: all of them for an admin, their own for a member.
    func visible(to user: User) async throws -> [Slice] {
        user.isAdmin ? try await slices.slices() : try await slices.slices(of: user)
    }

    func members(of slice: Slice) async throws -> [PublicUser] { try await slices.members(of: slice) }
    func keys(of slice: Slice) async throws -> [SliceKey] { try await slices.keys(of: slice) }

    func isMember(_ user: User, of sliceName: String) async throws -> Bool {
        guard let slice = try await slices.slice(named: sliceName) else { return false }
        return try await slices.isMember(user, of: slice)
    }
}

extension String {
    func ifEmpty(_ replacement: String) -> String { isEmpty ? replacement : self }
}
