import GRCore
import GRCPU
import GREval
import GRTestSupport
import XCTest

/// Reproduces the reference eval on `shared/fixtures/eval_metrics.safetensors`: 6 users, 30 items,
/// seen filtering with past_ids width N = 15, k = min(2500, 30, 30 − 15) = 15 (fixture quirk 5),
/// ranks 1, 3, 10, 12, 2501, 2501 and every per-user metric and mean, the `_>=4` ones included.
final class EvalMetricsFixtureTests: XCTestCase {
    struct Fixture {
        let corpus: [Int32]
        let items: Tensor        // (31, 8) L2-normalised rows
        let users: Tensor        // (6, 8)
        let seen: [[Int32]]      // past_ids rows, padding zeros included
        let seenWidth: Int
        let targets: [Int32]
        let ratings: [Float]
        let file: SafeTensorsFile
    }

    /// The reference L2-normalises item rows as x / max(‖x‖, 1e-6) (spec §6.1); done in Double here.
    static let l2Eps = 1e-6

    func load() throws -> Fixture {
        let f = try Shared.fixture("eval_metrics")
        let corpus = try f.int64s("input.all_item_ids").map { Int32($0) }
        let itemShape = try f.shape("input.item_embeddings")
        let D = itemShape[1]
        var raw = try f.doubles("input.item_embeddings")
        for r in 0..<itemShape[0] {
            let norm = (0..<D).reduce(0.0) { $0 + raw[r * D + $1] * raw[r * D + $1] }.squareRoot()
            for c in 0..<D { raw[r * D + c] /= max(norm, Self.l2Eps) }
        }
        let pastShape = try f.shape("input.past_ids")
        let past = try f.int64s("input.past_ids").map { Int32($0) }
        let seen = (0..<pastShape[0]).map { Array(past[($0 * pastShape[1])..<(($0 + 1) * pastShape[1])]) }
        return Fixture(
            corpus: corpus,
            items: Tensor(raw.map { Float($0) }, shape: itemShape),
            users: Tensor(try f.floats("input.user_embeddings"), shape: try f.shape("input.user_embeddings")),
            seen: seen, seenWidth: pastShape[1],
            targets: try f.int64s("input.target_ids").map { Int32($0) },
            ratings: try f.int64s("input.target_ratings").map { Float($0) },
            file: f)
    }

    func testTopKListsAndRanks() throws {
        let fx = try load()
        for budget in [RankingEvaluator.defaultScoreBudget, 6 * 7] {  // one block, and blocks of 7 items
            let evaluator = RankingEvaluator(corpus: fx.corpus, scoreBudget: budget)
            let result = evaluator.rank(userVectors: fx.users, itemVectors: fx.items, targets: fx.targets,
                                        seen: fx.seen, backend: CPUBackend(), seenWidth: fx.seenWidth)
            XCTAssertEqual(result.k, Int(try fx.file.int64s("output.k")[0]))
            XCTAssertEqual(result.k, 15)
            let k = result.k
            let refIds = try fx.file.int64s("output.top_k_ids").map { Int32($0) }
            let refScores = try fx.file.doubles("output.top_k_scores")
            for b in 0..<fx.targets.count {
                XCTAssertEqual(result.ids[b], Array(refIds[(b * k)..<((b + 1) * k)]), "user \(b) ids, budget \(budget)")
                assertClose(result.scores[b], Array(refScores[(b * k)..<((b + 1) * k)]), "user \(b) scores")
            }
            XCTAssertEqual(result.ranks, try fx.file.int64s("output.rank").map { Int($0) })
            XCTAssertEqual(result.ranks, [1, 3, 10, 12, 2501, 2501])
            let ranksOnly = evaluator.ranks(userVectors: fx.users, itemVectors: fx.items, targets: fx.targets,
                                            seen: fx.seen, backend: CPUBackend(), seenWidth: fx.seenWidth)
            XCTAssertEqual(ranksOnly, result.ranks)
        }
    }

    /// A per-user metric as Float: HR tensors are stored as 0/1 int64, the others as float32.
    static func metric(_ f: SafeTensorsFile, _ name: String) throws -> [Float] {
        try f.entry(name).dtype == "I64" ? f.int64s(name).map { Float($0) } : f.floats(name)
    }

    func testPerUserMetrics() throws {
        let fx = try load()
        let ranks = try fx.file.int64s("output.rank").map { Int($0) }
        for (i, name) in RankingMetrics.names.enumerated() where i < RankingMetrics.names.count - 4 {
            let ref = try Self.metric(fx.file, "metric.\(name)")
            XCTAssertEqual(ranks.map { RankingMetrics.perUser(rank: $0)[i] }, ref, name)
        }
        let positive = zip(ranks, fx.ratings).filter { $0.1 >= RankingMetrics.minPositiveRating }.map(\.0)
        XCTAssertEqual(positive.count, 4)
        for (i, name) in RankingMetrics.names.suffix(4).enumerated() {
            let ref = try Self.metric(fx.file, "metric.\(name)")
            XCTAssertEqual(positive.map { RankingMetrics.perUserPositive(rank: $0)[i] }, ref, name)
        }
    }

    func testMeans() throws {
        let fx = try load()
        var metrics = RankingMetrics()
        // Two partial batches, as an epoch adds them.
        let ranks = try fx.file.int64s("output.rank").map { Int($0) }
        metrics.add(ranks: Array(ranks.prefix(4)), ratings: Array(fx.ratings.prefix(4)))
        metrics.add(ranks: Array(ranks.suffix(2)), ratings: Array(fx.ratings.suffix(2)))
        let means = metrics.means()
        XCTAssertEqual(means.map(\.name), RankingMetrics.names)
        XCTAssertEqual(metrics.count, 6)
        XCTAssertEqual(metrics.positiveCount, 4)
        for (name, value) in means {
            let ref = try fx.file.doubles("mean.\(name)")
            // The reference sums float32; we sum in Double: equal to float32 rounding.
            assertClose([value], ref, atolScale: 0, rtol: 1e-6, name)
        }
        let names = Set(fx.file.names.filter { $0.hasPrefix("mean.") }.map { String($0.dropFirst(5)) })
        XCTAssertEqual(names, Set(RankingMetrics.names), "every mean of the fixture, nothing else")
    }
}
