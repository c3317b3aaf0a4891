/// The HSTU gating LN(O) ⊙ U and its row dropout in one pass (issue #5 item 4, docs/cuda.md
/// "Fusions (session 6)"): the same Philox mask as `dropoutForward` on the (rows, cols) output,
/// element r·cols + c of `stream`, so the results equal the unfused pair bit for bit.
public protocol FusedNormDropoutOps {
    /// out = dropout_p(u ⊙ LayerNorm(x)) = `layerNormMulForward` then `dropoutForward(out → out)`.
    /// Shapes as `layerNormMulForward`; p in [0, 1).
    func layerNormMulDropoutForward(x: Tensor, u: Tensor, ldu: Int, out: Tensor, mean: Tensor, rstd: Tensor,
                                    rows: Int, cols: Int, eps: Float, p: Float, stream: PhiloxStream)
    /// `layerNormMulBackwardOverwrite` of the dropped gradient dropoutForward(dOut) (the forward's
    /// mask and scale): dx, du OVERWRITTEN. dOut is scratch: its contents afterwards are
    /// unspecified (the CPU drops it in place, the CUDA kernel applies the mask as it reads).
    func layerNormMulDropoutBackwardOverwrite(dOut: Tensor, x: Tensor, u: Tensor, ldu: Int, mean: Tensor, rstd: Tensor,
                                              dx: Tensor?, du: Tensor?, rows: Int, cols: Int, p: Float,
                                              stream: PhiloxStream)
}
