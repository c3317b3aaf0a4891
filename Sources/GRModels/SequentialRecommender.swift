import GRCore

/// The model-side view of one batch (spec §1.4): padded ids and timestamps of width N plus the
/// history lengths L_b. Built from a `SequenceBatch` (GRData) by `ModelInput(batch:training:)`, or
/// directly from fixture tensors in tests.
public struct ModelInput {
    /// History lengths L_b (the target is not counted).
    public let layout: JaggedLayout
    /// N, the padded width (= config.paddedWidth).
    public let paddedWidth: Int
    /// (B, N) ids, oldest first, right-padded with 0. In training the target id is at index L_b
    /// (the training loop writes it there); in eval it is not.
    public let ids: [Int32]
    /// (B, N) unix seconds: history at 0..<L_b, the target's timestamp at L_b, zeros after.
    public let timestamps: [Int64]

    public init(layout: JaggedLayout, paddedWidth: Int, ids: [Int32], timestamps: [Int64]) {
        let b = layout.batchSize
        precondition(ids.count == b * paddedWidth, "ids: \(ids.count) values for (B \(b), N \(paddedWidth))")
        precondition(timestamps.count == b * paddedWidth,
                     "timestamps: \(timestamps.count) values for (B \(b), N \(paddedWidth))")
        for i in 0..<b where layout.length(i) >= paddedWidth {
            preconditionFailure("row \(i): length \(layout.length(i)) does not leave room for the target in N = \(paddedWidth)")
        }
        self.layout = layout
        self.paddedWidth = paddedWidth
        self.ids = ids
        self.timestamps = timestamps
        self.device = nil
    }

    /// A training batch assembled on the device (`BatchAssemblyOps`): the host arrays `ids` and
    /// `timestamps` are empty; `EncoderRows` and `AutoregressiveLoss` read `device` instead.
    public init(layout: JaggedLayout, paddedWidth: Int, device: DeviceBatch) {
        for i in 0..<layout.batchSize where layout.length(i) >= paddedWidth {
            preconditionFailure("row \(i): length \(layout.length(i)) does not leave room for the target in N = \(paddedWidth)")
        }
        self.layout = layout
        self.paddedWidth = paddedWidth
        self.ids = []
        self.timestamps = []
        self.device = device
    }

    /// The batch's device tensors when it was assembled on the device (training only), else nil.
    public let device: DeviceBatch?

    public var batchSize: Int { layout.batchSize }
}

/// Where the negatives of the sampled softmax (or the BCE loss) come from.
public enum NegativeSource {
    /// Explicit ids, (P, R) row-major with one row per supervised position in jagged order
    /// (sequence 0 positions 0..<L_0, then sequence 1, ...). Used by the fixture tests.
    case explicit([Int32])
    /// Drawn uniformly with replacement from the corpus: negative r of supervised position p is
    /// corpus[stream.below(|corpus|, p·R + r)] (spec §4.2 `LocalNegativesSampler`).
    case sampled(PhiloxStream)
    /// As `sampled`, for a rank's share of a data-parallel batch: local supervised positions are
    /// mapped to the global batch's (`BatchPlacement.supervisedRuns`), so negative r of global
    /// position p is corpus[stream.below(|corpus|, p·R + r)] as in the unsplit batch.
    case placed(PhiloxStream, BatchPlacement)
}

/// The random streams of one training step: dropout masks and negatives are pure functions of
/// (seed, step, stream kind, slot), so a step can be replayed (resume) and the GPU draws the same.
public struct StepRandomness: Sendable {
    public let seed: UInt64
    public let step: Int
    /// Set for a rank's share of a data-parallel batch: draws are indexed by global rows.
    public var placement: BatchPlacement?
    public init(seed: UInt64, step: Int, placement: BatchPlacement? = nil) {
        self.seed = seed
        self.step = step
        self.placement = placement
    }
    public func stream(_ kind: RandomStreamKind, slot: Int = 0) -> PhiloxStream {
        PhiloxStream(seed: seed, stream: kind.stream(step: step, slot: slot))
    }
}

/// A sequential recommender (HSTU or SASRec) with an explicit forward and backward pass.
public protocol SequentialRecommender: AnyObject {
    var config: ModelConfig { get }
    var parameters: ParameterArena { get }
    /// The backend every op runs on.
    var backend: any Backend { get }
    /// Forward + backward of the mean training loss over every supervised position (spec §4.1) for
    /// `input` (target id written at L_b). Accumulates (+=) into `parameters.grads` (the caller
    /// zeroes them). `randomness` nil = no dropout (as with every dropout rate 0). Returns the loss.
    func trainStep(_ input: ModelInput, negatives: NegativeSource, randomness: StepRandomness?) -> Float
    /// Eval forward (no dropout) of `input` (history only, target timestamp at L_b): (B, D)
    /// L2-normalised user vectors at position L_b − 1 (spec §2.4); a zero row when L_b = 0.
    func userEmbeddings(_ input: ModelInput) -> Tensor
    /// (maxItemId + 1, D) L2-normalised item vectors (spec §6.1); row 0 (padding) included.
    func itemEmbeddings() -> Tensor
}

extension SequentialRecommender {
    /// trainStep with negatives drawn from PhiloxStream(seed, negatives stream of `step`) and dropout
    /// from the (seed, step) streams (RandomStreamKind.inputDropout / layerDropout / attentionDropout).
    /// `placement`: this batch is a rank's share of a data-parallel global batch (see `BatchPlacement`).
    public func trainStep(_ input: ModelInput, step: Int, seed: UInt64, placement: BatchPlacement? = nil) -> Float {
        let r = StepRandomness(seed: seed, step: step, placement: placement)
        let negatives: NegativeSource = placement.map { .placed(r.stream(.negatives), $0) } ?? .sampled(r.stream(.negatives))
        return trainStep(input, negatives: negatives, randomness: r)
    }
}

/// Builds an HSTU or SASRec model with the reference initialisation (spec §2.5 / §3), drawn from
/// Philox streams of `seed` (so every backend gets the same initial parameters).
/// `maxItemId`: the item table has maxItemId + 1 rows (row 0 = padding). `corpus`: the ids negatives
/// are drawn from (spec §1.5).
public func makeModel(_ config: ModelConfig, maxItemId: Int, corpus: [Int32], backend: any Backend,
                      seed: UInt64) -> any SequentialRecommender {
    do { try config.validate() } catch { preconditionFailure("\(error)") }
    switch config.kind {
    case .hstu:
        let m = HSTUModel(config: config, maxItemId: maxItemId, corpus: corpus, backend: backend)
        Initialization.hstu(m.parameters, config: config, seed: seed)
        return m
    case .sasrec:
        let m = SASRecModel(config: config, maxItemId: maxItemId, corpus: corpus, backend: backend)
        Initialization.sasrec(m.parameters, config: config, seed: seed)
        return m
    }
}

/// A model whose training step runs its encoder forward and backward in `StepSegments` (SASRec;
/// HSTU on padded batches, `DeviceBatch.offsets`).
public protocol SegmentedTraining: SequentialRecommender {
    /// The training step with the encoder forward and backward run by `segments` (nil: here).
    func trainStep(_ input: ModelInput, negatives: NegativeSource, randomness: StepRandomness?,
                   segments: StepSegments?) -> Float
    /// Keep workspace buffers that grow alive (CUDA graphs address them; see `Workspace`).
    func retainReplacedBuffers()
}

/// Runs the batch-shape-only parts of a training step (`SASRecModel.trainStep(_:negatives:randomness:segments:)`):
/// the encoder forward and the backward, around the loss whose shape changes with every batch.
/// GRTrain's `StepGraphRunner` captures each as a CUDA graph once per batch size and replays it.
/// A body must queue the same work at every call with the same batch size (same tensors).
public protocol StepSegments: AnyObject {
    /// The encoder forward of the step (runs before the loss).
    func forward(_ body: @escaping () -> Void)
    /// The encoder backward of the step (runs after the loss).
    func backward(_ body: @escaping () -> Void)
}
