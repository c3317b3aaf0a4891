import Foundation
@testable import GRServe
import HummingbirdTesting
import XCTest

/// Every kind of malformed request gets a 4xx with `{error, field}` naming what is wrong.
final class MalformedRequestTests: XCTestCase {
    struct Case {
        var uri = "/v1/recommend"
        var body: String
        var status = 400
        var field: String
    }

    static let recommendCases: [Case] = [
        Case(body: "not json", field: "body"),
        Case(body: #"{"history": [1, 2"#, field: "body"),  // truncated
        Case(body: "", field: "body"),
        Case(body: "[1, 2, 3]", field: "body"),
        Case(body: #"{"history": [1], "k": 3, "timestamps": [NaN]}"#, field: "body"),
        Case(body: "{}", field: "history"),
        Case(body: #"{"k": 3}"#, field: "history"),
        Case(body: #"{"history": [1]}"#, field: "k"),
        Case(body: #"{"history": "1,2", "k": 3}"#, field: "history"),
        Case(body: #"{"history": null, "k": 3}"#, field: "history"),
        Case(body: #"{"history": [], "k": 3}"#, field: "history"),
        Case(body: #"{"history": [1, "x"], "k": 3}"#, field: "history[1]"),
        Case(body: #"{"history": [1, 2.5], "k": 3}"#, field: "history[1]"),
        Case(body: #"{"history": [1, null], "k": 3}"#, field: "history[1]"),
        Case(body: #"{"history": [1, -3], "k": 3}"#, field: "history[1]"),
        Case(body: #"{"history": [0], "k": 3}"#, field: "history[0]"),
        Case(body: #"{"history": [1, 2, 101], "k": 3}"#, field: "history[2]"),
        Case(body: #"{"history": [4294967296], "k": 3}"#, field: "history[0]"),
        Case(body: #"{"history": [1, 99], "k": 3}"#, field: "history[1]"),  // refused by the engine's validate
        Case(body: #"{"history": [1], "k": 0}"#, field: "k"),
        Case(body: #"{"history": [1], "k": -1}"#, field: "k"),
        Case(body: #"{"history": [1], "k": 1001}"#, field: "k"),
        Case(body: #"{"history": [1], "k": "5"}"#, field: "k"),
        Case(body: #"{"history": [1], "k": 2.5}"#, field: "k"),
        Case(body: #"{"history": [1], "k": 1e400}"#, field: "k"),
        Case(body: #"{"history": [1, 2], "k": 3, "timestamps": [1]}"#, field: "timestamps"),
        Case(body: #"{"history": [1], "k": 3, "timestamps": 5}"#, field: "timestamps"),
        Case(body: #"{"history": [1], "k": 3, "timestamps": [-1]}"#, field: "timestamps[0]"),
        Case(body: #"{"history": [1], "k": 3, "timestamps": [1e300]}"#, field: "timestamps[0]"),
        Case(body: #"{"history": [1], "k": 3, "timestamps": [99999999999999]}"#, field: "timestamps[0]"),
        Case(body: #"{"history": [1], "k": 3, "timestamps": ["x"]}"#, field: "timestamps[0]"),
        Case(body: #"{"history": [1], "k": 3, "exclude_seen": "yes"}"#, field: "exclude_seen"),
        Case(body: #"{"history": [1], "k": 3, "user": 5}"#, field: "user"),
        Case(body: #"{"history": [1], "k": 3, "user": ""}"#, field: "user"),
        Case(body: #"{"history": [1], "k": 3, "exclude-seen": false}"#, field: "exclude-seen"),
    ]

    static let scoreCases: [Case] = [
        Case(uri: "/v1/score", body: #"{"history": [1]}"#, field: "candidates"),
        Case(uri: "/v1/score", body: #"{"history": [1], "candidates": []}"#, field: "candidates"),
        Case(uri: "/v1/score", body: #"{"history": [1], "candidates": [3, -1]}"#, field: "candidates[1]"),
        Case(uri: "/v1/score", body: #"{"history": [1], "candidates": [500]}"#, field: "candidates[0]"),
        Case(uri: "/v1/score", body: #"{"history": [-1], "candidates": [5]}"#, field: "history[0]"),
        Case(uri: "/v1/score", body: #"{"history": [1], "candidates": [5], "k": 3}"#, field: "k"),
        Case(uri: "/admin/reload", body: "{}", field: "checkpoint"),
        Case(uri: "/admin/reload", body: #"{"checkpoint": 3}"#, field: "checkpoint"),
        Case(uri: "/admin/reload", body: #"{"checkpoint": "/no/such/file"}"#, field: "checkpoint"),
    ]

    func testEveryMalformedRequestGetsA400NamingTheField() async throws {
        try await withServer { client, _ in
            for c in Self.recommendCases + Self.scoreCases {
                let r = try await client.post(c.uri, c.body)
                XCTAssertEqual(r.status.code, c.status, "\(c.uri) \(c.body): \(r.text)")
                let e = r.apiError
                XCTAssertEqual(e?.field, c.field, "\(c.uri) \(c.body): \(r.text)")
                XCTAssertFalse(e?.error.isEmpty ?? true, "\(c.body)")
            }
        }
    }

    func testOversizedArraysAndBodiesAre413() async throws {
        var limits = ServeLimits()
        limits.maxArrayLength = 1000
        limits.maxBodyBytes = 20_000
        try await withServer(limits: limits) { client, _ in
            let long = Array(repeating: 1, count: 1001)
            var r = try await client.post("/v1/recommend", json(["history": long, "k": 1]))
            XCTAssertEqual(r.status, .contentTooLarge, r.text)
            XCTAssertEqual(r.apiError?.field, "history")
            r = try await client.post("/v1/score", json(["history": [1], "candidates": long]))
            XCTAssertEqual(r.status, .contentTooLarge, r.text)
            XCTAssertEqual(r.apiError?.field, "candidates")
            r = try await client.post("/v1/recommend",
                                      json(["history": [1], "timestamps": Array(repeating: 1, count: 1001), "k": 1]))
            XCTAssertEqual(r.status, .contentTooLarge, r.text)
            XCTAssertEqual(r.apiError?.field, "timestamps")
            r = try await client.post("/v1/recommend", json(["history": Array(repeating: 1, count: 10_000), "k": 1]))
            XCTAssertEqual(r.status, .contentTooLarge, r.text)
            XCTAssertEqual(r.apiError?.field, "body")
        }
    }

    func testFieldPathsOfNestedDecodingErrors() {
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int?
            init(_ s: String) { stringValue = s; intValue = nil }
            init(_ i: Int) { stringValue = "Index \(i)"; intValue = i }
            init?(stringValue: String) { self.init(stringValue) }
            init?(intValue: Int) { self.init(intValue) }
        }
        XCTAssertEqual(RequestDecoding.fieldPath([]), "body")
        XCTAssertEqual(RequestDecoding.fieldPath([Key("history"), Key(3)]), "history[3]")
        XCTAssertEqual(RequestDecoding.fieldPath([Key("a"), Key("b"), Key(0), Key(1)]), "a.b[0][1]")
    }
}
