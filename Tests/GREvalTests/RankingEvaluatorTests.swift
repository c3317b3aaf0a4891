import GRCore
import GRCPU
import GREval
import XCTest

/// `RankingEvaluator` on hand-made cases and against a brute-force definition of spec §6.1.
final class RankingEvaluatorTests: XCTestCase {
    let backend = CPUBackend()

    /// 1-D "vectors": user u = [1], item i = [s_i], so score = s_i.
    func oneDim(_ itemScores: [Float], users: Int = 1) -> (Tensor, Tensor) {
        (Tensor([Float](repeating: 1, count: users), shape: [users, 1]), Tensor(itemScores, shape: [itemScores.count, 1]))
    }

    func testHandCaseWithSeenFilter() {
        // Items 1..6 score 0.6, 0.1, 0.5, 0.9, 0.3, 0.8 (row 0 = padding). Order: 4, 6, 1, 3, 5, 2.
        let (u, items) = oneDim([0, 0.6, 0.1, 0.5, 0.9, 0.3, 0.8])
        let ev = RankingEvaluator(corpus: [1, 2, 3, 4, 5, 6])
        // seen {4, 0}: width 2 ⇒ k = min(2500, 6, 4) = 4; list 6, 1, 3, 5; target 3 at rank 3.
        let r = ev.rank(userVectors: u, itemVectors: items, targets: [3], seen: [[4, 0]], backend: backend)
        XCTAssertEqual(r.k, 4)
        XCTAssertEqual(r.ids, [[6, 1, 3, 5]])
        XCTAssertEqual(r.scores, [[0.8, 0.6, 0.5, 0.3]])
        XCTAssertEqual(r.ranks, [3])
        // Target 2 is 5th among the unseen, beyond k = 4: absent ⇒ 2501, not k + 1.
        XCTAssertEqual(ev.ranks(userVectors: u, itemVectors: items, targets: [2], seen: [[4, 0]], backend: backend), [2501])
    }

    /// Queued ranks (`enqueueRanks` / `takeRanks`, the evaluation loop's path) come back in batch
    /// order and equal `ranks(...)` batch by batch; a take empties the queue.
    func testQueuedRanksEqualDirectRanks() {
        let (u, items) = oneDim([0, 0.6, 0.1, 0.5, 0.9, 0.3, 0.8], users: 2)
        let ev = RankingEvaluator(corpus: [1, 2, 3, 4, 5, 6])
        let batches: [([Int32], [[Int32]])] = [([3, 2], [[4, 0], []]), ([6, 4], [[], [4]])]
        var direct: [Int] = []
        for (targets, seen) in batches {
            direct += ev.ranks(userVectors: u, itemVectors: items, targets: targets, seen: seen, backend: backend)
            ev.enqueueRanks(userVectors: u, itemVectors: items, targets: targets, seen: seen, backend: backend)
        }
        XCTAssertEqual(direct, [3, 2501, 2, 2501])   // batch 1: k = 6 − 2 = 4, so item 2 (6th) is absent
        XCTAssertEqual(ev.takeRanks(backend: backend), direct)
        XCTAssertEqual(ev.takeRanks(backend: backend), [])
    }

    func testTargetInSeenListIsAMiss() {
        let (u, items) = oneDim([0, 0.6, 0.1, 0.5, 0.9])
        let ev = RankingEvaluator(corpus: [1, 2, 3, 4])
        XCTAssertEqual(ev.ranks(userVectors: u, itemVectors: items, targets: [4], seen: [[4]], backend: backend), [2501])
        XCTAssertEqual(ev.ranks(userVectors: u, itemVectors: items, targets: [4], seen: [[]], backend: backend), [1])
    }

    func testEmptySeenListAndCorpusSmallerThanK() {
        // |C| = 5 < 2500, no seen ids ⇒ k = 5: every corpus item gets a real rank.
        let (u, items) = oneDim([0, 0.5, 0.4, 0.3, 0.2, 0.1])
        let ev = RankingEvaluator(corpus: [1, 2, 3, 4, 5])
        XCTAssertEqual(ev.cutoff(seenWidth: 0), 5)
        let r = ev.rank(userVectors: u, itemVectors: items, targets: [5], seen: [[]], backend: backend)
        XCTAssertEqual(r.k, 5)
        XCTAssertEqual(r.ranks, [5])
        // seenWidth ≥ |C| ⇒ k = 0: nothing is ranked.
        XCTAssertEqual(ev.cutoff(seenWidth: 7), 0)
        XCTAssertEqual(ev.ranks(userVectors: u, itemVectors: items, targets: [1], seen: [[]], backend: backend, seenWidth: 7), [2501])
    }

    func testCutoff() {
        let big = RankingEvaluator(corpus: (1...3883).map(Int32.init))
        XCTAssertEqual(big.cutoff(seenWidth: 211), 2500)  // ML-1M: the cap changes nothing
        XCTAssertEqual(big.absentRank, 2501)
        let small = RankingEvaluator(corpus: (1...30).map(Int32.init), maxRank: 2500)
        XCTAssertEqual(small.cutoff(seenWidth: 15), 15)   // fixture quirk 5
        let capped = RankingEvaluator(corpus: (1...30).map(Int32.init), maxRank: 10)
        XCTAssertEqual(capped.cutoff(seenWidth: 15), 10)
        XCTAssertEqual(capped.absentRank, 11)
    }

    func testTiesOrderedByCorpusPosition() {
        // All items score the same: order is the corpus order, whatever the ids.
        let (u, items) = oneDim([0, 1, 1, 1, 1, 1])
        let ev = RankingEvaluator(corpus: [5, 2, 4, 1, 3])
        let r = ev.rank(userVectors: u, itemVectors: items, targets: [1], seen: [[]], backend: backend)
        XCTAssertEqual(r.ids, [[5, 2, 4, 1, 3]])
        XCTAssertEqual(r.ranks, [4])
    }

    func testFullHistoryLeavingFewerThanKUnseen() {
        // A seen list longer than seenWidth (full history) may leave fewer than k candidates.
        let (u, items) = oneDim([0, 0.6, 0.1, 0.5, 0.9, 0.3, 0.8])
        let ev = RankingEvaluator(corpus: [1, 2, 3, 4, 5, 6])
        let r = ev.rank(userVectors: u, itemVectors: items, targets: [2], seen: [[1, 3, 4, 6]],
                        backend: backend, seenWidth: 1)
        XCTAssertEqual(r.k, 5)
        XCTAssertEqual(r.ids, [[5, 2]])
        XCTAssertEqual(r.ranks, [2])
    }

    /// Random vectors, a shuffled non-contiguous corpus (gathered) or a contiguous one (viewed),
    /// several item blocks, random seen lists with duplicates, targets seen or not: compared with
    /// sorting all corpus scores (same float32 dot products) and filtering.
    func testRandomAgainstBruteForce() {
        var rng = SystemRandomNumberGenerator()
        let D = 4, V = 60, B = 7
        for contiguous in [false, true] {
            let corpus: [Int32] = contiguous ? (10..<50).map(Int32.init) : Array((1..<V).map(Int32.init).shuffled(using: &rng).prefix(45))
            var itemValues = (0..<(V * D)).map { _ in Float(Int.random(in: -3...3, using: &rng)) }  // ties likely
            for c in 0..<D { itemValues[c] = 0 }
            let userValues = (0..<(B * D)).map { _ in Float(Int.random(in: -3...3, using: &rng)) }
            let items = Tensor(itemValues, shape: [V, D]), users = Tensor(userValues, shape: [B, D])
            let seen: [[Int32]] = (0..<B).map { _ in (0..<Int.random(in: 0...12, using: &rng)).map { _ in corpus.randomElement(using: &rng)! } }
            let targets: [Int32] = (0..<B).map { b in b % 3 == 0 && !seen[b].isEmpty ? seen[b][0] : corpus.randomElement(using: &rng)! }
            for maxRank in [2500, 9] {
                for budget in [1 << 20, B * 8, B * 5] {
                    let ev = RankingEvaluator(corpus: corpus, maxRank: maxRank, scoreBudget: budget)
                    let width = 14
                    let r = ev.rank(userVectors: users, itemVectors: items, targets: targets, seen: seen,
                                    backend: backend, seenWidth: width)
                    let k = min(maxRank, corpus.count, corpus.count - width)
                    XCTAssertEqual(r.k, k)
                    for b in 0..<B {
                        // The same float32 sums as the GEMM: small integers, so exact in any order.
                        let scored = corpus.enumerated().map { (p, id) -> (s: Float, p: Int, id: Int32) in
                            (s: (0..<D).reduce(Float(0)) { $0 + userValues[b * D + $1] * itemValues[Int(id) * D + $1] }, p: p, id: id)
                        }
                        let list = scored.sorted { $0.s > $1.s || ($0.s == $1.s && $0.p < $1.p) }
                            .filter { !seen[b].contains($0.id) }.prefix(k)
                        XCTAssertEqual(r.ids[b], list.map(\.id), "user \(b) budget \(budget) contiguous \(contiguous)")
                        XCTAssertEqual(r.scores[b], list.map(\.s))
                        let expected = list.firstIndex { $0.id == targets[b] }.map { $0 - list.startIndex + 1 } ?? maxRank + 1
                        XCTAssertEqual(r.ranks[b], expected)
                    }
                }
            }
        }
    }
}
