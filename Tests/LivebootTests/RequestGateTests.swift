import Foundation
import NIOConcurrencyHelpers
@testable import Redfish
import XCTest

/// The bound on BMC requests: one at a time per BMC, `limit` in all, every request served.
final class RequestGateTests: XCTestCase {
    final class Concurrency: Sendable {
        private let state = NIOLockedValueBox<(now: [String: Int], total: Int, maxPerBMC: Int, maxTotal: Int, done: Int)>(([:], 0, 0, 0, 0))
        func enter(_ bmc: String) {
            state.withLockedValue {
                $0.now[bmc, default: 0] += 1
                $0.total += 1
                $0.maxPerBMC = max($0.maxPerBMC, $0.now[bmc]!)
                $0.maxTotal = max($0.maxTotal, $0.total)
            }
        }
        func leave(_ bmc: String) { state.withLockedValue { $0.now[bmc]! -= 1; $0.total -= 1; $0.done += 1 } }
        var maxPerBMC: Int { state.withLockedValue { $0.maxPerBMC } }
        var maxTotal: Int { state.withLockedValue { $0.maxTotal } }
        var done: Int { state.withLockedValue { $0.done } }
    }

    func testOneRequestAtATimePerBMCAndTheCapInAll() async throws {
        let gate = RequestGate(limit: 3)
        let seen = Concurrency()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for request in 0..<60 {
                let bmc = "bmc\(request % 6)"
                group.addTask {
                    try await gate.withPermit(for: bmc) {
                        seen.enter(bmc)
                        try await Task.sleep(for: .milliseconds(2))
                        seen.leave(bmc)
                    }
                }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(seen.done, 60, "every request served")
        XCTAssertEqual(seen.maxPerBMC, 1, "never two at once to one BMC")
        XCTAssertLessThanOrEqual(seen.maxTotal, 3)
        let peak = await gate.peak
        XCTAssertLessThanOrEqual(peak, 3)
        XCTAssertGreaterThan(peak, 1, "different BMCs are served at the same time")
    }

    /// A request that fails gives its permits back: the next one to the same BMC goes.
    func testAFailedRequestReleasesItsPermit() async throws {
        let gate = RequestGate(limit: 1)
        struct Boom: Error {}
        do {
            try await gate.withPermit(for: "bmc") { throw Boom() }
            XCTFail("the error is the caller's")
        } catch is Boom {}
        let value = try await gate.withPermit(for: "bmc") { 42 }
        XCTAssertEqual(value, 42)
    }
}
