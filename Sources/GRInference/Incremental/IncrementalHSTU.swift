import Foundation
import GRCore
import GRModels
import GRCPU

/// HSTU's eval forward (spec §2) on new tokens against cached keys/values. Per layer l and new
/// token m (M tokens, D dim, H heads, W = 2·H·Dv + 2·H·Dqk):
///
///     X̂ = LN(X); [U|V|Q|K] = SiLU(X̂·W_uvqk)                      (M, W)
///     O_m = Σ_j SiLU(q_m·k_j + w_pos[N−1 + pos_j − pos_m] + w_ts[bucket(tq_m − tk_j)]) / N · v_j
///     Y = (U ⊙ LN(O))·W_oᵀ + b_o + X
///
/// j runs over the state's rows (cached K, V of positions 0..<R) and, by `AttentionMode`, the new
/// tokens 0...m (append) or m itself (M-FALCON candidate). Exact because HSTU attention is
/// pointwise (no softmax over the row), causal, and normalised by the constant N: a row's output
/// depends on earlier rows only through their K and V. The one subtlety — row i's query uses the
/// timestamp of row i + 1 (spec §2.3), the target slot for the last row — is the caller's:
/// `Recommender` recomputes the previously last row on every append.
struct IncrementalHSTU: IncrementalEncoder {
    /// LayerNorm eps of both HSTU norms (spec §2.2 steps 1 and 5).
    static let layerNormEps: Float = 1e-6

    let model: any SequentialRecommender
    var config: ModelConfig { model.config }
    let heads: Int, dqk: Int, dv: Int, dim: Int, paddedWidth: Int
    var keyWidth: Int { heads * dqk }
    var valueWidth: Int { heads * dv }
    var uvqkWidth: Int { 2 * heads * dv + 2 * heads * dqk }

    /// Layer l's parameters (arena views, looked up once).
    struct Layer {
        let uvqk: Tensor, timeWeights: Tensor, positionWeights: Tensor, outWeight: Tensor, outBias: Tensor
    }
    let layers: [Layer]

    init(_ model: any SequentialRecommender) {
        self.model = model
        let c = model.config
        heads = c.heads; dqk = c.dqk; dv = c.dv; dim = c.itemDim; paddedWidth = c.paddedWidth
        typealias P = ParameterNames.HSTU
        let p = model.parameters
        layers = (0..<c.blocks).map { l in
            Layer(uvqk: p.value(P.uvqk(l)), timeWeights: p.value(P.timeWeights(l)), positionWeights: p.value(P.positionWeights(l)),
                  outWeight: p.value(P.outWeight(l)), outBias: p.value(P.outBias(l)))
        }
    }

    func forward(_ tokens: NewTokens, state: inout KVState, mode: AttentionMode) -> [Float] {
        let m = tokens.count, d = dim, w = uvqkWidth, hv = valueWidth, kw = keyWidth
        let backend = model.backend, prefix = state.rows
        if m == 0 { return [] }
        if mode == .append {
            state.ids.append(contentsOf: tokens.ids)
            state.timestamps.append(contentsOf: tokens.keyTimestamps)
            state.userVector = []
        }
        let buckets = timeBuckets(tokens, state: state, mode: mode, prefix: prefix)
        var x = EncoderMath.inputEmbedding(tokens, model: model)
        var y = Tensor(zeros: [m, d])
        let xn = Tensor(zeros: [m, d]), mean = Tensor(zeros: [m]), rstd = Tensor(zeros: [m])
        let act = Tensor(zeros: [m, w])
        let o = Tensor(zeros: [m, hv]), g = Tensor(zeros: [m, hv])
        for (l, p) in layers.enumerated() {
            backend.layerNormForward(x: x, out: xn, mean: mean, rstd: rstd, rows: m, cols: d, eps: Self.layerNormEps)
            EncoderMath.gemm(backend, transB: false, m: m, n: w, k: d, a: xn, lda: d, b: p.uvqk, ldb: w, beta: 0, c: act,
                             ldc: w)
            InferenceSiLU.apply(act.floats, m * w)   // in place; AVX2/AVX-512 when the CPU has it
            if mode == .append {
                EncoderMath.appendRows(&state.keys[l], act.floats + 2 * hv + kw, rows: m, width: kw, stride: w)
                EncoderMath.appendRows(&state.values[l], act.floats + hv, rows: m, width: hv, stride: w)
            }
            if m >= Self.gemmAttentionRows {
                attentionGEMM(tokens, state: state, layer: l, mode: mode, prefix: prefix, act: act, buckets: buckets,
                              positionWeights: p.positionWeights.floats, timeWeights: p.timeWeights.floats, out: o)
            } else {
                attention(tokens, state: state, layer: l, mode: mode, prefix: prefix, act: act.floats, buckets: buckets,
                          positionWeights: p.positionWeights.floats, timeWeights: p.timeWeights.floats, out: o.floats)
            }
            backend.layerNormMulForward(x: o, u: act, ldu: w, out: g, mean: mean, rstd: rstd, rows: m, cols: hv,
                                        eps: Self.layerNormEps)
            backend.copy(x, to: y)
            EncoderMath.gemm(backend, transB: true, m: m, n: d, k: hv, a: g, lda: hv, b: p.outWeight, ldb: hv, beta: 1, c: y,
                             ldc: d)
            backend.addBias(x: y, bias: p.outBias, rows: m, cols: d)
            swap(&x, &y)
        }
        let out = EncoderMath.normalizedOutputs(x, rows: m, model: model)
        if mode == .append { state.userVector = Array(out[(m - 1) * d ..< m * d]) }
        return out
    }

    /// Per new token m: the time buckets (spec §2.3) of its keys — the stored rows it sees, then
    /// (candidates) itself. Shared by every layer and head.
    func timeBuckets(_ tokens: NewTokens, state: KVState, mode: AttentionMode, prefix: Int) -> [[Int32]] {
        TimeBucket.table.withUnsafeBufferPointer { table in
            let table = table.baseAddress!
            return (0..<tokens.count).map { m in
                let (stored, selfKey) = EncoderMath.keyRange(mode, prefix: prefix, token: m)
                let tq = tokens.queryTimestamps[m]
                var b = (0..<stored).map { Int32(TimeBucket.fastBucket(tq &- state.timestamps[$0], table)) }
                if selfKey { b.append(Int32(TimeBucket.fastBucket(tq &- tokens.keyTimestamps[m], table))) }
                return b
            }
        }
    }

    /// New tokens from which `attentionGEMM` replaces the row-by-row loop (full recomputes,
    /// M-FALCON micro-batches; appends of a few events stay row by row).
    static let gemmAttentionRows = 16

    /// `attention` for many new tokens, per head as two GEMMs: S = Q·Kᵀ over the R' stored rows
    /// (R' = R + M for appends, R for candidates), then the bias, SiLU/N and the causal limit row
    /// by row, then O = S·V; a candidate's own key/value is added per row.
    func attentionGEMM(_ tokens: NewTokens, state: KVState, layer l: Int, mode: AttentionMode, prefix: Int,
                       act: Tensor, buckets: [[Int32]], positionWeights: UnsafeMutablePointer<Float>,
                       timeWeights: UnsafeMutablePointer<Float>, out: Tensor) {
        let m = tokens.count, w = uvqkWidth, hv = valueWidth, kw = keyWidth, n = paddedWidth
        let dqk = dqk, dv = dv, backend = model.backend, invN = 1 / Float(n)
        let r = mode == .append ? prefix + m : prefix
        let keys = EncoderMath.rowsTensor(state.keys[l], count: r, width: kw)
        let values = EncoderMath.rowsTensor(state.values[l], count: r, width: hv)
        let scores = Tensor(zeros: [m, max(r, 1)])
        let ld = max(r, 1), a = act.floats, o = out.floats, sp = scores.floats
        for h in 0..<heads {
            if r > 0 {
                backend.gemm(transA: false, transB: true, m: m, n: r, k: dqk, alpha: 1,
                             a: act.view(2 * hv + h * dqk, [m * w - 2 * hv - h * dqk]), lda: w,
                             b: keys.view(h * dqk, [r * kw - h * dqk]), ldb: kw, beta: 0, c: scores, ldc: ld)
            }
            Parallel.forRanges(m, minChunk: max(1, 8192 / ld)) { rows in
                for t in rows {
                    let stored = EncoderMath.keyRange(mode, prefix: prefix, token: t).stored
                    let pm = tokens.positions[t], bm = buckets[t], row = sp + t * ld
                    for j in 0..<stored { row[j] += positionWeights[n - 1 + j - pm] + timeWeights[Int(bm[j])] }
                    InferenceKernels.siluScaled(row, stored, scale: invN)
                    if stored < r { (row + stored).initialize(repeating: 0, count: r - stored) }
                }
            }
            EncoderMath.weightedValues(backend, p: scores, ldp: ld, rows: m, keys: r, values: values, ldv: hv,
                                       offset: h * dv, dh: dv, out: out, ldo: hv)
            if mode == .candidates {
                for t in 0..<m {
                    let row = a + t * w, bm = buckets[t]
                    var s = InferenceKernels.dot(row + 2 * hv + h * dqk, row + 2 * hv + kw + h * dqk, dqk)
                        + positionWeights[n - 1] + timeWeights[Int(bm[prefix])]
                    InferenceKernels.siluScaled(&s, 1, scale: invN)
                    InferenceKernels.axpy(s, row + hv + h * dv, o + t * hv + h * dv, dv)
                }
            }
        }
    }

    /// O (M, H·Dv) of one layer; Q, K, V of the new tokens are column blocks of `act` (stride W).
    /// Rows run in parallel when there is enough work (≥ 8192 scores a part).
    func attention(_ tokens: NewTokens, state: KVState, layer l: Int, mode: AttentionMode, prefix: Int,
                   act: UnsafeMutablePointer<Float>, buckets: [[Int32]], positionWeights: UnsafeMutablePointer<Float>,
                   timeWeights: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        let w = uvqkWidth, hv = valueWidth, kw = keyWidth, n = paddedWidth, dqk = dqk, dv = dv, heads = heads
        let invN = 1 / Float(n), keysMax = prefix + tokens.count + 1
        state.keys[l].withUnsafeBufferPointer { keys in
        state.values[l].withUnsafeBufferPointer { values in
            let keys = keys.baseAddress, values = values.baseAddress
            Parallel.forRanges(tokens.count, minChunk: max(1, 8192 / (keysMax * heads))) { rows in
                let a = UnsafeMutablePointer<Float>.allocate(capacity: keysMax)
                defer { a.deallocate() }
                for m in rows {
                    let (stored, selfKey) = EncoderMath.keyRange(mode, prefix: prefix, token: m)
                    let count = stored + (selfKey ? 1 : 0)
                    let pm = tokens.positions[m], bm = buckets[m], row = act + m * w
                    for h in 0..<heads {
                        let q = row + 2 * hv + h * dqk
                        // a_j = SiLU(q·k_j + w_pos[N − 1 + j − pos_m] + w_ts[bucket_j]) / N
                        InferenceKernels.dots(q, keys! + h * dqk, stride: kw, count: stored, dqk, into: a)
                        for j in 0..<stored { a[j] = a[j] + positionWeights[n - 1 + j - pm] + timeWeights[Int(bm[j])] }
                        if selfKey {
                            a[stored] = InferenceKernels.dot(q, row + 2 * hv + kw + h * dqk, dqk)
                                + positionWeights[n - 1] + timeWeights[Int(bm[stored])]
                        }
                        InferenceKernels.siluScaled(a, count, scale: invN)
                        let o = out + m * hv + h * dv
                        InferenceKernels.weightedRows(a, values! + h * dv, stride: hv, rows: stored, o, dv)
                        if selfKey { InferenceKernels.axpy(a[stored], row + hv + h * dv, o, dv) }
                    }
                }
            }
        }}
    }
}
