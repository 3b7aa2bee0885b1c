import Foundation
import PortalStore

extension Testbed {
    /// ada (admin), alice (slice radio, which holds w1 now), bob (slice optics, no lease), all with `password`.
    func seedPeople(password: String) async throws {
        let database = try portalDatabase()
        try await database.syncNodes(["w1", "w2"])
        _ = try await database.createUser(name: "ada", password: password, isAdmin: true)
        let alice = try await database.createUser(name: "alice", password: password, isAdmin: false)
        let bob = try await database.createUser(name: "bob", password: password, isAdmin: false)
        let radio = try await database.createSlice(name: "radio")
        let optics = try await database.createSlice(name: "optics")
        try await database.addMember(alice, to: radio)
        try await database.addMember(bob, to: optics)
        _ = try await database.book(node: "w1", for: radio, from: Date() - 60, to: Date() + 3600, by: "ada")
    }
}
