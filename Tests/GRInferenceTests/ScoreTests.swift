import Foundation
import GRModels
@testable import GRInference
import XCTest

final class ScoreTests: XCTestCase {
    /// M-FALCON scores (candidates in micro-batches against the history's K/V, each seeing the
    /// history and itself) equal scoring each candidate in its own forward of history + candidate.
    func testMFalconEqualsSeparateForwards() throws {
        for kind in ModelKind.allCases {
            let f = try InferenceFixture.make(kind: kind, maxLength: 8)
            defer { f.remove() }
            let rec = try Recommender.load(checkpoint: f.checkpoint, dataDirectory: f.directory.path)
            let (h, t) = f.events(4)
            // 70 candidates: two micro-batches, repeats, history items among them.
            let candidates = (0..<70).map { Int32(1 + ($0 * 13) % 40) }
            let queries = [
                ScoreQuery(history: Array(h.prefix(5)), timestamps: Array(t.prefix(5)), candidates: candidates),
                ScoreQuery(history: h, timestamps: t, candidates: [h[0], 9, 9, 40]),   // longer than maxHistory
                ScoreQuery(history: [2], timestamps: nil, candidates: [1, 2, 3]),
                ScoreQuery(history: Array(h.prefix(5)), timestamps: Array(t.prefix(5)), candidates: candidates, userKey: "k"),
            ]
            let got = try rec.score(queries)
            for (i, q) in queries.enumerated() {
                XCTAssertEqual(got[i].count, q.candidates.count)
                assertRelativelyClose(got[i], rec.separateScores(q), "\(kind) query \(i)")
            }
            XCTAssertEqual(got[0], got[3])
            // Scoring with a cached, then extended, history.
            let extended = ScoreQuery(history: Array(h.prefix(7)), timestamps: Array(t.prefix(7)), candidates: [5, 6, 8],
                                      userKey: "k")
            assertRelativelyClose(try rec.score([extended])[0], rec.separateScores(extended), "\(kind) extended")
            XCTAssertEqual(rec.cache.peek("k")?.rows, 7)
            // Scores do not depend on the other candidates of the micro-batch.
            let alone = try rec.score([ScoreQuery(history: Array(h.prefix(5)), timestamps: Array(t.prefix(5)),
                                                  candidates: [candidates[3]])])[0]
            assertRelativelyClose(alone, [got[0][3]], "\(kind) alone")
        }
    }
}
