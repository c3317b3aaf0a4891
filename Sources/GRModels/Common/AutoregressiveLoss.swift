import GRCore

/// The autoregressive training loss (spec §4.1): the output at position t (t = 0..<L_b) predicts
/// the id at t + 1 (position L_b holds the target), supervision embeddings are raw item-table rows,
/// positions whose next id is 0 get weight 0 (never the case with real data), reduction = mean
/// over all supervised positions of the batch. Sampled softmax (§4.2) or BCE (§4.3) by config.
struct AutoregressiveLoss {
    let config: ModelConfig
    /// i32 (C): the ids negatives are drawn from.
    let corpus: Tensor
    let backend: any Backend

    /// `outputs` (rows, D) L2-normalised encoder outputs; `rowOf(b, t)` the output row of position
    /// t of sequence b. Writes d(loss)/d(outputs) into `dOutputs` (rows, D; OVERWRITTEN, zero on
    /// unsupervised rows), accumulates into `dTable`, returns the loss.
    func forwardBackward(input: ModelInput, outputs: Tensor, rowCount: Int, rowOf: (Int, Int) -> Int,
                         negatives: NegativeSource, table: Tensor, dTable: Tensor, dOutputs: Tensor,
                         workspace ws: Workspace) -> Float {
        let d = config.itemDim, n = input.paddedWidth
        var rows: [Int32] = [], positives: [Int32] = []
        // A device-assembled batch supervises every position (store ids are ≥ 1, checked where the
        // events are made resident) and brings its row ids and positives along.
        let device = input.device
        if device == nil {
            rows.reserveCapacity(input.layout.totalTokens)
            positives.reserveCapacity(input.layout.totalTokens)
            for b in 0..<input.batchSize {
                for t in 0..<input.layout.length(b) {
                    let next = input.ids[b * n + t + 1]
                    if next == 0 { continue }
                    rows.append(Int32(rowOf(b, t)))
                    positives.append(next)
                }
            }
        }
        let p = device?.positives.count ?? rows.count
        backend.fill(dOutputs, 0)
        if p == 0 { return 0 }
        let r = config.loss == .bce ? 1 : config.numNegatives
        let positiveIds = device?.positives ?? backend.upload(positives, shape: [p])
        let negativeIds: Tensor
        switch negatives {
        case .explicit(let ids):
            precondition(ids.count == p * r, "explicit negatives: \(ids.count) ids for \(p) positions × \(r)")
            negativeIds = backend.upload(ids, shape: [p, r])
        case .sampled(let stream):
            precondition(corpus.count > 0, "negative sampling needs a non-empty corpus")
            negativeIds = ws.tensor("loss.negatives", [p, r], .i32)
            backend.sampleNegatives(corpus: corpus, stream: stream, out: negativeIds, positions: p, negatives: r)
        case .placed(let stream, let placement):
            precondition(corpus.count > 0, "negative sampling needs a non-empty corpus")
            let runs = placement.supervisedRuns()
            precondition(runs.reduce(0) { $0 + $1.count } == p, "placement: supervised positions differ from the batch's")
            // Draw the global batch's negatives, keep this batch's rows.
            let pg = placement.globalPositions
            let global = ws.tensor("loss.globalNegatives", [pg, r], .i32)
            backend.sampleNegatives(corpus: corpus, stream: stream, out: global, positions: pg, negatives: r)
            negativeIds = ws.tensor("loss.negatives", [p, r], .i32)
            for run in runs {
                backend.copy(global.view(run.global * r, [run.count * r]), to: negativeIds.view(run.local * r, [run.count * r]))
            }
        }
        // When every row is supervised in order (HSTU's jagged rows), the outputs are the queries.
        let identity = device != nil ? p == rowCount
            : p == rowCount && rows.enumerated().allSatisfy { $0.offset == Int($0.element) }
        let rowIds = device?.rows ?? backend.upload(rows, shape: [p])
        let queries: Tensor, dQueries: Tensor
        if identity {
            queries = outputs; dQueries = dOutputs
        } else {
            queries = ws.tensor("loss.queries", [p, d]); dQueries = ws.tensor("loss.dQueries", [p, d])
            backend.embeddingForward(table: outputs, ids: rowIds, scale: 1, out: queries, rows: p, dim: d,
                                     accumulate: false)
            backend.fill(dQueries, 0)
        }
        let loss: Float
        switch config.loss {
        case .sampledSoftmax:
            loss = backend.sampledSoftmaxLoss(queries: queries, positiveIds: positiveIds, negativeIds: negativeIds,
                                              itemTable: table, positions: p, negatives: r, dim: d,
                                              temperature: config.temperature, l2Eps: config.l2Eps,
                                              dQueries: dQueries, dItemTable: dTable, cosines: nil)
        case .bce:
            loss = backend.bceLoss(queries: queries, positiveIds: positiveIds, negativeIds: negativeIds,
                                   itemTable: table, positions: p, dim: d, temperature: config.temperature,
                                   l2Eps: config.l2Eps, dQueries: dQueries, dItemTable: dTable)
        }
        if !identity {
            backend.embeddingBackward(dOut: dQueries, ids: rowIds, scale: 1, dTable: dOutputs, rows: p, dim: d,
                                      paddingId: nil)
        }
        return loss
    }
}
