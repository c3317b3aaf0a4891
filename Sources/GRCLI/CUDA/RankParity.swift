import GRCore
import GRCPU
import GRCUDA
import GREval

/// GPU full-corpus ranking (`TargetRankOps`) against the host `RankingEvaluator` on the CPU
/// backend, for `gr cuda selftest`. Two kinds of inputs:
/// - exact: vector entries are multiples of 1/8 with D = 16, so every dot product is exact in f32
///   whatever the summation order; ties are real (repeated item rows, zero user vectors) and the
///   ranks must be identical;
/// - random f32 vectors: ranks may differ only where two scores are within f32 rounding (reported).
/// Both use a shuffled corpus with gaps (rows gathered), several score blocks (small budget),
/// targets that are seen or outside the corpus, and empty and duplicate seen lists.
enum RankParity {
    struct Outcome {
        let name: String
        let users: Int
        let mismatches: Int
        let allowed: Int
        /// Users whose target is ranked (≤ k) on the host: the check is not vacuous.
        let ranked: Int
        var passed: Bool { mismatches <= allowed }
    }

    static func run(gpu: CUDABackend, seed: UInt64) -> [Outcome] {
        var out: [Outcome] = []
        for (name, exact, budget) in [("ranks, exact scores with ties, 1 block", true, 1 << 23),
                                      ("ranks, exact scores with ties, 5 blocks", true, 37 * 700),
                                      ("ranks, random f32, 1 block", false, 1 << 23),
                                      ("ranks, random f32, 5 blocks", false, 37 * 700)] {
            let (users, mismatches, ranked) = compare(gpu: gpu, seed: seed, exact: exact, budget: budget)
            out.append(Outcome(name: name, users: users, mismatches: mismatches, allowed: exact ? 0 : users / 100,
                               ranked: ranked))
        }
        return out
    }

    /// (users, number of users whose ranks differ, users ranked ≤ k on the host).
    static func compare(gpu: CUDABackend, seed: UInt64, exact: Bool, budget: Int) -> (Int, Int, Int) {
        let B = 37, D = exact ? 16 : 50, V = 4000
        let stream = PhiloxStream(seed: seed, stream: exact ? 0x5A4E_0001 : 0x5A4E_0002)
        var counter: UInt64 = 0
        func next(_ n: Int) -> Int { counter += 1; return stream.below(n, counter) }
        func value() -> Float { exact ? Float(next(17) - 8) / 8 : Float(next(1 << 20)) / Float(1 << 19) - 1 }
        // Corpus: ids 1..<V with every 7th id left out, shuffled.
        var corpus = (1..<V).filter { $0 % 7 != 0 }.map(Int32.init)
        for i in stride(from: corpus.count - 1, through: 1, by: -1) { corpus.swapAt(i, next(i + 1)) }
        var items = (0..<(V * D)).map { _ in value() }
        for r in 1..<40 {   // repeated rows: equal scores, ordered by corpus position
            let src = Int(corpus[0]) * D, dst = Int(corpus[r * 17 % corpus.count]) * D
            for c in 0..<D { items[dst + c] = items[src + c] }
        }
        var users = (0..<(B * D)).map { _ in value() }
        for c in 0..<D { users[3 * D + c] = 0 }   // a zero user vector: every score ties
        var targets: [Int32] = [], seen: [[Int32]] = []
        for b in 0..<B {
            var s = (0..<next(60)).map { _ in Int32(1 + next(V - 1)) }
            if b % 5 == 1 { s += s.prefix(5) }   // duplicates
            var t = corpus[next(corpus.count)]
            if b % 9 == 2 { t = 7 * Int32(1 + next(V / 7 - 1)) }   // not in the corpus
            if b % 11 == 3 { s.append(t) }                          // seen target: absent
            targets.append(t); seen.append(s)
        }
        var evaluator = RankingEvaluator(corpus: corpus, maxRank: 2500, scoreBudget: budget)
        let cpu = CPUBackend()
        let hostRanks = evaluator.ranks(userVectors: Tensor(users, shape: [B, D]), itemVectors: Tensor(items, shape: [V, D]),
                                        targets: targets, seen: seen, backend: cpu)
        evaluator.deviceRanking = true
        let deviceRanks = evaluator.ranks(userVectors: gpu.upload(users, shape: [B, D]),
                                          itemVectors: gpu.upload(items, shape: [V, D]), targets: targets, seen: seen,
                                          backend: gpu)
        return (B, zip(hostRanks, deviceRanks).filter { $0 != $1 }.count, hostRanks.filter { $0 <= 2500 }.count)
    }
}
