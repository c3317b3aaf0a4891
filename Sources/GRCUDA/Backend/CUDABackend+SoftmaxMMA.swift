import GRCore

/// SASRec's softmax attention on the tensor cores (`Kernels/SoftmaxAttentionMMA.cu`): TF32 mma for
/// head dims up to 64, one CTA of 128 threads per 64 rows; the tiled f32 kernels stay the fallback
/// (`softmaxAttentionMMA` off: `GR_CUDA_SOFTMAX_MMA=0`) and the simple ones serve larger head dims.
extension CUDABackend {
    /// Rows per CTA of the mma kernels (`GR_SM_ROWS`).
    static let softmaxMMARows = 64

    /// The kernels' k-steps of 8 over the head dim (their name suffix `_k4`/`_k8`), or nil where
    /// the mma path does not apply (head dim over 64, or switched off).
    func softmaxMMASteps(dh: Int) -> Int? {
        guard softmaxAttentionMMA, dh >= 1 else { return nil }
        return dh <= 32 ? 4 : dh <= 64 ? 8 : nil
    }

    /// Grid (B·⌈N/64⌉, H) and shared bytes (K and V (or Q and dO) tiles of 64 × (8·ks + 4) floats,
    /// 128 keep-mask words).
    static func softmaxMMALaunch(batch: Int, width: Int, heads: Int, steps ks: Int) -> (grid: (Int, Int, Int), shared: Int) {
        let tiles = (width + softmaxMMARows - 1) / softmaxMMARows
        return ((batch * tiles, heads, 1), (2 * softmaxMMARows * (8 * ks + 4) + 128) * 4)
    }

    /// The forward on the mma path; false where it does not apply.
    func softmaxForwardMMA(_ args: [KernelArg], batch: Int, width: Int, dh: Int, heads: Int) -> Bool {
        guard let ks = softmaxMMASteps(dh: dh) else { return false }
        let l = Self.softmaxMMALaunch(batch: batch, width: width, heads: heads, steps: ks)
        context.launch("gr_sasrec_attn_fwd_mma_k\(ks)", grid: l.grid, block: 128, shared: l.shared, args)
        return true
    }

    /// The backward (dq and dz, then dk and dv) on the mma path; false where it does not apply.
    func softmaxBackwardMMA(q qArgs: [KernelArg], kv kvArgs: [KernelArg], batch: Int, width: Int, dh: Int,
                            heads: Int) -> Bool {
        guard let ks = softmaxMMASteps(dh: dh) else { return false }
        let l = Self.softmaxMMALaunch(batch: batch, width: width, heads: heads, steps: ks)
        context.launch("gr_sasrec_attn_bwd_q_mma_k\(ks)", grid: l.grid, block: 128, shared: l.shared, qArgs)
        context.launch("gr_sasrec_attn_bwd_kv_mma_k\(ks)", grid: l.grid, block: 128, shared: l.shared, kvArgs)
        return true
    }
}
