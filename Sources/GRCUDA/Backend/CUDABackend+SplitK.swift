import GRCore

/// Split-K for the weight and bias gradients of linear layers (`SplitK.cu`): outputs of at most
/// 256 × 256 reduced over k ≥ 4096 rows. cuBLASLt's heuristic gives such a GEMM one CTA per
/// 64 × 64 output tile (SASRec on ML-1M: dW 50 × 50 over k = 27 008 rows took 55 µs on an H100,
/// 8 of them per step), and `gr_bias_bwd` one CTA per column. Here ~264 CTAs (two waves of an
/// H100's SMs) each reduce a chunk of rows into their own partial (f32 FMA), and one more kernel
/// adds the partials in a fixed order: deterministic, no atomics, at least as accurate as TF32.
/// `GR_CUDA_SPLITK=0` keeps cuBLASLt and `gr_bias_bwd` (A/B runs).
extension CUDABackend {
    static let splitKEnabled = EnvironmentSwitch.value("GR_CUDA_SPLITK", default: true)
    /// CTAs a split-K launch aims for.
    static let splitKTargetCTAs = 264

    /// (chunks, rows per chunk) of a split-K GEMM, or nil where cuBLASLt is used: only op(A) = Aᵀ,
    /// op(B) = B (A stored k × m, B stored k × n, the weight-gradient layout), m, n ≤ 256, k ≥ 4096
    /// and k ≥ 16·max(m, n).
    static func splitKPlan(transA: Bool, transB: Bool, m: Int, n: Int, k: Int) -> (chunks: Int, rowsPerChunk: Int)? {
        guard splitKEnabled, transA, !transB, m <= 256, n <= 256, k >= 4096, k >= 16 * max(m, n) else { return nil }
        let tiles = ((m + 63) / 64) * ((n + 63) / 64)
        let want = max(1, min((splitKTargetCTAs + tiles - 1) / tiles, k / 128))
        let kc = ((k + want - 1) / want + 15) / 16 * 16
        return ((k + kc - 1) / kc, kc)
    }

    /// (chunks, rows per chunk) of the split bias gradient, or nil below 4096 rows (`gr_bias_bwd`).
    static func splitBiasPlan(rows: Int) -> (chunks: Int, rowsPerChunk: Int)? {
        guard splitKEnabled, rows >= 4096 else { return nil }
        let want = min(splitKTargetCTAs, rows / 64)
        let rc = (rows + want - 1) / want
        return ((rows + rc - 1) / rc, rc)
    }

    /// C (m × n, stride ldc) = α·Aᵀ·B + β·C with A (k × m, stride lda), B (k × n, stride ldb).
    func gemmSplitK(m: Int, n: Int, k: Int, alpha: Float, a: Tensor, lda: Int, b: Tensor, ldb: Int, beta: Float,
                    c: Tensor, ldc: Int, plan: (chunks: Int, rowsPerChunk: Int)) {
        let partial = scratchTensor("splitk.partial", plan.chunks * m * n, .f32)   // (chunks, m, n)
        context.launch("gr_gemm_tn_splitk", grid: ((n + 63) / 64, (m + 63) / 64, plan.chunks), block: 256,
                       [.ptr(a), .i(lda), .ptr(b), .i(ldb), .i(m), .i(n), .i(k), .i(plan.rowsPerChunk), .ptr(partial)])
        context.launch("gr_splitk_reduce", blocks: (m * n + 31) / 32, block: 256,
                       [.ptr(partial), .i(plan.chunks), .i(m), .i(n), .f(alpha), .f(beta), .ptr(c), .i(ldc)])
    }

    /// dBias (cols) += Σ_r dOut[r, :] over `rows` rows, split into chunks of rows.
    func biasBackwardSplit(dOut: Tensor, dBias: Tensor, rows: Int, cols: Int, plan: (chunks: Int, rowsPerChunk: Int)) {
        let partial = scratchTensor("splitk.partial", plan.chunks * cols, .f32)   // (chunks, cols)
        context.launch("gr_bias_bwd_partial", blocks: plan.chunks, block: 256,
                       [.ptr(dOut), .i(rows), .i(cols), .i(plan.rowsPerChunk), .ptr(partial)])
        context.launch("gr_splitk_reduce", blocks: (cols + 31) / 32, block: 256,
                       [.ptr(partial), .i(plan.chunks), .i(1), .i(cols), .f(1), .f(1), .ptr(dBias), .i(cols)])
    }
}
