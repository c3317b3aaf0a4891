import GRCore

/// The SASRec baseline as implemented in the reference (spec §3), on the dense padded (B, N, D)
/// tensor: the same input embedding (positional table truncated-normal √(1/D)), `blocks`
/// `SASRecBlock`s, no final LayerNorm, L2-normalised outputs. In training the target id sits at
/// index L_b of the input (visible to later positions only), so — fixture quirk 4 — the output at
/// index L_b is non-zero; it is never supervised.
///
/// Random streams of a training step (seed, step): input dropout `inputDropout` slot 0; block l:
/// see `SASRecBlock`; negatives `negatives` slot 0.
public final class SASRecModel: SegmentedTraining {
    public let config: ModelConfig
    public let parameters: ParameterArena
    public let backend: any Backend
    /// i32 (C): negatives are drawn from it (spec §1.5).
    let corpus: Tensor
    let tableRows: Int
    let blocks: [SASRecBlock]
    let workspace: Workspace

    public init(config: ModelConfig, maxItemId: Int, corpus: [Int32], backend: any Backend) {
        self.config = config
        self.backend = backend
        self.corpus = backend.upload(corpus, shape: [corpus.count])
        self.tableRows = maxItemId + 1
        let arena = ParameterArena(ParameterNames.sasrec(config, tableRows: maxItemId + 1), backend: backend)
        parameters = arena
        blocks = (0..<config.blocks).map { SASRecBlock(index: $0, config: config, arena: arena, backend: backend) }
        workspace = Workspace(backend: backend)
        // Backward order: block blocks − 1 … 0 (its attention and FFN parameters), then the input
        // embedding (the item table also receives the loss's scatter; it is final only here).
        typealias P = ParameterNames.SASRec
        arena.backwardStages = (0..<config.blocks).reversed().map { l in
            [P.inProjWeight(l), P.inProjBias(l), P.outProjWeight(l), P.outProjBias(l),
             P.conv1Weight(l), P.conv1Bias(l), P.conv2Weight(l), P.conv2Bias(l)]
        } + [[ParameterNames.itemEmbedding, ParameterNames.positionalEmbedding]]
    }

    private func activation(_ l: Int, _ rows: Int) -> Tensor { workspace.tensor("sasrec.x.\(l)", [rows, config.itemDim]) }

    /// Runs the encoder on all B·N rows; returns the pre-L2 output (B·N, D).
    @discardableResult
    func encode(_ input: ModelInput, rows: EncoderRows, randomness: StepRandomness?) -> Tensor {
        let c = config, bsz = input.batchSize, n = input.paddedWidth, r = rows.count
        let inputStream = c.inputDropout > 0 ? randomness.map { RowDropout($0.stream(.inputDropout)) } : nil
        InputEmbedding.forward(rows, table: parameters.value(ParameterNames.itemEmbedding),
                               positions: parameters.value(ParameterNames.positionalEmbedding), dim: c.itemDim,
                               dropout: c.inputDropout, stream: inputStream, out: activation(0, r), workspace: workspace, backend: backend)
        for (l, block) in blocks.enumerated() {
            block.forward(x: activation(l, r), y: activation(l + 1, r), batch: bsz, n: n, ids: rows.ids,
                          streams: .init(randomness, layer: l, p: c.blockDropout), workspace: workspace)
        }
        return activation(blocks.count, r)
    }

    public func trainStep(_ input: ModelInput, negatives: NegativeSource, randomness: StepRandomness?) -> Float {
        trainStep(input, negatives: negatives, randomness: randomness, segments: nil)
    }

    /// The training step in three parts: the encoder forward (B·N rows: its shapes depend only on
    /// B), the loss (P = Σ L_b supervised positions: a shape per batch) and the backward (B·N
    /// rows). `segments` runs the first and the last (e.g. as replayed CUDA graphs, GRTrain
    /// `StepGraphRunner`); nil runs them here. The tensors the segments touch are the workspace's,
    /// the parameter arena's and `input.device`'s ids, positions and timestamps.
    public func trainStep(_ input: ModelInput, negatives: NegativeSource, randomness: StepRandomness?,
                          segments: StepSegments?) -> Float {
        precondition(input.paddedWidth == config.paddedWidth, "input N \(input.paddedWidth) ≠ config N \(config.paddedWidth)")
        let c = config, bsz = input.batchSize, n = input.paddedWidth, d = c.itemDim
        let rows = EncoderRows.dense(input, backend: backend), r = rows.count
        let y = activation(blocks.count, r)
        let u = workspace.tensor("sasrec.u", [r, d]), norms = workspace.tensor("sasrec.uNorm", [r])
        let du = workspace.tensor("sasrec.du", [r, d])
        let forward = {
            self.encode(input, rows: rows, randomness: randomness)
            self.backend.l2NormalizeForward(x: y, out: u, norms: norms, rows: r, cols: d, eps: c.l2Eps)
        }
        if let segments { segments.forward(forward) } else { forward() }
        let table = parameters.value(ParameterNames.itemEmbedding)
        let dTable = parameters.grad(ParameterNames.itemEmbedding)
        let loss = AutoregressiveLoss(config: c, corpus: corpus, backend: backend).forwardBackward(
            input: input, outputs: u, rowCount: r, rowOf: { b, t in b * n + t }, negatives: negatives,
            table: table, dTable: dTable, dOutputs: du, workspace: workspace)
        let backward = {
            var dA = self.workspace.tensor("sasrec.gradA", [r, d]), dB = self.workspace.tensor("sasrec.gradB", [r, d])
            self.backend.fill(dA, 0)
            self.backend.l2NormalizeBackward(dOut: du, x: y, norms: norms, dx: dA, rows: r, cols: d, eps: c.l2Eps)
            for (l, block) in self.blocks.enumerated().reversed() {
                block.backward(dy: dA, dx: dB, x: self.activation(l, r), batch: bsz, n: n, ids: rows.ids,
                               streams: .init(randomness, layer: l, p: c.blockDropout), workspace: self.workspace)
                swap(&dA, &dB)
                self.parameters.backwardStageDone(self.blocks.count - 1 - l)
            }
            let inputStream = c.inputDropout > 0 ? randomness.map { RowDropout($0.stream(.inputDropout)) } : nil
            InputEmbedding.backward(rows, dim: d, dropout: c.inputDropout, stream: inputStream, dx: dA, dTable: dTable,
                                    dPositions: self.parameters.grad(ParameterNames.positionalEmbedding),
                                    workspace: self.workspace, backend: self.backend)
            self.parameters.backwardStageDone(self.blocks.count)
        }
        if let segments { segments.backward(backward) } else { backward() }
        return loss
    }

    /// Keep workspace buffers that grow alive (CUDA graphs address them; see `Workspace`).
    public func retainReplacedBuffers() { workspace.retainsReplaced = true }

    public func userEmbeddings(_ input: ModelInput) -> Tensor {
        precondition(input.paddedWidth == config.paddedWidth, "input N \(input.paddedWidth) ≠ config N \(config.paddedWidth)")
        let d = config.itemDim, bsz = input.batchSize, n = input.paddedWidth
        let rows = EncoderRows.dense(input, backend: backend)
        let y = encode(input, rows: rows, randomness: nil)
        // Row b·N + L_b − 1; with L_b = 0 row b·N, whose id is 0, so the masked output is zero.
        let last = (0..<bsz).map { b in Int32(b * n + max(input.layout.length(b) - 1, 0)) }
        let picked = workspace.tensor("sasrec.evalLast", [bsz, d])
        backend.embeddingForward(table: y, ids: backend.upload(last, shape: [bsz]), scale: 1, out: picked,
                                 rows: bsz, dim: d, accumulate: false)
        let out = backend.zeros([bsz, d], .f32)
        backend.l2NormalizeForward(x: picked, out: out, norms: workspace.tensor("sasrec.evalNorm", [bsz]), rows: bsz,
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
