import Foundation
import GRCore
import GRCPU
import GRModels

/// HSTU's eval forward (spec §2) for serving: B users' windows in one jagged (T, D) activation,
/// T = Σ L_b, no padding; per layer l (W = 2·H·Dv + 2·H·Dqk):
///
///     X̂ = LN(X); [U|V|Q|K] = SiLU(X̂·W_uvqk)                   (T, W)   one GEMM for the batch, SiLU fused
///     O = HSTUAttention(Q, K, V)                                  (T, H·Dv) the CPU tile kernel
///     Y = (U ⊙ LN(O))·W_oᵀ + b_o + X                              (T, D)   one GEMM for the batch
///
/// Only each user's last row (L_b − 1) is returned (its L2-normalised output), so the **last
/// layer** runs the UVQK product's K and V column blocks for every row (the attention's keys) and
/// everything else — U and Q, the attention row, LN(O), the output product, the residual — for the
/// B last rows only. Nothing is kept for a backward. Same values as `userEmbeddings` (the training
/// model's eval forward) up to float rounding (`BatchedForwardTests`).
final class BatchedHSTU: BatchedEncoder {
    /// LayerNorm eps of both HSTU norms (spec §2.2 steps 1 and 5).
    static let layerNormEps: Float = 1e-6

    let config: ModelConfig
    let dim: Int, heads: Int, dqk: Int, dv: Int, paddedWidth: Int
    var keyWidth: Int { heads * dqk }
    var valueWidth: Int { heads * dv }
    var uvqkWidth: Int { 2 * heads * dv + 2 * heads * dqk }

    /// Layer l's parameters (arena views, looked up once) and its products' weights.
    struct Layer {
        let uvqk: LayerWeight       // (D, W), C = X̂·W
        let out: LayerWeight        // (D, H·Dv) stored, C = G·W_oᵀ
        let timeWeights: Tensor, positionWeights: Tensor, outBias: Tensor
        /// wPos reversed and padded for the fused attention (`FusedHSTUAttention.reversedPositions`).
        let positionsReversed: [Float]
    }
    let layers: [Layer]
    let itemTable: UnsafeMutablePointer<Float>, positionTable: UnsafeMutablePointer<Float>
    let backend: any Backend
    let scratches = ScratchPool()
    var precision: InferencePrecision { layers[0].uvqk.precision }

    init(_ model: any SequentialRecommender, precision: InferencePrecision) {
        let c = model.config
        config = c
        heads = c.heads; dqk = c.dqk; dv = c.dv; dim = c.itemDim; paddedWidth = c.paddedWidth
        backend = model.backend
        typealias P = ParameterNames.HSTU
        let p = model.parameters, d = c.itemDim, w = 2 * c.heads * c.dv + 2 * c.heads * c.dqk, hv = c.heads * c.dv
        layers = (0..<c.blocks).map { l in
            Layer(uvqk: LayerWeight(p.value(P.uvqk(l)).floats, k: d, n: w, transposed: false, precision: precision,
                                    columnBlocks: l == c.blocks - 1 ? [hv ..< 2 * hv, 2 * hv + c.heads * c.dqk ..< w] : []),
                  out: LayerWeight(p.value(P.outWeight(l)).floats, k: hv, n: d, transposed: true, precision: precision),
                  timeWeights: p.value(P.timeWeights(l)), positionWeights: p.value(P.positionWeights(l)),
                  outBias: p.value(P.outBias(l)),
                  positionsReversed: FusedHSTUAttention.reversedPositions(p.value(P.positionWeights(l)).floats,
                                                                          n: c.paddedWidth))
        }
        itemTable = p.value(ParameterNames.itemEmbedding).floats
        positionTable = p.value(ParameterNames.positionalEmbedding).floats
    }

    func forwardChunk(_ sequences: ArraySlice<BatchedSequence>, scratch: ScratchBuffers, profile: OpProfile?) -> [Float] {
        let bsz = sequences.count
        if bsz == 0 { return [] }
        let rows = JaggedRows(sequences), t = rows.total
        let d = dim, w = uvqkWidth, hv = valueWidth, kw = keyWidth, n = paddedWidth
        precondition(sequences.allSatisfy { $0.ids.count < n }, "BatchedHSTU: a window longer than N − 1 = \(n - 1)")
        var x = scratch.floats("x", t * d), y = scratch.floats("y", t * d)
        let xn = scratch.floats("xn", t * d), act = scratch.floats("act", t * w)
        let o = scratch.tensor("o", [t, hv]), g = scratch.floats("g", t * hv)
        let mean = scratch.floats("mean", t), rstd = scratch.floats("rstd", t)
        let timestamps = scratch.tensor("timestamps", [bsz, n], dtype: .i64)
        profile.time("input embedding") {
            BatchedMath.inputEmbedding(sequences, rows: rows, table: itemTable, positions: positionTable, dim: d, out: x)
            let ts = timestamps.int64s
            for (b, s) in sequences.enumerated() {
                let row = ts + b * n
                s.timestamps.withUnsafeBufferPointer { row.update(from: $0.baseAddress!, count: s.ids.count) }
                row[s.ids.count] = s.targetTimestamp
                (row + s.ids.count + 1).update(repeating: 0, count: n - s.ids.count - 1)
            }
        }
        let layout = JaggedLayout(lengths: sequences.map(\.ids.count))
        // The fused attention's time buckets: once per chunk, shared by every layer.
        let fused = FusedHSTUAttention.enabled
        let bucketOffsets = fused ? FusedHSTUAttention.bucketOffsets(rows) : []
        let buckets = scratch.bytes("buckets", fused ? bucketOffsets.last! : 0)
        let attentionScratch = scratch.floats("attention", fused ? FusedHSTUAttention.scratchFloats(heads: heads, dqk: dqk, dv: dv) : 0)
        if fused {
            profile.time("time buckets") {
                FusedHSTUAttention.buckets(rows: rows, offsets: bucketOffsets, timestamps: timestamps.int64s, n: n, into: buckets)
            }
        }
        for p in layers.dropLast() {
            profile.time("layernorm") {
                InferenceKernels.layerNormRows(x, nil, ldu: 0, xn, mean: mean, rstd: rstd, rows: t, cols: d, eps: Self.layerNormEps)
            }
            profile.time("uvqk gemm + silu") { p.uvqk.multiply(xn, rows: t, lda: d, into: act, ldc: w, accumulate: false, silu: true) }
            profile.time("attention") {
                if fused {
                    FusedHSTUAttention.forward(q: act + 2 * hv, k: act + 2 * hv + kw, v: act + hv, rowStride: w, rows: rows,
                                               buckets: buckets, bucketOffsets: bucketOffsets,
                                               positionsReversed: p.positionsReversed, timeWeights: p.timeWeights.floats,
                                               n: n, heads: heads, dqk: dqk, dv: dv, scratch: attentionScratch, out: o.floats)
                    return
                }
                let a = Tensor(storage: Storage(address: UnsafeMutableRawPointer(act), byteCount: 4 * t * w, device: .cpu,
                                                release: nil), shape: [t, w], dtype: .f32)
                backend.hstuAttentionForward(q: a.view(2 * hv, [t * w - 2 * hv]), k: a.view(2 * hv + kw, [t * w - 2 * hv - kw]),
                                             v: a.view(hv, [t * w - hv]), rowStride: w, layout: layout, timestamps: timestamps,
                                             positionWeights: p.positionWeights, timeWeights: p.timeWeights, heads: heads,
                                             dqk: dqk, dv: dv, paddedWidth: n, out: o)
            }
            profile.time("layernorm × u") {
                InferenceKernels.layerNormRows(o.floats, act, ldu: w, g, mean: mean, rstd: rstd, rows: t, cols: hv, eps: Self.layerNormEps)
            }
            profile.time("residual + bias") { BatchedMath.residualBias(x, bias: p.outBias.floats, rows: t, cols: d, out: y) }
            profile.time("out gemm") { p.out.multiply(g, rows: t, lda: hv, into: y, ldc: d, accumulate: true) }
            swap(&x, &y)
        }
        return lastLayer(rows: rows, x: x, timestamps: timestamps.int64s, scratch: scratch, profile: profile)
    }

    /// The last layer for each user's last row: K and V of every row (the keys it attends to),
    /// then U, Q, attention, LN, output product and residual of B rows; returns the (B, D)
    /// L2-normalised outputs.
    private func lastLayer(rows: JaggedRows, x: UnsafeMutablePointer<Float>, timestamps: UnsafeMutablePointer<Int64>,
                           scratch: ScratchBuffers, profile: OpProfile?) -> [Float] {
        let p = layers[layers.count - 1], bsz = rows.count, t = rows.total
        let d = dim, w = uvqkWidth, hv = valueWidth, kw = keyWidth
        let xn = scratch.floats("xn", t * d), act = scratch.floats("act", t * w)
        let mean = scratch.floats("mean", t), rstd = scratch.floats("rstd", t)
        let lastX = scratch.floats("lastX", bsz * d), lastXn = scratch.floats("lastXn", bsz * d)
        let lastAct = scratch.floats("lastAct", bsz * w), lastO = scratch.floats("lastO", bsz * hv)
        let lastG = scratch.floats("lastG", bsz * hv), lastU = scratch.floats("lastU", bsz * hv)
        let lastY = scratch.floats("lastY", bsz * d)
        profile.time("layernorm") {
            InferenceKernels.layerNormRows(x, nil, ldu: 0, xn, mean: mean, rstd: rstd, rows: t, cols: d, eps: Self.layerNormEps)
            for b in 0..<bsz {
                (lastX + b * d).update(from: x + rows.last(b) * d, count: d)
                (lastXn + b * d).update(from: xn + rows.last(b) * d, count: d)
            }
        }
        profile.time("uvqk gemm + silu") {
            // Keys and values of every row: column blocks V = [H·Dv, 2·H·Dv) and K = [2·H·Dv + H·Dqk, W).
            p.uvqk.multiply(xn, rows: t, lda: d, columns: hv ..< 2 * hv, into: act + hv, ldc: w, silu: true)
            p.uvqk.multiply(xn, rows: t, lda: d, columns: 2 * hv + kw ..< w, into: act + 2 * hv + kw, ldc: w, silu: true)
            // All four blocks of the last rows.
            p.uvqk.multiply(lastXn, rows: bsz, lda: d, into: lastAct, ldc: w, accumulate: false, silu: true)
        }
        profile.time("attention") {
            lastRowAttention(rows: rows, act: act, lastAct: lastAct, timestamps: timestamps,
                             positionWeights: p.positionWeights.floats, timeWeights: p.timeWeights.floats, out: lastO)
        }
        profile.time("layernorm × u") {
            for b in 0..<bsz { (lastU + b * hv).update(from: lastAct + b * w, count: hv) }
            InferenceKernels.layerNormRows(lastO, lastU, ldu: hv, lastG, mean: mean, rstd: rstd, rows: bsz, cols: hv, eps: Self.layerNormEps)
        }
        profile.time("residual + bias") { BatchedMath.residualBias(lastX, bias: p.outBias.floats, rows: bsz, cols: d, out: lastY) }
        profile.time("out gemm") { p.out.multiply(lastG, rows: bsz, lda: hv, into: lastY, ldc: d, accumulate: true) }
        return profile.time("l2 normalize") { BatchedMath.l2Normalized(lastY, rows: bsz, dim: d, eps: config.l2Eps) }
    }

    /// O (B, H·Dv) at each user's last row i = L − 1 (spec §2.2–2.3, the tile kernel's formula for
    /// one query): a_j = SiLU(q_i·k_j + w_pos[N − 1 + j − i] + w_ts[bucket(T[L] − T[j])]) / N for
    /// j ≤ i, o = Σ_j a_j v_j, T[L] the target-slot timestamp. q from `lastAct` (B, W), k and v
    /// from `act` (T, W). Users run in parallel.
    private func lastRowAttention(rows: JaggedRows, act: UnsafeMutablePointer<Float>, lastAct: UnsafeMutablePointer<Float>,
                                  timestamps: UnsafeMutablePointer<Int64>, positionWeights: UnsafeMutablePointer<Float>,
                                  timeWeights: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        let w = uvqkWidth, hv = valueWidth, kw = keyWidth, n = paddedWidth, dqk = dqk, dv = dv, heads = heads
        let invN = 1 / Float(n)
        TimeBucket.table.withUnsafeBufferPointer { table in
            let table = table.baseAddress!
            Parallel.forRanges(rows.count, minChunk: 4) { users in
                let bias = UnsafeMutablePointer<Float>.allocate(capacity: n)
                let a = UnsafeMutablePointer<Float>.allocate(capacity: n)
                defer { bias.deallocate(); a.deallocate() }
                for b in users {
                    let len = rows.length(b), base = act + rows.offsets[b] * w, i = len - 1
                    let ts = timestamps + b * n, tq = ts[len]
                    for j in 0..<len {
                        bias[j] = positionWeights[n - 1 + j - i] + timeWeights[TimeBucket.fastBucket(tq &- ts[j], table)]
                    }
                    for h in 0..<heads {
                        let q = lastAct + b * w + 2 * hv + h * dqk
                        InferenceKernels.dots(q, base + 2 * hv + kw + h * dqk, stride: w, count: len, dqk, into: a)
                        for j in 0..<len { a[j] += bias[j] }
                        InferenceKernels.siluScaled(a, len, scale: invN)
                        let o = out + b * hv + h * dv
                        o.initialize(repeating: 0, count: dv)
                        for j in 0..<len { InferenceKernels.axpy(a[j], base + j * w + hv + h * dv, o, dv) }
                    }
                }
            }
        }
    }
}

/// Row-wise pieces shared by the batched encoders.
enum BatchedMath {
    /// x⁰ (T, D) = E[id]·√D + P[position] (spec §2.1; ids ≥ 1, so the padding mask is 1).
    static func inputEmbedding(_ sequences: ArraySlice<BatchedSequence>, rows: JaggedRows, table: UnsafePointer<Float>,
                               positions: UnsafePointer<Float>, dim d: Int, out: UnsafeMutablePointer<Float>) {
        let scale = Float(d).squareRoot()
        for (b, s) in sequences.enumerated() {
            for (pos, id) in s.ids.enumerated() {
                let e = table + Int(id) * d, p = positions + pos * d, x = out + (rows.offsets[b] + pos) * d
                for c in 0..<d { x[c] = e[c] * scale + p[c] }
            }
        }
    }

    /// out (rows, cols) = x + bias (per column).
    static func residualBias(_ x: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows: Int, cols: Int,
                             out: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let xr = x + r * cols, o = out + r * cols
            for c in 0..<cols { o[c] = xr[c] + bias[c] }
        }
    }

    /// The rows of y (rows, D), L2-normalised: y / max(‖y‖, eps) (spec §2.4, `l2NormalizeForward`).
    static func l2Normalized(_ y: UnsafeMutablePointer<Float>, rows: Int, dim d: Int, eps: Float) -> [Float] {
        var out = [Float](repeating: 0, count: rows * d), norms = [Float](repeating: 0, count: rows)
        out.withUnsafeMutableBufferPointer { o in
            norms.withUnsafeMutableBufferPointer { nrm in
                NormKernels.l2NormalizeForward(y, o.baseAddress!, nrm.baseAddress!, rows, d, eps)
            }
        }
        return out
    }
}
