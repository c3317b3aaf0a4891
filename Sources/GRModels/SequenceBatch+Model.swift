import GRCore
import GRData

extension ModelInput {
    /// The model input of a `SequenceBatch` (spec §1.4): ids (B, N) with — in training only — the
    /// target id written at index L_b; timestamps (B, N) with the target's timestamp at L_b always.
    public init(batch: SequenceBatch, training: Bool) {
        self.init(layout: batch.layout, paddedWidth: batch.paddedWidth, ids: batch.paddedIds(includeTarget: training),
                  timestamps: batch.paddedTimestamps())
    }
}

extension SequentialRecommender {
    /// One training step on a batch of the train view (contracts.md): the target is written at L_b,
    /// negatives and dropout come from the Philox streams of (seed, step).
    public func trainStep(_ batch: SequenceBatch, step: Int, seed: UInt64) -> Float {
        trainStep(ModelInput(batch: batch, training: true), step: step, seed: seed)
    }

    /// Eval user vectors (B, D) of a batch (history only; target timestamp at L_b), spec §2.4.
    public func userEmbeddings(_ batch: SequenceBatch) -> Tensor {
        userEmbeddings(ModelInput(batch: batch, training: false))
    }
}
