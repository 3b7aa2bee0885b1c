import Foundation
import Redfish
import Seed

/// What a node operation does, as the CLI's commands and the portal's buttons name it.
public enum NodeAction: String, Sendable, Codable, CaseIterable {
    case liveboot, diskboot, on, off, reboot
    /// A lease ended: the node comes back clean (`leases.on-end`). Started by the server, never asked for.
    case release

    /// What a user may ask for (a page's buttons, the API, the CLI).
    public var isUserAction: Bool { self != .release }
}

/// One step of a node operation as it happens. The core yields them; the CLI prints them and the portal stores and
/// streams them — in the same words (`text`), with failure as data (`isError`), never read back from the text.
public enum NodeStep: Sendable, Equatable {
    /// The operation begins.
    case started(NodeAction, image: String?)
    /// The image's URL answers as a BMC needs (HEAD, 200, `Accept-Ranges: bytes`).
    case imageChecked(url: String)
    /// The seed is published where the BMC reads it.
    case seedPublished(url: String, keys: Int, asFloppy: Bool)
    /// A single-slot BMC: the seed goes to cloud-init over HTTP; the image must say where.
    case seedServedOverHTTP(url: String, keys: Int)
    case slotEjecting(slot: String, holding: String?)
    case slotInserting(slot: String, url: String)
    /// The BMC accepted the request; the slot does not read back as asked yet.
    case slotWaiting(slot: String, SlotGoal, limit: Duration)
    /// The BMC says the slot is already connected (VRM0012/VRM0021): it is ejected and the insert tried once more.
    case slotInUse(slot: String, said: String)
    /// A transient refusal (SYS446, RAC0508, InternalError): retried after a pause.
    case bmcBusy(what: String, said: String, retryIn: Duration, attempt: Int, of: Int)
    /// The BMC cannot take provisioning work yet (Dell's Lifecycle Controller): waited for.
    case bmcNotReady(String, limit: Duration)
    /// The one-time boot is set: to `target`, the way `how` says (the BMC's way: a PATCH, an SCP import).
    case bootOverride(BootSource, how: String)
    /// A vendor adapter's own progress (a configuration import's task state, a fallback taken).
    case bmc(String)
    case power(PowerStep)
    case waitingForSSH(host: String, port: Int, limit: Duration)
    case stillWaitingForSSH
    /// A live boot waits for its session: the report (cloud-init's phone_home) and ssh.
    case waitingForLiveSession(host: String, port: Int, limit: Duration)
    case stillWaitingForLiveSession(sshAnswered: Bool, reported: Bool)
    case liveSessionReported(hostname: String?, hostKeys: [HostKey])
    /// What the BMC says the node is doing (`BootProgress.LastState`), where it says.
    case bootProgress(BootProgressState)
    /// The server's screen when a boot failed (a PNG, or "no video signal"), where the BMC can show it.
    case screenshot(ScreenCapture)
    /// No screenshot could be taken: why (not supported by the BMC, or its error).
    case screenshotUnavailable(String)
    /// The seed is out of reach of the OS (read already, or not to be read by a disk OS).
    case seedWithdrawn(where: String)
    /// What the boot's BMC read of its media from the vmedia listener (empty: nothing counted).
    case mediaRead([BootMediumRead])
    /// The boot's serial console, recorded from its power cycle: how much, and its last lines (the log itself is
    /// stored with the boot).
    case consoleRecorded(bootID: String, bytes: Int, totalBytes: Int, lastLines: String)
    /// No console log for this boot: why (a BMC without a console, a refusal).
    case consoleUnavailable(String)
    case sshAnswers
    /// The operation ended well: the live session's ssh command and host keys, or what the node does now.
    case ready(sshCommand: String, hostKeys: [HostKey])
    case done(String)
    /// The operation failed (or was interrupted), with what the BMC or the probe said.
    case failed(String)

    /// The step's kind, its case name (`slotWaiting`, `ready`): a label the metrics can count by, bounded by the
    /// cases (read by reflection: steps are a few per operation, and a hand-kept list would drift from the cases).
    public var name: String {
        Mirror(reflecting: self).children.first?.label ?? String(describing: self)
    }

    public var isError: Bool {
        if case .failed = self { return true }
        return false
    }

    public var text: String {
        switch self {
        case .started(.liveboot, let image): "live boot on \(image ?? "?")"
        case .started(.diskboot, _): "disk boot: eject the media, boot the disk"
        case .started(.on, _): "power on"
        case .started(.off, _): "power off"
        case .started(.reboot, _): "reboot"
        case .started(.release, _): "the lease ended: returning the node"
        case .imageChecked(let url): "image \(url) answers as a BMC needs"
        case .seedPublished(let url, let keys, let floppy):
            "seed \(url) (\(Self.count(keys, "key"))\(floppy ? ", as a floppy image" : ""))"
        case .seedServedOverHTTP(let url, let keys):
            "single virtual-media slot: seed served over HTTP at \(url) (\(Self.count(keys, "key"))); "
                + "the image must boot with ds=nocloud;s=\(url)"
        case .slotEjecting(let slot, let holding): "slot \(slot): ejecting \(holding ?? "media")"
        case .slotInserting(let slot, let url): "slot \(slot) ← \(url)"
        case .slotWaiting(let slot, .holding, let limit):
            "slot \(slot): waiting for the BMC to mount the image (up to \(limit.formattedSeconds))"
        case .slotWaiting(let slot, .empty, let limit):
            "slot \(slot): waiting for the BMC to read it back as empty (up to \(limit.formattedSeconds))"
        case .slotInUse(let slot, let said): "slot \(slot) is already connected (\(said)): ejecting it and inserting once more"
        case .bmcBusy(let what, let said, let pause, let attempt, let of):
            "\(what): the BMC is busy (\(said)); retry \(attempt) of \(of) in \(pause.formattedSeconds)"
        case .bmcNotReady(let reason, let limit): "the BMC is not ready (\(reason)); waiting up to \(limit.formattedSeconds)"
        case .bootOverride(.cd, let how): "one-time boot on virtual CD (\(how))"
        case .bootOverride(.hdd, _): "one-time boot on the disk"
        case .bootOverride(.none, _): "boot override cleared"
        case .bootOverride(let target, let how): "one-time boot on \(target) (\(how))"
        case .bmc(let said): said
        case .power(let step): step.text
        case .waitingForSSH(let host, let port, let limit): "waiting for ssh on \(host):\(port) (up to \(Int(limit.components.seconds)) s)"
        case .stillWaitingForSSH: "still waiting for ssh"
        case .waitingForLiveSession(let host, let port, let limit):
            "waiting for the live session: its report and ssh on \(host):\(port) (up to \(limit.formattedSeconds))"
        case .stillWaitingForLiveSession(let ssh, let reported):
            "still waiting: ssh \(ssh ? "answers" : "does not answer yet"), report \(reported ? "received" : "not received yet")"
        case .liveSessionReported(let hostname, let keys):
            "the live session reported\(hostname.map { " as \($0)" } ?? ""); host keys: "
                + keys.map { "\($0.fingerprint) (\($0.type))" }.joined(separator: ", ")
        case .screenshot(.png(let png)): "screenshot of the server's screen taken (\(Self.kibibytes(png.count)))"
        case .screenshot(.noVideo(let said)): "no screenshot: the BMC sees no video signal (\(said))"
        case .screenshotUnavailable(let why): "no screenshot: \(why)"
        case .seedWithdrawn(let place): "seed withdrawn (\(place))"
        case .mediaRead(let reads) where reads.isEmpty: "the vmedia listener counted no read of this boot's media"
        case .mediaRead(let reads): "the BMC read " + reads.map(\.text).joined(separator: "; ")
        case .consoleRecorded(_, let bytes, let total, let last):
            "serial console recorded: \(Self.kibibytes(total))" + (total > bytes ? " (the last \(Self.kibibytes(bytes)) kept)" : "")
                + (last.isEmpty ? "" : "; it last showed: " + last.split(separator: "\n").joined(separator: " ⏎ "))
        case .consoleUnavailable(let why): "no serial console log: \(why)"
        case .bootProgress(let state): "the BMC says: \(state.words)"
        case .sshAnswers: "ssh answers"
        case .ready(let command, let keys):
            "ready: \(command)" + (keys.isEmpty ? "" : "  (host key \(keys.map(\.fingerprint).joined(separator: ", ")))")
        case .done(let what): what
        case .failed(let message): "failed: \(message)"
        }
    }

    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
    static func kibibytes(_ bytes: Int) -> String { bytes < 1024 ? "\(bytes) B" : "\((bytes + 512) / 1024) KiB" }
}

/// The power steps of an operation.
public enum PowerStep: Sendable, Equatable {
    case on
    case gracefulShutdown(forceAfter: Duration)
    case forceOff(afterTimeout: Duration?)
    case cycle(ResetType)

    public var text: String {
        switch self {
        case .on: "power On"
        case .gracefulShutdown(let limit): "GracefulShutdown (ForceOff after \(limit))"
        case .forceOff(let limit?): "still on after \(limit): ForceOff"
        case .forceOff(nil): "ForceOff"
        case .cycle(let type): "power cycle (\(type))"
        }
    }
}

/// Receives an operation's steps as they happen.
public typealias ProgressHandler = @Sendable (NodeStep) -> Void

/// What a node operation is asked to do, with what it needs.
public struct OperationRequest: Sendable {
    public var action: NodeAction
    /// A live boot's image, resolved once.
    public var image: ResolvedImage?
    /// Check the image's URL as the operation's first step; the CLI checks it before any node is touched instead
    /// (`Liveboot.prepareImage`), once for all nodes.
    public var checksImage = false
    /// The slice's keys, beside the testbed's.
    public var keys: [SSHPublicKey] = []
    /// A live boot waits for ssh, at most `waitTimeout` (default `timing.ssh-wait`).
    public var wait = true
    public var waitTimeout: Duration?
    /// Power off: graceful first, ForceOff after `gracefulTimeout` (default `timing.graceful-shutdown`).
    public var graceful = true
    public var gracefulTimeout: Duration?
    /// A release: what the node is left as.
    public var leaseEnd: LeaseEndAction = .diskboot

    public init(_ action: NodeAction, image: ResolvedImage? = nil, keys: [SSHPublicKey] = []) {
        self.action = action
        self.image = image
        self.keys = keys
    }
}

/// How an operation ended well.
public struct OperationOutcome: Sendable {
    /// One line: what the node does now.
    public let summary: String
    /// For a live boot that waited: how to reach the session, and the keys it proves itself with.
    public var sshCommand: String?
    public var hostKeys: [HostKey] = []
    /// For a live boot: its seed, keys, boot override, ssh delay.
    public var live: LivebootResult?
}

extension Liveboot {
    /// Runs one node operation, from its first step to `.ready`/`.done` — or `.failed`, then the error is thrown.
    /// The CLI's commands and the portal's runner both run operations through here.
    public func perform(_ request: OperationRequest, on node: Node, progress: @escaping ProgressHandler) async throws -> OperationOutcome {
        progress(.started(request.action, image: request.image?.name))
        do {
            let outcome = try await outcome(of: request, on: node, progress: progress)
            progress(outcome.sshCommand.map { .ready(sshCommand: $0, hostKeys: outcome.hostKeys) } ?? .done(outcome.summary))
            return outcome
        } catch {
            progress(.failed(Task.isCancelled ? "interrupted: the operation was stopped" : "\(error)"))
            throw error
        }
    }

    private func outcome(of request: OperationRequest, on node: Node, progress: @escaping ProgressHandler) async throws -> OperationOutcome {
        switch request.action {
        case .liveboot:
            guard let image = request.image else { throw LivebootError.badArgument("a live boot needs an image") }
            if request.checksImage {
                try await MediaURLCheck.check(image.url)
                progress(.imageChecked(url: image.url))
            }
            let result = try await liveboot(node, image: image, extraKeys: request.keys, wait: request.wait,
                                            waitTimeout: request.waitTimeout, progress: progress)
            guard request.wait, let reportAfter = result.reportAfterSeconds, let sshAfter = result.sshAfterSeconds else {
                return OperationOutcome(summary: "booting; `lb wait \(node.name)` waits for the live session and withdraws the seed",
                                        live: result)
            }
            return OperationOutcome(summary: "live on \(image.name); reported after " + String(format: "%.1f", reportAfter)
                                        + " s, ssh after " + String(format: "%.1f", sshAfter) + " s",
                                    sshCommand: node.sshCommand, hostKeys: result.hostKeys ?? [], live: result)
        case .diskboot:
            try await diskboot(node, progress: progress)
            return OperationOutcome(summary: "rebooting onto the disk")
        case .release:
            return OperationOutcome(summary: try await release(node, request.leaseEnd, progress: progress))
        case .on, .off, .reboot:
            guard let power = request.action.power else { throw LivebootError.badArgument("not a power action") }
            let summary = try await self.power(node, power, graceful: request.graceful,
                                               gracefulTimeout: request.gracefulTimeout, progress: progress)
            return OperationOutcome(summary: summary)
        }
    }
}
