import Foundation
import Redfish

/// A BMC that keeps a queue of configuration jobs (Dell's Lifecycle Controller): the capability `queueget` and
/// `queueclear` ask a BMC for; one without it is told so.
public protocol JobQueue: Sendable {
    func jobs(_ discovery: Discovery) async throws -> [DellJob]
    func deleteJob(_ id: String, _ discovery: Discovery) async throws
    /// Deletes every job, pending BIOS changes included.
    func clearJobQueue(_ discovery: Discovery) async throws
}

/// `DellJob.JobState`.
public struct JobState: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let new = Self(rawValue: "New")
    public static let scheduled = Self(rawValue: "Scheduled")
    public static let running = Self(rawValue: "Running")
    public static let completed = Self(rawValue: "Completed")
    public static let completedWithErrors = Self(rawValue: "CompletedWithErrors")
    public static let failed = Self(rawValue: "Failed")
    public static let deleted = Self(rawValue: "Deleted")

    /// Done jobs stay in the queue for a while; `queueget` hides them unless asked.
    public var isFinished: Bool { [.completed, .completedWithErrors, .failed, .deleted].contains(self) }
}

/// A job of the iDRAC's queue (`DellJob`).
public struct DellJob: Codable, Sendable, Hashable {
    public let id: String
    public let name: String?
    public let jobState: JobState
    public let jobType: String?
    public let message: String?
    public let messageId: String?
    public let percentComplete: Int?
    public let startTime: String?
    public let completionTime: String?

    enum CodingKeys: String, CodingKey {
        case id = "Id", name = "Name", jobState = "JobState", jobType = "JobType", message = "Message"
        case messageId = "MessageId", percentComplete = "PercentComplete", startTime = "StartTime"
        case completionTime = "CompletionTime"
    }
}

/// The iDRAC's Manager with what Dell adds: its job service and job collection are published under
/// `Links.Oem.Dell`, not in the standard Manager.
public struct DellManager: Decodable, Sendable {
    public let standard: Manager
    public let jobService: Link?
    public let jobs: Link?

    private enum Keys: String, CodingKey { case links = "Links" }
    private enum LinkKeys: String, CodingKey { case oem = "Oem" }
    private enum OemKeys: String, CodingKey { case dell = "Dell" }
    private enum DellKeys: String, CodingKey { case jobService = "DellJobService", jobs = "Jobs" }

    public init(from decoder: any Decoder) throws {
        standard = try Manager(from: decoder)
        let dell = try? decoder.container(keyedBy: Keys.self)
            .nestedContainer(keyedBy: LinkKeys.self, forKey: .links)
            .nestedContainer(keyedBy: OemKeys.self, forKey: .oem)
            .nestedContainer(keyedBy: DellKeys.self, forKey: .dell)
        jobService = try dell?.decodeIfPresent(Link.self, forKey: .jobService)
        jobs = try dell?.decodeIfPresent(Link.self, forKey: .jobs)
    }
}

extension IDRAC: JobQueue {
    func dellManager(of system: ComputerSystem) async throws -> DellManager {
        guard let link = system.links?.managedBy?.first else {
            throw RedfishError.notSupported(bmc: bmc, what: "a manager for \(system.id)")
        }
        return try await client.get(DellManager.self, at: link.id)
    }

    public func jobs(_ discovery: Discovery) async throws -> [DellJob] {
        guard let jobs = try await dellManager(of: discovery.system).jobs else {
            throw RedfishError.notSupported(bmc: bmc, what: "the Dell job queue")
        }
        return try await client.members(DellJob.self, of: jobs.id, expand: discovery.root.supportsExpand)
    }

    /// The queue's own name for "every job": it also drops pending BIOS changes.
    static let clearAll = "JID_CLEARALL"

    /// Older path of the job service, on iDRAC 9 firmware before 4.x (kept by Dell for compatibility).
    static let legacyDeleteJobQueue =
        "/redfish/v1/Dell/Managers/iDRAC.Embedded.1/DellJobService/Actions/DellJobService.DeleteJobQueue"

    public func deleteJob(_ id: String, _ discovery: Discovery) async throws { try await deleteJobs(id, discovery) }
    public func clearJobQueue(_ discovery: Discovery) async throws { try await deleteJobs(Self.clearAll, discovery) }

    /// `DellJobService.DeleteJobQueue`, found from the manager's Dell links; the legacy path when there is none, or
    /// when the advertised target answers 404 (seen on early 4.x builds).
    private func deleteJobs(_ jobID: String, _ discovery: Discovery) async throws {
        struct Body: Encodable { let JobID: String }
        var target = Self.legacyDeleteJobQueue
        if let manager = try? await dellManager(of: discovery.system), let link = manager.jobService,
           let service = try? await client.get(DellJobService.self, at: link.id),
           let action = service.actions?.named("DellJobService.DeleteJobQueue") {
            target = action.target
        }
        do {
            try await client.post(target, body: Body(JobID: jobID))
        } catch let error as RedfishError where error.status == 404 && target != Self.legacyDeleteJobQueue {
            try await client.post(Self.legacyDeleteJobQueue, body: Body(JobID: jobID))
        }
    }

    struct DellJobService: Decodable {
        let actions: Actions?
        enum CodingKeys: String, CodingKey { case actions = "Actions" }
    }
}
