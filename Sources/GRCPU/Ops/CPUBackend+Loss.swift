import GRCore

extension CPUBackend {
    public func sampleNegatives(corpus: Tensor, stream: PhiloxStream, out: Tensor, positions: Int, negatives: Int) {
        checkIds(positions * negatives, out)
        precondition(corpus.dtype == .i32, "sampleNegatives: corpus must be i32, got \(corpus.dtype)")
        LossKernels.sampleNegatives(corpus.int32s, corpus.count, stream, out.int32s, positions * negatives)
    }

    public func sampledSoftmaxLoss(queries: Tensor, positiveIds: Tensor, negativeIds: Tensor, itemTable: Tensor,
                                   positions: Int, negatives: Int, dim: Int, temperature: Float, l2Eps: Float,
                                   dQueries: Tensor?, dItemTable: Tensor?, cosines: Tensor?) -> Float {
        check(positions * dim, queries); checkIds(positions, positiveIds); checkIds(positions * negatives, negativeIds)
        if let dQueries { check(positions * dim, dQueries) }
        if let dItemTable { check(itemTable.count, dItemTable) }
        if let cosines { check(positions * (negatives + 1), cosines) }
        return LossKernels.sampledSoftmax(
            q: queries.floats, pos: positiveIds.int32s, neg: negativeIds.int32s, table: itemTable.floats,
            vocab: itemTable.count / max(dim, 1), positions: positions, negatives: negatives, dim: dim,
            temperature: temperature, eps: l2Eps, dq: dQueries?.floats, dE: dItemTable?.floats, cosines: cosines?.floats)
    }

    public func bceLoss(queries: Tensor, positiveIds: Tensor, negativeIds: Tensor, itemTable: Tensor,
                        positions: Int, dim: Int, temperature: Float, l2Eps: Float,
                        dQueries: Tensor?, dItemTable: Tensor?) -> Float {
        check(positions * dim, queries); checkIds(positions, positiveIds); checkIds(positions, negativeIds)
        if let dQueries { check(positions * dim, dQueries) }
        if let dItemTable { check(itemTable.count, dItemTable) }
        return LossKernels.bce(
            q: queries.floats, pos: positiveIds.int32s, neg: negativeIds.int32s, table: itemTable.floats,
            vocab: itemTable.count / max(dim, 1), positions: positions, dim: dim, temperature: temperature,
            eps: l2Eps, dq: dQueries?.floats, dE: dItemTable?.floats)
    }
}
