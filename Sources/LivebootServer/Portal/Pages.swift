import Foundation
import Hummingbird
import LivebootCore
import Mustache
import PortalStore

/// Renders the `Templates/` pages; a missing template is a server error, not an empty page.
struct PageRenderer: Sendable {
    let library: MustacheLibrary

    func render(_ page: some Any, _ template: String, status: HTTPResponse.Status = .ok) throws -> Response {
        Self.htmlResponse(ByteBuffer(string: try html(page, template)), status: status)
    }

    /// The template rendered with `page`.
    func html(_ page: some Any, _ template: String) throws -> String {
        guard let html = library.render(page, withTemplate: template) else {
            throw HTTPError(.internalServerError, message: "template \(template) is missing")
        }
        return html
    }

    /// A page as every page is answered: HTML, never cached.
    static func htmlResponse(_ body: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                 body: .init(byteBuffer: body))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }
}

/// What every page's frame (the `layout-top` partial) shows: title, who is logged in, the logout form's token.
struct Chrome {
    let title: String
    let user: String?
    let isAdmin: Bool
    let csrf: String?
    let section: String
    /// Which tab of the navigation is this page's: stored, as the template engine reads no computed property.
    let onNodes: Bool
    let onSlices: Bool
    let onLeases: Bool
    let onAdmin: Bool

    init(title: String, identity: Identity?, section: String = "") {
        self.title = title
        user = identity?.user.name
        isAdmin = identity?.user.isAdmin ?? false
        csrf = identity?.csrf
        self.section = section
        onNodes = section == "nodes"
        onSlices = section == "slices"
        onLeases = section == "leases"
        onAdmin = section == "admin"
    }
}

enum Format {
    static func date(_ date: Date?) -> String {
        date.map(LeaseNotice.utc) ?? ""
    }

    static func seconds(_ value: Double) -> String { String(format: "%.1f s", value) }

    static func size(_ bytes: Int64) -> String { ByteCountFormatter.string(fromByteCount: bytes, countStyle: .binary) }
}

// MARK: Operations as pages show them

struct OperationView: Equatable, Sendable {
    let id: Int64
    let node: String
    let kind: String
    let image: String?
    let user: String
    let slice: String?
    let state: String
    let stateClass: String
    let message: String?
    let sshCommand: String?
    /// The session's host keys: fingerprints to compare, `known_hosts` lines to copy.
    let hostKeys: [HostKeyView]
    /// `[host]:port`, the name the page's script puts before a key to make a `known_hosts` line.
    let knownHostsName: String
    let started: String
    let running: Bool
    /// The server's screen when the operation failed, where the BMC could show it.
    let screenshotURL: String?
    /// A live boot's: what its BMC read of each medium.
    let media: [MediumReadView]
    let hasMedia: Bool

    struct MediumReadView: Equatable, Sendable {
        let medium: String
        let name: String
        let size: String
        let seconds: String
        let rate: String

        init(_ read: BootMediumRead) {
            medium = read.medium.rawValue
            name = read.name
            size = BootMediumRead.size(read.bytes)
            seconds = "\(read.activeSeconds) s"
            rate = read.bytesPerSecond.map { BootMediumRead.size(Int($0.rounded())) + "/s" } ?? "–"
        }
    }

    struct HostKeyView: Equatable, Sendable {
        let fingerprint: String
        let type: String
        let knownHostsLine: String
    }

    /// `place`: the node's OS address, for `known_hosts` lines (the dashboard's rows show none).
    init(_ operation: NodeOperation, at place: Node? = nil) {
        id = operation.id ?? 0
        node = operation.node
        kind = operation.kind
        image = operation.image
        user = operation.user
        slice = operation.slice
        state = operation.state.rawValue
        stateClass = switch operation.state { case .succeeded: "ok"; case .failed: "ko"; case .running: "run"; case .interrupted: "off" }
        message = operation.message
        sshCommand = operation.sshCommand
        hostKeys = (operation.hostKeys ?? []).map { key in
            HostKeyView(fingerprint: key.fingerprint, type: key.type,
                        knownHostsLine: place.map { key.knownHostsLine(host: $0.host, port: $0.sshPort) } ?? key.key)
        }
        knownHostsName = place.map { HostKey.knownHostsName(host: $0.host, port: $0.sshPort) } ?? ""
        started = Format.date(operation.startedAt)
        running = operation.state == .running
        screenshotURL = operation.screenshotAt == nil ? nil : "/operations/\(id)/screenshot.png"
        media = (operation.media ?? []).map(MediumReadView.init)
        hasMedia = !media.isEmpty
    }
}

/// A node's live boots over the last days, as the node page and the admin page show them.
struct BootStatsView {
    let node: String
    let boots: Int
    let ready: Int
    let failed: Int
    let success: String
    let median: String
    let p90: String
    let lastFailureAt: String?
    let lastFailure: String?
    let hasBoots: Bool

    init(_ stats: NodeBootStats) {
        node = stats.node
        boots = stats.boots
        ready = stats.ready
        failed = stats.failed
        success = stats.successText
        median = stats.medianText
        p90 = stats.p90Text
        lastFailureAt = stats.lastFailure.map { Format.date($0.at) }
        lastFailure = stats.lastFailure?.message
        hasBoots = stats.boots > 0
    }
}

/// A current lease on a page: whose, until when, the time left, and whether it is ending (`leases.warn-minutes`).
struct LeaseNoticeView {
    let id: Int64
    let node: String
    let slice: String
    let until: String
    let left: String
    let endingSoon: Bool

    init(_ notice: LeaseNotice) {
        id = notice.id
        node = notice.node
        slice = notice.slice
        until = Format.date(notice.endsAt)
        left = notice.left
        endingSoon = notice.endingSoon
    }
}

struct StepView {
    let elapsed: String
    let message: String
    let isError: Bool

    init(_ step: OperationStep) {
        elapsed = Format.seconds(step.elapsed)
        message = step.message
        isError = step.isError
    }
}
