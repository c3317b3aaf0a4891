/// Per-evaluator storage a device backend may fill with what it uploads once (the corpus ids and
/// the id → corpus position table), so that later batches reuse it.
public final class TargetRankCache: @unchecked Sendable {
    /// Owned by the backend that filled it (it checks the type and its own identity).
    public var state: AnyObject?
    public init() {}
}

/// An optional capability of a device backend (not part of `Backend`): the full-corpus rank of
/// each user's target computed where the vectors live, so that only B integers come back.
/// `RankingEvaluator.ranks` uses it when the vectors are device tensors and the backend conforms.
///
/// Contract (the host evaluator's, spec §6.1): with scores s_c = ⟨u_b, item[c]⟩ for corpus
/// positions c, the items ordered before the target are the corpus items not in `seen[b]` with a
/// larger score, or an equal score and a lower corpus position (NaN counts as −∞). The rank is
/// 1 + their number when the target is in the corpus, not in `seen[b]` and that rank is ≤ `k`;
/// otherwise `absentRank`. Scores are computed in f32 (not TF32): the ranks equal the host
/// evaluator's except where two scores differ by less than the f32 rounding of the dot product.
public protocol TargetRankOps: AnyObject {
    /// userVectors (B, D) and itemVectors (V, D) on the backend's device, V > every corpus id;
    /// `corpus` the ranking universe (distinct ids, in tie-breaking order); `targets` (B);
    /// `seen[b]` the ids removed for user b; at most `scoreBudget` scores are held at once.
    func targetRanks(userVectors: Tensor, itemVectors: Tensor, corpus: [Int32], targets: [Int32],
                     seen: [[Int32]], k: Int, absentRank: Int, scoreBudget: Int, cache: TargetRankCache) -> [Int]
    /// As `targetRanks`, but the B ranks stay on the device, appended to the list of `cache`;
    /// `takeTargetRanks(cache:)` copies the whole list back (one host wait for many batches).
    func enqueueTargetRanks(userVectors: Tensor, itemVectors: Tensor, corpus: [Int32], targets: [Int32],
                            seen: [[Int32]], k: Int, absentRank: Int, scoreBudget: Int, cache: TargetRankCache)
    /// The ranks enqueued on `cache` since the last call, in order; empties the list.
    func takeTargetRanks(cache: TargetRankCache) -> [Int]
}
