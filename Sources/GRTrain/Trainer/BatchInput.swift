import GRCore
import GRData
import GRModels

extension ModelInput {
    /// The model input of a `SequenceBatch` (spec §1.4), padded to width N = `paddedWidth`:
    /// ids (B, N) = history oldest first, then — in training only — the target id at index L_b;
    /// timestamps (B, N) = history timestamps, the target's timestamp at index L_b (train and eval),
    /// zeros after. Unlike `ModelInput(batch:training:)` (GRModels), which pads to the batch's
    /// width maxLength + 11, this honours the config's `output_length` (N = max + output_length + 1).
    public static func from(_ batch: SequenceBatch, paddedWidth N: Int, training: Bool) -> ModelInput {
        let layout = batch.layout
        let B = layout.batchSize
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
        return ModelInput(layout: layout, paddedWidth: N, ids: ids, timestamps: ts)
    }
}
