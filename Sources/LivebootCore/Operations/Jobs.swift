import DellIDRAC
import Foundation
import Redfish

public struct NodeJobs: Codable, Sendable {
    public let node: String
    public let jobs: [JobSummary]
}

/// A job as `queueget` shows it (our field names, not the BMC's).
public struct JobSummary: Codable, Sendable, Equatable {
    public let id: String
    public let name: String?
    public let state: String
    public let type: String?
    public let message: String?
    public let percentComplete: Int?

    init(_ job: DellJob) {
        id = job.id
        name = job.name
        state = job.jobState.rawValue
        type = job.jobType
        message = job.message
        percentComplete = job.percentComplete
    }
}

extension Liveboot {
    /// The iDRAC job queue; finished jobs only with `all`.
    public func jobs(_ node: Node, all: Bool) async throws -> NodeJobs {
        try await withSession(node) { session in
            let jobs = try await Self.jobQueue(session).jobs(session.discovery)
            return NodeJobs(node: node.name, jobs: (all ? jobs : jobs.filter { !$0.jobState.isFinished }).map(JobSummary.init))
        }
    }

    /// Deletes one job, or the whole queue (pending BIOS changes included).
    public func clearJobs(_ node: Node, jobID: String?) async throws {
        if let jobID, jobID.range(of: #"^[A-Za-z]+_[0-9A-Za-z]+$"#, options: .regularExpression) == nil {
            throw LivebootError.badArgument("\"\(jobID)\" is not a job id (JID_…)")
        }
        try await withSession(node) { session in
            let queue = try Self.jobQueue(session)
            if let jobID {
                try await queue.deleteJob(jobID, session.discovery)
            } else {
                try await queue.clearJobQueue(session.discovery)
            }
        }
    }

    /// The BMC's job queue, if it has one (a Dell iDRAC does).
    static func jobQueue(_ session: NodeSession) throws -> any JobQueue {
        guard let queue = session.bmc as? any JobQueue else {
            throw RedfishError.notSupported(bmc: session.bmc.client.endpoint.baseURL, what: "a job queue (a Dell iDRAC feature)")
        }
        return queue
    }

    // MARK: Virtual media

    public func vmediaList(_ node: Node) async throws -> [SlotStatus] {
        try await withSession(node) { session in
            try await session.bmc.virtualMediaSlots(session.discovery).map(SlotStatus.init)
        }
    }

    /// Inserts `url` into slot `slotID` (ejecting what is there), and reads it back.
    public func vmediaInsert(_ node: Node, slot slotID: String, url: String,
                             progress: @escaping ProgressHandler = { _ in }) async throws -> SlotStatus {
        try await MediaURLCheck.check(url)
        return try await withSession(node) { session in
            let slots = try await session.bmc.virtualMediaSlots(session.discovery)
            guard let slot = slots.first(where: { $0.id == slotID }) else {
                throw LivebootError.badArgument("\(node.name) has no slot \(slotID); slots: \(slots.map(\.id).joined(separator: ", "))")
            }
            try await waitUntilBMCReady(session, progress: progress)
            return SlotStatus(try await MediaDrive(session: session, timing: config.timing, progress: progress).insert(url, into: slot))
        }
    }

    /// Ejects one slot, or every inserted slot when `slotID` is nil.
    public func vmediaEject(_ node: Node, slot slotID: String?,
                            progress: @escaping ProgressHandler = { _ in }) async throws -> [SlotStatus] {
        try await withSession(node) { session in
            let slots = try await session.bmc.virtualMediaSlots(session.discovery)
            let chosen = slotID.map { id in slots.filter { $0.id == id } } ?? slots.filter(\.isInserted)
            if let slotID, chosen.isEmpty {
                throw LivebootError.badArgument("\(node.name) has no slot \(slotID); slots: \(slots.map(\.id).joined(separator: ", "))")
            }
            let drive = MediaDrive(session: session, timing: config.timing, progress: progress)
            for slot in chosen { try await drive.eject(slot) }
            return try await session.bmc.virtualMediaSlots(session.discovery).map(SlotStatus.init)
        }
    }
}
