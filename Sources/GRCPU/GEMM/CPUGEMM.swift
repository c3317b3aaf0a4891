import GRCore

/// Single-precision GEMM on raw host pointers (see `GEMMOps.gemm` for the contract).
/// PLACEHOLDER: a straightforward reference loop, to be replaced by the packed SIMD kernel.
public enum CPUGEMM {
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        Parallel.forRanges(m) { rows in
            for i in rows {
                for j in 0..<n {
                    var s: Float = 0
                    for p in 0..<k {
                        let x = transA ? a[p * lda + i] : a[i * lda + p]
                        let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                        s += x * y
                    }
                    c[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j])
                }
            }
        }
    }
}
