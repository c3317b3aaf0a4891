import GRCore

/// `FusedBackwardOps`: the accumulating kernels (`gr_silu_bwd`, `gr_layer_norm_bwd`) launched with
/// acc = 0 (overwrite; the layer norm's dx = residual + …).
extension CUDABackend {
    public func siluBackwardOverwrite(dOut: Tensor, x: Tensor, dx: Tensor, count: Int) {
        context.launch("gr_silu_bwd", blocks: blocks(count), [.ptr(dOut), .ptr(x), .ptr(dx), .i(count), .i(0)])
    }
    public func layerNormMulBackwardOverwrite(dOut: Tensor, x: Tensor, u: Tensor, ldu: Int, mean: Tensor, rstd: Tensor,
                                              dx: Tensor?, du: Tensor?, rows: Int, cols: Int) {
        if dx == nil && du == nil { return }
        context.launch("gr_layer_norm_bwd", blocks: rows, block: Self.normThreads,
                       [.ptr(dOut), .ptr(x), .ptr(u), .i(ldu), .ptr(mean), .ptr(rstd), .ptr(dx), .ptr(du), .i(rows), .i(cols),
                        .u(0), .i(0), .u(0), .f(1), .u(0), .u(0), .i(0)])
    }
    public func layerNormBackwardResidual(dOut: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, residual: Tensor, dx: Tensor,
                                          rows: Int, cols: Int) {
        context.launch("gr_layer_norm_bwd", blocks: rows, block: Self.normThreads,
                       [.ptr(dOut), .ptr(x), .u(0), .i(0), .ptr(mean), .ptr(rstd), .ptr(dx), .u(0), .i(rows), .i(cols),
                        .ptr(residual), .i(0), .u(0), .f(1), .u(0), .u(0), .i(0)])
    }
}
