/// Backwards that OVERWRITE their gradient (or add a residual) in one pass: each replaces a
/// zero-fill / copy followed by an accumulating op in the HSTU layer's backward (issue #5 item 4,
/// docs/cuda.md "Fusions (session 6)"). Same arithmetic as the accumulating ops on a zeroed
/// (or residual-filled) gradient, so results match them bit for bit on the CPU.
public protocol FusedBackwardOps {
    /// dx = dOut · σ(x) · (1 + x · (1 − σ(x))), `count` elements (`siluBackward` without the +=).
    func siluBackwardOverwrite(dOut: Tensor, x: Tensor, dx: Tensor, count: Int)
    /// `layerNormMulBackward` with dx and du OVERWRITTEN (du: only its (rows, cols) block of
    /// stride ldu; the other columns are left alone). Either may be nil.
    func layerNormMulBackwardOverwrite(dOut: Tensor, x: Tensor, u: Tensor, ldu: Int, mean: Tensor, rstd: Tensor,
                                       dx: Tensor?, du: Tensor?, rows: Int, cols: Int)
    /// dx = residual + LN-backward(dOut) (the `layerNormBackward` term), dx OVERWRITTEN;
    /// residual (rows, cols) may not alias dx. The residual branch of a pre-norm block.
    func layerNormBackwardResidual(dOut: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, residual: Tensor, dx: Tensor,
                                   rows: Int, cols: Int)
}
