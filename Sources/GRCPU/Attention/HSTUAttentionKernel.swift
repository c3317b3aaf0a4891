import GRCore

/// Fused jagged HSTU attention (spec §2.2 steps 3-4, relative bias §2.3), FlashAttention style:
/// scores exist only as one 32×32 tile (queries × keys) at a time, the bias is computed inside the
/// tile from the timestamps (once per tile, shared by all heads), and the backward recomputes the
/// tile. For sequence b (rows base ..< base + L of the jagged operands), head h, query i < L,
/// key j ≤ i:
///   s_ij = q_i · k_j + wPos[N − 1 + j − i] + wTs[bucket(T'[b, i+1] − T[b, j])]
///   a_ij = SiLU(s_ij) / N,   out_i = Σ_j a_ij v_j
/// Backward (dA_ij = dout_i · v_j, σ = sigmoid(s), SiLU'(s) = σ·(1 + s·(1 − σ))):
///   ds_ij = dA_ij · SiLU'(s_ij) / N
///   dv_j = Σ_i a_ij dout_i,  dq_i = Σ_j ds_ij k_j,  dk_j = Σ_i ds_ij q_i,
///   dwPos[N − 1 + j − i] += Σ_h ds_ij,  dwTs[bucket_ij] += Σ_h ds_ij.
/// Threads: the forward runs one work item per (sequence, query block) (all heads), heavier
/// blocks first; the backward one item per sequence. Each item writes disjoint rows, and the bias
/// gradients go to per-sequence partial buffers summed in sequence order, so results do not
/// depend on the thread count or scheduling.
struct HSTUAttentionKernel<S: AttentionScalar> {
    let q: UnsafePointer<S>, k: UnsafePointer<S>, v: UnsafePointer<S>
    let rowStride: Int
    let offsets: [Int]               // B + 1
    let timestamps: UnsafePointer<Int64>   // (B, N)
    let n: Int                       // N, padded width
    let positionWeights: UnsafePointer<S>  // (2N − 1)
    let timeWeights: UnsafePointer<S>      // (129)
    let heads: Int, dqk: Int, dv: Int
    let table: UnsafePointer<TimeBucket.Entry>
    let thresholds: UnsafePointer<UInt64>      // TimeBucket.thresholds (130)

    static var tile: Int { AttentionTile.size }
    var dqkPad: Int { AttentionTile.padded(dqk) }
    var dvPad: Int { AttentionTile.padded(dv) }
    var batch: Int { offsets.count - 1 }
    func length(_ b: Int) -> Int { offsets[b + 1] - offsets[b] }

    /// Whether sequence b's timestamps T[b, 0...min(L_b, N − 1)] (history and target) are
    /// non-decreasing and of moderate size (|t| ≤ 2⁶¹, so threshold arithmetic cannot wrap). Then
    /// every Δ = T'[i+1] − T[j] (j ≤ i) is ≥ 0 and monotone along a row or column of a tile, and the
    /// bias is filled run by run of equal buckets. Data from `gr data prepare` is always sorted;
    /// other input takes the per-element path, with the same result.
    func chronological(_ b: Int) -> Bool {
        let ts = timestamps + b * n, last = min(length(b), n - 1)
        let limit: Int64 = 1 << 61
        for x in 0...last where ts[x] > limit || ts[x] < -limit || (x < last && ts[x] > ts[x + 1]) { return false }
        return true
    }

    /// bias[r·32 + c] = wPos[N−1+j−i] + wTs[bucket] for i = i0+r (r < nq), j = j0+c (c < nk), j ≤ i;
    /// 0 elsewhere.
    @inline(__always)
    func biasTile(_ b: Int, i0: Int, nq: Int, j0: Int, nk: Int, chronological: Bool, _ bias: UnsafeMutablePointer<S>) {
        let ts = timestamps + b &* n, table = self.table, thresholds = self.thresholds, wTs = timeWeights
        for r in 0..<nq {
            let i = i0 &+ r
            let tq = ts[min(i &+ 1, n &- 1)]   // T' repeats the last column: T'[N] = T[N − 1]
            let row = bias + r &* 32
            let jEnd = max(min(nk, i &- j0 &+ 1), 0)   // keys j ≤ i
            let pos = positionWeights + (n &- 1 &- i &+ j0)
            let keys = ts + j0
            if jEnd > 0 {
                var bucket = TimeBucket.fastBucket(tq &- keys[0], table)
                if chronological {
                    // Δ_c = tq − keys[c] falls with c: the bucket stays while Δ ≥ thresholds[bucket].
                    var c = 0
                    while c < jEnd {
                        let limit = tq &- Int64(truncatingIfNeeded: thresholds[bucket])
                        var e = c &+ 1
                        while e < jEnd && keys[e] <= limit { e &+= 1 }
                        let w = wTs[bucket]
                        for x in c..<e { row[x] = pos[x] + w }
                        c = e
                        if c < jEnd { bucket = TimeBucket.bucket(tq &- keys[c], from: bucket, thresholds) }
                    }
                } else {
                    // The first key by the table, the rest by walking the thresholds from the
                    // neighbour's bucket.
                    for c in 0..<jEnd {
                        bucket = TimeBucket.bucket(tq &- keys[c], from: bucket, thresholds)
                        row[c] = pos[c] + wTs[bucket]
                    }
                }
            }
            for c in jEnd..<32 { row[c] = 0 }
        }
    }

    // MARK: forward

    func forward(out: UnsafeMutablePointer<S>) {
        let t = Self.tile
        // Pass 1: pack Kᵀ (Dqk, 32) and V (32, DvPad) of every key tile of every sequence and head
        // once, so that query blocks share them.
        var tileStart = [Int](repeating: 0, count: batch + 1)
        for b in 0..<batch { tileStart[b + 1] = tileStart[b] + (length(b) + t - 1) / t }
        let tiles = tileStart[batch]
        let ktSize = heads * dqk * t, vpSize = heads * t * dvPad
        var packed = AttentionScratch<S>(capacity: max(tiles, 1) * (ktSize + vpSize) + 8)
        defer { packed.free() }
        let ktAll = packed.take(tiles * ktSize), vpAll = packed.take(tiles * vpSize)
        let starts = tileStart
        Parallel.forEach(batch) { b in
            let base = offsets[b], L = length(b)
            for kb in 0..<(starts[b + 1] - starts[b]) {
                let j0 = kb * t, nk = min(t, L - j0), tileIndex = starts[b] + kb
                for h in 0..<heads {
                    AttentionTile.packTransposed(k + (base + j0) * rowStride + h * dqk, stride: rowStride,
                                                 count: nk, d: dqk, ktAll + tileIndex * ktSize + h * dqk * t)
                    AttentionTile.packRows(v + (base + j0) * rowStride + h * dv, stride: rowStride, count: nk,
                                           d: dv, dPad: dvPad, rows: t, vpAll + tileIndex * vpSize + h * t * dvPad)
                }
            }
        }
        // Pass 2: one item per (sequence, query block); causal: block I visits I + 1 key tiles,
        // so the expensive ones start first.
        var items: [(b: Int, block: Int)] = []
        for b in 0..<batch {
            for block in 0..<(tileStart[b + 1] - tileStart[b]) { items.append((b, block)) }
        }
        items.sort { ($0.block, $1.b) > ($1.block, $0.b) }
        let list = items
        let mask = AttentionTile.causalMask(S.self)
        defer { mask.deallocate() }
        Parallel.forEach(list.count) { idx in
            let (b, block) = list[idx]
            forwardBlock(b, block, kt: ktAll + starts[b] * ktSize, vp: vpAll + starts[b] * vpSize,
                         mask: mask, out: out)
        }
    }

    /// Query block `block` of sequence b; kt / vp: that sequence's packed key tiles.
    private func forwardBlock(_ b: Int, _ block: Int, kt: UnsafePointer<S>, vp: UnsafePointer<S>,
                              mask: UnsafePointer<S>, out: UnsafeMutablePointer<S>) {
        let t = Self.tile, L = length(b), base = offsets[b]
        let i0 = block * t, nq = min(t, L - i0)
        let dvPad = self.dvPad, ktSize = heads * dqk * t, vpSize = heads * t * dvPad
        var scratch = AttentionScratch<S>(capacity: AttentionScratch<S>.size([t * t, t * t, t * t, heads * t * dvPad]))
        defer { scratch.free() }
        let bias = scratch.take(t * t), sTile = scratch.take(t * t), aTile = scratch.take(t * t)
        let oAcc = scratch.take(heads * t * dvPad)
        oAcc.update(repeating: 0, count: heads * t * dvPad)
        let invN = 1 / S(n)
        let chronological = self.chronological(b)

        for kb in 0...block {
            let j0 = kb * t, nk = min(t, i0 + nq - j0)
            biasTile(b, i0: i0, nq: nq, j0: j0, nk: nk, chronological: chronological, bias)
            for h in 0..<heads {
                AttentionTile.dotRows(q + (base + i0) * rowStride + h * dqk, xStride: rowStride, rows: nq,
                                      d: dqk, kt + kb * ktSize + h * dqk * t, sTile)
                for r in 0..<nq {
                    for c in stride(from: 0, to: t, by: 8) {
                        let s = AttentionTile.load(sTile + r * t + c) + AttentionTile.load(bias + r * t + c)
                        AttentionTile.store(s * S.sigmoid(s) * invN, aTile + r * t + c)
                    }
                }
                if kb == block {   // diagonal tile (j0 == i0): causal mask, key j > query i → 0
                    AttentionTile.multiply(aTile, by: mask, rows: nq)
                }
                AttentionTile.axpyRows(aTile, coeffStride: t, rows: nq, count: nk, vp + kb * vpSize + h * t * dvPad,
                                       dPad: dvPad, oAcc + h * t * dvPad, accStride: dvPad)
            }
        }
        let outStride = heads * dv
        for h in 0..<heads {
            for r in 0..<nq {
                let row = out + ((base &+ i0 &+ r) &* outStride &+ h &* dv), from = oAcc + (h &* t &+ r) &* dvPad
                for x in 0..<dv { row[x] = from[x] }
            }
        }
    }

    // MARK: backward

    /// The transposed bias tile: biasT[c·32 + r] = bias of query i = i0 + r (r < nq) and key
    /// j = j0 + c (c < nk) when j ≤ i, else 0; bucketsT the bucket index at the same places.
    @inline(__always)
    /// positionWeightsReversed: wPos reversed (2N − 1), so that a row of fixed key reads it forwards.
    func biasTileTransposed(_ b: Int, i0: Int, nq: Int, j0: Int, nk: Int, chronological: Bool,
                            positionWeightsReversed: UnsafePointer<S>,
                            _ biasT: UnsafeMutablePointer<S>, _ bucketsT: UnsafeMutablePointer<Int32>) {
        let ts = timestamps + b &* n, table = self.table, thresholds = self.thresholds, wTs = timeWeights
        let last = n &- 1
        for c in 0..<nk {
            let j = j0 &+ c, tk = ts[j]
            let row = biasT + c &* 32, bucketRow = bucketsT + c &* 32
            let rStart = min(max(j &- i0, 0), nq)   // queries i ≥ j
            for r in 0..<rStart { row[r] = 0 }
            if rStart < nq {
                // pos[r] = wPos[N − 1 + j − i0 − r] = wPosReversed[N − 1 − j + i0 + r]
                let pos = positionWeightsReversed + (last &- j &+ i0)
                var bucket = TimeBucket.fastBucket(ts[min(i0 &+ rStart &+ 1, last)] &- tk, table)
                if chronological {
                    // Δ_r = T'[i0 + r + 1] − tk grows with r: the bucket stays while Δ < thresholds[bucket + 1].
                    var r = rStart
                    while r < nq {
                        var e = nq
                        if bucket < TimeBucket.maxBucket {
                            let limit = tk &+ Int64(truncatingIfNeeded: thresholds[bucket &+ 1])
                            e = r &+ 1
                            while e < nq && ts[min(i0 &+ e &+ 1, last)] < limit { e &+= 1 }
                        }
                        let w = wTs[bucket], index = Int32(truncatingIfNeeded: bucket)
                        for x in r..<e {
                            row[x] = pos[x] + w
                            bucketRow[x] = index
                        }
                        r = e
                        if r < nq { bucket = TimeBucket.bucket(ts[min(i0 &+ r &+ 1, last)] &- tk, from: bucket, thresholds) }
                    }
                } else {
                    for r in rStart..<nq {
                        bucket = TimeBucket.bucket(ts[min(i0 &+ r &+ 1, last)] &- tk, from: bucket, thresholds)
                        row[r] = pos[r] + wTs[bucket]
                        bucketRow[r] = Int32(truncatingIfNeeded: bucket)
                    }
                }
            }
            for r in nq..<32 { row[r] = 0 }
        }
    }

    /// dq, dk, dV: strided like q, k, v, overwritten. dPositionWeights (2N − 1), dTimeWeights (129): +=.
    func backward(dOut: UnsafePointer<S>, dq: UnsafeMutablePointer<S>, dk: UnsafeMutablePointer<S>,
                  dV: UnsafeMutablePointer<S>, dPositionWeights: UnsafeMutablePointer<S>,
                  dTimeWeights: UnsafeMutablePointer<S>) {
        let biasCount = 2 * n - 1 + TimeBucket.count
        var partialsScratch = AttentionScratch<S>(capacity: AttentionScratch<S>.size([max(batch * biasCount, 1)]), zeroed: true)
        defer { partialsScratch.free() }
        let partials = partialsScratch.take(max(batch * biasCount, 1))
        let order = (0..<batch).sorted { (length($0), $1) > (length($1), $0) }   // longest first
        let maskT = AttentionTile.causalMask(S.self, transposed: true)
        defer { maskT.deallocate() }
        let wPosReversed = UnsafeMutablePointer<S>.allocate(capacity: 2 * n - 1)
        defer { wPosReversed.deallocate() }
        for x in 0..<(2 * n - 1) { wPosReversed[x] = positionWeights[2 * n - 2 - x] }
        Parallel.forEach(order.count) { idx in
            let b = order[idx]
            backwardSequence(b, dOut: dOut, dq: dq, dk: dk, dV: dV, maskT: maskT, wPosReversed: wPosReversed,
                             dPos: partials + b * biasCount, dTs: partials + b * biasCount + 2 * n - 1)
        }
        for b in 0..<batch {   // fixed order: deterministic
            let p = partials + b * biasCount
            for x in 0..<(2 * n - 1) { dPositionWeights[x] += p[x] }
            for x in 0..<TimeBucket.count { dTimeWeights[x] += p[2 * n - 1 + x] }
        }
    }

    /// One sequence, all heads. Tiles are kept transposed (rows = keys c, columns = queries r) so
    /// that dV += Aᵀ·dO and dK += dSᵀ·Q read them as rows, and dQᵀ += Kᵀ·dSᵀ accumulates into a
    /// transposed dQ that is written out once at the end; no per-tile transposes.
    private func backwardSequence(_ b: Int, dOut: UnsafePointer<S>, dq: UnsafeMutablePointer<S>,
                                  dk: UnsafeMutablePointer<S>, dV: UnsafeMutablePointer<S>, maskT: UnsafePointer<S>,
                                  wPosReversed: UnsafePointer<S>,
                                  dPos: UnsafeMutablePointer<S>, dTs: UnsafeMutablePointer<S>) {
        let t = Self.tile, L = length(b), base = offsets[b]
        if L == 0 { return }
        let dqkPad = self.dqkPad, dvPad = self.dvPad, H = heads
        let blocks = (L + t - 1) / t, rowsPadded = blocks * t
        var scratch = AttentionScratch<S>(capacity: AttentionScratch<S>.size(
            [t * t, t * t, t * t, t * t, t * t, t * t, H * dqk * t,
             rowsPadded * H * dqkPad, rowsPadded * H * dvPad, blocks * H * dqk * t, blocks * H * dv * t,
             H * t * dqkPad, H * t * dvPad, blocks * H * dqk * t]))
        defer { scratch.free() }
        let biasT = scratch.take(t * t), sT = scratch.take(t * t), daT = scratch.take(t * t)
        let aT = scratch.take(t * t), dsT = scratch.take(t * t), gT = scratch.take(t * t)
        let kt = scratch.take(H * dqk * t)
        // Whole-sequence packs: Q and dO as rows (L, H, DPad); Qᵀ and dOᵀ per query tile (H, D, 32).
        let qpAll = scratch.take(rowsPadded * H * dqkPad), dopAll = scratch.take(rowsPadded * H * dvPad)
        let qtAll = scratch.take(blocks * H * dqk * t), dotAll = scratch.take(blocks * H * dv * t)
        let dkAcc = scratch.take(H * t * dqkPad), dvAcc = scratch.take(H * t * dvPad)
        let dqT = scratch.take(blocks * H * dqk * t)   // dQᵀ per query tile (H, Dqk, 32)
        dqT.update(repeating: 0, count: blocks * H * dqk * t)
        let bucketsT = UnsafeMutablePointer<Int32>.allocate(capacity: t * t)
        defer { bucketsT.deallocate() }
        let dPosRev = UnsafeMutablePointer<S>.allocate(capacity: 2 * n - 1)
        dPosRev.initialize(repeating: 0, count: 2 * n - 1)
        defer {
            for x in 0..<(2 * n - 1) { dPos[x] += dPosRev[2 * n - 2 - x] }
            dPosRev.deallocate()
        }
        let invN = 1 / S(n)
        let outStride = H * dv
        let chronological = self.chronological(b)
        for h in 0..<H {
            AttentionTile.packRows(q + base * rowStride + h * dqk, stride: rowStride, count: L, d: dqk,
                                   dPad: dqkPad, rows: L, qpAll + h * dqkPad, dstStride: H * dqkPad)
            AttentionTile.packRows(dOut + base * outStride + h * dv, stride: outStride, count: L, d: dv,
                                   dPad: dvPad, rows: L, dopAll + h * dvPad, dstStride: H * dvPad)
            for qb in 0..<blocks {
                let i0 = qb * t, nq = min(t, L - i0)
                AttentionTile.packTransposed(q + (base + i0) * rowStride + h * dqk, stride: rowStride, count: nq,
                                             d: dqk, qtAll + (qb * H + h) * dqk * t)
                AttentionTile.packTransposed(dOut + (base + i0) * outStride + h * dv, stride: outStride, count: nq,
                                             d: dv, dotAll + (qb * H + h) * dv * t)
            }
        }

        for kb in 0..<blocks {
            let j0 = kb * t, nk = min(t, L - j0)
            for h in 0..<H {
                AttentionTile.packTransposed(k + (base + j0) * rowStride + h * dqk, stride: rowStride, count: nk,
                                             d: dqk, kt + h * dqk * t)
            }
            dkAcc.update(repeating: 0, count: H * t * dqkPad)
            dvAcc.update(repeating: 0, count: H * t * dvPad)
            for qb in kb..<blocks {
                let i0 = qb * t, nq = min(t, L - i0)
                biasTileTransposed(b, i0: i0, nq: nq, j0: j0, nk: nk, chronological: chronological,
                                   positionWeightsReversed: wPosReversed, biasT, bucketsT)
                gT.update(repeating: 0, count: nk * t)
                for h in 0..<H {
                    // Sᵀ = K_J·Q_Iᵀ and dAᵀ = V_J·dO_Iᵀ (queries beyond L are zero columns)
                    AttentionTile.dotRows(k + (base + j0) * rowStride + h * dqk, xStride: rowStride, rows: nk,
                                          d: dqk, qtAll + (qb * H + h) * dqk * t, sT)
                    AttentionTile.dotRows(v + (base + j0) * rowStride + h * dv, xStride: rowStride, rows: nk,
                                          d: dv, dotAll + (qb * H + h) * dv * t, daT)
                    for o in stride(from: 0, to: nk * t, by: 8) {
                        let s = AttentionTile.load(sT + o) + AttentionTile.load(biasT + o)
                        let sg = S.sigmoid(s)
                        AttentionTile.store(s * sg * invN, aT + o)
                        AttentionTile.store(AttentionTile.load(daT + o) * sg * (1 + s * (1 - sg)) * invN, dsT + o)
                    }
                    if qb == kb {   // diagonal tile: causal mask, query i < key j → 0
                        AttentionTile.multiply(aT, by: maskT, rows: nk)
                        AttentionTile.multiply(dsT, by: maskT, rows: nk)
                    }
                    AttentionTile.add(dsT, to: gT, rows: nk)
                    // dV_J += Aᵀ·dO_I,  dK_J += dSᵀ·Q_I,  dQ_Iᵀ += K_Jᵀ·dSᵀ
                    AttentionTile.axpyRows(aT, coeffStride: t, rows: nk, count: nq,
                                           dopAll + i0 * H * dvPad + h * dvPad, dPad: dvPad, pStride: H * dvPad,
                                           dvAcc + h * t * dvPad, accStride: dvPad)
                    AttentionTile.axpyRows(dsT, coeffStride: t, rows: nk, count: nq,
                                           qpAll + i0 * H * dqkPad + h * dqkPad, dPad: dqkPad, pStride: H * dqkPad,
                                           dkAcc + h * t * dqkPad, accStride: dqkPad)
                    AttentionTile.dotRows(kt + h * dqk * t, xStride: t, rows: dqk, d: nk, dsT,
                                          dqT + (qb * H + h) * dqk * t, accumulate: true)
                }
                // dwPos[N − 1 + j − i] and dwTs[bucket] += Σ_h dS (j ≤ i < L only). dwPos is summed
                // reversed (dPosRev[N − 1 − j + i]: contiguous in i), dwTs once per run of equal
                // buckets along the row (runs are long for chronological timestamps).
                for c in 0..<nk {
                    let j = j0 &+ c, rStart = min(max(j &- i0, 0), nq)
                    let gRow = gT + c &* t, bRow = bucketsT + c &* t
                    let rev = dPosRev + (n &- 1 &- j &+ i0)
                    for r in rStart..<nq { rev[r] += gRow[r] }
                    var r = rStart
                    while r < nq {
                        let bucket = bRow[r]
                        var sum = gRow[r]
                        r &+= 1
                        while r < nq && bRow[r] == bucket { sum += gRow[r]; r &+= 1 }
                        dTs[Int(bucket)] += sum
                    }
                }
            }
            for h in 0..<H {
                for c in 0..<nk {
                    let dkRow = dk + ((base &+ j0 &+ c) &* rowStride &+ h &* dqk), dkFrom = dkAcc + (h &* t &+ c) &* dqkPad
                    for x in 0..<dqk { dkRow[x] = dkFrom[x] }
                    let dvRow = dV + ((base &+ j0 &+ c) &* rowStride &+ h &* dv), dvFrom = dvAcc + (h &* t &+ c) &* dvPad
                    for x in 0..<dv { dvRow[x] = dvFrom[x] }
                }
            }
        }
        for qb in 0..<blocks {
            let i0 = qb * t, nq = min(t, L - i0)
            for h in 0..<H {
                let tile = dqT + ((qb &* H &+ h) &* dqk &* t)
                let rows = dq + ((base &+ i0) &* rowStride &+ h &* dqk)
                for x in 0..<dqk {
                    let from = tile + x &* t
                    for r in 0..<nq { rows[r &* rowStride &+ x] = from[r] }
                }
            }
        }
    }
}
