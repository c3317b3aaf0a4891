import GRCore

/// `FusedNormDropoutOps`: `gr_layer_norm_fwd` / `gr_layer_norm_bwd` with their dropout arguments
/// (threshold, scale, seed, stream, drop = 1): the mask of `gr_dropout_fwd` (`gr_keep` of element
/// r·cols + c) applied to the output as it is written / to dOut as it is read.
extension CUDABackend {
    public func layerNormMulDropoutForward(x: Tensor, u: Tensor, ldu: Int, out: Tensor, mean: Tensor, rstd: Tensor,
                                           rows: Int, cols: Int, eps: Float, p: Float, stream: PhiloxStream) {
        let (th, s) = Self.dropoutConstants(p)
        context.launch("gr_layer_norm_fwd", blocks: rows, block: Self.normThreads,
                       [.ptr(x), .ptr(u), .i(ldu), .ptr(out), .ptr(mean), .ptr(rstd), .i(rows), .i(cols), .f(eps),
                        .u(th), .f(s), .u(stream.seed), .u(streamID(stream)), .i(p > 0 ? 1 : 0)])
    }
    public func layerNormMulDropoutBackwardOverwrite(dOut: Tensor, x: Tensor, u: Tensor, ldu: Int, mean: Tensor,
                                                     rstd: Tensor, dx: Tensor?, du: Tensor?, rows: Int, cols: Int,
                                                     p: Float, stream: PhiloxStream) {
        if dx == nil && du == nil { return }
        let (th, s) = Self.dropoutConstants(p)
        context.launch("gr_layer_norm_bwd", blocks: rows, block: Self.normThreads,
                       [.ptr(dOut), .ptr(x), .ptr(u), .i(ldu), .ptr(mean), .ptr(rstd), .ptr(dx), .ptr(du), .i(rows), .i(cols),
                        .u(0), .i(0), .u(th), .f(s), .u(stream.seed), .u(streamID(stream)), .i(p > 0 ? 1 : 0)])
    }
}
