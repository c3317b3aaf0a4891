/// Affine-free layer norm (and its fusion with the HSTU gating) and row-wise L2 normalisation.
///
/// All (rows, cols) tensors are contiguous unless a stride is given. Backwards ACCUMULATE (+=).
public protocol NormOps {
    /// Layer norm without affine parameters over the last dim (spec §2.2 step 1/5, eps 1e-6; SASRec
    /// §3, eps 1e-8): out = (x − μ) · rstd, rstd = 1/√(var + eps), var the biased variance.
    /// x, out (rows, cols), out may NOT alias x; saves mean (rows) and rstd (rows) for the backward.
    func layerNormForward(x: Tensor, out: Tensor, mean: Tensor, rstd: Tensor, rows: Int, cols: Int, eps: Float)
    /// dx += rstd · (dOut − mean(dOut) − x̂ · mean(dOut ⊙ x̂)), x̂ = (x − μ) · rstd.
    func layerNormBackward(dOut: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, dx: Tensor, rows: Int, cols: Int)

    /// Fused HSTU gating (spec §2.2 step 5): out = u ⊙ LayerNorm(x); x, out (rows, cols)
    /// contiguous, u (rows, cols) with row stride ldu (the U block of the UVQK output). Saves mean
    /// and rstd (rows).
    func layerNormMulForward(x: Tensor, u: Tensor, ldu: Int, out: Tensor, mean: Tensor, rstd: Tensor,
                             rows: Int, cols: Int, eps: Float)
    /// dx += LN-backward(dOut ⊙ u), du += dOut ⊙ LN(x) (du has u's stride ldu; either may be nil).
    func layerNormMulBackward(dOut: Tensor, x: Tensor, u: Tensor, ldu: Int, mean: Tensor, rstd: Tensor,
                              dx: Tensor?, du: Tensor?, rows: Int, cols: Int)

    /// Row-wise L2 normalisation (spec §2.4): out = x / max(‖x‖₂, eps), eps 1e-6. Saves the
    /// unclamped norms ‖x‖ (rows). out may NOT alias x.
    func l2NormalizeForward(x: Tensor, out: Tensor, norms: Tensor, rows: Int, cols: Int, eps: Float)
    /// dx += (dOut − y·(y·dOut)) / ‖x‖ when ‖x‖ ≥ eps, dx += dOut / eps otherwise
    /// (the clamp is constant below eps, PyTorch's clamp_min gradient passes at equality).
    func l2NormalizeBackward(dOut: Tensor, x: Tensor, norms: Tensor, dx: Tensor, rows: Int, cols: Int, eps: Float)
}
