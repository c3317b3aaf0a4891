import GRCore

extension CUDABackend {
    public func embeddingForward(table: Tensor, ids: Tensor, scale: Float, out: Tensor, rows: Int, dim: Int,
                                 accumulate: Bool) {
        let vocab = table.count / max(dim, 1)
        context.launch("gr_embedding_fwd", blocks: blocks(rows * dim),
                       [.ptr(table), .i(vocab), .ptr(ids), .f(scale), .ptr(out), .i(rows), .i(dim), .i(accumulate ? 1 : 0)])
    }
    /// Scatter-add with float atomics: the summation order of a table row is not fixed, so the
    /// result may differ from the CPU's in the last bits (not bit-reproducible run to run).
    public func embeddingBackward(dOut: Tensor, ids: Tensor, scale: Float, dTable: Tensor, rows: Int, dim: Int,
                                  paddingId: Int32?) {
        let vocab = dTable.count / max(dim, 1)
        context.launch("gr_embedding_bwd", blocks: blocks(rows * dim),
                       [.ptr(dOut), .ptr(ids), .f(scale), .ptr(dTable), .i(vocab), .i(rows), .i(dim),
                        .i(paddingId.map(Int.init) ?? -1)])
    }
}
