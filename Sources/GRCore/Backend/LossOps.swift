/// Sampled softmax loss with uniform negatives (spec §4.2) and the BCE variant (§4.3).
///
/// P supervised positions, R negatives, D dim, V item-table rows. `queries` are the (P, D)
/// L2-normalised user outputs at the supervised positions (jagged order); the item table is the
/// raw embedding table E (V, D) (before the √D input scaling, spec §4.1). Item vectors of
/// positives and negatives are L2-normalised inside with `l2Eps` (1e-6). The returned loss is the
/// mean over positions (spec §4.1: all supervised positions weigh 1). When dQueries / dItemTable
/// are given, the gradient of that mean loss is ACCUMULATED into them (the item gradient flows
/// through positives and negatives and through their L2 normalisation; row 0 of the table is never
/// used as a positive/negative by valid data and gets what its ids get). P == 0 returns 0.
public protocol LossOps {
    /// out[p, j] = corpus[stream.below(C, p·R + j)] — R ids drawn uniformly with replacement from
    /// the corpus (`all_item_ids`, spec §1.5 / §4.2), independently per position. corpus i32 (C),
    /// out i32 (P, R).
    func sampleNegatives(corpus: Tensor, stream: PhiloxStream, out: Tensor, positions: Int, negatives: Int)

    /// Sampled softmax (spec §4.2) with explicit negatives: logits = [cos(q, Ê[pos]), cos(q, Ê[neg_j])] / τ,
    /// a negative equal to the positive gets logit −5·10⁴ (after /τ), ℓ = −log softmax(logits)[0].
    /// positiveIds i32 (P), negativeIds i32 (P, R). `cosines` (optional, f32 (P, R + 1)) receives the
    /// raw cosines [pos, neg_1..neg_R] before /τ and before masking (for tests).
    func sampledSoftmaxLoss(queries: Tensor, positiveIds: Tensor, negativeIds: Tensor, itemTable: Tensor,
                            positions: Int, negatives: Int, dim: Int, temperature: Float, l2Eps: Float,
                            dQueries: Tensor?, dItemTable: Tensor?, cosines: Tensor?) -> Float

    /// BCE variant (spec §4.3): one negative per position (negativeIds i32 (P)), temperature 1 in
    /// the reference; s_pos = q·E[pos]/τ (positive NOT normalised), s_neg = q·Ê[neg]/τ (normalised),
    /// ℓ = ½[softplus(−s_pos) + softplus(s_neg)], weights w = [neg ≠ pos], loss Σ w ℓ / Σ w
    /// (0 when Σ w = 0).
    func bceLoss(queries: Tensor, positiveIds: Tensor, negativeIds: Tensor, itemTable: Tensor,
                 positions: Int, dim: Int, temperature: Float, l2Eps: Float,
                 dQueries: Tensor?, dItemTable: Tensor?) -> Float
}

extension LossOps {
    /// Sampled softmax with negatives drawn from `stream` (spec §4.2, `LocalNegativesSampler`):
    /// `sampleNegatives` into `negativeIds` (i32 (P, R) scratch, kept so a caller can inspect them),
    /// then the explicit-negative loss.
    public func sampledSoftmaxLoss(queries: Tensor, positiveIds: Tensor, corpus: Tensor, stream: PhiloxStream,
                                   negativeIds: Tensor, itemTable: Tensor, positions: Int, negatives: Int,
                                   dim: Int, temperature: Float, l2Eps: Float,
                                   dQueries: Tensor?, dItemTable: Tensor?) -> Float {
        sampleNegatives(corpus: corpus, stream: stream, out: negativeIds, positions: positions, negatives: negatives)
        return sampledSoftmaxLoss(queries: queries, positiveIds: positiveIds, negativeIds: negativeIds,
                                  itemTable: itemTable, positions: positions, negatives: negatives, dim: dim,
                                  temperature: temperature, l2Eps: l2Eps, dQueries: dQueries,
                                  dItemTable: dItemTable, cosines: nil)
    }
}
