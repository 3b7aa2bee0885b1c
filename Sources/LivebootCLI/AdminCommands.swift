import ArgumentParser
import Foundation
import LivebootCore
import PortalStore

extension LivebootCommand {
    /// `lb admin …`: the portal's accounts, from the gatekeeper. The first administrator can only be made here:
    /// the portal has no default password.
    struct Admin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage the portal's users, slices and leases (its SQLite database, config portal.database).",
            subcommands: [AddAdmin.self, AddUser.self, AddLease.self, Token.self, Passwd.self])
    }

    struct PasswordOptions: ParsableArguments {
        @Option(name: .long, help: "Read the password from this file's first line (default: the first line of stdin).")
        var passwordFile: String?

        func read() throws -> String {
            let line: String?
            if let passwordFile {
                guard let data = FileManager.default.contents(atPath: passwordFile) else {
                    throw ValidationError("cannot read \(passwordFile)")
                }
                line = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init)
            } else {
                if isatty(STDIN_FILENO) != 0 { Output.err("password (10 characters or more): ") }
                line = Swift.readLine(strippingNewline: true)
            }
            guard let line, !line.isEmpty else { throw ValidationError("no password given") }
            return line
        }
    }

    static func openDatabase(_ global: GlobalOptions) throws -> (PortalDatabase, LivebootConfig) {
        let config = try LivebootConfig.load(path: global.config)
        let database = try PortalDatabase(path: config.portal.database, bcryptCost: UInt8(config.portal.bcryptCost),
                                      tokenDays: config.portal.tokenDays)
        return (database, config)
    }

    struct AddAdmin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Add an administrator.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "User name.") var name: String
        @OptionGroup var password: PasswordOptions

        func run() async throws {
            do {
                let (database, _) = try openDatabase(global)
                let user = try await database.createUser(name: name, password: try password.read(), isAdmin: true)
                try await database.record(user: "cli:\(NSUserName())", slice: nil, node: nil, action: "add admin \(user.name)", result: "ok")
                Output.out("administrator \(user.name) added")
            } catch { throw fail(error) }
        }
    }

    struct AddUser: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "user", abstract: "Add a slice member (the slice is created if needed), or add an existing user to a slice.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "User name.") var name: String
        @Option(name: .long, help: "The slice the user belongs to.") var slice: String
        @OptionGroup var password: PasswordOptions

        func run() async throws {
            do {
                let (database, _) = try openDatabase(global)
                let user: User
                if let existing = try await database.user(named: name) { user = existing } else {
                    user = try await database.createUser(name: name, password: try password.read(), isAdmin: false)
                }
                let slice: Slice
                if let existing = try await database.slice(named: self.slice) { slice = existing } else {
                    slice = try await database.createSlice(name: self.slice)
                }
                try await database.addMember(user, to: slice)
                try await database.record(user: "cli:\(NSUserName())", slice: slice.name, node: nil, action: "add member \(user.name)", result: "ok")
                Output.out("\(user.name) is a member of slice \(slice.name)")
            } catch { throw fail(error) }
        }
    }

    struct AddLease: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "lease", abstract: "Lease a node to a slice, from now.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Node name.") var node: String
        @Option(name: .long, help: "The slice.") var slice: String
        @Option(name: .long, help: "Hours.") var hours: Double = 8

        func run() async throws {
            do {
                let (database, config) = try openDatabase(global)
                try await database.syncNodes(config.nodes.map(\.name))
                guard let slice = try await database.slice(named: self.slice) else { throw ValidationError("no slice named \(self.slice)") }
                let lease = try await database.book(node: node, for: slice, from: Date(), to: Date().addingTimeInterval(hours * 3600),
                                                    by: "cli:\(NSUserName())")
                Output.out("\(node) leased to \(slice.name) until \(lease.endsAt)")
            } catch { throw fail(error) }
        }
    }

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a new API token for a user (the previous one stops working).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "User name.") var name: String

        func run() async throws {
            do {
                let (database, _) = try openDatabase(global)
                guard let user = try await database.user(named: name) else { throw ValidationError("no user named \(name)") }
                let token = try await database.issueAPIToken(for: user)
                try await database.record(user: "cli:\(NSUserName())", slice: nil, node: nil,
                                          action: "new API token for \(user.name)", result: "ok")
                Output.out(token.token)
                Output.err("valid until \(token.expiresAt.formatted(.iso8601))")
            } catch { throw fail(error) }
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a user's password (their API token is revoked and their sessions closed).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "User name.") var name: String
        @OptionGroup var password: PasswordOptions

        func run() async throws {
            do {
                let (database, _) = try openDatabase(global)
                guard let user = try await database.user(named: name) else { throw ValidationError("no user named \(name)") }
                try await database.changePassword(of: user, to: try password.read(), keepingSession: nil)
                try await database.record(user: "cli:\(NSUserName())", slice: nil, node: nil,
                                          action: "set password of \(user.name)", result: "ok")
                Output.out("password of \(user.name) set; their API token and sessions are revoked")
            } catch { throw fail(error) }
        }
    }
}
