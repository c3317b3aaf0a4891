import Foundation
import GRCore
import GRCPU
import GRData
import GREval
import GRModels
import GRTrain
@testable import GRInference
import XCTest

final class RecommenderTests: XCTestCase {
    /// `gr eval`'s path for users `users`, each with its whole stored sequence as the history and
    /// the target timestamp slot = the last history timestamp (the serving convention): the eval
    /// input builder, the model's eval forward, `RankingEvaluator` with the history as seen list.
    func evalTopK(_ f: InferenceFixture, users: [Int], k: Int) throws -> [[Int32]] {
        let (model, _) = try loadModel(checkpoint: f.checkpoint, store: f.store, backend: CPUBackend())
        let histories = users.map { f.events($0) }
        let batch = SequenceBatch(users: users, layout: JaggedLayout(lengths: histories.map(\.0.count)),
                                  historyIds: histories.flatMap(\.0), historyTimestamps: histories.flatMap(\.1),
                                  targetIds: users.map { _ in 1 }, targetTimestamps: histories.map { $0.1.last! },
                                  targetRatings: users.map { _ in 0 }, maxLength: f.config.maxSequenceLength)
        let input = ModelInput(batch: batch, paddedWidth: f.config.paddedWidth, training: false)
        let evaluator = RankingEvaluator(corpus: f.store.corpus, maxRank: k)
        let r = evaluator.rank(userVectors: model.userEmbeddings(input), itemVectors: model.itemEmbeddings(),
                               targets: batch.targetIds, seen: histories.map(\.0), backend: CPUBackend(), seenWidth: 0)
        return r.ids
    }

    func testTopKEqualsTheEvaluatorsRanking() throws {
        for kind in ModelKind.allCases {
            let f = try InferenceFixture.make(kind: kind)
            defer { f.remove() }
            let rec = try Recommender.load(checkpoint: f.checkpoint, dataDirectory: f.directory.path)
            let users = Array(0..<6)
            let want = try evalTopK(f, users: users, k: 10)
            let got = try rec.recommend(users.map { u in
                let (h, t) = f.events(u)
                return RecommendQuery(history: h, timestamps: t, k: 10)
            })
            XCTAssertEqual(got.map(\.items), want, "\(kind)")
            for (r, u) in zip(got, users) {
                XCTAssertTrue(Set(r.items).isDisjoint(with: f.events(u).0), "\(kind): seen item returned")
                XCTAssertFalse(r.items.contains(InferenceFixture.corpusGap), "\(kind): non-corpus item returned")
                XCTAssertEqual(r.scores, r.scores.sorted(by: >))
            }
            // Same answers one query at a time (batching does not change results).
            let (h, t) = f.events(3)
            let single = try rec.recommend([RecommendQuery(history: h, timestamps: t, k: 10)])
            XCTAssertEqual(single[0].items, got[3].items)
            for (a, b) in zip(single[0].scores, got[3].scores) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        }
    }

    func testDefaultsAndOptions() throws {
        let f = try InferenceFixture.make(kind: .hstu, maxLength: 8)
        defer { f.remove() }
        let rec = try Recommender.load(checkpoint: f.checkpoint, dataDirectory: f.directory.path)
        let (h, t) = f.events(4)   // 5 + 28 % 10 = 13 events > maxLength 8
        XCTAssertGreaterThan(h.count, rec.maxHistory)
        // nil timestamps = all zero (time bucket 0 everywhere).
        let a = try rec.recommend([RecommendQuery(history: h, timestamps: nil, k: 5),
                                   RecommendQuery(history: h, timestamps: [Int64](repeating: 0, count: h.count), k: 5)])
        XCTAssertEqual(a[0], a[1])
        // Timestamps matter for HSTU.
        let timed = try rec.recommend([RecommendQuery(history: h, timestamps: t, k: 30)])[0]
        let untimed = try rec.recommend([RecommendQuery(history: h, timestamps: nil, k: 30)])[0]
        XCTAssertNotEqual(timed.scores, untimed.scores)
        // Longer than maxHistory: the newest maxHistory events are the model input; all are excluded.
        let newest = Array(h.suffix(rec.maxHistory)), newestT = Array(t.suffix(rec.maxHistory))
        let b = try rec.recommend([RecommendQuery(history: newest, timestamps: newestT, k: 30, excludeSeen: false),
                                   RecommendQuery(history: h, timestamps: t, k: 30, excludeSeen: false)])
        XCTAssertEqual(b[0], b[1])
        XCTAssertTrue(Set(timed.items).isDisjoint(with: h))
        // include seen: history items may come back, and the list is the unfiltered ranking.
        let all = try rec.recommend([RecommendQuery(history: h, timestamps: t, k: rec.corpusSize, excludeSeen: false)])[0]
        XCTAssertEqual(all.items.count, rec.corpusSize)
        XCTAssertEqual(all.items.filter { !Set(h).contains($0) }.prefix(30).map { $0 }, timed.items)
        XCTAssertEqual(rec.title(of: 3), "Item 3")
        XCTAssertTrue(rec.modelID.hasPrefix("model.safetensors@"))
        XCTAssertEqual(rec.modelID.count, "model.safetensors@".count + 12)
    }

    func testLoadWithoutDataRanksEveryId() throws {
        let f = try InferenceFixture.make(kind: .sasrec)
        defer { f.remove() }
        let rec = try Recommender.load(checkpoint: f.checkpoint, dataDirectory: nil)
        XCTAssertEqual(rec.corpusSize, rec.maxItemId)
        XCTAssertNil(rec.title(of: 3))
        let r = try rec.recommend([RecommendQuery(history: [1, 2, 3], k: rec.maxItemId - 3)])[0]
        XCTAssertTrue(r.items.contains(InferenceFixture.corpusGap))
        XCTAssertThrowsError(try Recommender.load(checkpoint: f.directory.path + "/missing.safetensors", dataDirectory: nil)) {
            XCTAssertTrue("\($0)".contains("no such checkpoint"), "\($0)")
        }
    }

    func testValidationNamesTheField() throws {
        let f = try InferenceFixture.make(kind: .sasrec)
        defer { f.remove() }
        let rec = try Recommender.load(checkpoint: f.checkpoint, dataDirectory: f.directory.path)
        func field(_ q: RecommendQuery) -> String? {
            do { try rec.validate(q); return nil } catch let e as InferenceError { return e.field } catch { return "?" }
        }
        func field(_ q: ScoreQuery) -> String? {
            do { try rec.validate(q); return nil } catch let e as InferenceError { return e.field } catch { return "?" }
        }
        XCTAssertNil(field(RecommendQuery(history: [1, 2], k: 3)))
        XCTAssertEqual(field(RecommendQuery(history: [], k: 3)), "history")
        XCTAssertEqual(field(RecommendQuery(history: [1, 2, 0], k: 3)), "history[2]")
        XCTAssertEqual(field(RecommendQuery(history: [1, 41], k: 3)), "history[1]")
        XCTAssertEqual(field(RecommendQuery(history: [-1], k: 3)), "history[0]")
        XCTAssertEqual(field(RecommendQuery(history: [1, 2], timestamps: [5], k: 3)), "timestamps")
        XCTAssertEqual(field(RecommendQuery(history: [1], k: 0)), "k")
        XCTAssertEqual(field(RecommendQuery(history: [1], k: rec.corpusSize + 1)), "k")
        XCTAssertNil(field(ScoreQuery(history: [1], candidates: [2, 2, 40])))
        XCTAssertEqual(field(ScoreQuery(history: [1], candidates: [])), "candidates")
        XCTAssertEqual(field(ScoreQuery(history: [1], candidates: [3, 4, 99])), "candidates[2]")
        XCTAssertThrowsError(try rec.recommend([RecommendQuery(history: [1], k: 3), RecommendQuery(history: [0], k: 3)]))
        XCTAssertEqual(try rec.recommend([]), [])
    }
}
