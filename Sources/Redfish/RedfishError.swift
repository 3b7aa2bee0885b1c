import Foundation

/// What went wrong talking to a BMC, with what a user needs to act on it: the BMC, the call made and,
/// when the BMC said something, its own MessageIds and text.
public enum RedfishError: Error, Sendable, CustomStringConvertible {
    /// No TCP/TLS connection could be made (refused, unroutable, DNS, TLS handshake).
    case unreachable(bmc: String, reason: String)
    /// The BMC accepted the connection but did not answer in time.
    case timedOut(bmc: String, method: String, path: String, seconds: Double)
    /// The credentials were refused (401/403 on login or on a request).
    case authenticationFailed(bmc: String, status: Int)
    /// The BMC answered with an error status; `messages` holds its `@Message.ExtendedInfo`.
    case requestFailed(bmc: String, method: String, path: String, status: Int, messages: [RedfishMessage])
    /// The BMC kept answering 503 until the retry budget ran out.
    case serviceUnavailable(bmc: String, method: String, path: String, attempts: Int)
    /// The answer could not be understood (not JSON, or not the expected resource).
    case invalidResponse(bmc: String, method: String, path: String, reason: String)
    /// The BMC does not offer what we need (no such link or action).
    case notSupported(bmc: String, what: String)
    /// A value was refused before anything was sent (not in `@Redfish.AllowableValues`, say).
    case notAllowed(bmc: String, what: String, allowed: [String])
    /// An asynchronous operation's task ended other than `Completed`.
    case taskFailed(bmc: String, task: String, state: String, messages: [RedfishMessage])
    /// A task was still running when its deadline came.
    case taskTimedOut(bmc: String, task: String, state: String, seconds: Double)

    public var messageIDs: [String] {
        switch self {
        case .requestFailed(_, _, _, _, let messages), .taskFailed(_, _, _, let messages): messages.map(\.messageId)
        default: []
        }
    }

    public var status: Int? {
        switch self {
        case .requestFailed(_, _, _, let status, _): status
        case .authenticationFailed(_, let status): status
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .unreachable(let bmc, let reason):
            return "BMC \(bmc) is unreachable: \(reason)"
        case .timedOut(let bmc, let method, let path, let seconds):
            return "BMC \(bmc) did not answer \(method) \(path) within \(Int(seconds)) s"
        case .authenticationFailed(let bmc, let status):
            return "BMC \(bmc) refused the credentials (HTTP \(status)); check drac-username / drac-password"
        case .requestFailed(let bmc, let method, let path, let status, let messages):
            let said = messages.map { "\($0.messageId): \($0.message ?? "")" }.joined(separator: "; ")
            return "BMC \(bmc): \(method) \(path) failed with HTTP \(status)" + (said.isEmpty ? "" : " — \(said)")
        case .serviceUnavailable(let bmc, let method, let path, let attempts):
            return "BMC \(bmc) answered 503 Service Unavailable to \(method) \(path) \(attempts) times; it is busy, try later"
        case .invalidResponse(let bmc, let method, let path, let reason):
            return "BMC \(bmc) sent an answer to \(method) \(path) that is not valid Redfish: \(reason)"
        case .notSupported(let bmc, let what):
            return "BMC \(bmc) does not support \(what)"
        case .notAllowed(let bmc, let what, let allowed):
            return "BMC \(bmc) does not allow \(what) (allowed: \(allowed.joined(separator: ", ")))"
        case .taskFailed(let bmc, let task, let state, let messages):
            let said = messages.map { "\($0.messageId): \($0.message ?? "")" }.joined(separator: "; ")
            return "BMC \(bmc): task \(task) ended \(state)" + (said.isEmpty ? "" : ": \(said)")
        case .taskTimedOut(let bmc, let task, let state, let seconds):
            return "BMC \(bmc): task \(task) still \(state) after \(Int(seconds)) s"
        }
    }
}

extension RedfishError: LocalizedError {
    public var errorDescription: String? { description }
}
