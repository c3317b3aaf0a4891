import GRCore

/// The autoregressive training loss (spec §4.1): the output at position t (t = 0..<L_b) predicts
/// the id at t + 1 (position L_b holds the target), supervision embeddings are raw item-table rows,
/// positions whose next id is 0 get weight 0 (never the case with real data), reduction = mean
/// over all supervised positions of the batch.
struct AutoregressiveLoss {
    let config: ModelConfig
    let corpus: [Int32]

    /// `outputs` (rows, D) L2-normalised encoder outputs; `rowOf(b, t)` the output row of position
    /// t of sequence b. Writes d(loss)/d(outputs) into `dOutputs` (rows, D; OVERWRITTEN, zero on
    /// unsupervised rows), accumulates into `dTable`, returns the loss.
    func forwardBackward(input: ModelInput, outputs: Tensor, rowCount: Int, rowOf: (Int, Int) -> Int,
                         negatives: NegativeSource, table: Tensor, dTable: Tensor, dOutputs: Tensor,
                         workspace: Workspace) -> Float {
        let d = config.itemDim, n = input.paddedWidth
        var rows: [Int] = []
        var positives: [Int32] = []
        rows.reserveCapacity(input.layout.totalTokens)
        positives.reserveCapacity(input.layout.totalTokens)
        for b in 0..<input.batchSize {
            for t in 0..<input.layout.length(b) {
                let next = input.ids[b * n + t + 1]
                if next == 0 { continue }
                rows.append(rowOf(b, t))
                positives.append(next)
            }
        }
        let p = rows.count
        let r = config.loss == .bce ? 1 : config.numNegatives
        let negativeIds: [Int32]
        switch negatives {
        case .explicit(let ids):
            precondition(ids.count == p * r, "explicit negatives: \(ids.count) ids for \(p) positions × \(r)")
            negativeIds = ids
        case .sampled(let stream):
            let c = corpus.count
            precondition(c > 0, "negative sampling needs a non-empty corpus")
            negativeIds = (0..<(p * r)).map { corpus[stream.below(c, UInt64($0))] }
        }
        let queries = workspace.tensor("loss.queries", [p, d])
        let dQueries = workspace.tensor("loss.dQueries", [p, d])
        let up = outputs.floats, qp = queries.floats
        for (i, row) in rows.enumerated() {
            (qp + i * d).update(from: up + row * d, count: d)
        }
        let loss: Float
        switch config.loss {
        case .sampledSoftmax:
            loss = K.sampledSoftmax(queries: queries, positives: positives, negatives: negativeIds, r: r,
                                    table: table, dim: d, temperature: config.temperature, eps: config.l2Eps,
                                    dQueries: dQueries, dTable: dTable)
        case .bce:
            loss = K.bce(queries: queries, positives: positives, negatives: negativeIds, table: table, dim: d,
                         eps: config.l2Eps, dQueries: dQueries, dTable: dTable)
        }
        let dop = dOutputs.floats, dqp = dQueries.floats
        dop.update(repeating: 0, count: rowCount * d)
        for (i, row) in rows.enumerated() {
            (dop + row * d).update(from: dqp + i * d, count: d)
        }
        return loss
    }
}
