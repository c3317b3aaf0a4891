/// Embedding gather and scatter-add.
public protocol EmbeddingOps {
    /// out[r, :] (=, or += when `accumulate`) scale · table[ids[r], :]; table (V, D), ids i32 (rows),
    /// out (rows, D). Spec §2.1 uses scale √D for items; positions use scale 1 with accumulate.
    /// Every id must be in 0..<V (checked).
    func embeddingForward(table: Tensor, ids: Tensor, scale: Float, out: Tensor, rows: Int, dim: Int,
                          accumulate: Bool)
    /// dTable[ids[r], :] += scale · dOut[r, :], skipping rows whose id == paddingId (spec §2.1:
    /// padding_idx 0 gets no gradient; pass nil for the positional table). Deterministic: each
    /// table row is summed in increasing r whatever the thread count.
    func embeddingBackward(dOut: Tensor, ids: Tensor, scale: Float, dTable: Tensor, rows: Int, dim: Int,
                           paddingId: Int32?)
}
