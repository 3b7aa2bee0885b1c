import XCTest

/// Polls `condition` every 50 ms until it holds, failing the test (at the caller's line) after `seconds`.
func eventually(_ what: String, within seconds: Double = 15, file: StaticString = #filePath, line: UInt = #line,
                _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    XCTFail("timed out waiting until \(what)", file: file, line: line)
}
