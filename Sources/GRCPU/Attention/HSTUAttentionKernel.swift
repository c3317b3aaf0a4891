import GRCore
#if arch(x86_64)
import GRCPUAVX512
#endif

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

    /// Tile k (0 ..< ⌈L/32⌉) of a sequence of length L, as (first row, rows). The 32-row tiles are
    /// aligned to the END of the sequence, so the one partial tile (L mod 32 rows) is tile 0. Under
    /// the causal mask, query block I meets key tiles 0...I: a partial query block (queries are the
    /// SIMD lanes: its unused lanes are wasted work) then meets only itself, and a partial key tile
    /// costs only its rows. (With the partial tile last, a sequence of 200 did 19% more lane work.)
    @inline(__always)
    func tileRange(_ k: Int, _ L: Int) -> (start: Int, count: Int) {
        let shift = (32 &- L % 32) % 32
        let start = max(0, 32 &* k &- shift), end = min(L, 32 &* (k &+ 1) &- shift)
        return (start, end &- start)
    }

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

    /// Zero entries on each side of the reversed position-weight tables (`PositionTable`), so that a
    /// bias row can read (and a gradient row add to) 32 consecutive entries without bounds checks.
    static var positionPad: Int { AttentionTile.size }

    /// tq[r] = T'[b, i0 + r + 1] for r < nq (T' repeats the last column: T'[N] = T[N − 1]),
    /// Int64.max for nq ≤ r < 32 (so that counting the queries below a time limit stops at nq).
    func queryTimes(_ b: Int, i0: Int, nq: Int, _ tq: UnsafeMutablePointer<Int64>) {
        let ts = timestamps + b &* n, last = n &- 1
        for r in 0..<32 { tq[r] = r < nq ? ts[min(i0 &+ r &+ 1, last)] : .max }
    }

    /// The transposed bias tile of query block i0 (nq queries) and key tile j0 (nk keys):
    /// biasT[c·32 + r] = wPos[N − 1 + j − i] + wTs[bucket(T'[i+1] − T[j])] for i = i0 + r (r < nq),
    /// j = j0 + c (c < nk), j ≤ i; 0 elsewhere in rows c < nk (rows ≥ nk are not written).
    /// positionsReversed: wPos reversed, padded (`PositionTable`), so a row reads it forwards;
    /// tq: `queryTimes` of the block. Along a row (fixed key) Δ grows with r for chronological
    /// sequences, so the buckets come in runs: each run adds its wTs entry to a copy of the
    /// position row through 0/1 lane masks (SIMD, no per-element stores); other input takes runs of
    /// length one from the per-element threshold walk, with the same result. The runs are recorded
    /// in `runs` (for the bias gradient). f32 with AVX-512: `AttentionTileAVX512.biasRow` does the
    /// chronological tiles whose time deltas fit in Int32 (`biasTileSpans`: one SIMD compare and blend
    /// per bucket threshold a row crosses, no per-run branches; same values; the rows' bucket spans
    /// are recorded instead of runs, `runs.spans` = 1).
    @inline(__always)
    func biasTileTransposed(_ b: Int, i0: Int, nq: Int, j0: Int, nk: Int, chronological: Bool,
                            positionsReversed: UnsafePointer<S>, tq: UnsafePointer<Int64>,
                            lanes: UnsafePointer<SIMD8<S>>, _ biasT: UnsafeMutablePointer<S>, runs: BiasRuns) {
        let ts = timestamps + b &* n, table = self.table, thresholds = self.thresholds, wTs = timeWeights
        let posBase = positionsReversed + (Self.positionPad &+ n &- 1 &+ i0)
        runs.spans.pointee = 0
        #if arch(x86_64)
        if S.self == Float.self && AttentionTile.useAVX512 && chronological && nq > 0
            && tq[nq &- 1] &- ts[j0] < Int64(Int32.max) {
            runs.spans.pointee = 1
            AttentionTileAVX512.biasTileSpans(
                tq: tq, nq: nq, keyTimes: ts + j0, nk: nk, keyOffset: j0 &- i0, maxBucket: TimeBucket.maxBucket,
                thresholds: thresholds, timeWeights: UnsafeRawPointer(wTs).assumingMemoryBound(to: Float.self),
                posBase: UnsafeRawPointer(posBase - j0).assumingMemoryBound(to: Float.self),
                UnsafeMutableRawPointer(biasT).assumingMemoryBound(to: Float.self), spans: runs.buckets)
            return
        }
        #endif
        for c in 0..<nk {
            let j = j0 &+ c, tk = ts[j]
            let row = biasT + c &* 32
            let rStart = min(max(j &- i0, 0), nq)   // queries i ≥ j
            // pos[r] = wPos[N − 1 + j − i0 − r] = wPosReversed[N − 1 − j + i0 + r]
            let pos = posBase - j
            for x in stride(from: 0, to: 32, by: 8) { AttentionTile.store(AttentionTile.load(pos + x), row + x) }
            var count = 0
            if rStart < nq {
                var bucket = TimeBucket.fastBucket(tq[rStart] &- tk, table)
                var r = rStart
                while r < nq {
                    var e = r &+ 1
                    if chronological {
                        // Δ_r = tq[r] − tk grows with r: the bucket stays while Δ < thresholds[bucket + 1].
                        if bucket < TimeBucket.maxBucket {
                            let limit = tk &+ Int64(truncatingIfNeeded: thresholds[bucket &+ 1])
                            while e < nq && tq[e] < limit { e &+= 1 }
                        } else {
                            e = nq
                        }
                    }
                    AttentionTile.addMasked(wTs[bucket], to: row, from: r, to: e, lanes: lanes)
                    runs.starts[c &* 33 &+ count] = Int32(truncatingIfNeeded: r)
                    runs.buckets[c &* 32 &+ count] = Int32(truncatingIfNeeded: bucket)
                    count &+= 1
                    r = e
                    if r < nq { bucket = TimeBucket.bucket(tq[r] &- tk, from: bucket, thresholds) }
                }
                runs.starts[c &* 33 &+ count] = Int32(truncatingIfNeeded: nq)
            }
            runs.counts[c] = Int32(truncatingIfNeeded: count)
            AttentionTile.keepLanes(row, from: rStart, to: nq, lanes: lanes)
        }
    }

    /// wPos reversed into a padded table: table[positionPad + x] = wPos[2N − 2 − x], zeros around.
    func reversedPositions(_ weights: UnsafePointer<S>) -> UnsafeMutablePointer<S> {
        let pad = Self.positionPad, count = 2 * n - 1
        let table = UnsafeMutablePointer<S>.allocate(capacity: count + 2 * pad)
        table.initialize(repeating: 0, count: count + 2 * pad)
        for x in 0..<count { table[pad + x] = weights[count - 1 - x] }
        return table
    }

    // MARK: forward

    func forward(out: UnsafeMutablePointer<S>) {
        let t = Self.tile
        var tileStart = [Int](repeating: 0, count: batch + 1)
        for b in 0..<batch { tileStart[b + 1] = tileStart[b] + (length(b) + t - 1) / t }
        // One item per (sequence, query block); causal: block I visits I + 1 key tiles,
        // so the expensive ones start first.
        var items: [(b: Int, block: Int)] = []
        for b in 0..<batch {
            for block in 0..<(tileStart[b + 1] - tileStart[b]) { items.append((b, block)) }
        }
        items.sort { ($0.block, $1.b) > ($1.block, $0.b) }
        let list = items
        let maskT = AttentionTile.causalMask(S.self, transposed: true)
        let lanes = AttentionTile.laneMasks(S.self)
        let wPosReversed = reversedPositions(positionWeights)
        defer { maskT.deallocate(); lanes.deallocate(); wPosReversed.deallocate() }
        Parallel.forEach(list.count) { idx in
            let (b, block) = list[idx]
            forwardBlock(b, block, maskT: maskT, lanes: lanes,
                         wPosReversed: wPosReversed, out: out)
        }
    }

    /// Query block `block` of sequence b, transposed (rows = keys, columns = queries):
    /// Sᵀ = K_J·Q_Iᵀ, Aᵀ = SiLU(Sᵀ + biasᵀ)/N, Oᵀ += V_Jᵀ·Aᵀ for key tiles J ≤ I, so both products
    /// are `dotRows` with the 32 queries as SIMD lanes (no Dv padding); K and V are read in place
    /// (V transposed: column x of the key tile is row x of V_Jᵀ), only Q_Iᵀ is packed.
    private func forwardBlock(_ b: Int, _ block: Int, maskT: UnsafePointer<S>,
                              lanes: UnsafePointer<SIMD8<S>>, wPosReversed: UnsafePointer<S>,
                              out: UnsafeMutablePointer<S>) {
        let t = Self.tile, L = length(b), base = offsets[b]
        let (i0, nq) = tileRange(block, L)
        var scratch = AttentionScratch<S>(capacity: AttentionScratch<S>.size(
            [t * t, t * t, t * t, heads * dqk * t, heads * dv * t, t * 2, BiasRuns.size]))
        defer { scratch.free() }
        let biasT = scratch.take(t * t), sT = scratch.take(t * t), aT = scratch.take(t * t)
        let qT = scratch.take(heads * dqk * t), oT = scratch.take(heads * dv * t)
        let tq = UnsafeMutableRawPointer(scratch.take(t * 2)).bindMemory(to: Int64.self, capacity: t)
        let runs = BiasRuns(UnsafeMutableRawPointer(scratch.take(BiasRuns.size)))
        oT.update(repeating: 0, count: heads * dv * t)
        for h in 0..<heads {
            AttentionTile.packTransposed(q + (base + i0) * rowStride + h * dqk, stride: rowStride, count: nq,
                                         d: dqk, qT + h * dqk * t)
        }
        queryTimes(b, i0: i0, nq: nq, tq)
        let invN = 1 / S(n)
        let chronological = self.chronological(b)

        for kb in 0...block {
            let (j0, nk) = tileRange(kb, L)
            biasTileTransposed(b, i0: i0, nq: nq, j0: j0, nk: nk, chronological: chronological,
                               positionsReversed: wPosReversed, tq: tq, lanes: lanes, biasT, runs: runs)
            for h in 0..<heads {
                AttentionTile.dotRows(k + (base + j0) * rowStride + h * dqk, xStride: rowStride, rows: nk,
                                      d: dqk, qT + h * dqk * t, sT)
                AttentionTile.siluForward(sT, biasT, count: nk * t, scale: invN, aT)
                if kb == block {   // diagonal tile (j0 == i0): causal mask, query i < key j → 0
                    AttentionTile.multiply(aT, by: maskT, rows: nk)
                }
                AttentionTile.dotRows(v + (base + j0) * rowStride + h * dv, xStride: 1, xColStride: rowStride,
                                      rows: dv, d: nk, aT, oT + h * dv * t, accumulate: true)
            }
        }
        let outStride = heads * dv
        for h in 0..<heads {
            let tile = oT + h &* dv &* t
            let rows = out + ((base &+ i0) &* outStride &+ h &* dv)
            for x in 0..<dv {
                let from = tile + x &* t
                for r in 0..<nq { rows[r &* outStride &+ x] = from[r] }
            }
        }
    }

    // MARK: backward

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
        let lanes = AttentionTile.laneMasks(S.self)
        let wPosReversed = reversedPositions(positionWeights)
        defer { maskT.deallocate(); lanes.deallocate(); wPosReversed.deallocate() }
        Parallel.forEach(order.count) { idx in
            let b = order[idx]
            backwardSequence(b, dOut: dOut, dq: dq, dk: dk, dV: dV, maskT: maskT, lanes: lanes,
                             wPosReversed: wPosReversed,
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
                                  lanes: UnsafePointer<SIMD8<S>>, wPosReversed: UnsafePointer<S>,
                                  dPos: UnsafeMutablePointer<S>, dTs: UnsafeMutablePointer<S>) {
        let t = Self.tile, L = length(b), base = offsets[b]
        if L == 0 { return }
        let dqkPad = self.dqkPad, dvPad = self.dvPad, H = heads
        let blocks = (L + t - 1) / t, rowsPadded = blocks * t
        var scratch = AttentionScratch<S>(capacity: AttentionScratch<S>.size(
            [t * t, t * t, t * t, t * t, t * t, t * t,
             rowsPadded * H * dqkPad, rowsPadded * H * dvPad, blocks * H * dqk * t, blocks * H * dv * t,
             H * t * dqkPad, H * t * dvPad, blocks * H * dqk * t, TimeBucket.count * 16, 2 * n - 1 + 2 * Self.positionPad,
             t * 2, BiasRuns.size]))
        defer { scratch.free() }
        let biasT = scratch.take(t * t), sT = scratch.take(t * t), daT = scratch.take(t * t)
        let aT = scratch.take(t * t), dsT = scratch.take(t * t), gT = scratch.take(t * t)
        // Whole-sequence packs: Q and dO as rows (L, H, DPad); Qᵀ and dOᵀ per query tile (H, D, 32).
        let qpAll = scratch.take(rowsPadded * H * dqkPad), dopAll = scratch.take(rowsPadded * H * dvPad)
        let qtAll = scratch.take(blocks * H * dqk * t), dotAll = scratch.take(blocks * H * dv * t)
        let dkAcc = scratch.take(H * t * dqkPad), dvAcc = scratch.take(H * t * dvPad)
        let dqT = scratch.take(blocks * H * dqk * t)   // dQᵀ per query tile (H, Dqk, 32)
        dqT.update(repeating: 0, count: blocks * H * dqk * t)
        // dwTs: one 16-lane partial sum per bucket (SIMD adds of masked gradient chunks), reduced at
        // the end; dwPos: reversed and padded like wPosReversed, so rows add 32 lanes at once (the
        // gradient tile is zero outside the causal part).
        let tsAcc = scratch.take(TimeBucket.count * 16), pad = Self.positionPad
        tsAcc.update(repeating: 0, count: TimeBucket.count * 16)
        let dPosRev = scratch.take(2 * n - 1 + 2 * pad)
        dPosRev.update(repeating: 0, count: 2 * n - 1 + 2 * pad)
        let tq = UnsafeMutableRawPointer(scratch.take(t * 2)).bindMemory(to: Int64.self, capacity: t)
        let runs = BiasRuns(UnsafeMutableRawPointer(scratch.take(BiasRuns.size)))
        defer {
            for x in 0..<(2 * n - 1) { dPos[x] += dPosRev[pad + 2 * n - 2 - x] }
            for x in 0..<TimeBucket.count {
                var sum = S(0)
                for l in 0..<16 { sum += tsAcc[x * 16 + l] }
                dTs[x] += sum
            }
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
                let (i0, nq) = tileRange(qb, L)
                AttentionTile.packTransposed(q + (base + i0) * rowStride + h * dqk, stride: rowStride, count: nq,
                                             d: dqk, qtAll + (qb * H + h) * dqk * t)
                AttentionTile.packTransposed(dOut + (base + i0) * outStride + h * dv, stride: outStride, count: nq,
                                             d: dv, dotAll + (qb * H + h) * dv * t)
            }
        }

        for kb in 0..<blocks {
            let (j0, nk) = tileRange(kb, L)
            dkAcc.update(repeating: 0, count: H * t * dqkPad)
            dvAcc.update(repeating: 0, count: H * t * dvPad)
            for qb in kb..<blocks {
                let (i0, nq) = tileRange(qb, L)
                queryTimes(b, i0: i0, nq: nq, tq)
                biasTileTransposed(b, i0: i0, nq: nq, j0: j0, nk: nk, chronological: chronological,
                                   positionsReversed: wPosReversed, tq: tq, lanes: lanes, biasT, runs: runs)
                // Σ_h dSᵀ (one head: dSᵀ itself)
                let g = H == 1 ? dsT : gT
                if H > 1 { gT.update(repeating: 0, count: nk * t) }
                for h in 0..<H {
                    // Sᵀ = K_J·Q_Iᵀ and dAᵀ = V_J·dO_Iᵀ (queries beyond L are zero columns)
                    AttentionTile.dotRows(k + (base + j0) * rowStride + h * dqk, xStride: rowStride, rows: nk,
                                          d: dqk, qtAll + (qb * H + h) * dqk * t, sT)
                    AttentionTile.dotRows(v + (base + j0) * rowStride + h * dv, xStride: rowStride, rows: nk,
                                          d: dv, dotAll + (qb * H + h) * dv * t, daT)
                    AttentionTile.siluBackward(sT, biasT, daT, count: nk * t, scale: invN, aT, dsT)
                    if qb == kb {   // diagonal tile: causal mask, query i < key j → 0
                        AttentionTile.multiply(aT, by: maskT, rows: nk)
                        AttentionTile.multiply(dsT, by: maskT, rows: nk)
                    }
                    if H > 1 { AttentionTile.add(dsT, to: gT, rows: nk) }
                    // dV_J += Aᵀ·dO_I,  dK_J += dSᵀ·Q_I,  dQ_Iᵀ += K_Jᵀ·dSᵀ
                    AttentionTile.axpyRows(aT, coeffStride: t, rows: nk, count: nq,
                                           dopAll + i0 * H * dvPad + h * dvPad, dPad: dvPad, pStride: H * dvPad,
                                           dvAcc + h * t * dvPad, accStride: dvPad)
                    AttentionTile.axpyRows(dsT, coeffStride: t, rows: nk, count: nq,
                                           qpAll + i0 * H * dqkPad + h * dqkPad, dPad: dqkPad, pStride: H * dqkPad,
                                           dkAcc + h * t * dqkPad, accStride: dqkPad)
                    AttentionTile.dotRows(k + (base + j0) * rowStride + h * dqk, xStride: 1, xColStride: rowStride,
                                          rows: dqk, d: nk, dsT,
                                          dqT + (qb * H + h) * dqk * t, accumulate: true)
                }
                // dwPos[N − 1 + j − i] and dwTs[bucket] += Σ_h dS (j ≤ i < L only: gT is 0 elsewhere).
                // dwPos is summed reversed (dPosRev[N − 1 − j + i]: contiguous in i), dwTs by runs.
                for c in 0..<nk {
                    let gRow = g + c &* t
                    let rev = dPosRev + (pad &+ n &- 1 &- (j0 &+ c) &+ i0)
                    for x in stride(from: 0, to: 32, by: 8) {
                        AttentionTile.store(AttentionTile.load(rev + x) + AttentionTile.load(gRow + x), rev + x)
                    }
                    if runs.spans.pointee == 0 {
                        AttentionTile.accumulateRuns(gRow, runs: runs, row: c, lanes: lanes, into: tsAcc)
                    }
                }
                #if arch(x86_64)
                if runs.spans.pointee != 0 {
                    AttentionTileAVX512.accumulateSpans(
                        UnsafeRawPointer(g).assumingMemoryBound(to: Float.self), tq: tq, nq: nq,
                        keyTimes: timestamps + b * n + j0, nk: nk, thresholds: thresholds, spans: runs.buckets,
                        UnsafeMutableRawPointer(tsAcc).assumingMemoryBound(to: Float.self))
                }
                #endif
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
            let (i0, nq) = tileRange(qb, L)
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
