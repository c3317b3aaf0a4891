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

    static var tile: Int { AttentionTile.size }
    var dqkPad: Int { AttentionTile.padded(dqk) }
    var dvPad: Int { AttentionTile.padded(dv) }
    var batch: Int { offsets.count - 1 }
    func length(_ b: Int) -> Int { offsets[b + 1] - offsets[b] }

    /// bias[r·32 + c] = wPos[N−1+j−i] + wTs[bucket] for i = i0+r (r < nq), j = j0+c (c < nk), j ≤ i;
    /// 0 elsewhere. buckets (optional) receives the bucket index at the same places.
    @inline(__always)
    func biasTile(_ b: Int, i0: Int, nq: Int, j0: Int, nk: Int, _ bias: UnsafeMutablePointer<S>,
                  _ buckets: UnsafeMutablePointer<Int32>?) {
        let ts = timestamps + b &* n, table = self.table, wTs = timeWeights
        for r in 0..<nq {
            let i = i0 &+ r
            let tq = ts[min(i &+ 1, n &- 1)]   // T' repeats the last column: T'[N] = T[N − 1]
            let row = bias + r &* 32
            let jEnd = max(min(nk, i &- j0 &+ 1), 0)   // keys j ≤ i
            let pos = positionWeights + (n &- 1 &- i &+ j0)
            let keys = ts + j0
            if let buckets {
                let bucketRow = buckets + r &* 32
                for c in 0..<jEnd {
                    let bucket = TimeBucket.fastBucket(tq &- keys[c], table)
                    row[c] = pos[c] + wTs[bucket]
                    bucketRow[c] = Int32(truncatingIfNeeded: bucket)
                }
            } else {
                for c in 0..<jEnd { row[c] = pos[c] + wTs[TimeBucket.fastBucket(tq &- keys[c], table)] }
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
        var scratch = AttentionScratch<S>(capacity: AttentionScratch<S>.size([t * t, t * t, t * t, heads * t * dvPad]),
                                          zeroed: true)
        defer { scratch.free() }
        let bias = scratch.take(t * t), sTile = scratch.take(t * t), aTile = scratch.take(t * t)
        let oAcc = scratch.take(heads * t * dvPad)
        let invN = 1 / S(n)

        for kb in 0...block {
            let j0 = kb * t, nk = min(t, i0 + nq - j0)
            biasTile(b, i0: i0, nq: nq, j0: j0, nk: nk, bias, nil)
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
                (out + (base + i0 + r) * outStride + h * dv).update(from: oAcc + h * t * dvPad + r * dvPad, count: dv)
            }
        }
    }

    // MARK: backward

    /// dq, dk, dV: strided like q, k, v, overwritten. dPositionWeights (2N − 1), dTimeWeights (129): +=.
    func backward(dOut: UnsafePointer<S>, dq: UnsafeMutablePointer<S>, dk: UnsafeMutablePointer<S>,
                  dV: UnsafeMutablePointer<S>, dPositionWeights: UnsafeMutablePointer<S>,
                  dTimeWeights: UnsafeMutablePointer<S>) {
        let biasCount = 2 * n - 1 + TimeBucket.count
        let partials = UnsafeMutablePointer<S>.allocate(capacity: max(batch * biasCount, 1))
        partials.initialize(repeating: 0, count: max(batch * biasCount, 1))
        defer { partials.deallocate() }
        let order = (0..<batch).sorted { (length($0), $1) > (length($1), $0) }   // longest first
        let mask = AttentionTile.causalMask(S.self)
        defer { mask.deallocate() }
        Parallel.forEach(order.count) { idx in
            let b = order[idx]
            backwardSequence(b, dOut: dOut, dq: dq, dk: dk, dV: dV, mask: mask,
                             dPos: partials + b * biasCount, dTs: partials + b * biasCount + 2 * n - 1)
        }
        for b in 0..<batch {   // fixed order: deterministic
            let p = partials + b * biasCount
            for x in 0..<(2 * n - 1) { dPositionWeights[x] += p[x] }
            for x in 0..<TimeBucket.count { dTimeWeights[x] += p[2 * n - 1 + x] }
        }
    }

    private func backwardSequence(_ b: Int, dOut: UnsafePointer<S>, dq: UnsafeMutablePointer<S>,
                                  dk: UnsafeMutablePointer<S>, dV: UnsafeMutablePointer<S>, mask: UnsafePointer<S>,
                                  dPos: UnsafeMutablePointer<S>, dTs: UnsafeMutablePointer<S>) {
        let t = Self.tile, L = length(b), base = offsets[b]
        if L == 0 { return }
        let dqkPad = self.dqkPad, dvPad = self.dvPad, H = heads
        let blocks = (L + t - 1) / t
        var scratch = AttentionScratch<S>(capacity: AttentionScratch<S>.size(
            [t * t, t * t, t * t, t * t, t * t, t * t, t * t, t * t,
             H * dqk * t, H * t * dqkPad, H * dv * t, blocks * t * H * dqkPad, blocks * t * H * dvPad,
             H * t * dqkPad, H * t * dvPad, L * H * dqkPad]))
        defer { scratch.free() }
        let bias = scratch.take(t * t), sTile = scratch.take(t * t), daTile = scratch.take(t * t)
        let aTile = scratch.take(t * t), atTile = scratch.take(t * t), dsTile = scratch.take(t * t)
        let dstTile = scratch.take(t * t), gTile = scratch.take(t * t)
        let kt = scratch.take(H * dqk * t), kp = scratch.take(H * t * dqkPad), vt = scratch.take(H * dv * t)
        // Q and dO of the whole sequence, packed once: (L, H, DqkPad) and (L, H, DvPad), zero rows after L.
        let qpAll = scratch.take(blocks * t * H * dqkPad), dopAll = scratch.take(blocks * t * H * dvPad)
        let dkAcc = scratch.take(H * t * dqkPad), dvAcc = scratch.take(H * t * dvPad)
        let dqAcc = scratch.take(L * H * dqkPad)
        dqAcc.initialize(repeating: 0, count: L * H * dqkPad)
        let buckets = UnsafeMutablePointer<Int32>.allocate(capacity: t * t)
        defer { buckets.deallocate() }
        let stride129 = AttentionTile.padded(TimeBucket.count)
        let dTs4 = UnsafeMutablePointer<S>.allocate(capacity: 4 * stride129)
        dTs4.initialize(repeating: 0, count: 4 * stride129)
        defer {
            for x in 0..<TimeBucket.count {
                dTs[x] += (dTs4[x] + dTs4[stride129 + x]) + (dTs4[2 * stride129 + x] + dTs4[3 * stride129 + x])
            }
            dTs4.deallocate()
        }
        let invN = 1 / S(n)
        let outStride = H * dv
        for h in 0..<H {
            AttentionTile.packRows(q + base * rowStride + h * dqk, stride: rowStride, count: L, d: dqk,
                                   dPad: dqkPad, rows: L, qpAll + h * dqkPad, dstStride: H * dqkPad)
            AttentionTile.packRows(dOut + base * outStride + h * dv, stride: outStride, count: L, d: dv,
                                   dPad: dvPad, rows: L, dopAll + h * dvPad, dstStride: H * dvPad)
        }

        for kb in 0..<blocks {
            let j0 = kb * t, nk = min(t, L - j0)
            for h in 0..<H {
                let kRows = k + (base + j0) * rowStride + h * dqk
                AttentionTile.packTransposed(kRows, stride: rowStride, count: nk, d: dqk, kt + h * dqk * t)
                AttentionTile.packRows(kRows, stride: rowStride, count: nk, d: dqk, dPad: dqkPad, rows: t,
                                       kp + h * t * dqkPad)
                AttentionTile.packTransposed(v + (base + j0) * rowStride + h * dv, stride: rowStride,
                                             count: nk, d: dv, vt + h * dv * t)
            }
            dkAcc.update(repeating: 0, count: H * t * dqkPad)
            dvAcc.update(repeating: 0, count: H * t * dvPad)
            for qb in kb..<blocks {
                let i0 = qb * t, nq = min(t, L - i0)
                biasTile(b, i0: i0, nq: nq, j0: j0, nk: nk, bias, buckets)
                gTile.update(repeating: 0, count: t * t)
                for h in 0..<H {
                    let qRows = q + (base + i0) * rowStride + h * dqk
                    let doRows = dOut + (base + i0) * outStride + h * dv
                    AttentionTile.dotRows(qRows, xStride: rowStride, rows: nq, d: dqk, kt + h * dqk * t, sTile)
                    AttentionTile.dotRows(doRows, xStride: outStride, rows: nq, d: dv, vt + h * dv * t, daTile)
                    for r in 0..<nq {
                        for c in stride(from: 0, to: t, by: 8) {
                            let o = r * t + c
                            let s = AttentionTile.load(sTile + o) + AttentionTile.load(bias + o)
                            let sg = S.sigmoid(s)
                            AttentionTile.store(s * sg * invN, aTile + o)
                            AttentionTile.store(AttentionTile.load(daTile + o) * sg * (1 + s * (1 - sg)) * invN, dsTile + o)
                        }
                    }
                    if qb == kb {   // diagonal tile (i0 == j0): causal mask, key j > query i → 0
                        AttentionTile.multiply(aTile, by: mask, rows: nq)
                        AttentionTile.multiply(dsTile, by: mask, rows: nq)
                    }
                    AttentionTile.add(dsTile, to: gTile, rows: nq)
                    for r in 0..<nq {
                        for c in 0..<nk {
                            atTile[c * t + r] = aTile[r * t + c]
                            dstTile[c * t + r] = dsTile[r * t + c]
                        }
                    }
                    AttentionTile.axpyRows(atTile, coeffStride: t, rows: nk, count: nq,
                                           dopAll + i0 * H * dvPad + h * dvPad, dPad: dvPad, pStride: H * dvPad,
                                           dvAcc + h * t * dvPad, accStride: dvPad)
                    AttentionTile.axpyRows(dstTile, coeffStride: t, rows: nk, count: nq,
                                           qpAll + i0 * H * dqkPad + h * dqkPad, dPad: dqkPad, pStride: H * dqkPad,
                                           dkAcc + h * t * dqkPad, accStride: dqkPad)
                    AttentionTile.axpyRows(dsTile, coeffStride: t, rows: nq, count: nk, kp + h * t * dqkPad,
                                           dPad: dqkPad, dqAcc + i0 * H * dqkPad + h * dqkPad,
                                           accStride: H * dqkPad)
                }
                for r in 0..<nq {
                    let i = i0 &+ r, cEnd = min(nk, i &- j0 &+ 1)
                    let gRow = gTile + r &* t, bRow = buckets + r &* t
                    let pos = dPos + (n &- 1 &+ j0 &- i)
                    for c in 0..<cEnd { pos[c] += gRow[c] }
                    // Four interleaved copies of the 129 time-bias sums: neighbouring keys often share
                    // a bucket, and one table would serialise on its store-to-load chain.
                    var c = 0
                    while c &+ 4 <= cEnd {
                        dTs4[Int(bRow[c])] += gRow[c]
                        dTs4[stride129 &+ Int(bRow[c &+ 1])] += gRow[c &+ 1]
                        dTs4[2 &* stride129 &+ Int(bRow[c &+ 2])] += gRow[c &+ 2]
                        dTs4[3 &* stride129 &+ Int(bRow[c &+ 3])] += gRow[c &+ 3]
                        c &+= 4
                    }
                    while c < cEnd { dTs4[Int(bRow[c])] += gRow[c]; c &+= 1 }
                }
            }
            for h in 0..<H {
                for c in 0..<nk {
                    (dk + (base + j0 + c) * rowStride + h * dqk).update(from: dkAcc + h * t * dqkPad + c * dqkPad, count: dqk)
                    (dV + (base + j0 + c) * rowStride + h * dv).update(from: dvAcc + h * t * dvPad + c * dvPad, count: dv)
                }
            }
        }
        for r in 0..<L {
            for h in 0..<H {
                (dq + (base + r) * rowStride + h * dqk).update(from: dqAcc + r * H * dqkPad + h * dqkPad, count: dqk)
            }
        }
    }
}
