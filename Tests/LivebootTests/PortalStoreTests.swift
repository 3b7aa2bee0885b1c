import Foundation
import GRDB
@testable import PortalStore
import Seed
import XCTest

/// The portal's SQLite storage through GRDB, on real database files.
final class PortalStoreTests: XCTestCase {
    var folder: URL!

    override func setUp() {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("portal-store-\(UUID().uuidString.prefix(8))")
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    var path: String { folder.appendingPathComponent("portal.sqlite").path }

    func testDataSurvivesReopeningAndPasswordsAreBcryptCost12() async throws {
        do {
            let database = try PortalDatabase(path: path)  // production cost
            let admin = try await database.createUser(name: "ada", password: "correct horse battery", isAdmin: true)
            XCTAssertTrue(admin.passwordHash.hasPrefix("$2b$12$"), admin.passwordHash)
            let slice = try await database.createSlice(name: "radio")
            try await database.addMember(admin, to: slice)
            let key = try SSHPublicKey(line: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICbtH/7W9QWCVVeK5kG54w/15gA7XYpwLddXsGCr9oV6 alice@slice")
            let added = try await database.addKeys([key, key], to: slice, by: "ada")
            XCTAssertEqual(added.count, 1, "the same key twice is stored once")
        }
        let reopened = try PortalDatabase(path: path)
        let ada = try await reopened.authenticate(name: "ada", password: "correct horse battery")
        XCTAssertEqual(ada?.isAdmin, true)
        let wrongPassword = try await reopened.authenticate(name: "ada", password: "correct horse battery!")
        XCTAssertNil(wrongPassword)
        let nobody = try await reopened.authenticate(name: "nobody", password: "correct horse battery")
        XCTAssertNil(nobody)
        let slice = try await reopened.slice(named: "radio")
        let keys = try await reopened.keys(of: XCTUnwrap(slice))
        XCTAssertEqual(keys.count, 1)
        XCTAssertEqual(keys.first?.line, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICbtH/7W9QWCVVeK5kG54w/15gA7XYpwLddXsGCr9oV6 alice@slice")
        XCTAssertEqual(keys.first?.comment, "alice@slice")
        let migrations = try await reopened.writer.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
        XCTAssertEqual(migrations, Migrations.migrator.migrations)
    }

    func testNamesAndPasswordsAreChecked() async throws {
        let database = try PortalDatabase(path: nil, bcryptCost: 4)
        do { _ = try await database.createUser(name: "../x", password: "long enough password", isAdmin: false); XCTFail() } catch let e as PortalStoreError {
            XCTAssertEqual(e, .invalidName(kind: "user", name: "../x"))
        }
        do { _ = try await database.createUser(name: "bob", password: "short", isAdmin: false); XCTFail() } catch let e as PortalStoreError {
            XCTAssertEqual(e, .weakPassword)
        }
        _ = try await database.createSlice(name: "radio")
        do { _ = try await database.createSlice(name: "radio"); XCTFail() } catch let e as PortalStoreError {
            XCTAssertEqual(e, .nameTaken(kind: "slice", name: "radio"))
        }
    }

    func testOverlappingLeasesAreRefusedNamingTheHolder() async throws {
        let database = try PortalDatabase(path: nil, bcryptCost: 4)
        try await database.syncNodes(["w1", "w2"])
        let radio = try await database.createSlice(name: "radio")
        let optics = try await database.createSlice(name: "optics")
        let t0 = Date(timeIntervalSince1970: 1_900_000_000)
        _ = try await database.book(node: "w1", for: radio, from: t0, to: t0 + 3600, by: "ada")
        do {
            _ = try await database.book(node: "w1", for: optics, from: t0 + 1800, to: t0 + 7200, by: "ada")
            XCTFail("an overlap was accepted")
        } catch let error as PortalStoreError {
            guard case .leaseConflict(let node, let slice, _, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual([node, slice], ["w1", "radio"])
            XCTAssertTrue(error.description.contains("already leased to slice radio"), error.description)
        }
        // Back to back is not an overlap; another node is free; an unknown node is refused.
        _ = try await database.book(node: "w1", for: optics, from: t0 + 3600, to: t0 + 7200, by: "ada")
        _ = try await database.book(node: "w2", for: optics, from: t0, to: t0 + 3600, by: "ada")
        do { _ = try await database.book(node: "w9", for: optics, from: t0, to: t0 + 60, by: "ada"); XCTFail() } catch let e as PortalStoreError {
            XCTAssertEqual(e, .unknownNode("w9"))
        }
        do { _ = try await database.book(node: "w2", for: optics, from: t0, to: t0, by: "ada"); XCTFail() } catch let e as PortalStoreError {
            XCTAssertEqual(e, .badWindow)
        }
        let holders = try await database.holders(at: t0 + 4000)
        XCTAssertEqual(holders, ["w1": "optics"])
    }

    /// The dashboard keeps its rows while this number stays: every commit that changes what they show moves it, and
    /// nothing else does; another process's writes do not (the dashboard's age bound covers those).
    func testTheFleetRevisionMovesWithLeasesSlicesAndOperationsOnly() async throws {
        let database = try PortalDatabase(path: path, bcryptCost: 4)
        try await database.syncNodes(["w1"])
        var seen = database.fleetRevision
        func moved(_ what: String) {
            XCTAssertGreaterThan(database.fleetRevision, seen, "\(what) did not move the revision")
            seen = database.fleetRevision
        }
        let radio = try await database.createSlice(name: "radio")
        moved("a new slice")
        let t0 = Date()
        let lease = try await database.book(node: "w1", for: radio, from: t0, to: t0 + 3600, by: "ada")
        moved("a lease")
        let operation = try await database.startOperation(NodeOperation(node: "w1", kind: "on", image: nil, user: "ada", slice: "radio"))
        moved("an operation")
        try await database.finishOperation(id: operation.id!, state: .succeeded, message: nil, sshCommand: nil, hostKeys: nil,
                                           media: nil, bootID: nil, at: Date())
        moved("an operation's end")
        try await database.record(user: "ada", slice: "radio", node: "w1", action: "look", result: "ok")
        _ = try await database.leases(endingAfter: t0)
        XCTAssertEqual(database.fleetRevision, seen, "an audit line and a read are not changes of the fleet's rows")
        let elsewhere = try PortalDatabase(path: path, bcryptCost: 4)
        _ = try await elsewhere.cancelLease(id: lease.id!, at: Date())
        XCTAssertEqual(database.fleetRevision, seen, "another connection's commit is not seen (hence the age bound)")
    }

    func testTheGrantQueryChecksTheLeaseNow() async throws {
        let database = try PortalDatabase(path: nil, bcryptCost: 4)
        try await database.syncNodes(["w1", "w2"])
        let admin = try await database.createUser(name: "ada", password: "long enough password", isAdmin: true)
        let alice = try await database.createUser(name: "alice", password: "long enough password", isAdmin: false)
        let bob = try await database.createUser(name: "bob", password: "long enough password", isAdmin: false)
        let radio = try await database.createSlice(name: "radio")
        let optics = try await database.createSlice(name: "optics")
        try await database.addMember(alice, to: radio)
        try await database.addMember(bob, to: optics)
        let t0 = Date(timeIntervalSince1970: 1_900_000_000)
        _ = try await database.book(node: "w1", for: radio, from: t0, to: t0 + 3600, by: "ada")

        let aliceDuring = try await database.grant(node: "w1", for: alice, at: t0 + 10)
        XCTAssertEqual(aliceDuring?.slice?.name, "radio")
        let aliceBefore = try await database.grant(node: "w1", for: alice, at: t0 - 10)
        XCTAssertNil(aliceBefore, "before the lease starts")
        let aliceAfter = try await database.grant(node: "w1", for: alice, at: t0 + 3600)
        XCTAssertNil(aliceAfter, "at the end of the lease")
        let bobDuring = try await database.grant(node: "w1", for: bob, at: t0 + 10)
        XCTAssertNil(bobDuring, "member of another slice")
        let aliceOtherNode = try await database.grant(node: "w2", for: alice, at: t0 + 10)
        XCTAssertNil(aliceOtherNode)
        let adminLeased = try await database.grant(node: "w1", for: admin, at: t0 + 10)
        XCTAssertEqual(adminLeased?.slice?.name, "radio", "admins act with the holder's slice (its keys)")
        let adminFree = try await database.grant(node: "w2", for: admin, at: t0 + 10)
        XCTAssertEqual(adminFree, NodeGrant(node: "w2", slice: nil))
        let unknown = try await database.grant(node: "w9", for: admin, at: t0)
        XCTAssertNil(unknown)
    }

    func testOneRunningOperationPerNodeAndInterruptedOnRestart() async throws {
        let database = try PortalDatabase(path: path, bcryptCost: 4)
        let first = try await database.startOperation(NodeOperation(node: "w1", kind: "liveboot", image: "u22", user: "alice", slice: "radio"))
        do {
            _ = try await database.startOperation(NodeOperation(node: "w1", kind: "diskboot", image: nil, user: "bob", slice: nil))
            XCTFail("two running operations on one node")
        } catch let error as PortalStoreError {
            XCTAssertEqual(error, .busy(node: "w1", operation: first.id!))
        }
        _ = try await database.startOperation(NodeOperation(node: "w2", kind: "on", image: nil, user: "bob", slice: nil))
        let step = try await database.addStep(OperationStep(operationId: first.id!, elapsed: 0.5, message: "slot 1 ← …"))
        XCTAssertNotNil(step.id)

        let restarted = try PortalDatabase(path: path, bcryptCost: 4)
        let interrupted = try await restarted.interruptRunningOperations(at: Date())
        XCTAssertEqual(Set(interrupted), ["w1", "w2"])
        let after = try await restarted.operation(id: first.id!)
        XCTAssertEqual(after?.state, .interrupted)
        // Once interrupted, the node takes a new operation.
        _ = try await restarted.startOperation(NodeOperation(node: "w1", kind: "diskboot", image: nil, user: "bob", slice: nil))
        let last = try await restarted.lastOperations()
        XCTAssertEqual(last["w1"]?.kind, "diskboot")
    }

    func testSessionsAndTokensAreStoredHashed() async throws {
        let database = try PortalDatabase(path: nil, bcryptCost: 4)
        let alice = try await database.createUser(name: "alice", password: "long enough password", isAdmin: false)
        let session = try await database.openSession(for: alice, lifetime: .seconds(60))
        let found = try await database.session(token: session.token, now: Date())
        XCTAssertEqual(found?.user.name, "alice")
        XCTAssertEqual(found?.csrf, session.csrf)
        let expired = try await database.session(token: session.token, now: Date() + 120)
        XCTAssertNil(expired)
        let token = try await database.issueAPIToken(for: alice).token
        let stored = try await database.writer.read { db in
            try String.fetchAll(db, sql: "SELECT tokenHash FROM webSession UNION ALL SELECT apiTokenHash FROM user WHERE apiTokenHash IS NOT NULL")
        }
        XCTAssertFalse(stored.contains(session.token) || stored.contains(token), "a token is stored in clear")
        let byToken = try await database.user(apiToken: token)
        XCTAssertEqual(byToken?.name, "alice")
        _ = try await database.issueAPIToken(for: alice)
        let revoked = try await database.user(apiToken: token)
        XCTAssertNil(revoked, "a new token replaces the old one")
        try await database.closeSession(token: session.token)
        let closed = try await database.session(token: session.token, now: Date())
        XCTAssertNil(closed)
    }
}
