import GRCore
import GRData

extension ModelInput {
    /// The model input of a `SequenceBatch` (spec §1.4), padded to width N = `paddedWidth`
    /// (default: the batch's maxLength + 11; a config with another `output_length` passes its own):
    /// ids (B, N) = history oldest first, then — in training only — the target id at index L_b;
    /// timestamps (B, N) = history timestamps, the target's timestamp at index L_b (train and eval),
    /// zeros after.
    public init(batch: SequenceBatch, paddedWidth: Int? = nil, training: Bool) {
        let layout = batch.layout
        let B = layout.batchSize, N = paddedWidth ?? batch.paddedWidth
        var ids = [Int32](repeating: 0, count: B * N)
        var ts = [Int64](repeating: 0, count: B * N)
        for b in 0..<B {
            let s = layout.start(b), L = layout.length(b)
            precondition(L < N, "history length \(L) leaves no room for the target in N = \(N)")
            for t in 0..<L {
                ids[b * N + t] = batch.historyIds[s + t]
                ts[b * N + t] = batch.historyTimestamps[s + t]
            }
            if training { ids[b * N + L] = batch.targetIds[b] }
            ts[b * N + L] = batch.targetTimestamps[b]
        }
        self.init(layout: layout, paddedWidth: N, ids: ids, timestamps: ts)
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
