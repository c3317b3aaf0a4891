/// Every setting of a training run: the model, the loss, the optimiser, the schedule of
/// evaluations and checkpoints. Presets mirroring the reference's nine gin files live in
/// `configs/<dataset>/<name>.yaml` (spec §5.2); `ConfigFile` parses them and `--set key=value`
/// overrides single keys (see `ConfigKeys` for the key names, sections and types).
///
/// Defaults are the reference's values common to all nine configs (spec §5.1, §5.2), so a preset
/// only states what differs between configs.
public struct TrainConfig: Codable, Equatable, Sendable {
    public enum ModelKind: String, Codable, CaseIterable, Sendable { case hstu, sasrec }
    public enum LossKind: String, Codable, CaseIterable, Sendable {
        case sampledSoftmax = "sampled_softmax", bce
    }
    /// Which ids are removed from the candidates before ranking (spec §6.1).
    public enum SeenFilterKind: String, Codable, CaseIterable, Sendable {
        /// The reference: the truncated input history (≤ max_sequence_length ids).
        case inputWindow = "input_window"
        /// Every item the user interacted with before the target.
        case fullHistory = "full_history"
    }

    // Top level.
    /// Free-form preset name, e.g. "ml-1m/hstu-large".
    public var name = ""
    /// Dataset the preset was written for (ml-1m, ml-20m, amzn-books, ...); informational.
    public var dataset = ""

    // model: (spec §2, §3, §5.2)
    public var kind: ModelKind = .hstu
    public var itemDim = 50
    public var blocks = 2
    public var heads = 1
    /// HSTU per-head query/key dim; SASRec ignores it (its head dim is itemDim / heads).
    public var dqk = 50
    /// HSTU per-head value dim; SASRec ignores it.
    public var dv = 50
    /// SASRec feed-forward hidden size; HSTU ignores it.
    public var ffnHidden = 50
    public var inputDropout = 0.2
    public var blockDropout = 0.2
    /// 200 for MovieLens, 50 for Books (spec §1.4).
    public var maxSequenceLength = 200
    /// gin `gr_output_length` (spec §1.4): the padded width is max_sequence_length + output_length + 1.
    public var outputLength = 10

    // loss: (spec §4)
    public var loss: LossKind = .sampledSoftmax
    /// R: 128 (ML) / 512 (Books).
    public var numNegatives = 128
    /// τ = 0.05 (spec §4.2).
    public var temperature = 0.05
    /// l2_norm_eps (spec §4.2).
    public var l2Eps = 1e-6

    // training: (spec §5.1)
    public var epochs = 101
    public var batchSize = 128
    public var lr = 1e-3
    public var beta1 = 0.9
    public var beta2 = 0.98
    public var eps = 1e-8
    public var weightDecay = 0.0
    /// Linear warm-up steps (0 in every reference config): lr · min(1, (step + 1) / warmup).
    public var numWarmupSteps = 0
    /// Seeds initialisation, shuffling, dropout and negatives (reference `random_seed` 42).
    public var seed: UInt64 = 42
    /// Train on ignore_last_n = 2, select the epoch on the 2nd-to-last item, report the last (§6.4).
    public var validation = false
    /// A checkpoint `epoch-<e>.safetensors` every n epochs (reference default 1000 ⇒ only the final one).
    public var saveCkptEveryN = 1000

    // evaluation: (spec §5.1, §6)
    public var evalBatchSize = 128
    /// A full evaluation when epoch % n == 0 (and at the last epoch); a partial one otherwise.
    public var fullEvalEveryN = 1
    /// Batches evaluated by a partial evaluation.
    public var partialEvalNumIters = 32
    /// In-loop monitor on the current training batch every n steps, logged as `eval/<metric>`
    /// (spec §5.1, "in-loop monitor"); 0 turns it off.
    public var evalInterval = 100
    public var seenFilter: SeenFilterKind = .inputWindow
    /// k of the top-k retrieval: ranks beyond it count as maxRank + 1 (spec §6.1).
    public var maxRank = 2500

    public init() {}

    /// N = max_sequence_length + output_length + 1 (spec §1.4).
    public var paddedWidth: Int { maxSequenceLength + outputLength + 1 }

    /// Checks ranges and combinations; `source` names where the config came from.
    public func validate(source: String) throws {
        func fail(_ key: String, _ why: String) throws -> Never {
            throw ConfigError(file: source, line: nil, key: key, message: why)
        }
        for (k, v) in [("item_dim", itemDim), ("blocks", blocks), ("heads", heads), ("max_sequence_length", maxSequenceLength),
                       ("num_negatives", numNegatives), ("epochs", epochs), ("batch_size", batchSize),
                       ("eval_batch_size", evalBatchSize), ("full_eval_every_n", fullEvalEveryN),
                       ("partial_eval_num_iters", partialEvalNumIters), ("save_ckpt_every_n", saveCkptEveryN),
                       ("max_rank", maxRank)] where v <= 0 {
            try fail(k, "must be positive, got \(v)")
        }
        for (k, v) in [("output_length", outputLength), ("num_warmup_steps", numWarmupSteps), ("eval_interval", evalInterval)] where v < 0 {
            try fail(k, "must be ≥ 0, got \(v)")
        }
        switch kind {
        case .hstu:
            if dqk <= 0 { try fail("dqk", "must be positive for hstu, got \(dqk)") }
            if dv <= 0 { try fail("dv", "must be positive for hstu, got \(dv)") }
        case .sasrec:
            if itemDim % heads != 0 { try fail("heads", "item_dim \(itemDim) is not divisible by heads \(heads)") }
            if ffnHidden <= 0 { try fail("ffn_hidden", "must be positive, got \(ffnHidden)") }
        }
        for (k, v) in [("input_dropout", inputDropout), ("block_dropout", blockDropout)] where !(v >= 0 && v < 1) {
            try fail(k, "must be in [0, 1), got \(v)")
        }
        if !(temperature > 0) { try fail("temperature", "must be positive, got \(temperature)") }
        if loss == .bce && temperature != 1 {
            try fail("temperature", "the BCE loss requires temperature 1.0 (spec §4.3), got \(temperature)")
        }
        if !(l2Eps > 0) { try fail("l2_eps", "must be positive, got \(l2Eps)") }
        if !(lr > 0 && lr.isFinite) { try fail("lr", "must be positive and finite, got \(lr)") }
        if !(beta1 >= 0 && beta1 < 1) { try fail("beta1", "must be in [0, 1), got \(beta1)") }
        if !(beta2 >= 0 && beta2 < 1) { try fail("beta2", "must be in [0, 1), got \(beta2)") }
        if !(eps > 0) { try fail("eps", "must be positive, got \(eps)") }
        if !(weightDecay >= 0) { try fail("weight_decay", "must be ≥ 0, got \(weightDecay)") }
    }
}
