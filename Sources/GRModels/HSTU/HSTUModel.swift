import GRCore

/// HSTU as used for the public experiments (spec §2): input embedding on the padded (B, N) ids,
/// only the first L_b rows of each sequence enter the stack (jagged, T = Σ L_b tokens, no padding
/// FLOPs), `blocks` HSTU layers, no final LayerNorm, L2-normalised outputs (eps 1e-6).
///
/// Random streams of a training step (seed, step): input dropout `inputDropout` slot 0; layer l's
/// linear dropout `layerDropout` slot l; negatives `negatives` slot 0. With a `BatchPlacement`
/// (a rank's share of a data-parallel batch) the dropout masks are indexed by global jagged rows.
public final class HSTUModel: SegmentedTraining {
    /// Size of w_ts: time buckets 0...128 (spec §2.3: num_buckets 128, clamped to [0, 128]).
    public static let timeBucketCount = TimeBucket.count

    public let config: ModelConfig
    public let parameters: ParameterArena
    public let backend: any Backend
    /// i32 (C): negatives are drawn from it (spec §1.5).
    let corpus: Tensor
    let tableRows: Int
    let layers: [HSTULayer]
    let workspace: Workspace

    public init(config: ModelConfig, maxItemId: Int, corpus: [Int32], backend: any Backend) {
        self.config = config
        self.backend = backend
        self.corpus = backend.upload(corpus, shape: [corpus.count])
        self.tableRows = maxItemId + 1
        let arena = ParameterArena(ParameterNames.hstu(config, tableRows: maxItemId + 1), backend: backend)
        parameters = arena
        layers = (0..<config.blocks).map { HSTULayer(index: $0, config: config, arena: arena, backend: backend) }
        workspace = Workspace(backend: backend)
        // Backward order: layer blocks − 1 … 0, then the input embedding (the item table also
        // receives the loss's scatter, before the layers' backward; it is final only here).
        typealias P = ParameterNames.HSTU
        arena.backwardStages = (0..<config.blocks).reversed().map { l in
            [P.uvqk(l), P.timeWeights(l), P.positionWeights(l), P.outWeight(l), P.outBias(l)]
        } + [[ParameterNames.itemEmbedding, ParameterNames.positionalEmbedding]]
    }

    private func activation(_ l: Int, _ tokens: Int) -> Tensor { workspace.tensor("hstu.x.\(l)", [tokens, config.itemDim]) }

    /// Runs the encoder on the jagged rows; returns the pre-L2 output (T, D) (the last layer's
    /// activation buffer). A padded batch (`HSTUPadding`) runs on its T_cap rows.
    @discardableResult
    func encode(_ input: ModelInput, rows: EncoderRows, randomness: StepRandomness?,
                rowMap: (ids: Tensor, count: Int)? = nil) -> Tensor {
        let c = config, t = rows.count
        let padding = HSTUPadding(input).map { ($0, tokens: t) }
        let inputStream = c.inputDropout > 0 ? randomness.map { RowDropout($0.stream(.inputDropout), globalRows: rowMap) } : nil
        InputEmbedding.forward(rows, table: parameters.value(ParameterNames.itemEmbedding),
                               positions: parameters.value(ParameterNames.positionalEmbedding), dim: c.itemDim,
                               dropout: c.inputDropout, stream: inputStream, out: activation(0, t), workspace: workspace,
                               backend: backend)
        for (l, layer) in layers.enumerated() {
            let s = c.blockDropout > 0 ? randomness.map { RowDropout($0.stream(.layerDropout, slot: l), globalRows: rowMap) } : nil
            layer.forward(x: activation(l, t), y: activation(l + 1, t), layout: input.layout,
                          timestamps: rows.timestamps, stream: s, workspace: workspace, padding: padding)
        }
        return activation(layers.count, t)
    }

    public func trainStep(_ input: ModelInput, negatives: NegativeSource, randomness: StepRandomness?) -> Float {
        trainStep(input, negatives: negatives, randomness: randomness, segments: nil)
    }

    /// The training step in three parts, as SASRec's: the encoder forward, the loss (eager: its
    /// shape is the batch's) and the backward. A padded batch (`DeviceBatch.offsets`, T_cap rows,
    /// `HSTUPadding`) gives the two segments shapes that depend only on (B, T_cap), so GRTrain's
    /// `StepGraphRunner` replays them per capacity bucket. u and du, which the eager loss shares
    /// with the segments, are then views of B·N-row buffers, which no later batch grows (moves).
    public func trainStep(_ input: ModelInput, negatives: NegativeSource, randomness: StepRandomness?,
                          segments: StepSegments?) -> Float {
        precondition(input.paddedWidth == config.paddedWidth, "input N \(input.paddedWidth) ≠ config N \(config.paddedWidth)")
        let c = config, d = c.itemDim
        let rows = EncoderRows.jagged(input, backend: backend), t = rows.count
        let padding = HSTUPadding(input).map { ($0, tokens: t) }
        let rowMap = randomness?.placement.map { p in
            (ids: backend.upload(p.jaggedRowMap(), shape: [t]), count: p.globalTokens)
        }
        precondition(rowMap == nil || (padding == nil && segments == nil), "HSTU: a data-parallel share is neither padded nor segmented")
        let stable = padding != nil ? max(t, input.batchSize * input.paddedWidth) : t
        let y = activation(layers.count, t)
        let u = workspace.tensor("hstu.u", [stable * d]).view(0, [t, d]), norms = workspace.tensor("hstu.uNorm", [t])
        let du = workspace.tensor("hstu.du", [stable * d]).view(0, [t, d])
        let forward = {
            self.encode(input, rows: rows, randomness: randomness, rowMap: rowMap)
            self.backend.l2NormalizeForward(x: y, out: u, norms: norms, rows: t, cols: d, eps: c.l2Eps)
        }
        if let segments { segments.forward(forward) } else { forward() }
        let table = parameters.value(ParameterNames.itemEmbedding)
        let dTable = parameters.grad(ParameterNames.itemEmbedding)
        let loss = AutoregressiveLoss(config: c, corpus: corpus, backend: backend).forwardBackward(
            input: input, outputs: u, rowCount: t, rowOf: { b, p in input.layout.start(b) + p },
            negatives: negatives, table: table, dTable: dTable, dOutputs: du, workspace: workspace)
        let backward = {
            var dA = self.workspace.tensor("hstu.gradA", [t, d]), dB = self.workspace.tensor("hstu.gradB", [t, d])
            self.backend.fill(dA, 0)
            self.backend.l2NormalizeBackward(dOut: du, x: y, norms: norms, dx: dA, rows: t, cols: d, eps: c.l2Eps)
            for (l, layer) in self.layers.enumerated().reversed() {
                let s = c.blockDropout > 0 ? randomness.map { RowDropout($0.stream(.layerDropout, slot: l), globalRows: rowMap) } : nil
                layer.backward(dy: dA, x: self.activation(l, t), dx: dB, layout: input.layout, timestamps: rows.timestamps,
                               stream: s, workspace: self.workspace, padding: padding)
                swap(&dA, &dB)
                self.parameters.backwardStageDone(self.layers.count - 1 - l)
            }
            let inputStream = c.inputDropout > 0 ? randomness.map { RowDropout($0.stream(.inputDropout), globalRows: rowMap) } : nil
            InputEmbedding.backward(rows, dim: d, dropout: c.inputDropout, stream: inputStream, dx: dA, dTable: dTable,
                                    dPositions: self.parameters.grad(ParameterNames.positionalEmbedding),
                                    workspace: self.workspace, backend: self.backend)
            self.parameters.backwardStageDone(self.layers.count)
        }
        if let segments { segments.backward(backward) } else { backward() }
        return loss
    }

    /// Keep workspace buffers that grow alive (CUDA graphs address them; see `Workspace`).
    public func retainReplacedBuffers() { workspace.retainsReplaced = true }

    public func userEmbeddings(_ input: ModelInput) -> Tensor {
        precondition(input.paddedWidth == config.paddedWidth, "input N \(input.paddedWidth) ≠ config N \(config.paddedWidth)")
        let d = config.itemDim, bsz = input.batchSize
        let rows = EncoderRows.jagged(input, backend: backend)
        let y = encode(input, rows: rows, randomness: nil)
        // Row L_b − 1 of each sequence; a zero row (from the zero-filled scratch row T) when L_b = 0.
        let last = (0..<bsz).map { b in
            Int32(input.layout.length(b) > 0 ? input.layout.start(b) + input.layout.length(b) - 1 : rows.count)
        }
        let padded = workspace.tensor("hstu.evalRows", [rows.count + 1, d])
        backend.copy(y, to: padded.view(0, [rows.count, d]))
        backend.fill(padded.view(rows.count * d, [d]), 0)
        let picked = workspace.tensor("hstu.evalLast", [bsz, d])
        backend.embeddingForward(table: padded, ids: backend.upload(last, shape: [bsz]), scale: 1, out: picked,
                                 rows: bsz, dim: d, accumulate: false)
        let out = backend.zeros([bsz, d], .f32)
        backend.l2NormalizeForward(x: picked, out: out, norms: workspace.tensor("hstu.evalNorm", [bsz]), rows: bsz,
                                   cols: d, eps: config.l2Eps)
        return out
    }

    public func itemEmbeddings() -> Tensor {
        let d = config.itemDim
        let out = backend.zeros([tableRows, d], .f32)
        backend.l2NormalizeForward(x: parameters.value(ParameterNames.itemEmbedding), out: out,
                                   norms: workspace.tensor("itemNorm", [tableRows]), rows: tableRows, cols: d,
                                   eps: config.l2Eps)
        return out
    }
}
