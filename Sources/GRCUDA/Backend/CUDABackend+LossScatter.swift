import GRCore

/// The item-table gradient of the sampled-softmax loss: dE[id] += a·q_p − b·E[id] for every
/// position p and sample c (the positive and R negatives) with coefficients a, b (P, C) from
/// `gr_ssm_fwd`. Two kernels (Loss.cu):
/// - `gr_loss_scatter`: one global float atomic per (p, c, column), ≈ P·C·D of them on V·D
///   addresses (ML-1M: 94M on 198k, ≈ 0.48 ms on an H100, bound by the atomics);
/// - `gr_loss_scatter_slices` (default where it fits): grid (blocks per slice, slices); a block
///   holds columns [y·S, y·S + S) of the whole table, (V, S) floats, plus Σ b per item (V) in
///   shared memory, adds its positions' terms with shared atomics, then adds acc − (Σ b)·E to dE
///   with one global atomic per nonzero entry: ≈ blocks·V·S instead of P·C·D global atomics.
extension CUDABackend {
    /// The slice width S (columns per block row, ≤ 16) for a (vocab, dim) table, or nil when fewer
    /// than 4 columns (or all of them) fit next to the per-item sums in `sharedBytes`.
    static func scatterSliceWidth(vocab: Int, dim: Int, sharedBytes: Int) -> Int? {
        let fit = (sharedBytes / 4 - vocab) / max(vocab, 1)
        let widest = min(fit, 16, dim)
        guard widest >= min(4, dim), dim > 0 else { return nil }
        let slices = (dim + widest - 1) / widest
        return (dim + slices - 1) / slices   // equal slices: ⌈D / ⌈D / widest⌉⌉ ≤ widest
    }

    func scatterItemGradient(queries: Tensor, positiveIds: Tensor, negativeIds: Tensor, itemTable: Tensor,
                             coefA: Tensor, coefB: Tensor, dItemTable: Tensor, positions P: Int, negatives R: Int,
                             vocab: Int, dim: Int) {
        let C = R + 1, sharedBytes = context.sharedBytesPerBlockOptin
        if itemGradientSlices, P * C < Int(Int32.max),
           let S = Self.scatterSliceWidth(vocab: vocab, dim: dim, sharedBytes: sharedBytes) {
            let slices = (dim + S - 1) / S
            let shared = (vocab * S + vocab) * 4
            // blocks of 512 threads: at most 4 per SM, fewer where their tables fill shared memory
            let perSM = min(4, max(1, sharedBytes / shared))
            let perSlice = max(1, min((P + 15) / 16, context.multiprocessors * perSM / slices))
            allowDynamicShared("gr_loss_scatter_slices", bytes: sharedBytes)
            context.launch("gr_loss_scatter_slices", grid: (perSlice, slices, 1), block: 512, shared: shared,
                           [.ptr(queries), .ptr(positiveIds), .ptr(negativeIds), .ptr(itemTable), .ptr(coefA), .ptr(coefB),
                            .ptr(dItemTable), .i(P), .i(R), .i(dim), .i(vocab), .i(S)])
        } else {
            context.launch("gr_loss_scatter", blocks: blocks(P * C * dim),
                           [.ptr(queries), .ptr(positiveIds), .ptr(negativeIds), .ptr(itemTable), .ptr(coefA), .ptr(coefB),
                            .ptr(dItemTable), .i(P), .i(R), .i(dim)])
        }
    }
}
