/// Top-K selection for full-corpus ranking.
public protocol RetrievalOps {
    /// Row-wise top-k of a score matrix, best first.
    ///
    /// scores is (B, V) f32 with row stride `ldScores` (≥ V); values (B, k) f32 and indices (B, k)
    /// i32 (column indices into 0..<V) are contiguous and OVERWRITTEN. Requires 0 ≤ k ≤ V.
    ///
    /// Order: descending score; equal scores are ordered by the lower column index first (so the
    /// result is fully deterministic, unlike `torch.topk`, whose tie order is unspecified). NaN
    /// scores are treated as −∞ (they sort after every number, among themselves by index).
    func topK(scores: Tensor, rows: Int, columns: Int, ldScores: Int, k: Int,
              values: Tensor, indices: Tensor)
}
