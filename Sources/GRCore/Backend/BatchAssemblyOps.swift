/// The device tensors of one training batch, assembled on the device from a resident event store
/// (`BatchAssemblyOps`). Same contents, bit for bit, as the host path builds from a
/// `SequenceBatch` (`ModelInput(batch:training: true)`, `EncoderRows`, `AutoregressiveLoss`).
public struct DeviceBatch {
    /// i32 (R): encoder row ids — the jagged history (R = T) or all B·N padded positions with the
    /// target at L_b (R = B·N, `dense`).
    public let ids: Tensor
    /// i32 (R): the position of each row in its sequence.
    public let positions: Tensor
    /// i64 (B, N): history timestamps, the target's at L_b, zeros after.
    public let timestamps: Tensor
    /// i32 (P = T): the id each supervised position predicts (the next id; the target at L_b − 1).
    public let positives: Tensor
    /// i32 (P): the encoder row of each supervised position, in jagged order.
    public let rows: Tensor
    /// R.
    public let rowCount: Int
    /// i32 (B + 1): the jagged offsets on the device, set only for a padded jagged batch (GRTrain
    /// `StepGraphRunner`'s HSTU buckets): R = T_cap ≥ T rows, rows T..<T_cap inert padding (id 0,
    /// position 0, in no sequence). nil: R = T (or B·N, `dense`).
    public let offsets: Tensor?

    public init(ids: Tensor, positions: Tensor, timestamps: Tensor, positives: Tensor, rows: Tensor, rowCount: Int,
                offsets: Tensor? = nil) {
        self.ids = ids; self.positions = positions; self.timestamps = timestamps
        self.positives = positives; self.rows = rows; self.rowCount = rowCount; self.offsets = offsets
    }
}

/// An optional capability of a device backend (not part of `Backend`): the event store kept in
/// device memory and training batches assembled there, so that a step uploads only its users'
/// window coordinates (3·B integers) instead of its padded ids and timestamps.
public protocol BatchAssemblyOps: AnyObject {
    /// Uploads the store's events (items and timestamps of every user, concatenated) once.
    func residentEvents(items: UnsafeBufferPointer<Int32>, timestamps: UnsafeBufferPointer<Int64>) -> AnyObject
    /// The batch whose sequence b is events[first[b] ..< first[b] + L_b] with its target at
    /// events[first[b] + L_b]; `layout` holds the L_b; N = `paddedWidth` > every L_b; `dense`
    /// selects the B·N padded encoder rows (SASRec) instead of the jagged ones (HSTU).
    func assembleTrainingBatch(events: AnyObject, first: [Int], layout: JaggedLayout, paddedWidth: Int,
                               dense: Bool) -> DeviceBatch
}
