import GRCore

/// HSTU as used for the public experiments (spec §2): input embedding on the padded (B, N) ids,
/// only the first L_b rows of each sequence enter the stack (jagged, T = Σ L_b tokens, no padding
/// FLOPs), `blocks` HSTU layers, no final LayerNorm, L2-normalised outputs (eps 1e-6).
///
/// Random streams of a training step (seed, step): input dropout `inputDropout` slot 0; layer l's
/// linear dropout `layerDropout` slot l; negatives `negatives` slot 0.
public final class HSTUModel: SequentialRecommender {
    /// Time buckets 0...128 (spec §2.3: num_buckets 128, clamped to [0, 128]).
    public static let timeBucketCount = 129

    public let config: ModelConfig
    public let parameters: ParameterArena
    public let backend: any Backend
    let corpus: [Int32]
    let tableRows: Int
    let layers: [HSTULayer]
    let workspace: Workspace

    public init(config: ModelConfig, maxItemId: Int, corpus: [Int32], backend: any Backend) {
        self.config = config
        self.backend = backend
        self.corpus = corpus
        self.tableRows = maxItemId + 1
        let arena = ParameterArena(ParameterNames.hstu(config, tableRows: maxItemId + 1), backend: backend)
        parameters = arena
        layers = (0..<config.blocks).map { HSTULayer(index: $0, config: config, arena: arena, backend: backend) }
        workspace = Workspace(backend: backend)
    }

    private func jaggedRows(_ layout: JaggedLayout) -> [(b: Int, t: Int)] {
        var rows: [(b: Int, t: Int)] = []
        rows.reserveCapacity(layout.totalTokens)
        for b in 0..<layout.batchSize { for t in 0..<layout.length(b) { rows.append((b, t)) } }
        return rows
    }

    private func activation(_ l: Int, _ tokens: Int) -> Tensor { workspace.tensor("hstu.x.\(l)", [tokens, config.itemDim]) }

    /// Runs the encoder; returns the pre-L2 output (T, D) (the last layer's activation buffer).
    @discardableResult
    func encode(_ input: ModelInput, randomness: StepRandomness?) -> Tensor {
        let c = config, t = input.layout.totalTokens
        let inputStream = c.inputDropout > 0 ? randomness?.stream(.inputDropout) : nil
        InputEmbedding.forward(ids: input.ids, rows: jaggedRows(input.layout), n: input.paddedWidth,
                               table: parameters.value(ParameterNames.itemEmbedding),
                               positions: parameters.value(ParameterNames.positionalEmbedding), dim: c.itemDim,
                               dropout: c.inputDropout, stream: inputStream, out: activation(0, t))
        for (l, layer) in layers.enumerated() {
            let s = c.blockDropout > 0 ? randomness?.stream(.layerDropout, slot: l) : nil
            layer.forward(x: activation(l, t), y: activation(l + 1, t), layout: input.layout,
                          timestamps: input.timestamps, stream: s, workspace: workspace)
        }
        return activation(layers.count, t)
    }

    public func trainStep(_ input: ModelInput, negatives: NegativeSource, randomness: StepRandomness?) -> Float {
        precondition(input.paddedWidth == config.paddedWidth, "input N \(input.paddedWidth) ≠ config N \(config.paddedWidth)")
        let c = config, t = input.layout.totalTokens, d = c.itemDim
        let y = encode(input, randomness: randomness)
        let u = workspace.tensor("hstu.u", [t, d]), norms = workspace.tensor("hstu.uNorm", [t])
        K.l2NormForward(y, u, norm: norms, rows: t, cols: d, eps: c.l2Eps)
        let du = workspace.tensor("hstu.du", [t, d])
        let table = parameters.value(ParameterNames.itemEmbedding)
        let dTable = parameters.grad(ParameterNames.itemEmbedding)
        let loss = AutoregressiveLoss(config: c, corpus: corpus).forwardBackward(
            input: input, outputs: u, rowCount: t, rowOf: { b, p in input.layout.start(b) + p },
            negatives: negatives, table: table, dTable: dTable, dOutputs: du, workspace: workspace)
        var dA = workspace.tensor("hstu.gradA", [t, d]), dB = workspace.tensor("hstu.gradB", [t, d])
        K.l2NormBackward(dy: du, y: u, norm: norms, dx: dA, rows: t, cols: d, eps: c.l2Eps)
        for (l, layer) in layers.enumerated().reversed() {
            let s = c.blockDropout > 0 ? randomness?.stream(.layerDropout, slot: l) : nil
            layer.backward(dy: dA, dx: dB, layout: input.layout, timestamps: input.timestamps, stream: s,
                           workspace: workspace)
            swap(&dA, &dB)
        }
        let inputStream = c.inputDropout > 0 ? randomness?.stream(.inputDropout) : nil
        InputEmbedding.backward(ids: input.ids, rows: jaggedRows(input.layout), n: input.paddedWidth, dim: d,
                                dropout: c.inputDropout, stream: inputStream, dx: dA, dTable: dTable,
                                dPositions: parameters.grad(ParameterNames.positionalEmbedding))
        return loss
    }

    public func userEmbeddings(_ input: ModelInput) -> Tensor {
        precondition(input.paddedWidth == config.paddedWidth, "input N \(input.paddedWidth) ≠ config N \(config.paddedWidth)")
        let d = config.itemDim, bsz = input.batchSize
        let y = encode(input, randomness: nil)
        let last = backend.zeros([bsz, d], .f32)
        let yp = y.floats, lp = last.floats
        for b in 0..<bsz where input.layout.length(b) > 0 {
            (lp + b * d).update(from: yp + (input.layout.start(b) + input.layout.length(b) - 1) * d, count: d)
        }
        let out = backend.zeros([bsz, d], .f32), norms = workspace.tensor("hstu.evalNorm", [bsz])
        K.l2NormForward(last, out, norm: norms, rows: bsz, cols: d, eps: config.l2Eps)
        return out
    }

    public func itemEmbeddings() -> Tensor {
        let d = config.itemDim
        let out = backend.zeros([tableRows, d], .f32), norms = workspace.tensor("itemNorm", [tableRows])
        K.l2NormForward(parameters.value(ParameterNames.itemEmbedding), out, norm: norms, rows: tableRows, cols: d,
                        eps: config.l2Eps)
        return out
    }
}
