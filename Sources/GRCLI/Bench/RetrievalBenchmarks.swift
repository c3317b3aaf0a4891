import GRCore
import GRCPU
import GREval

/// Benchmark rows for full-corpus retrieval (spec §1.5, §6.1) with B = 128 users:
/// - `topk`: `CPUBackend.topK` with k′ = 2500 + N (N = 211 MovieLens, 61 Books) over the corpus
///   sizes of ML-1M and ML-20M and one 65,536-item block of Books; "GFLOP/s" counts one
///   comparison per score (G scores/s);
/// - `eval`: one whole `RankingEvaluator` batch (GEMM in blocks, top-k, merge, seen filter of
///   `max_sequence_length` random ids) at the ML-1M, ML-20M and Books corpus sizes and item dims;
///   "GFLOP/s" counts the GEMM's 2·B·|C|·D.
/// Inputs are built on the first run (the warm-up), so filtering rows out costs nothing.
extension KernelBenchmark {
    static func retrievalBenchmarks(backend: CPUBackend) -> [KernelBenchmark] {
        let b = 128
        var rows: [KernelBenchmark] = []
        for (v, k) in [(3883, 2711), (27278, 2711), (65536, 2561)] {
            let inputs = LazyInputs {
                (Tensor(randomValues(b * v, seed: 3), shape: [b, v]), Tensor(zeros: [b, k]), Tensor(zeros: [b, k], dtype: .i32))
            }
            rows.append(KernelBenchmark(op: "topk", shape: "B=\(b) V=\(v) k=\(k)", flops: Double(b * v), run: {
                let (scores, values, indices) = inputs.value
                backend.topK(scores: scores, rows: b, columns: v, ldScores: v, k: k, values: values, indices: indices)
            }, reference: nil))
        }
        for (name, corpusSize, d, history) in [("ml-1m", 3883, 50, 200), ("ml-20m", 27278, 256, 200),
                                                ("books", 695_762, 64, 50)] {
            let inputs = LazyInputs { () -> (Tensor, Tensor, [Int32], [[Int32]]) in
                let items = Tensor(unitRows(randomValues((corpusSize + 1) * d, seed: 4), d), shape: [corpusSize + 1, d])
                let users = Tensor(unitRows(randomValues(b * d, seed: 5), d), shape: [b, d])
                var state: UInt64 = 7
                func next() -> Int32 {
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    return Int32(1 + Int(state >> 33) % corpusSize)
                }
                let targets = (0..<b).map { _ in next() }
                let seen = (0..<b).map { _ in (0..<history).map { _ in next() } }
                return (users, items, targets, seen)
            }
            let evaluator = RankingEvaluator(corpus: (1...corpusSize).map(Int32.init))
            rows.append(KernelBenchmark(op: "eval", shape: "\(name) B=\(b) C=\(corpusSize) D=\(d)",
                                        flops: 2 * Double(b) * Double(corpusSize) * Double(d), run: {
                let (users, items, targets, seen) = inputs.value
                _ = evaluator.ranks(userVectors: users, itemVectors: items, targets: targets, seen: seen,
                                    backend: backend, seenWidth: history + 11)
            }, reference: nil))
        }
        return rows
    }

    /// Rows of width d scaled to unit L2 norm.
    static func unitRows(_ x: [Float], _ d: Int) -> [Float] {
        var x = x
        for r in 0..<(x.count / d) {
            let n = (0..<d).reduce(Float(0)) { $0 + x[r * d + $1] * x[r * d + $1] }.squareRoot()
            for c in 0..<d { x[r * d + c] /= max(n, 1e-6) }
        }
        return x
    }
}

/// Benchmark inputs built on first use.
final class LazyInputs<T> {
    private let make: () -> T
    private var built: T?
    init(_ make: @escaping () -> T) { self.make = make }
    var value: T {
        if let built { return built }
        let v = make()
        built = v
        return v
    }
}
