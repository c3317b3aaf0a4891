import GRCore

/// Causal multi-head softmax attention for SASRec (spec §3 step 2, the core of PyTorch's
/// `nn.MultiheadAttention` between the in- and out-projections), on padded sequences.
/// For batch row b, head h (columns h·Dh ..< (h+1)·Dh, Dh = D/H), query i, key j ≤ i (all N rows):
///   p_ij = exp(z_ij − max_j z) / Σ_j exp(z_ij − max_j z),  z_ij = (q_i · k_j) / √Dh
///   p'_ij = p_ij · m_ij,  m_ij = keep_ij / (1 − dropout)   (attention-probability dropout)
///   out_i = Σ_j p'_ij v_j
/// Backward:  dp'_ij = dout_i · v_j,  dv_j = Σ_i p'_ij dout_i,  dp_ij = dp'_ij m_ij,
///   dz_ij = p_ij (dp_ij − Σ_j' p_ij' dp_ij'),  dq_i = Σ_j dz_ij k_j / √Dh,  dk_j = Σ_i dz_ij q_i / √Dh.
/// One work item per (b, h); the N × N rows of one item live in that item's scratch (SASRec saves
/// the probabilities anyway, so there is nothing to gain from tiling them away).
struct SoftmaxAttentionKernel<S: AttentionScalar> {
    let q: UnsafePointer<S>, k: UnsafePointer<S>, v: UnsafePointer<S>
    let rowStride: Int
    let batch: Int, n: Int, dim: Int, heads: Int
    let dropout: Float
    let stream: PhiloxStream?

    var dh: Int { dim / heads }
    var dhPad: Int { AttentionTile.padded(dh) }
    /// N rounded up to whole key tiles.
    var np: Int { (n + AttentionTile.size - 1) / AttentionTile.size * AttentionTile.size }
    var scale: S { 1 / S(dh).squareRoot() }
    var dropping: Bool { stream != nil && dropout > 0 }

    /// mult[j] = keep_ij / (1 − p) for j ≤ i (all 1 without dropout); keep_ij iff
    /// uniform(((b·H + h)·N + i)·N + j) ≥ p, i.e. (word >> 8) ≥ ⌈p·2²⁴⌉ on the Philox word
    /// (uniform = (word >> 8)·2⁻²⁴ exactly); words drawn 32 at a time by `PhiloxBatch`.
    @inline(__always)
    func dropoutRow(b: Int, h: Int, i: Int, _ mult: UnsafeMutablePointer<S>) {
        guard let stream, dropout > 0 else {
            mult.update(repeating: 1, count: i + 1)
            return
        }
        let inv = 1 / (1 - S(dropout))
        let threshold = UInt32((Double(dropout) * 16_777_216).rounded(.up))
        let start = ((b * heads + h) * n + i) * n
        PhiloxBatch(stream).forEachGroup(in: start..<(start + i + 1)) { lo, hi, words in
            for x in lo..<hi { mult[x &- start] = (words[x] >> 8) >= threshold ? inv : 0 }
        }
    }

    // MARK: forward

    /// probs (B, H, N, N) and out (B, N, D) contiguous, overwritten.
    func forward(probs: UnsafeMutablePointer<S>, out: UnsafeMutablePointer<S>) {
        Parallel.forEach(batch * heads) { item in
            forwardItem(b: item / heads, h: item % heads, probs: probs, out: out)
        }
    }

    private func forwardItem(b: Int, h: Int, probs: UnsafeMutablePointer<S>, out: UnsafeMutablePointer<S>) {
        let t = AttentionTile.size, np = self.np, dh = self.dh, dhPad = self.dhPad
        let blocks = np / t
        var scratch = AttentionScratch<S>(capacity: AttentionScratch<S>.size(
            [blocks * dh * t, np * dhPad, n * np, np, n * dhPad]), zeroed: true)
        defer { scratch.free() }
        let kt = scratch.take(blocks * dh * t), vp = scratch.take(np * dhPad), scores = scratch.take(n * np)
        let mult = scratch.take(np), oAcc = scratch.take(n * dhPad)
        let qh = q + b * n * rowStride + h * dh, kh = k + b * n * rowStride + h * dh
        let vh = v + b * n * rowStride + h * dh
        for kb in 0..<blocks {
            let j0 = kb * t
            AttentionTile.packTransposed(kh + j0 * rowStride, stride: rowStride, count: max(0, min(t, n - j0)),
                                         d: dh, kt + kb * dh * t)
        }
        AttentionTile.packRows(vh, stride: rowStride, count: n, d: dh, dPad: dhPad, rows: np, vp)
        for qb in 0..<blocks where qb * t < n {
            let i0 = qb * t, nq = min(t, n - i0)
            for kb in 0...qb {
                AttentionTile.dotRows(qh + i0 * rowStride, xStride: rowStride, rows: nq, d: dh,
                                      kt + kb * dh * t, scores + i0 * np + kb * t, outStride: np)
            }
        }
        let scale = self.scale
        let prefix = AttentionTile.prefixMasks(S.self)
        for i in 0..<n {
            let row = scores + i * np
            let count = i + 1
            var m = row[0]
            for j in 1..<count { m = max(m, row[j]) }
            var sum: S = 0
            for j in stride(from: 0, to: count, by: 8) {
                var z = (AttentionTile.load(row + j) - m) * scale
                if count - j < 8 { z *= prefix[count - j] }   // keys after i: exp(0), zeroed below
                var e = S.exp(z)
                if count - j < 8 { e *= prefix[count - j] }   // lanes j ≥ count (keys after i) → 0
                AttentionTile.store(e, row + j)
                sum += e.sum()
            }
            let inv = 1 / sum
            let prow = probs + ((b * heads + h) * n + i) * n
            dropoutRow(b: b, h: h, i: i, mult)
            for j in 0..<count {
                let p = row[j] * inv
                prow[j] = p
                row[j] = p * mult[j]
            }
            for j in count..<n { prow[j] = 0 }
            for j in count..<np { row[j] = 0 }
        }
        for qb in 0..<blocks where qb * t < n {
            let i0 = qb * t, nq = min(t, n - i0)
            AttentionTile.axpyRows(scores + i0 * np, coeffStride: np, rows: nq, count: i0 + nq, vp, dPad: dhPad,
                                   oAcc + i0 * dhPad, accStride: dhPad)
        }
        for i in 0..<n {
            (out + (b * n + i) * dim + h * dh).update(from: oAcc + i * dhPad, count: dh)
        }
    }

    // MARK: backward

    /// dOut (B, N, D) contiguous, probs as saved; dq, dk, dV strided like q, k, v, overwritten.
    func backward(dOut: UnsafePointer<S>, probs: UnsafePointer<S>, dq: UnsafeMutablePointer<S>,
                  dk: UnsafeMutablePointer<S>, dV: UnsafeMutablePointer<S>) {
        Parallel.forEach(batch * heads) { item in
            backwardItem(b: item / heads, h: item % heads, dOut: dOut, probs: probs, dq: dq, dk: dk, dV: dV)
        }
    }

    private func backwardItem(b: Int, h: Int, dOut: UnsafePointer<S>, probs: UnsafePointer<S>,
                              dq: UnsafeMutablePointer<S>, dk: UnsafeMutablePointer<S>, dV: UnsafeMutablePointer<S>) {
        let t = AttentionTile.size, np = self.np, dh = self.dh, dhPad = self.dhPad
        let blocks = np / t
        var scratch = AttentionScratch<S>(capacity: AttentionScratch<S>.size(
            [blocks * dh * t, np * dhPad, np * dhPad, np * dhPad, n * np, n * np, np * np, np * np, np,
             n * dhPad, np * dhPad, np * dhPad]), zeroed: true)
        defer { scratch.free() }
        let vt = scratch.take(blocks * dh * t), kp = scratch.take(np * dhPad), qp = scratch.take(np * dhPad)
        let dop = scratch.take(np * dhPad), dpp = scratch.take(n * np), ds = scratch.take(n * np)
        let ppT = scratch.take(np * np), dsT = scratch.take(np * np), mult = scratch.take(np)
        let dqAcc = scratch.take(n * dhPad), dkAcc = scratch.take(np * dhPad), dvAcc = scratch.take(np * dhPad)
        let rows = b * n * rowStride + h * dh
        let qh = q + rows, kh = k + rows, vh = v + rows
        let doh = dOut + b * n * dim + h * dh
        for kb in 0..<blocks {
            let j0 = kb * t
            AttentionTile.packTransposed(vh + j0 * rowStride, stride: rowStride, count: max(0, min(t, n - j0)),
                                         d: dh, vt + kb * dh * t)
        }
        AttentionTile.packRows(kh, stride: rowStride, count: n, d: dh, dPad: dhPad, rows: np, kp)
        AttentionTile.packRows(qh, stride: rowStride, count: n, d: dh, dPad: dhPad, rows: np, qp)
        AttentionTile.packRows(doh, stride: dim, count: n, d: dh, dPad: dhPad, rows: np, dop)
        for qb in 0..<blocks where qb * t < n {   // dp' = dout · vᵀ (j ≤ i blocks)
            let i0 = qb * t, nq = min(t, n - i0)
            for kb in 0...qb {
                AttentionTile.dotRows(doh + i0 * dim, xStride: dim, rows: nq, d: dh, vt + kb * dh * t,
                                      dpp + i0 * np + kb * t, outStride: np)
            }
        }
        let scale = self.scale
        for i in 0..<n {
            let prow = probs + ((b * heads + h) * n + i) * n
            let dprow = dpp + i * np, dsrow = ds + i * np
            dropoutRow(b: b, h: h, i: i, mult)
            var rho: S = 0
            for j in 0...i {
                let dp = dprow[j] * mult[j]
                dprow[j] = dp
                rho += prow[j] * dp
                ppT[j * np + i] = prow[j] * mult[j]
            }
            for j in 0...i {
                let dz = prow[j] * (dprow[j] - rho) * scale
                dsrow[j] = dz
                dsT[j * np + i] = dz
            }
            for j in (i + 1)..<np { dsrow[j] = 0 }
        }
        for kb in 0..<blocks where kb * t < n {
            let j0 = kb * t, nk = min(t, n - j0)
            // dv_j = Σ_{i ≥ j} p'_ij dout_i ; dk_j = Σ_{i ≥ j} dz_ij q_i (entries i < j are zero)
            AttentionTile.axpyRows(ppT + j0 * np + j0, coeffStride: np, rows: nk, count: n - j0,
                                   dop + j0 * dhPad, dPad: dhPad, dvAcc + j0 * dhPad, accStride: dhPad)
            AttentionTile.axpyRows(dsT + j0 * np + j0, coeffStride: np, rows: nk, count: n - j0,
                                   qp + j0 * dhPad, dPad: dhPad, dkAcc + j0 * dhPad, accStride: dhPad)
            // dq_i = Σ_{j ≤ i} dz_ij k_j for the query block at the same place
            AttentionTile.axpyRows(ds + j0 * np, coeffStride: np, rows: nk, count: j0 + nk, kp, dPad: dhPad,
                                   dqAcc + j0 * dhPad, accStride: dhPad)
        }
        for i in 0..<n {
            (dq + b * n * rowStride + i * rowStride + h * dh).update(from: dqAcc + i * dhPad, count: dh)
            (dk + b * n * rowStride + i * rowStride + h * dh).update(from: dkAcc + i * dhPad, count: dh)
            (dV + b * n * rowStride + i * rowStride + h * dh).update(from: dvAcc + i * dhPad, count: dh)
        }
    }
}
