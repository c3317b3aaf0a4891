import Foundation
@testable import GRServe
import HummingbirdTesting
import XCTest

/// Valid requests on every route.
final class RoutesTests: XCTestCase {
    func testRecommendAnswersTopKWithScoresAndModel() async throws {
        try await withServer { client, _ in
            let r = try await client.post("/v1/recommend", #"{"history": [100, 5, 97], "k": 3}"#)
            XCTAssertEqual(r.status, .ok, r.text)
            XCTAssertEqual(r.headers[.contentType], "application/json; charset=utf-8")
            let a = try r.decode(RecommendAnswer.self)
            // Highest ids first, the seen items 100 and 97 excluded by default.
            XCTAssertEqual(a.items, [99, 98, 96])
            XCTAssertEqual(a.scores, [0.99, 0.98, 0.96])
            XCTAssertNil(a.titles)
            XCTAssertEqual(a.model, "stub-a@000000000000")
        }
    }

    func testRecommendWithTimestampsUserAndSeenItemsKept() async throws {
        try await withServer(StubEngine(titles: true)) { client, _ in
            let r = try await client.post("/v1/recommend", #"""
                {"history": [100, 7], "timestamps": [978300760, 978302109], "k": 2, "exclude_seen": false, "user": "u-1"}
                """#)
            XCTAssertEqual(r.status, .ok, r.text)
            let a = try r.decode(RecommendAnswer.self)
            XCTAssertEqual(a.items, [100, 99])
            XCTAssertEqual(a.titles, ["Movie 100", "Movie 99"])
        }
    }

    func testHistoryLongerThanTheModelIsNotAnError() async throws {
        try await withServer { client, _ in
            // The stub's maxHistory is 50; 300 events are accepted (the engine keeps the newest).
            let history = (0..<300).map { _ in 3 }
            let r = try await client.post("/v1/recommend", json(["history": history, "k": 1]))
            XCTAssertEqual(r.status, .ok, r.text)
        }
    }

    func testScoreAnswersOneScorePerCandidateInOrder() async throws {
        try await withServer { client, _ in
            let r = try await client.post("/v1/score", #"{"history": [1, 2], "candidates": [30, 10, 20]}"#)
            XCTAssertEqual(r.status, .ok, r.text)
            let a = try r.decode(ScoreAnswer.self)
            XCTAssertEqual(a.scores, [0.3, 0.1, 0.2])
            XCTAssertEqual(a.model, "stub-a@000000000000")
        }
    }

    func testHealthz() async throws {
        try await withServer { client, _ in
            let r = try await client.get("/healthz")
            XCTAssertEqual(r.status, .ok)
            let a = try r.decode(HealthAnswer.self)
            XCTAssertEqual(a, HealthAnswer(status: "ok", model: "stub-a@000000000000", maxItemId: 100, maxHistory: 50,
                                           corpusSize: 100, queueDepth: 0))
        }
    }

    func testUnknownRouteAndWrongMethodAnswerJSONErrors() async throws {
        try await withServer { client, _ in
            let r = try await client.get("/v2/nothing")
            XCTAssertEqual(r.status, .notFound)
            XCTAssertNotNil(r.apiError, r.text)
            let m = try await client.get("/v1/recommend")
            XCTAssertTrue([404, 405].contains(m.status.code), "\(m.status)")
            XCTAssertNotNil(m.apiError, m.text)
        }
    }
}
