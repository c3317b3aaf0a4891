import GRCore
import GRCPU

extension CUDABackend: DeferredLossOps {
    public func sampleNegatives(corpus: Tensor, stream: PhiloxStream, out: Tensor, positions: Int, negatives: Int) {
        let count = positions * negatives
        precondition(corpus.count > 0 || count == 0, "cannot sample negatives from an empty corpus")
        context.launch("gr_sample_negatives", blocks: blocks(count),
                       [.ptr(corpus), .i(corpus.count), .ptr(out), .i(count), .u(stream.seed), .u(streamID(stream))])
    }

    /// Per-row 1/max(‖E_v‖, eps) and the clamp flags (V) in scratch buffers.
    func rowInverseNorms(_ table: Tensor, vocab: Int, dim: Int, eps: Float) -> (Tensor, Tensor) {
        let inv = scratchTensor("loss.inv", vocab, .f32), clamped = scratchTensor("loss.clamped", vocab, .f32)
        context.launch("gr_row_inv_norms", blocks: (vocab * 32 + 255) / 256, block: 256,
                       [.ptr(table), .i(vocab), .i(dim), .f(eps), .ptr(inv), .ptr(clamped)])
        return (inv, clamped)
    }

    /// Σ losses in f32 in position order (as the CPU), after a download (synchronises).
    func sumLosses(_ losses: Tensor) -> Float {
        var total: Float = 0
        for x in download(losses) { total += x }
        return total
    }

    /// The loss `scale · Σ losses[0..<n]`: summed on the host after a download, or — while
    /// deferring (`DeferredLossOps`) — reduced on the device into the next slot of the deferred
    /// list (no host wait; 0 is returned).
    func finishLoss(_ losses: Tensor, count n: Int, scale: Float) -> Float {
        guard deferringLosses else { return sumLosses(losses.view(0, [n])) * scale }
        let slot = deferredSlot()
        context.launch("gr_loss_reduce", blocks: 1, block: 1024, [.ptr(losses), .i(n), .f(scale), .ptr(slot)])
        return 0
    }

    /// A device float for the next deferred loss (the list grows by doubling).
    func deferredSlot() -> Tensor {
        let capacity = deferredLosses?.count ?? 0
        if deferredCount == capacity {
            let grown = empty([max(1024, 2 * capacity)], .f32)
            if let old = deferredLosses { copy(old, to: grown.view(0, [capacity])) }
            deferredLosses = grown
        }
        deferredCount += 1
        return deferredLosses!.view(deferredCount - 1, [1])
    }

    public var deferringLosses: Bool {
        get { deferring }
        set { deferring = newValue }
    }

    public func takeDeferredLosses() -> [Float] {
        guard let list = deferredLosses, deferredCount > 0 else { return [] }
        let out = download(list.view(0, [deferredCount]))
        deferredCount = 0
        return out
    }

    public func sampledSoftmaxLoss(queries: Tensor, positiveIds: Tensor, negativeIds: Tensor, itemTable: Tensor,
                                   positions: Int, negatives: Int, dim: Int, temperature: Float, l2Eps: Float,
                                   dQueries: Tensor?, dItemTable: Tensor?, cosines: Tensor?) -> Float {
        let P = positions, R = negatives, C = R + 1
        if P == 0 { return 0 }
        let vocab = itemTable.count / max(dim, 1)
        let (inv, clamped) = rowInverseNorms(itemTable, vocab: vocab, dim: dim, eps: l2Eps)
        let losses = scratchTensor("loss.losses", P, .f32)
        let wantGrad = dQueries != nil || dItemTable != nil
        let coefA = dItemTable != nil ? scratchTensor("loss.coefA", P * C, .f32) : nil
        let coefB = dItemTable != nil ? scratchTensor("loss.coefB", P * C, .f32) : nil
        let invP = 1 / Float(P)
        context.launch("gr_ssm_fwd", blocks: P, block: 128, shared: 4 * C * 4,
                       [.ptr(queries), .ptr(positiveIds), .ptr(negativeIds), .ptr(itemTable), .ptr(inv), .ptr(clamped),
                        .i(P), .i(R), .i(dim), .f(1 / temperature), .f(invP), .f(Float(LossKernels.collisionLogit)),
                        .ptr(losses), .ptr(coefA), .ptr(coefB), .ptr(dQueries), .ptr(cosines), .i(wantGrad ? 1 : 0)])
        if let dItemTable, let coefA, let coefB {
            scatterItemGradient(queries: queries, positiveIds: positiveIds, negativeIds: negativeIds, itemTable: itemTable,
                                coefA: coefA, coefB: coefB, dItemTable: dItemTable, positions: P, negatives: R,
                                vocab: vocab, dim: dim)
        }
        return finishLoss(losses, count: P, scale: invP)
    }

    public func bceLoss(queries: Tensor, positiveIds: Tensor, negativeIds: Tensor, itemTable: Tensor,
                        positions: Int, dim: Int, temperature: Float, l2Eps: Float,
                        dQueries: Tensor?, dItemTable: Tensor?) -> Float {
        let P = positions
        if P == 0 { return 0 }
        let pos = downloadInt32(positiveIds.view(0, [P])), neg = downloadInt32(negativeIds.view(0, [P]))
        var wsum = 0
        for p in 0..<P where neg[p] != pos[p] { wsum += 1 }
        if wsum == 0 { return 0 }
        let invW = 1 / Float(wsum)
        let losses = scratchTensor("loss.losses", P, .f32)
        let coefA = dItemTable != nil ? scratchTensor("loss.coefA", P * 2, .f32) : nil
        let coefB = dItemTable != nil ? scratchTensor("loss.coefB", P * 2, .f32) : nil
        context.launch("gr_bce_fwd", blocks: blocks(P),
                       [.ptr(queries), .ptr(positiveIds), .ptr(negativeIds), .ptr(itemTable), .i(P), .i(dim),
                        .f(1 / temperature), .f(invW), .f(l2Eps), .ptr(losses), .ptr(coefA), .ptr(coefB), .ptr(dQueries)])
        if let dItemTable, let coefA, let coefB {
            context.launch("gr_loss_scatter", blocks: blocks(P * 2 * dim),
                           [.ptr(queries), .ptr(positiveIds), .ptr(negativeIds), .ptr(itemTable), .ptr(coefA), .ptr(coefB),
                            .ptr(dItemTable), .i(P), .i(1), .i(dim)])
        }
        let loss = sumLosses(losses) * invW   // BCE already waited for the ids above
        if deferringLosses { copy(Tensor([loss], shape: [1]), to: deferredSlot()) }
        return deferringLosses ? 0 : loss
    }
}
