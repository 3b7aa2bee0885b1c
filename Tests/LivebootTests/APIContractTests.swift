import Foundation
import Hummingbird
import HummingbirdTesting
import LivebootCore
import Logging
import XCTest
@testable import LivebootServer

/// `Public/openapi.json` is the API's contract: every `/api/v1` route the portal registers is in it with its methods,
/// nothing else is, each operation says what an error looks like, and the document is what the portal serves.
final class APIContractTests: XCTestCase {
    var testbed: Testbed!

    override func setUp() async throws {
        testbed = try Testbed()
        try await testbed.start([("w1", .fast)], serveImages: false)
    }

    override func tearDown() async throws { await testbed.stop() }

    /// The parts of the document the test reads: paths, their methods, and the responses of each.
    struct Document: Decodable {
        struct Operation: Decodable {
            struct Answer: Decodable { let content: [String: AnyContent]? }
            struct AnyContent: Decodable {}
            let operationId: String
            let responses: [String: Answer]
        }
        let openapi: String
        let paths: [String: [String: Operation]]
    }

    func testDocumentListsExactlyTheRegisteredRoutes() async throws {
        let config = try LivebootConfig.load(path: testbed.configPath)
        let parts = try await LivebootServer.buildParts(config: config, options: Testbed.serveOptions(), logger: Logger(label: "contract"),
                                                        repositories: nil, bmcs: nil)
        let registered = Set(parts.router.routes.compactMap { route -> String? in
            let path = "/" + route.path.description.split(separator: "/").joined(separator: "/")
            guard path.hasPrefix("/api/v1/"), route.method != .head else { return nil }
            return "\(route.method.rawValue) \(path)"
        })
        let data = try Data(contentsOf: Fixtures.packageRoot.appendingPathComponent("Public/openapi.json"))
        let document = try JSONDecoder().decode(Document.self, from: data)
        XCTAssertTrue(document.openapi.hasPrefix("3.1"), document.openapi)
        let documented = Set(document.paths.flatMap { path, operations in
            operations.keys.map { "\($0.uppercased()) \(path)" }
        })
        XCTAssertGreaterThan(registered.count, 15, "\(registered)")
        XCTAssertEqual(registered.subtracting(documented).sorted(), [], "registered routes the document does not describe")
        XCTAssertEqual(documented.subtracting(registered).sorted(), [], "documented routes the portal does not have")
        let operations = document.paths.values.flatMap(\.values)
        XCTAssertEqual(Set(operations.map(\.operationId)).count, operations.count, "operation ids are unique")
        for operation in operations where operation.operationId != "openapi" {
            XCTAssertNotNil(operation.responses["500"]?.content?["application/json"], "\(operation.operationId): the error shape")
            XCTAssertTrue(operation.responses.keys.contains { $0.hasPrefix("2") }, "\(operation.operationId): a success answer")
        }

        // Served as it is, without a token.
        let app = Application(router: parts.router)
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/openapi.json", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(response.headers[.contentType], "application/json")
                XCTAssertEqual(Data(response.body.readableBytesView), data)
            }
        }
    }
}
