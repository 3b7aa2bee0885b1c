import Foundation

extension RedfishClient {
    /// Polls a task monitor (the `Location` of an asynchronous operation) until the task reaches a final state,
    /// waiting what its `Retry-After` says (1 s otherwise, at most 10 s), within `deadline`; says each state through
    /// `progress`. A task that ends other than `Completed` throws with the BMC's messages.
    public func waitForTask(at location: String, deadline: Duration = .seconds(180),
                            progress: @Sendable (RedfishTask) -> Void = { _ in }) async throws -> RedfishTask {
        let path = Self.path(of: location)
        let end = ContinuousClock.now + deadline
        var lastState: TaskState?
        while true {
            let response = try await send("GET", path)
            let task = try decode(RedfishTask.self, from: response, method: "GET", path: path)
            if task.taskState != lastState {
                lastState = task.taskState
                progress(task)
            }
            if task.isFinished {
                guard task.taskState == .completed else {
                    throw RedfishError.taskFailed(bmc: endpoint.baseURL, task: task.id, state: task.taskState.rawValue,
                                                  messages: task.messages ?? [])
                }
                return task
            }
            guard ContinuousClock.now < end else {
                throw RedfishError.taskTimedOut(bmc: endpoint.baseURL, task: task.id, state: task.taskState.rawValue,
                                                seconds: deadline.seconds)
            }
            try await Task.sleep(for: min(response.retryAfter ?? .seconds(1), .seconds(10)))
        }
    }
}
