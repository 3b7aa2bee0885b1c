import DellIDRAC
import Foundation
import Redfish
import Seed

/// What `liveboot` did, for output and the portal's history.
public struct LivebootResult: Codable, Sendable {
    public let node: String
    public let image: String
    public let seed: String
    public let keys: Int
    public let bootOnce: String
    /// The boot's cloud-init instance id: what its report carries.
    public let bootID: String
    public var sshAfterSeconds: Double?
    /// Seconds from the power cycle to the live session's report.
    public var reportAfterSeconds: Double?
    /// The live session's host keys, as it reported them: pin them instead of trusting on first use.
    public var hostKeys: [HostKey]?
    /// `known_hosts` lines for the session.
    public var knownHosts: [String]?
    /// What the BMC read of each medium until the session was ready, and how fast.
    public var media: [BootMediumRead]?
}

/// How a wait for the live session ended.
public struct LiveSession: Sendable {
    public let report: BootReport
    public let sshAfterSeconds: Double
    public let reportAfterSeconds: Double
    /// What the BMC read of the boot's media until then.
    public let media: [BootMediumRead]
}

extension LivebootResult {
    mutating func record(_ session: LiveSession, node: Node) {
        sshAfterSeconds = session.sshAfterSeconds
        reportAfterSeconds = session.reportAfterSeconds
        hostKeys = session.report.hostKeys
        knownHosts = session.report.hostKeys.map { $0.knownHostsLine(host: node.host, port: node.sshPort) }
        media = session.media
    }
}

extension Liveboot {
    /// Resolves an image and checks its URL is mountable, before any node is touched.
    public func prepareImage(_ name: String) async throws -> ResolvedImage {
        let image = try catalog.resolve(name)
        try await MediaURLCheck.check(image.url)
        return image
    }

    /// Live boot: seed, both slots, one-time boot on the virtual CD, power cycle; with `wait`, the wait for the live
    /// session (within `waitTimeout`, else `timing.ssh-wait`), its serial console recorded from before the power cycle.
    public func liveboot(_ node: Node, image: ResolvedImage, extraKeys: [SSHPublicKey] = [], wait: Bool,
                         waitTimeout: Duration? = nil, bootID: String? = nil,
                         progress: @escaping ProgressHandler = { _ in }) async throws -> LivebootResult {
        let registry = try bootRegistry()
        let bootID = bootID ?? Self.newBootID(for: node)
        let instanceID = SeedBuilder.instanceID(of: bootID)
        let seed = try self.seed(for: node, extraKeys: extraKeys, bootID: bootID, phoneHome: try config.phoneHomeURL())
        let publisher = SeedPublisher(config: config.images)
        let layout = MediaLayout(images: config.images)
        let keyCount = Set((config.testbedKeys + extraKeys).map(\.blob)).count

        let bootOnce = try await withSession(node) { session in
            try await waitUntilBMCReady(session, progress: progress)
            let slots = try await session.bmc.virtualMediaSlots(session.discovery)
            let (liveSlot, seedSlot) = try chooseSlots(slots, bmc: session.bmc, node: node)
            // The image at a path of this boot's own: the listener counts what this boot's BMC reads of it.
            var media: [(VirtualMedia, String)] = [(liveSlot, layout.imageURL(image.name, boot: instanceID))]
            let seedURL: String
            if let seedSlot {
                // A floppy-only second slot (generic BMCs: Cd + Floppy) gets the same ISO padded to a 1.44 MB
                // floppy: cloud-init finds LABEL=cidata on /dev/fd0 all the same.
                let floppy = !seedSlot.canHoldCD && seedSlot.mediaTypes.contains(.floppy)
                seedURL = floppy
                    ? try publisher.publish(SeedPublisher.floppyImage(seed.image), id: "cidata-\(seed.contentID)-floppy")
                    : try publisher.publish(seed.image, id: "cidata-\(seed.contentID)")
                try await MediaURLCheck.check(seedURL, asProbe: true)
                progress(.seedPublished(url: seedURL, keys: keyCount, asFloppy: floppy))
                media.append((seedSlot, seedURL))
            } else {
                // One slot (iDRAC 10, many generic BMCs): the seed goes over HTTP to cloud-init's NoCloud source.
                seedURL = try publisher.publishNoCloud(seed, node: node.name)
                try await NoCloudCheck.check(seedURL)
                progress(.seedServedOverHTTP(url: seedURL, keys: keyCount))
            }
            let drive = MediaDrive(session: session, timing: config.timing, progress: progress)
            do {
                for (slot, url) in media {
                    _ = try await drive.insert(url, into: slot)
                }
            } catch {
                // Nothing half-done: a seed that made it into its slot is not left for the disk OS.
                await withdrawSeed(session, progress: progress)
                throw error
            }
            // From here, a report with this id is the live session's; earlier boots of the node are closed.
            try await registry.register(BootTicket(id: instanceID, node: node.name, startedAt: Date(),
                                                   seedFile: seedSlot == nil ? nil : layout.seedFile(inURL: seedURL)))
            let override = try await session.bmc.setBootOnce(.cd, on: session.system, progress: { progress(.bmc($0)) })
            progress(.bootOverride(.cd, how: override.how))
            // The console is recorded from the power cycle on, when this call waits for the session (a later
            // `lb wait` records from its own start): the cycle waits, briefly, for the BMC's console session to open
            // — its opening is a Redfish login and an SSH login, and the firmware's first lines come with the reset.
            let recording = wait ? await recordConsole(node) : nil
            if let recording, await recording.opened(within: config.timing.connect * 2) == nil {
                progress(.bmc("the serial console is not open yet: the log may miss the first lines of the boot"))
            }
            do {
                try await powerCycle(session, knownPower: override.readBack?.powerState, progress: progress)
            } catch {
                _ = await recording?.stop()
                throw error
            }
            return (how: override.how, seedURL: seedURL, recording: recording)
        }
        var result = LivebootResult(node: node.name, image: image.name, seed: bootOnce.seedURL, keys: keyCount,
                                    bootOnce: bootOnce.how, bootID: instanceID)
        if wait {
            let session = try await waitForLiveSession(node, bootID: result.bootID, timeout: waitTimeout,
                                                       recording: bootOnce.recording, progress: progress)
            result.record(session, node: node)
        }
        return result
    }

    /// The live image goes in the slot the BMC boots a `Cd` from (Dell: `1`; others: the CD-capable slot with the
    /// lowest `Id`), the seed in the next slot by `Id`, if there is one. Listing order never decides.
    func chooseSlots(_ slots: [VirtualMedia], bmc: any BMC, node: Node) throws -> (VirtualMedia, VirtualMedia?) {
        guard let live = bmc.bootSlot(among: slots) else {
            throw LivebootError.slotsMissing(node: node.name, found: slots.count)
        }
        let others = slots.sorted(by: VirtualMedia.identityOrder).filter { $0.odataID != live.odataID }
        return (live, others.first { !VirtualMedia.identityOrder($0, live) } ?? others.first)
    }

    /// Disk boot: eject every slot, one-time boot to the disk, power cycle. A live boot's report that comes late is
    /// refused from now on.
    public func diskboot(_ node: Node, progress: @escaping ProgressHandler = { _ in }) async throws {
        if let registry = try? bootRegistry() { try await registry.closeBoots(of: node.name) }
        try await withSession(node) { session in
            try await waitUntilBMCReady(session, progress: progress)
            let drive = MediaDrive(session: session, timing: config.timing, progress: progress)
            for slot in try await session.bmc.virtualMediaSlots(session.discovery) {
                try await drive.eject(slot)
            }
            let allowed = session.system.boot?.allowableTargets ?? []
            let target: BootSource = allowed.isEmpty || allowed.contains(.hdd) ? .hdd : .none
            let override = try await session.bmc.setBootOnce(target, on: session.system, progress: { progress(.bmc($0)) })
            progress(.bootOverride(target, how: override.how))
            try await powerCycle(session, knownPower: override.readBack?.powerState, progress: progress)
        }
    }

    /// Waits until the live session of boot `bootID` is up: its report has arrived **and** its ssh answers. A node
    /// whose ssh answers without a report within `timing.report-grace` booted something else (its disk, most
    /// likely): that is a failure, not a ready node. Either way, the seed is withdrawn once the wait ends: read by
    /// cloud-init already, or not to be read by a disk OS's.
    public func waitForLiveSession(_ node: Node, bootID: String, timeout: Duration? = nil,
                                   progress: @escaping ProgressHandler = { _ in }) async throws -> LiveSession {
        try await waitForLiveSession(node, bootID: bootID, timeout: timeout, recording: nil, progress: progress)
    }

    func waitForLiveSession(_ node: Node, bootID: String, timeout: Duration? = nil, recording: ConsoleRecording?,
                            progress: @escaping ProgressHandler) async throws -> LiveSession {
        let registry = try bootRegistry()
        let console = if let recording { recording } else { await recordConsole(node) }
        let limit = timeout ?? config.timing.sshWait
        let start = ContinuousClock.now
        var lastReport = start
        var sshAt: ContinuousClock.Instant?
        var report: (BootReport, ContinuousClock.Instant)?
        progress(.waitingForLiveSession(host: node.host, port: node.sshPort, limit: limit))
        // Where the BMC tells how the boot goes, its changes are steps; never required, never a failure.
        let watch = Task { await watchBootProgress(node, progress: progress) }
        defer { watch.cancel() }
        do {
            while true {
                if report == nil, let received = try await registry.report(for: bootID) {
                    report = (received, .now)
                    progress(.liveSessionReported(hostname: received.hostname, hostKeys: received.hostKeys))
                }
                if sshAt == nil, await Probes.ssh(node.host, port: node.sshPort, timeout: config.timing.probe) == .ok {
                    sshAt = .now
                    progress(.sshAnswers)
                }
                if let (received, at) = report, let sshAt {
                    watch.cancel()
                    await watch.value
                    await withdrawSeed(node, progress: progress)
                    try? await registry.recordOutcome(bootID: bootID, .ready(at: Date()))
                    let media = await mediaReads(of: bootID)
                    if !media.isEmpty { progress(.mediaRead(media)) }
                    await keepConsoleLog(console, bootID: bootID, registry: registry, progress: progress)
                    return LiveSession(report: received, sshAfterSeconds: (sshAt - start).seconds,
                                       reportAfterSeconds: (at - start).seconds, media: media)
                }
                let now = ContinuousClock.now
                if let sshAt, report == nil, now - sshAt >= config.timing.reportGrace {
                    throw LivebootError.neverReported(node: node.name, seconds: Int(config.timing.reportGrace.components.seconds))
                }
                guard now - start < limit else {
                    throw LivebootError.readyTimeout(node: node.name, seconds: Int(limit.components.seconds),
                                                     sshAnswered: sshAt != nil, reported: report != nil)
                }
                if now - lastReport >= .seconds(15) {
                    progress(.stillWaitingForLiveSession(sshAnswered: sshAt != nil, reported: report != nil))
                    lastReport = now
                }
                try await Task.sleep(for: min(config.timing.pollInterval, limit - (now - start)))
            }
        } catch {
            watch.cancel()
            await watch.value
            try? await registry.closeBoots(of: node.name)
            // A wait cut short (the user, a lease's end) says nothing of the node.
            if !Task.isCancelled {
                try? await registry.recordOutcome(bootID: bootID, .failed(at: Date(), message: "\(error)"))
            }
            await withdrawSeed(node, progress: progress)
            // What the screen shows, and how much of its media the BMC read, are the first things to look at when a
            // boot did not come up.
            if !Task.isCancelled {
                progress(.mediaRead(await mediaReads(of: bootID)))
                await keepConsoleLog(console, bootID: bootID, registry: registry, progress: progress)
                await captureScreen(node, progress: progress)
            } else {
                _ = await console.stop()
            }
            throw error
        }
    }

    /// Stops the boot's console recording and keeps the log with the boot, saying how much it holds and its last
    /// lines. A failure to store it is said, not thrown: the boot's outcome stands.
    func keepConsoleLog(_ recording: ConsoleRecording, bootID: String, registry: any BootRegistry,
                        progress: @escaping ProgressHandler) async {
        let log = await recording.stop()
        do {
            try await registry.recordConsoleLog(bootID: bootID, log)
        } catch {
            progress(.bmc("could not store the console log: \(error)"))
        }
        if let why = log.unavailable {
            progress(.consoleUnavailable(why))
        } else {
            progress(.consoleRecorded(bootID: bootID, bytes: log.bytes.count, totalBytes: log.totalBytes,
                                      lastLines: log.tail(lines: 2)))
        }
    }

    /// Reads `BootProgress.LastState` (`$select`, one small answer) every few seconds in a session of its own, and
    /// says each change, until cancelled. A BMC without it, or that fails, is simply not watched.
    func watchBootProgress(_ node: Node, progress: @escaping ProgressHandler) async {
        _ = try? await withSession(node) { session in
            guard session.system.bootProgressAdvertised else { return }
            var last: BootProgressState?
            while !Task.isCancelled {
                let path = session.system.odataID + "?$select=BootProgress"
                if let reading = try? await session.bmc.client.get(BootProgressReading.self, at: path),
                   let state = reading.lastState, state != last {
                    // The first reading may still be the state before the power cycle: said only when it moves on.
                    if last != nil || ![.osRunning, .none].contains(state) { progress(.bootProgress(state)) }
                    last = state
                }
                try await Task.sleep(for: max(config.timing.pollInterval * 2.5, .milliseconds(500)))
            }
        }
    }

    /// `lb wait`: the live session of the node's latest boot when one is awaited or reported; ssh alone otherwise
    /// (a node last booted from its disk), said as such.
    public func waitForNode(_ node: Node, timeout: Duration? = nil, progress: @escaping ProgressHandler = { _ in })
        async throws -> LivebootResult? {
        if let latest = try await bootRegistry().latestBoot(of: node.name), !latest.hasEnded {
            let session = try await waitForLiveSession(node, bootID: latest.ticket.id, timeout: timeout, progress: progress)
            var result = LivebootResult(node: node.name, image: "", seed: "", keys: 0, bootOnce: "", bootID: latest.ticket.id)
            result.record(session, node: node)
            return result
        }
        progress(.done("no live boot of \(node.name) is awaited: waiting for ssh only"))
        _ = try await waitForSSH(node, timeout: timeout, progress: progress)
        return nil
    }

    /// The host keys the node's live session reported, for `known_hosts`.
    public func liveSessionHostKeys(_ node: Node) async throws -> [HostKey] {
        guard let latest = try await bootRegistry().latestBoot(of: node.name) else {
            throw LivebootError.noLiveSession(node: node.name, reason: "no live boot of it is on record")
        }
        guard let report = latest.report else {
            throw LivebootError.noLiveSession(node: node.name, reason: latest.isOpen
                ? "its live boot has not reported yet (`lb wait \(node.name)`)" : "its last live boot never reported")
        }
        guard !latest.hasEnded else {
            throw LivebootError.noLiveSession(node: node.name, reason: "its last live session is over (booted from its disk since)")
        }
        return report.hostKeys
    }

    /// Ejects the seed's slot (or withdraws the node's NoCloud files on a single-slot BMC), in a session of its own;
    /// a failure is said, not thrown: the boot's own outcome stands.
    func withdrawSeed(_ node: Node, progress: @escaping ProgressHandler) async {
        do {
            try await withSession(node) { session in await withdrawSeed(session, progress: progress) }
        } catch {
            progress(.bmc("could not withdraw the seed: \(error)"))
        }
    }

    func withdrawSeed(_ session: NodeSession, progress: @escaping ProgressHandler) async {
        do {
            let slots = try await session.bmc.virtualMediaSlots(session.discovery)
            let (_, seedSlot) = try chooseSlots(slots, bmc: session.bmc, node: session.node)
            if let seedSlot {
                guard seedSlot.isInserted, seedSlot.image.map({ MediaLayout(images: config.images).seedFile(inURL: $0) != nil }) ?? true else { return }
                try await MediaDrive(session: session, timing: config.timing, progress: { _ in }).eject(seedSlot)
                progress(.seedWithdrawn(where: "slot \(seedSlot.id) ejected"))
            } else if try SeedPublisher(config: config.images).withdrawNoCloud(node: session.node.name) {
                progress(.seedWithdrawn(where: "NoCloud files of \(session.node.name) removed"))
            }
        } catch {
            progress(.bmc("could not withdraw the seed: \(error)"))
        }
    }

    /// Waits until the node's ssh answers with a banner.
    /// - Returns: seconds waited.
    @discardableResult
    public func waitForSSH(_ node: Node, timeout: Duration? = nil, progress: @escaping ProgressHandler = { _ in }) async throws -> Double {
        let limit = timeout ?? config.timing.sshWait
        let start = ContinuousClock.now
        var lastReport = start
        progress(.waitingForSSH(host: node.host, port: node.sshPort, limit: limit))
        while true {
            if await Probes.ssh(node.host, port: node.sshPort, timeout: config.timing.probe) == .ok {
                let elapsed = ContinuousClock.now - start
                progress(.sshAnswers)
                return elapsed.seconds
            }
            let now = ContinuousClock.now
            guard now - start < limit else {
                throw LivebootError.sshTimeout(node: node.name, seconds: Int(limit.components.seconds))
            }
            if now - lastReport >= .seconds(15) {
                progress(.stillWaitingForSSH)
                lastReport = now
            }
            try await Task.sleep(for: min(config.timing.pollInterval, limit - (now - start)))
        }
    }
}
