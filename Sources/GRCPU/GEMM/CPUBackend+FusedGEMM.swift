import GRCore

/// `FusedGEMMOps` on the CPU: the unfused sequence (copy, GEMM with β = 1, bias), by composition.
extension CPUBackend {
    public func gemmBiasResidual(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: Tensor, lda: Int, b: Tensor,
                                 ldb: Int, bias: Tensor, c: Tensor, d: Tensor) {
        gemmBiasResidualUnfused(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                                bias: bias, c: c, d: d)
    }
}
