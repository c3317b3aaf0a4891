import GRCore

/// The SASRec baseline as implemented in the reference (spec §3), on the dense padded (B, N, D)
/// tensor: the same input embedding (positional table truncated-normal √(1/D)), `blocks`
/// `SASRecBlock`s, no final LayerNorm, L2-normalised outputs. In training the target id sits at
/// index L_b of the input (visible to later positions only), so — fixture quirk 4 — the output at
/// index L_b is non-zero; it is never supervised.
///
/// Random streams of a training step (seed, step): input dropout `inputDropout` slot 0; block l:
/// see `SASRecBlock`; negatives `negatives` slot 0.
public final class SASRecModel: SequentialRecommender {
    public let config: ModelConfig
    public let parameters: ParameterArena
    public let backend: any Backend
    let corpus: [Int32]
    let tableRows: Int
    let blocks: [SASRecBlock]
    let workspace: Workspace

    public init(config: ModelConfig, maxItemId: Int, corpus: [Int32], backend: any Backend) {
        self.config = config
        self.backend = backend
        self.corpus = corpus
        self.tableRows = maxItemId + 1
        let arena = ParameterArena(ParameterNames.sasrec(config, tableRows: maxItemId + 1), backend: backend)
        parameters = arena
        blocks = (0..<config.blocks).map { SASRecBlock(index: $0, config: config, arena: arena, backend: backend) }
        workspace = Workspace(backend: backend)
    }

    private func denseRows(_ batch: Int, _ n: Int) -> [(b: Int, t: Int)] {
        var rows: [(b: Int, t: Int)] = []
        rows.reserveCapacity(batch * n)
        for b in 0..<batch { for t in 0..<n { rows.append((b, t)) } }
        return rows
    }

    private func activation(_ l: Int, _ rows: Int) -> Tensor { workspace.tensor("sasrec.x.\(l)", [rows, config.itemDim]) }

    /// Runs the encoder; returns the pre-L2 output (B·N, D).
    @discardableResult
    func encode(_ input: ModelInput, randomness: StepRandomness?) -> Tensor {
        let c = config, bsz = input.batchSize, n = input.paddedWidth, r = bsz * n
        let inputStream = c.inputDropout > 0 ? randomness?.stream(.inputDropout) : nil
        InputEmbedding.forward(ids: input.ids, rows: denseRows(bsz, n), n: n,
                               table: parameters.value(ParameterNames.itemEmbedding),
                               positions: parameters.value(ParameterNames.positionalEmbedding), dim: c.itemDim,
                               dropout: c.inputDropout, stream: inputStream, out: activation(0, r))
        let mask = input.ids.map { $0 != 0 }
        for (l, block) in blocks.enumerated() {
            block.forward(x: activation(l, r), y: activation(l + 1, r), batch: bsz, n: n, mask: mask,
                          streams: .init(randomness, layer: l, p: c.blockDropout), workspace: workspace)
        }
        return activation(blocks.count, r)
    }

    public func trainStep(_ input: ModelInput, negatives: NegativeSource, randomness: StepRandomness?) -> Float {
        precondition(input.paddedWidth == config.paddedWidth, "input N \(input.paddedWidth) ≠ config N \(config.paddedWidth)")
        let c = config, bsz = input.batchSize, n = input.paddedWidth, r = bsz * n, d = c.itemDim
        let y = encode(input, randomness: randomness)
        let u = workspace.tensor("sasrec.u", [r, d]), norms = workspace.tensor("sasrec.uNorm", [r])
        K.l2NormForward(y, u, norm: norms, rows: r, cols: d, eps: c.l2Eps)
        let du = workspace.tensor("sasrec.du", [r, d])
        let table = parameters.value(ParameterNames.itemEmbedding)
        let dTable = parameters.grad(ParameterNames.itemEmbedding)
        let loss = AutoregressiveLoss(config: c, corpus: corpus).forwardBackward(
            input: input, outputs: u, rowCount: r, rowOf: { b, t in b * n + t }, negatives: negatives,
            table: table, dTable: dTable, dOutputs: du, workspace: workspace)
        var dA = workspace.tensor("sasrec.gradA", [r, d]), dB = workspace.tensor("sasrec.gradB", [r, d])
        K.l2NormBackward(dy: du, y: u, norm: norms, dx: dA, rows: r, cols: d, eps: c.l2Eps)
        let mask = input.ids.map { $0 != 0 }
        for (l, block) in blocks.enumerated().reversed() {
            block.backward(dy: dA, dx: dB, x: activation(l, r), batch: bsz, n: n, mask: mask,
                           streams: .init(randomness, layer: l, p: c.blockDropout), workspace: workspace)
            swap(&dA, &dB)
        }
        // x⁰ is multiplied by the mask: padded rows get no gradient.
        let gp = dA.floats
        for i in 0..<r where !mask[i] { for k in 0..<d { gp[i * d + k] = 0 } }
        let inputStream = c.inputDropout > 0 ? randomness?.stream(.inputDropout) : nil
        InputEmbedding.backward(ids: input.ids, rows: denseRows(bsz, n), n: n, dim: d, dropout: c.inputDropout,
                                stream: inputStream, dx: dA, dTable: dTable,
                                dPositions: parameters.grad(ParameterNames.positionalEmbedding))
        return loss
    }

    public func userEmbeddings(_ input: ModelInput) -> Tensor {
        precondition(input.paddedWidth == config.paddedWidth, "input N \(input.paddedWidth) ≠ config N \(config.paddedWidth)")
        let d = config.itemDim, bsz = input.batchSize, n = input.paddedWidth
        let y = encode(input, randomness: nil)
        let last = backend.zeros([bsz, d], .f32)
        let yp = y.floats, lp = last.floats
        for b in 0..<bsz where input.layout.length(b) > 0 {
            (lp + b * d).update(from: yp + (b * n + input.layout.length(b) - 1) * d, count: d)
        }
        let out = backend.zeros([bsz, d], .f32), norms = workspace.tensor("sasrec.evalNorm", [bsz])
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
