import GRCore

extension CUDABackend {
    /// Threads per row of the norm kernels.
    static let normThreads = 128

    public func layerNormForward(x: Tensor, out: Tensor, mean: Tensor, rstd: Tensor, rows: Int, cols: Int, eps: Float) {
        context.launch("gr_layer_norm_fwd", blocks: rows, block: Self.normThreads,
                       [.ptr(x), .u(0), .i(0), .ptr(out), .ptr(mean), .ptr(rstd), .i(rows), .i(cols), .f(eps),
                        .u(0), .f(1), .u(0), .u(0), .i(0)])
    }
    public func layerNormBackward(dOut: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, dx: Tensor, rows: Int, cols: Int) {
        context.launch("gr_layer_norm_bwd", blocks: rows, block: Self.normThreads,
                       [.ptr(dOut), .ptr(x), .u(0), .i(0), .ptr(mean), .ptr(rstd), .ptr(dx), .u(0), .i(rows), .i(cols), .u(0), .i(1),
                        .u(0), .f(1), .u(0), .u(0), .i(0)])
    }
    public func layerNormMulForward(x: Tensor, u: Tensor, ldu: Int, out: Tensor, mean: Tensor, rstd: Tensor,
                                    rows: Int, cols: Int, eps: Float) {
        context.launch("gr_layer_norm_fwd", blocks: rows, block: Self.normThreads,
                       [.ptr(x), .ptr(u), .i(ldu), .ptr(out), .ptr(mean), .ptr(rstd), .i(rows), .i(cols), .f(eps),
                        .u(0), .f(1), .u(0), .u(0), .i(0)])
    }
    public func layerNormMulBackward(dOut: Tensor, x: Tensor, u: Tensor, ldu: Int, mean: Tensor, rstd: Tensor,
                                     dx: Tensor?, du: Tensor?, rows: Int, cols: Int) {
        if dx == nil && du == nil { return }
        context.launch("gr_layer_norm_bwd", blocks: rows, block: Self.normThreads,
                       [.ptr(dOut), .ptr(x), .ptr(u), .i(ldu), .ptr(mean), .ptr(rstd), .ptr(dx), .ptr(du), .i(rows), .i(cols), .u(0), .i(1),
                        .u(0), .f(1), .u(0), .u(0), .i(0)])
    }
    public func l2NormalizeForward(x: Tensor, out: Tensor, norms: Tensor, rows: Int, cols: Int, eps: Float) {
        context.launch("gr_l2_fwd", blocks: rows, block: Self.normThreads,
                       [.ptr(x), .ptr(out), .ptr(norms), .i(rows), .i(cols), .f(eps)])
    }
    public func l2NormalizeBackward(dOut: Tensor, x: Tensor, norms: Tensor, dx: Tensor, rows: Int, cols: Int, eps: Float) {
        context.launch("gr_l2_bwd", blocks: rows, block: Self.normThreads,
                       [.ptr(dOut), .ptr(x), .ptr(norms), .ptr(dx), .i(rows), .i(cols), .f(eps)])
    }
}
