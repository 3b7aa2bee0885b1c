import Foundation
import Hummingbird
import PortalStore

/// Server-Sent Events for one operation: the stored steps first, then each new one, then `done`.
enum OperationFeed {
    static func response(for operation: NodeOperation, runner: OperationRunner, operations: any OperationRepository) async throws -> Response {
        let id = operation.id!
        // Follow before reading the stored steps: nothing falls between the two; duplicates are dropped by step id.
        let live = await runner.follow(id)
        let stored = try await operations.steps(of: id)
        let finished = operation.state == .running ? nil : operation
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let body = ResponseBody { writer in
            var lastID: Int64 = 0
            func send(_ event: String, _ value: some Encodable, id: Int64? = nil) async throws {
                let json = String(decoding: try encoder.encode(value), as: UTF8.self)
                var text = "event: \(event)\n"
                if let id { text += "id: \(id)\n" }
                text += "data: \(json)\n\n"
                try await writer.write(ByteBuffer(string: text))
            }
            for step in stored {
                try await send("step", step, id: step.id)
                lastID = step.id ?? lastID
            }
            if let finished {
                try await send("done", finished)
            } else {
                // The operation may have ended between the read and the follow: check once more.
                if let now = try await operations.operation(id: id), now.state != .running {
                    for step in try await operations.steps(of: id) where (step.id ?? 0) > lastID { try await send("step", step, id: step.id) }
                    try await send("done", now)
                } else {
                    for await event in live {
                        switch event {
                        case .step(let step):
                            guard (step.id ?? Int64.max) > lastID else { continue }  // already sent from the table
                            try await send("step", step, id: step.id)
                        case .finished(let operation):
                            try await send("done", operation)
                        }
                    }
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok,
                        headers: [.contentType: "text/event-stream", .cacheControl: "no-store", .init("X-Accel-Buffering")!: "no"],
                        body: body)
    }
}
