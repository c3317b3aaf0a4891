import GRCore

/// Which encoder a `ModelConfig` builds.
public enum ModelKind: String, Codable, Sendable, CaseIterable {
    /// HSTU, spec §2 (jagged, pointwise SiLU attention with relative time/position bias).
    case hstu
    /// The SASRec baseline as the reference implements it, spec §3 (dense, softmax attention).
    case sasrec
}

/// Which training loss a model uses.
public enum LossKind: String, Codable, Sendable, CaseIterable {
    /// Sampled softmax with uniform negatives, spec §4.2 (every shipped config).
    case sampledSoftmax
    /// Binary cross-entropy with one negative, spec §4.3 (not used by the tables; temperature 1).
    case bce
}

/// Errors of a model configuration, naming the offending field.
public enum ModelConfigError: Error, CustomStringConvertible, Equatable {
    case invalid(field: String, value: String, reason: String)

    public var description: String {
        switch self {
        case let .invalid(field, value, reason): return "model config: \(field) = \(value): \(reason)"
        }
    }
}

/// Hyper-parameters of an HSTU or SASRec encoder and its loss (spec §5.2 column names in comments).
///
/// Field meaning per kind:
/// - HSTU: `heads` H, `dqk`/`dv` per-head dims (gin `dqk`, `dv`); `blockDropout` = gin
///   `hstu_encoder.linear_dropout_rate`; `ffnHidden` unused.
/// - SASRec: `heads` H with per-head dim D/H; `ffnHidden` = gin `ffn_hidden_dim`; `blockDropout` =
///   gin `ffn_dropout_rate` (also the attention-probability dropout); `dqk`/`dv` unused.
public struct ModelConfig: Codable, Equatable, Sendable {
    public var kind: ModelKind
    /// D, item embedding dim (gin `item_embedding_dim`).
    public var itemDim: Int
    /// Number of HSTU layers / SASRec blocks (gin `num_blocks`).
    public var blocks: Int
    /// H (gin `num_heads`).
    public var heads: Int
    /// HSTU per-head query/key dim (gin `dqk`).
    public var dqk: Int
    /// HSTU per-head value dim (gin `dv`).
    public var dv: Int
    /// SASRec FFN hidden width (gin `ffn_hidden_dim`).
    public var ffnHidden: Int
    /// p of the dropout on x⁰ (gin `train_fn.dropout_rate`; spec §2.1).
    public var inputDropout: Float
    /// HSTU linear dropout / SASRec FFN + attention-probability dropout (spec §2.2 step 5, §3).
    public var blockDropout: Float
    /// History cap (gin `train_fn.max_sequence_length`: 200 ML, 50 Books).
    public var maxSequenceLength: Int
    /// gin `gr_output_length` (default 10); the padded width is maxSequenceLength + outputLength + 1.
    public var outputLength: Int
    /// R, uniform negatives per supervised position (128 ML, 512 Books; spec §4.2).
    public var numNegatives: Int
    /// τ of the sampled softmax (0.05; spec §4.2). The BCE loss requires 1 (spec §4.3).
    public var temperature: Float
    public var loss: LossKind
    /// eps of the L2 normalisations of user and item vectors (spec §2.4, §4.2).
    public var l2Eps: Float

    public init(kind: ModelKind, itemDim: Int, blocks: Int, heads: Int, dqk: Int = 0, dv: Int = 0,
                ffnHidden: Int = 0, inputDropout: Float, blockDropout: Float, maxSequenceLength: Int,
                outputLength: Int = ModelConfig.defaultOutputLength, numNegatives: Int,
                temperature: Float = ModelConfig.defaultTemperature, loss: LossKind = .sampledSoftmax,
                l2Eps: Float = ModelConfig.defaultL2Eps) {
        self.kind = kind
        self.itemDim = itemDim
        self.blocks = blocks
        self.heads = heads
        self.dqk = dqk
        self.dv = dv
        self.ffnHidden = ffnHidden
        self.inputDropout = inputDropout
        self.blockDropout = blockDropout
        self.maxSequenceLength = maxSequenceLength
        self.outputLength = outputLength
        self.numNegatives = numNegatives
        self.temperature = temperature
        self.loss = loss
        self.l2Eps = l2Eps
    }

    /// gin `gr_output_length` default (spec §1.4).
    public static let defaultOutputLength = 10
    /// Sampled-softmax temperature of every shipped config (spec §4.2, §5.2).
    public static let defaultTemperature: Float = 0.05
    /// `l2_norm_eps` (spec §2.4, §4.2).
    public static let defaultL2Eps: Float = 1e-6

    /// N = max_sequence_length + gr_output_length + 1 (spec §1.4): the padded width, the HSTU
    /// attention normaliser and the size of the positional tables.
    public var paddedWidth: Int { maxSequenceLength + outputLength + 1 }

    /// Throws the first inconsistent field.
    public func validate() throws {
        func bad(_ f: String, _ v: Any, _ why: String) -> ModelConfigError {
            .invalid(field: f, value: "\(v)", reason: why)
        }
        if itemDim <= 0 { throw bad("itemDim", itemDim, "must be positive") }
        if blocks < 0 { throw bad("blocks", blocks, "must be >= 0") }
        if heads <= 0 { throw bad("heads", heads, "must be positive") }
        if maxSequenceLength <= 0 { throw bad("maxSequenceLength", maxSequenceLength, "must be positive") }
        if outputLength < 0 { throw bad("outputLength", outputLength, "must be >= 0") }
        if !(0..<1).contains(inputDropout) { throw bad("inputDropout", inputDropout, "must be in [0, 1)") }
        if !(0..<1).contains(blockDropout) { throw bad("blockDropout", blockDropout, "must be in [0, 1)") }
        if !(l2Eps > 0) { throw bad("l2Eps", l2Eps, "must be positive") }
        if !(temperature > 0) { throw bad("temperature", temperature, "must be positive") }
        switch loss {
        case .sampledSoftmax:
            if numNegatives <= 0 { throw bad("numNegatives", numNegatives, "must be positive") }
        case .bce:
            if temperature != 1 { throw bad("temperature", temperature, "the BCE loss requires 1 (spec §4.3)") }
        }
        switch kind {
        case .hstu:
            if dqk <= 0 { throw bad("dqk", dqk, "must be positive for HSTU") }
            if dv <= 0 { throw bad("dv", dv, "must be positive for HSTU") }
        case .sasrec:
            if itemDim % heads != 0 { throw bad("heads", heads, "must divide itemDim \(itemDim) for SASRec") }
            if ffnHidden <= 0 { throw bad("ffnHidden", ffnHidden, "must be positive for SASRec") }
        }
    }
}
