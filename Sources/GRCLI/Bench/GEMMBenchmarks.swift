import GRCore
import GRCPU

extension KernelBenchmark {
    /// The GEMM shapes of the brief (issue #3): the model's tall-skinny projections (T × D with
    /// T = 25600 tokens) and a square 2048³, for NN, NT and TN (TT for completeness on the square).
    static let gemmShapes: [(m: Int, n: Int, k: Int)] = [
        (25600, 50, 50), (25600, 200, 50), (25600, 50, 200), (25600, 256, 64), (2048, 2048, 2048),
    ]

    static func gemmBenchmarks(openBLAS: OpenBLAS?) -> [KernelBenchmark] {
        var rows: [KernelBenchmark] = []
        for (transA, transB) in [(false, false), (false, true), (true, false)] {
            for s in gemmShapes {
                rows.append(gemm(transA: transA, transB: transB, m: s.m, n: s.n, k: s.k, openBLAS: openBLAS))
            }
        }
        // Weight gradients of the projections: dW = Xᵀ·dY, (D_in × T)·(T × D_out).
        for s in gradientShapes {
            rows.append(gemm(transA: true, transB: false, m: s.m, n: s.n, k: s.k, openBLAS: openBLAS))
        }
        return rows
    }

    /// The weight-gradient shapes (TN with K = T = 25600), beyond the brief's list.
    static let gradientShapes: [(m: Int, n: Int, k: Int)] = [(50, 200, 25600), (200, 50, 25600)]

    /// C (M, N) = op(A) (M, K) · op(B) (K, N), beta = 0, random inputs in [-1, 1).
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, openBLAS: OpenBLAS?) -> KernelBenchmark {
        let a = Tensor(randomValues(m * k, seed: 1), shape: transA ? [k, m] : [m, k])
        let b = Tensor(randomValues(k * n, seed: 2), shape: transB ? [n, k] : [k, n])
        let c = Tensor(zeros: [m, n])
        let lda = transA ? m : k, ldb = transB ? k : n
        let name = "gemm_" + (transA ? "t" : "n") + (transB ? "t" : "n")
        let ours = {
            CPUGEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: a.floats, lda: lda,
                          b: b.floats, ldb: ldb, beta: 0, c: c.floats, ldc: n)
        }
        let reference: (() -> Void)? = openBLAS.map { blas in
            {
                blas.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: a.floats, lda: lda,
                           b: b.floats, ldb: ldb, beta: 0, c: c.floats, ldc: n)
            }
        }
        return KernelBenchmark(op: name, shape: "M=\(m) N=\(n) K=\(k)", flops: 2 * Double(m) * Double(n) * Double(k),
                               run: ours, reference: reference)
    }

    /// Deterministic values in [-1, 1) (a 64-bit LCG; benchmarks need no statistical quality).
    static func randomValues(_ count: Int, seed: UInt64) -> [Float] {
        var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(s >> 40) / Float(1 << 23) - 1
        }
    }
}
