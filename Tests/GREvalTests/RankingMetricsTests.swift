import GREval
import XCTest

/// Hand-computed metric values (spec §6.2).
final class RankingMetricsTests: XCTestCase {
    func testPerUserValues() {
        // rank 3: ndcg@1 0, ndcg@10 = 1/log2(4) = 0.5, hr@1 0, hr@10 1, mrr 1/3.
        let v = Dictionary(uniqueKeysWithValues: zip(RankingMetrics.names, RankingMetrics.perUser(rank: 3)))
        XCTAssertEqual(v["ndcg@1"], 0)
        XCTAssertEqual(v["ndcg@10"], 0.5)
        XCTAssertEqual(v["ndcg@200"], 0.5)
        XCTAssertEqual(v["hr@1"], 0)
        XCTAssertEqual(v["hr@10"], 1)
        XCTAssertEqual(v["hr@1000"], 1)
        XCTAssertEqual(v["mrr"], Float(1) / 3)
        // Boundaries: rank K counts for @K, rank K + 1 does not.
        XCTAssertEqual(RankingMetrics.ndcg(rank: 10, cutoff: 10), 1 / log2f(11))
        XCTAssertEqual(RankingMetrics.ndcg(rank: 11, cutoff: 10), 0)
        XCTAssertEqual(RankingMetrics.perUser(rank: 1000)[RankingMetrics.names.firstIndex(of: "hr@1000")!], 1)
        XCTAssertEqual(RankingMetrics.perUser(rank: 1001)[RankingMetrics.names.firstIndex(of: "hr@1000")!], 0)
        // A miss still contributes 1/2501 to the MRR.
        XCTAssertEqual(RankingMetrics.reciprocal(rank: 2501), Float(1) / 2501)
    }

    func testMeansAndPositiveSubset() {
        var m = RankingMetrics()
        m.add(ranks: [1, 2501], ratings: [4, 3.5])
        m.add(ranks: [10], ratings: [5])
        let means = Dictionary(uniqueKeysWithValues: m.means().map { ($0.name, $0.value) })
        XCTAssertEqual(means["hr@10"]!, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(means["hr@1"]!, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(means["mrr"]!, (1 + Double(Float(1) / 2501) + Double(Float(0.1))) / 3, accuracy: 1e-12)
        // Only ranks 1 and 10 have rating ≥ 4 (3.5 does not count).
        XCTAssertEqual(m.positiveCount, 2)
        XCTAssertEqual(means["hr@10_>=4"]!, 1)
        XCTAssertEqual(means["ndcg@10_>=4"]!, (1 + Double(1 / log2f(11))) / 2, accuracy: 1e-12)
        XCTAssertEqual(means["mrr_>=4"]!, (1 + Double(Float(0.1))) / 2, accuracy: 1e-12)
        XCTAssertTrue(m.summary().hasPrefix("ndcg@10 "))
    }

    func testNoRatingsAndEmpty() {
        XCTAssertTrue(RankingMetrics().means().isEmpty)
        var m = RankingMetrics()
        m.add(ranks: [2, 4], ratings: [])
        XCTAssertEqual(m.means().map(\.name), RankingMetrics.names.filter { !$0.hasSuffix("_>=4") })
        XCTAssertEqual(m.mean("hr@1"), 0)
        XCTAssertNil(m.mean("mrr_>=4"))
    }

    func testMergeEqualsOneAccumulator() {
        var a = RankingMetrics(), b = RankingMetrics(), all = RankingMetrics()
        a.add(ranks: [1, 7], ratings: [5, 1]); b.add(ranks: [300], ratings: [4])
        all.add(ranks: [1, 7, 300], ratings: [5, 1, 4])
        a.merge(b)
        XCTAssertEqual(a.means().map(\.name), all.means().map(\.name))
        for (x, y) in zip(a.means(), all.means()) { XCTAssertEqual(x.value, y.value, accuracy: 1e-15, x.name) }
    }
}
