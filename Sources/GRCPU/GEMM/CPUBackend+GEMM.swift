import GRCore

extension CPUBackend {
    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: Tensor, lda: Int, b: Tensor, ldb: Int, beta: Float, c: Tensor, ldc: Int) {
        CPUGEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                      a: a.floats, lda: lda, b: b.floats, ldb: ldb, beta: beta, c: c.floats, ldc: ldc)
    }
}
