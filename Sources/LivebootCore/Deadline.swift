import Foundation
import NIOCore
import NIOPosix

/// A wait that ends: the body's answer, or `Deadline.Passed` naming what was waited for once `limit` has passed.
/// The body is then cancelled and left behind, not waited for: a BMC that hangs mid-answer may ignore the
/// cancellation, and the caller must not hang with it (a structured task group waits for every child).
public enum Deadline {
    public struct Passed: Error, Sendable, CustomStringConvertible, Equatable {
        public let waitingFor: String
        public let limit: Duration
        public var description: String { "no answer from \(waitingFor) within \(limit.formattedSeconds)" }
    }

    public static func run<T: Sendable>(within limit: Duration, waitingFor what: String,
                                        _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let outcome = Outcome<T>()
        let work = Task { await outcome.settle(await Result(catching: { try await body() })) }
        // A timer on NIO's loop, not a sleeping task: a cancelled `Task.sleep` stays allocated until its deadline would
        // have come (Linux), so every status kept its 20 s timer that long; a cancelled scheduled task goes at once.
        let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(limit)) {
            Task { await outcome.settle(.failure(Passed(waitingFor: what, limit: limit))) }
        }
        let result = await withTaskCancellationHandler {
            await outcome.value()
        } onCancel: {
            work.cancel()
        }
        work.cancel()
        timer.cancel()
        return try result.get()
    }

    /// The first result wins; whoever waits gets it.
    private actor Outcome<T: Sendable> {
        private var result: Result<T, any Error>?
        private var waiter: CheckedContinuation<Result<T, any Error>, Never>?

        func settle(_ value: Result<T, any Error>) {
            guard result == nil else { return }
            result = value
            waiter?.resume(returning: value)
            waiter = nil
        }

        func value() async -> Result<T, any Error> {
            if let result { return result }
            return await withCheckedContinuation { waiter = $0 }
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

extension Duration {
    /// `20 s`, `1.5 s`.
    public var formattedSeconds: String {
        return seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.1f s", seconds)
    }
}
