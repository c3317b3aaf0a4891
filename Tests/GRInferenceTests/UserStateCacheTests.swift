import Foundation
import GRCore
import GRCPU
import GRModels
@testable import GRInference
import XCTest

/// |a − b| ≤ 1e-5·max(|a|, |b|) + 1e-6 elementwise.
func assertRelativelyClose(_ a: [Float], _ b: [Float], _ message: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, message, file: file, line: line)
    for (i, (x, y)) in zip(a, b).enumerated() where !(abs(x - y) <= 1e-5 * max(abs(x), abs(y)) + 1e-6) {
        XCTFail("\(message): element \(i): \(x) vs \(y)", file: file, line: line)
        return
    }
}

final class UserStateCacheTests: XCTestCase {
    /// Requests for one user key: growing prefixes (several appends, one of several events), a
    /// repeat, a slide past maxHistory, an edited history; each answer equals the uncached one.
    func testCachedAnswersEqualUncached() throws {
        for kind in ModelKind.allCases {
            let f = try InferenceFixture.make(kind: kind, maxLength: 8)
            defer { f.remove() }
            let rec = try Recommender.load(checkpoint: f.checkpoint, dataDirectory: f.directory.path)
            let (h, t) = f.events(4)   // 13 events
            XCTAssertGreaterThan(h.count, rec.maxHistory + 2)
            var edited = Array(h.prefix(7)); edited[2] = 40
            let steps: [([Int32], [Int64]?)] = [
                (Array(h.prefix(3)), Array(t.prefix(3))), (Array(h.prefix(4)), Array(t.prefix(4))),
                (Array(h.prefix(5)), Array(t.prefix(5))), (Array(h.prefix(8)), Array(t.prefix(8))),
                (Array(h.prefix(8)), Array(t.prefix(8))), (Array(h.prefix(10)), Array(t.prefix(10))),
                (Array(h.prefix(11)), Array(t.prefix(11))), (edited, nil), (edited + [3], nil),
            ]
            for (i, (history, ts)) in steps.enumerated() {
                let keyed = try rec.recommend([RecommendQuery(history: history, timestamps: ts, k: 12, userKey: "u")])[0]
                let plain = try rec.recommend([RecommendQuery(history: history, timestamps: ts, k: 12)])[0]
                XCTAssertEqual(keyed.items, plain.items, "\(kind) step \(i)")
                assertRelativelyClose(keyed.scores, plain.scores, "\(kind) step \(i)")
                // The cached user vector is the model's eval vector.
                let state = try XCTUnwrap(rec.cache.peek("u"))
                XCTAssertEqual(state.rows, min(history.count, rec.maxHistory))
                let w = rec.window(history, ts)
                assertRelativelyClose(state.userVector, rec.userVectors([w]), "\(kind) step \(i) vector")
            }
            XCTAssertEqual(rec.cache.hits, steps.count - 1)
            // A batch mixing keyed and plain queries.
            let mixed = try rec.recommend([RecommendQuery(history: h, timestamps: t, k: 5, userKey: "v"),
                                           RecommendQuery(history: h, timestamps: t, k: 5)])
            XCTAssertEqual(mixed[0].items, mixed[1].items)
        }
    }

    /// Appending runs only the new tokens: a state built by appends (1, 4 and 16 events: the last
    /// one through the GEMM attention) equals one built at once, whose vector is the eval vector.
    func testIncrementalStateEqualsFullState() throws {
        for kind in ModelKind.allCases {
            let f = try InferenceFixture.make(kind: kind, maxLength: 32)
            defer { f.remove() }
            let rec = try Recommender.load(checkpoint: f.checkpoint, dataDirectory: nil)
            let (h4, t4) = f.events(4), (h5, t5) = f.events(5)
            let h = h4 + h5, t = t4 + t5.map { $0 - t5[0] + t4.last! + 86_400 }
            XCTAssertEqual(h.count, 23)
            var stepwise = rec.encoder.emptyState()
            for l in [2, 3, 7, h.count] {
                let w = rec.window(Array(h.prefix(l)), Array(t.prefix(l)))
                rec.cache.put("s", stepwise)
                stepwise = rec.userState(w, key: "s")
            }
            let w = rec.window(h, t)
            let full = rec.userState(w, key: nil)
            XCTAssertEqual(stepwise.rows, full.rows)
            for l in 0..<f.config.blocks {
                assertRelativelyClose(stepwise.keys[l], full.keys[l], "\(kind) layer \(l) keys")
                assertRelativelyClose(stepwise.values[l], full.values[l], "\(kind) layer \(l) values")
            }
            assertRelativelyClose(full.userVector, rec.userVectors([w]), "\(kind) vector")
            assertRelativelyClose(stepwise.userVector, rec.userVectors([w]), "\(kind) stepwise vector")
        }
    }

    func testLRUEvictionByCountAndBytes() {
        func state(_ rows: Int) -> KVState {
            var s = KVState(layers: 2, keyWidth: 4, valueWidth: 4)
            s.ids = [Int32](repeating: 1, count: rows); s.timestamps = [Int64](repeating: 0, count: rows)
            for l in 0..<2 { s.keys[l] = [Float](repeating: 1, count: rows * 4); s.values[l] = s.keys[l] }
            return s
        }
        let cache = UserStateCache(capacity: 2)
        cache.put("a", state(1)); cache.put("b", state(1))
        XCTAssertNotNil(cache.peek("a"))
        XCTAssertNotNil(cache.take("a"))        // a becomes the most recent when put back
        cache.put("a", state(1))
        cache.put("c", state(1))                 // evicts b, the least recently used
        XCTAssertNil(cache.peek("b"))
        XCTAssertNotNil(cache.peek("a")); XCTAssertNotNil(cache.peek("c"))
        XCTAssertEqual(cache.count, 2); XCTAssertEqual(cache.evictions, 1)

        let one = state(10).bytes
        let bytes = UserStateCache(capacity: 100, maxBytes: 2 * one + one / 2)
        bytes.put("x", state(10)); bytes.put("y", state(10)); bytes.put("z", state(10))
        XCTAssertEqual(bytes.count, 2)
        XCTAssertNil(bytes.peek("x"))
        XCTAssertLessThanOrEqual(bytes.totalBytes, bytes.maxBytes)
        bytes.put("huge", state(100))            // larger than the bound alone: not stored
        XCTAssertNil(bytes.peek("huge"))
        XCTAssertEqual(bytes.totalBytes, 2 * one)
        XCTAssertNil(bytes.take("nobody"))
    }

    /// Evicted users are recomputed, with the same answers.
    func testEvictedUsersStillAnswerCorrectly() throws {
        let f = try InferenceFixture.make(kind: .hstu, maxLength: 8)
        defer { f.remove() }
        let rec = try Recommender.load(checkpoint: f.checkpoint, dataDirectory: nil, cacheCapacity: 2)
        for round in 0..<2 {
            for u in 0..<4 {
                let (h, t) = f.events(u)
                let keyed = try rec.recommend([RecommendQuery(history: Array(h.prefix(4 + round)), timestamps: Array(t.prefix(4 + round)),
                                                              k: 8, userKey: "user\(u)")])[0]
                let plain = try rec.recommend([RecommendQuery(history: Array(h.prefix(4 + round)),
                                                              timestamps: Array(t.prefix(4 + round)), k: 8)])[0]
                XCTAssertEqual(keyed.items, plain.items)
                assertRelativelyClose(keyed.scores, plain.scores, "user \(u) round \(round)")
            }
        }
        XCTAssertEqual(rec.cache.count, 2)
        XCTAssertEqual(rec.cache.evictions, 6)
    }
}
