import GRCore

extension CUDABackend {
    /// One block per row: radix select of the k-th largest (score, −index) key, then ranks by
    /// counting (see Kernels/Retrieval.cu). Same order as the CPU: descending, ties to the lower
    /// index, NaN as −∞ (reported as −∞).
    public func topK(scores: Tensor, rows: Int, columns: Int, ldScores: Int, k: Int,
                     values: Tensor, indices: Tensor) {
        precondition(k >= 0 && k <= columns, "topK: k \(k) outside 0...\(columns)")
        precondition(ldScores >= columns, "topK: row stride \(ldScores) < V \(columns)")
        precondition(columns < Int(UInt32.max), "topK: too many columns")
        if rows == 0 || k == 0 { return }
        let keys = scratchTensor("topk.keys", rows * k, .i64)
        context.launch("gr_topk", blocks: rows, block: 256,
                       [.ptr(scores), .i(columns), .i(ldScores), .i(k), .ptr(values), .ptr(indices), .ptr(keys)])
    }
}
