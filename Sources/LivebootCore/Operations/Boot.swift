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
    public var sshAfterSeconds: Double?
}

extension Liveboot {
    /// Resolves an image and checks its URL is mountable, before any node is touched.
    public func prepareImage(_ name: String) async throws -> ResolvedImage {
        let image = try catalog.resolve(name)
        try await MediaURLCheck.check(image.url)
        return image
    }

    /// Live boot: seed, both slots, one-time boot on the virtual CD, power cycle, optionally wait for ssh.
    public func liveboot(_ node: Node, image: ResolvedImage, extraKeys: [SSHPublicKey] = [], wait: Bool,
                         bootID: String? = nil, progress: @escaping ProgressHandler = { _ in }) async throws -> LivebootResult {
        let seed = try self.seed(for: node, extraKeys: extraKeys, bootID: bootID ?? Self.newBootID(for: node))
        let publisher = SeedPublisher(config: config.images)
        let keyCount = Set((config.testbedKeys + extraKeys).map(\.blob)).count

        let bootOnce = try await withSession(node) { session in
            try await waitUntilBMCReady(session, progress: progress)
            let slots = try await session.bmc.virtualMediaSlots(session.discovery)
            let (liveSlot, seedSlot) = try chooseSlots(slots, bmc: session.bmc, node: node)
            var media: [(VirtualMedia, String)] = [(liveSlot, image.url)]
            let seedURL: String
            if let seedSlot {
                // A floppy-only second slot (generic BMCs: Cd + Floppy) gets the same ISO padded to a 1.44 MB
                // floppy: cloud-init finds LABEL=cidata on /dev/fd0 all the same.
                let floppy = !seedSlot.canHoldCD && seedSlot.mediaTypes.contains(.floppy)
                seedURL = floppy
                    ? try publisher.publish(SeedPublisher.floppyImage(seed.image), id: "cidata-\(seed.contentID)-floppy")
                    : try publisher.publish(seed.image, id: "cidata-\(seed.contentID)")
                try await MediaURLCheck.check(seedURL)
                progress(.seedPublished(url: seedURL, keys: keyCount, asFloppy: floppy))
                media.append((seedSlot, seedURL))
            } else {
                // One slot (iDRAC 10, many generic BMCs): the seed goes over HTTP to cloud-init's NoCloud source.
                seedURL = try publisher.publishNoCloud(seed, node: node.name)
                try await NoCloudCheck.check(seedURL)
                progress(.seedServedOverHTTP(url: seedURL, keys: keyCount))
            }
            let drive = MediaDrive(session: session, timing: config.timing, progress: progress)
            for (slot, url) in media {
                _ = try await drive.insert(url, into: slot)
            }
            let override = try await session.bmc.setBootOnce(.cd, on: session.system, progress: { progress(.bmc($0)) })
            progress(.bootOverride(.cd, how: override.how))
            try await powerCycle(session, knownPower: override.readBack?.powerState, progress: progress)
            return (how: override.how, seedURL: seedURL)
        }
        var result = LivebootResult(node: node.name, image: image.name, seed: bootOnce.seedURL, keys: keyCount,
                                    bootOnce: bootOnce.how)
        if wait {
            result.sshAfterSeconds = try await waitForSSH(node, progress: progress)
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

    /// Disk boot: eject every slot, one-time boot to the disk, power cycle.
    public func diskboot(_ node: Node, progress: @escaping ProgressHandler = { _ in }) async throws {
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
                return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
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
