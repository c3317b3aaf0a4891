import GRCore

/// `FusedBackwardOps`: the accumulating kernels with their overwrite / residual mode.
extension CPUBackend {
    public func siluBackwardOverwrite(dOut: Tensor, x: Tensor, dx: Tensor, count: Int) {
        check(count, dOut, x, dx)
        ElementwiseKernels.siluBackward(dOut.floats, x.floats, dx.floats, count, accumulate: false)
    }
    public func layerNormMulBackwardOverwrite(dOut: Tensor, x: Tensor, u: Tensor, ldu: Int, mean: Tensor, rstd: Tensor,
                                              dx: Tensor?, du: Tensor?, rows: Int, cols: Int) {
        layerNormMulBackward(dOut: dOut, x: x, u: u, ldu: ldu, mean: mean, rstd: rstd, dx: dx, du: du, rows: rows,
                             cols: cols, accumulate: false)
    }
    public func layerNormBackwardResidual(dOut: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, residual: Tensor, dx: Tensor,
                                          rows: Int, cols: Int) {
        check(rows * cols, dOut, x, residual, dx); check(rows, mean, rstd)
        NormKernels.layerNormMulBackward(dOut.floats, x.floats, nil, 0, mean.floats, rstd.floats, dx.floats, nil,
                                         rows, cols, accumulate: false, residual: residual.floats)
    }
}
