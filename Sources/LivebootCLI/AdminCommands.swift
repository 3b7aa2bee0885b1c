import ArgumentParser
import Foundation
import LivebootCore
import PortalStore
import Redfish

extension LivebootCommand {
    /// `lb admin …`: the portal's accounts, from the gatekeeper. The first administrator can only be made here:
    /// the portal has no default password.
    struct Admin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage the portal's users, slices and leases (its SQLite database, config portal.database).",
            subcommands: [AddAdmin.self, AddUser.self, AddLease.self, Leases.self, Token.self, Passwd.self])
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
        let database = try PortalConfig(config).openDatabase()
        return (database, config)
    }

    /// The portal's administration, as the administrator at this shell: the Admin page's rules and audit lines.
    static func administration(_ global: GlobalOptions) throws -> (Administration, PortalDatabase, LivebootConfig) {
        let (database, config) = try openDatabase(global)
        return (Administration(users: database, slices: database, leases: database, audit: database), database, config)
    }

    static var shell: Actor { .shell(login: NSUserName()) }

    struct AddAdmin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Add an administrator.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "User name.") var name: String
        @OptionGroup var password: PasswordOptions

        func run() async throws {
            do {
                let (administration, _, _) = try administration(global)
                let user = try await administration.addUser(name: name, password: try password.read(), isAdmin: true, by: shell)
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
                let (administration, database, _) = try administration(global)
                if try await database.user(named: name) == nil {
                    _ = try await administration.addUser(name: name, password: try password.read(), isAdmin: false, by: shell)
                }
                let (user, slice) = try await administration.addMember(name, to: self.slice, creatingSlice: true, by: shell)
                Output.out("\(user.name) is a member of slice \(slice.name)")
            } catch { throw fail(error) }
        }
    }

    struct AddLease: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "lease", abstract: "Lease a node to a slice, from now; or extend the slice's current lease of it.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Node name.") var node: String
        @Option(name: .long, help: "The slice.") var slice: String
        @Option(name: .long, help: "Hours.") var hours: Double = 8
        @Option(name: .long, help: "Extend the slice's current lease of the node by this many hours instead of booking.")
        var extend: Double?

        func run() async throws {
            do {
                let (administration, database, config) = try administration(global)
                guard config.nodes.contains(where: { $0.name == node }) else {
                    throw LivebootError.unknownNode(node, known: config.nodes.map(\.name))
                }
                try await database.syncNodes(config.nodes.map(\.name))
                if let extend {
                    let now = Date()
                    guard let current = try await database.leases(endingAfter: now)
                        .first(where: { $0.node == node && $0.slice == slice && $0.startsAt <= now }) else {
                        throw Refusal.notFound("slice \(slice) holds no current lease of \(node)")
                    }
                    let extended = try await administration.extend(lease: current.id, byHours: extend, by: shell, isMember: false, now: now)
                    Output.out("\(node): the lease of \(slice) now ends \(extended.endsAt)")
                    return
                }
                let lease = try await administration.book(node: node, slice: slice, from: Date(), hours: hours, by: shell, isMember: false)
                Output.out("\(node) leased to \(slice) until \(lease.endsAt)")
            } catch { throw fail(error) }
        }
    }

    struct Leases: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the current and future leases, and the ended ones whose node is still being returned.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: JSONOption

        func run() async throws {
            do {
                let (database, config) = try openDatabase(global)
                let policy = try PortalConfig(config).leaseEnd
                let now = Date()
                let owed = try await database.leasesToReturn(at: now)
                let leases = (owed + (try await database.leases(endingAfter: now))).sorted { ($0.node, $0.startsAt) < ($1.node, $1.startsAt) }
                if output.json { return try Output.json(leases) }
                if leases.isEmpty { return Output.out("no current or future lease") }
                let width = leases.map(\.node.count).max() ?? 4
                for lease in leases {
                    let state: String
                    if lease.endsAt <= now {
                        state = "ended, being returned" + (lease.returnError.map { " (\(lease.returnAttempts) failed: \($0))" } ?? "")
                    } else if lease.startsAt > now {
                        state = "future"
                    } else {
                        let notice = LeaseNotice(lease, now: now, warning: policy.warning)
                        state = "current, \(notice.left) left" + (notice.endingSoon ? ", ENDING" : "")
                    }
                    Output.out(lease.node.padding(toLength: width, withPad: " ", startingAt: 0) + "  #\(lease.id)  \(lease.slice)  "
                               + "\(LeaseNotice.utc(lease.startsAt)) – \(LeaseNotice.utc(lease.endsAt))  \(state)")
                }
            } catch { throw fail(error) }
        }
    }

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a new API token for a user (the previous one stops working).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "User name.") var name: String

        func run() async throws {
            do {
                let (administration, _, _) = try administration(global)
                let token = try await administration.issueToken(for: name, by: shell)
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
                let (administration, _, _) = try administration(global)
                try await administration.setPassword(of: name, to: try password.read(), by: shell)
                Output.out("password of \(name) set; their API token and sessions are revoked")
            } catch { throw fail(error) }
        }
    }
}
