import GRCore

extension Harness {
    /// The sampled-softmax item gradient at a table that needs several column slices
    /// (`gr_loss_scatter_slices`: V 3001, D 50 → slices of 13, 13, 13, 11 columns on a 227 KB
    /// device), with repeated ids, a collision and a zero row: CPU vs the slices kernel, and the
    /// slices kernel vs the one-atomic-per-term kernel on the device. dE starts from random values
    /// (the loss adds to the embedding gradient already there).
    mutating func lossScatter() -> [ParityResult] {
        let (vocab, dim, P, R) = (3001, 50, 389, 64)
        let (q, table) = lossOperands(positions: P, vocab: vocab, dim: dim, zeroRow: 7)
        var posV = ids(P, below: 40, from: 1)      // few distinct positives: many terms per row
        posV[0] = 7
        var negV = ids(P * R, below: vocab, from: 1)
        negV[5] = posV[0]                          // a collision
        let pos = pairIds(posV, [P]), neg = pairIds(negV, [P * R])
        let start = random(vocab * dim, scale: 0.01)
        let dE = pair(start, [vocab * dim])
        let atomic = gpu.upload(start, shape: [vocab * dim])
        let dq = pair([P * dim]), dqAtomic = gpu.upload([Float](repeating: 0, count: P * dim), shape: [P * dim])
        _ = cpuBackend.sampledSoftmaxLoss(queries: q.cpu, positiveIds: pos.cpu, negativeIds: neg.cpu, itemTable: table.cpu,
                                          positions: P, negatives: R, dim: dim, temperature: 0.05, l2Eps: 1e-6,
                                          dQueries: dq.cpu, dItemTable: dE.cpu, cosines: nil)
        let saved = gpu.itemGradientSlices
        gpu.itemGradientSlices = true
        _ = gpu.sampledSoftmaxLoss(queries: q.gpu, positiveIds: pos.gpu, negativeIds: neg.gpu, itemTable: table.gpu,
                                   positions: P, negatives: R, dim: dim, temperature: 0.05, l2Eps: 1e-6,
                                   dQueries: dq.gpu, dItemTable: dE.gpu, cosines: nil)
        gpu.itemGradientSlices = false
        _ = gpu.sampledSoftmaxLoss(queries: q.gpu, positiveIds: pos.gpu, negativeIds: neg.gpu, itemTable: table.gpu,
                                   positions: P, negatives: R, dim: dim, temperature: 0.05, l2Eps: 1e-6,
                                   dQueries: dqAtomic, dItemTable: atomic, cosines: nil)
        gpu.itemGradientSlices = saved
        let slicesVsAtomic = CUDAParity.relativeError(gpu.download(atomic), gpu.download(dE.gpu))
        return [check("sampled softmax dE (column slices, V 3001 D 50)", dE),
                check("sampled softmax dq (V 3001 D 50)", dq),
                ParityResult(name: "sampled softmax dE: slices = atomics (GPU)", error: slicesVsAtomic,
                             tolerance: CUDAParity.f32Tolerance)]
    }
}
