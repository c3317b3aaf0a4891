import GRCore

extension CPUBackend {
    public func layerNormForward(x: Tensor, out: Tensor, mean: Tensor, rstd: Tensor, rows: Int, cols: Int, eps: Float) {
        check(rows * cols, x, out); check(rows, mean, rstd)
        NormKernels.layerNormForward(x.floats, out.floats, mean.floats, rstd.floats, rows, cols, eps)
    }
    public func layerNormBackward(dOut: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, dx: Tensor, rows: Int, cols: Int) {
        check(rows * cols, dOut, x, dx); check(rows, mean, rstd)
        NormKernels.layerNormBackward(dOut.floats, x.floats, mean.floats, rstd.floats, dx.floats, rows, cols)
    }
    public func layerNormMulForward(x: Tensor, u: Tensor, ldu: Int, out: Tensor, mean: Tensor, rstd: Tensor,
                                    rows: Int, cols: Int, eps: Float) {
        check(rows * cols, x, out); check(rows, mean, rstd); checkStrided(rows, cols, (u, ldu))
        NormKernels.layerNormMulForward(x.floats, u.floats, ldu, out.floats, mean.floats, rstd.floats, rows, cols, eps)
    }
    public func layerNormMulBackward(dOut: Tensor, x: Tensor, u: Tensor, ldu: Int, mean: Tensor, rstd: Tensor,
                                     dx: Tensor?, du: Tensor?, rows: Int, cols: Int) {
        layerNormMulBackward(dOut: dOut, x: x, u: u, ldu: ldu, mean: mean, rstd: rstd, dx: dx, du: du, rows: rows,
                             cols: cols, accumulate: true)
    }
    /// `accumulate` false: dx, du OVERWRITTEN (`layerNormMulBackwardOverwrite`).
    func layerNormMulBackward(dOut: Tensor, x: Tensor, u: Tensor, ldu: Int, mean: Tensor, rstd: Tensor,
                              dx: Tensor?, du: Tensor?, rows: Int, cols: Int, accumulate: Bool) {
        check(rows * cols, dOut, x); check(rows, mean, rstd); checkStrided(rows, cols, (u, ldu))
        if let dx { check(rows * cols, dx) }
        if let du { checkStrided(rows, cols, (du, ldu)) }
        NormKernels.layerNormMulBackward(dOut.floats, x.floats, u.floats, ldu, mean.floats, rstd.floats,
                                         dx?.floats, du?.floats, rows, cols, accumulate: accumulate)
    }
    public func l2NormalizeForward(x: Tensor, out: Tensor, norms: Tensor, rows: Int, cols: Int, eps: Float) {
        check(rows * cols, x, out); check(rows, norms)
        NormKernels.l2NormalizeForward(x.floats, out.floats, norms.floats, rows, cols, eps)
    }
    public func l2NormalizeBackward(dOut: Tensor, x: Tensor, norms: Tensor, dx: Tensor, rows: Int, cols: Int, eps: Float) {
        check(rows * cols, dOut, x, dx); check(rows, norms)
        NormKernels.l2NormalizeBackward(dOut.floats, x.floats, norms.floats, dx.floats, rows, cols, eps)
    }
}
