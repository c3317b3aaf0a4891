/// The HSTU output projection Y = G·W_oᵀ + b_o + X as one GEMM (issue #5 item 4, docs/cuda.md
/// "Fusions (session 6)"): the residual X is the GEMM's C, Y its separate output D, the bias added
/// in the GEMM's epilogue (cuBLASLt's BIAS epilogue; the CPU by composition).
public protocol FusedGEMMOps {
    /// D = op(A)·op(B) + bias + C, row-major f32. op(A) (M, K), op(B) (K, N) as in `gemm`;
    /// C and D (M, N) contiguous (D may NOT alias C), bias (N) added to every row. The unfused
    /// sequence is copy(C → D), gemm(β = 1, into D), addBias(D).
    func gemmBiasResidual(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: Tensor, lda: Int, b: Tensor, ldb: Int,
                          bias: Tensor, c: Tensor, d: Tensor)
}

extension FusedGEMMOps where Self: Backend {
    /// The unfused sequence (the CPU's implementation, and the CUDA backend's for K = 0).
    public func gemmBiasResidualUnfused(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: Tensor, lda: Int,
                                        b: Tensor, ldb: Int, bias: Tensor, c: Tensor, d: Tensor) {
        if m == 0 || n == 0 { return }
        copy(c.view(0, [m * n]), to: d.view(0, [m * n]))
        gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb, beta: 1,
             c: d, ldc: n)
        addBias(x: d, bias: bias, rows: m, cols: n)
    }
}
