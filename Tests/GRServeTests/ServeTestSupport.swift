import Foundation
import GRInference
@testable import GRServe
import Hummingbird
import HummingbirdTesting
import XCTest

/// Builds a `ServeServer` around `engine`, starts its batcher, runs `body` against it (by default
/// Hummingbird's router test framework: no socket; `.ahc(.http)`: a real server on a free loopback
/// port and an HTTP client that may send concurrently), and shuts the batcher down afterwards.
/// Reloads of "stub-b" load a fresh `StubEngine` named "stub-b@…"; any other path fails.
func withServer(_ engine: any RecommendationEngine = StubEngine(), limits: ServeLimits = ServeLimits(),
                loader: (@Sendable (String) throws -> any RecommendationEngine)? = nil,
                setup: TestingSetup = .router,
                _ body: @Sendable (any TestClientProtocol, ServeServer) async throws -> Void) async throws {
    let server = ServeServer(engine: engine, checkpoint: "stub-a", limits: limits,
                             loader: loader ?? StubLoader.load)
    server.start()
    defer { server.shutdown() }
    try await server.makeApplication(host: "127.0.0.1", port: 0).test(setup) { client in
        try await body(client, server)
    }
}

enum StubLoader {
    struct NoSuchCheckpoint: Error, CustomStringConvertible {
        let path: String
        var description: String { "no checkpoint at \(path)" }
    }

    @Sendable static func load(_ path: String) throws -> any RecommendationEngine {
        guard path == "stub-b" else { throw NoSuchCheckpoint(path: path) }
        return StubEngine(modelID: "stub-b@111111111111")
    }
}

extension TestClientProtocol {
    /// POSTs `json` (a string, sent as is) to `uri`.
    func post(_ uri: String, _ json: String) async throws -> TestResponse {
        try await execute(uri: uri, method: .post, headers: [.contentType: "application/json"],
                          body: ByteBuffer(string: json))
    }

    func get(_ uri: String) async throws -> TestResponse {
        try await execute(uri: uri, method: .get)
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    func decode<T: Decodable>(_ type: T.Type, file: StaticString = #filePath, line: UInt = #line) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch {
            XCTFail("\(status.code) \(text): \(error)", file: file, line: line)
            throw error
        }
    }

    /// The `{error, field}` body of an error answer.
    var apiError: APIError.Body? { try? JSONDecoder().decode(APIError.Body.self, from: Data(body.readableBytesView)) }
}

/// A JSON body from a dictionary (tests that build bodies programmatically).
func json(_ object: [String: Any]) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}
