import GRCore

/// `FusedNormDropoutOps` on the CPU by composition (the reference the CUDA kernels are checked
/// against): the unfused pair, dropout in place.
extension CPUBackend {
    public func layerNormMulDropoutForward(x: Tensor, u: Tensor, ldu: Int, out: Tensor, mean: Tensor, rstd: Tensor,
                                           rows: Int, cols: Int, eps: Float, p: Float, stream: PhiloxStream) {
        layerNormMulForward(x: x, u: u, ldu: ldu, out: out, mean: mean, rstd: rstd, rows: rows, cols: cols, eps: eps)
        dropoutForward(x: out, out: out, count: rows * cols, p: p, stream: stream)
    }
    public func layerNormMulDropoutBackwardOverwrite(dOut: Tensor, x: Tensor, u: Tensor, ldu: Int, mean: Tensor,
                                                     rstd: Tensor, dx: Tensor?, du: Tensor?, rows: Int, cols: Int,
                                                     p: Float, stream: PhiloxStream) {
        dropoutForward(x: dOut, out: dOut, count: rows * cols, p: p, stream: stream)
        layerNormMulBackwardOverwrite(dOut: dOut, x: x, u: u, ldu: ldu, mean: mean, rstd: rstd, dx: dx, du: du,
                                      rows: rows, cols: cols)
    }
}
