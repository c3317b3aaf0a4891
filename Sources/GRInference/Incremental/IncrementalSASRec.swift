import Foundation
import GRCore
import GRModels

/// SASRec's eval forward (spec §3) on new tokens against cached keys/values. Per block l and new
/// token m (D dim, H heads, F FFN width):
///
///     Qn = LN(x); q = Qn·W_qᵀ + b_q; k = x·W_kᵀ + b_k; v = x·W_vᵀ + b_v
///     c_m = Σ_j softmax_j(q_m·k_j / √(D/H)) v_j        (per head)
///     h = LN(Qn + c·W_oᵀ + b_o); x' = ReLU(h·W_1ᵀ + b_1)·W_2ᵀ + b_2 + h
///
/// j runs over the cached rows and, by `AttentionMode`, the new tokens 0...m or m alone. Exact
/// because the attention is causal and LayerNorm, softmax and FFN are per row (history ids are
/// never 0, so the padding mask is 1); positions enter through the input embedding only.
struct IncrementalSASRec: IncrementalEncoder {
    /// eps of both SASRec LayerNorms (spec §3).
    static let layerNormEps: Float = 1e-8

    let model: any SequentialRecommender
    var config: ModelConfig { model.config }
    let dim: Int, heads: Int, hidden: Int
    var keyWidth: Int { dim }
    var valueWidth: Int { dim }

    /// Block l's parameters (arena views, looked up once).
    struct Block {
        let inW: Tensor, inB: Tensor, outW: Tensor, outB: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor
    }
    let blocks: [Block]

    init(_ model: any SequentialRecommender) {
        self.model = model
        dim = model.config.itemDim; heads = model.config.heads; hidden = model.config.ffnHidden
        typealias P = ParameterNames.SASRec
        let p = model.parameters
        blocks = (0..<model.config.blocks).map { l in
            Block(inW: p.value(P.inProjWeight(l)), inB: p.value(P.inProjBias(l)), outW: p.value(P.outProjWeight(l)),
                  outB: p.value(P.outProjBias(l)), w1: p.value(P.conv1Weight(l)), b1: p.value(P.conv1Bias(l)),
                  w2: p.value(P.conv2Weight(l)), b2: p.value(P.conv2Bias(l)))
        }
    }

    /// y (M, C) = x (M, Cin)·Wᵀ + b.
    private func linear(_ x: Tensor, _ w: Tensor, _ b: Tensor, _ y: Tensor, rows: Int, cin: Int, cout: Int) {
        EncoderMath.gemm(model.backend, transB: true, m: rows, n: cout, k: cin, a: x, lda: cin, b: w, ldb: cin, beta: 0,
                         c: y, ldc: cout)
        model.backend.addBias(x: y, bias: b, rows: rows, cols: cout)
    }

    func forward(_ tokens: NewTokens, state: inout KVState, mode: AttentionMode) -> [Float] {
        let m = tokens.count, d = dim, backend = model.backend, prefix = state.rows
        if m == 0 { return [] }
        if mode == .append {
            state.ids.append(contentsOf: tokens.ids)
            state.timestamps.append(contentsOf: tokens.keyTimestamps)
            state.userVector = []
        }
        var x = EncoderMath.inputEmbedding(tokens, model: model)
        var y = Tensor(zeros: [m, d])
        let qn = Tensor(zeros: [m, d]), mean = Tensor(zeros: [m]), rstd = Tensor(zeros: [m])
        let qkv = Tensor(zeros: [m, 3 * d]), core = Tensor(zeros: [m, d]), hpre = Tensor(zeros: [m, d])
        let h = Tensor(zeros: [m, d]), f1 = Tensor(zeros: [m, hidden])
        for (l, p) in blocks.enumerated() {
            backend.layerNormForward(x: x, out: qn, mean: mean, rstd: rstd, rows: m, cols: d, eps: Self.layerNormEps)
            EncoderMath.gemm(backend, transB: true, m: m, n: d, k: d, a: qn, lda: d, b: p.inW, ldb: d, beta: 0, c: qkv,
                             ldc: 3 * d)
            EncoderMath.gemm(backend, transB: true, m: m, n: 2 * d, k: d, a: x, lda: d, b: p.inW.view(d * d, [2 * d, d]),
                             ldb: d, beta: 0, c: qkv.view(d, [m * 3 * d - d]), ldc: 3 * d)
            backend.addBias(x: qkv, bias: p.inB, rows: m, cols: 3 * d)
            if mode == .append {
                EncoderMath.appendRows(&state.keys[l], qkv.floats + d, rows: m, width: d, stride: 3 * d)
                EncoderMath.appendRows(&state.values[l], qkv.floats + 2 * d, rows: m, width: d, stride: 3 * d)
            }
            if m >= IncrementalHSTU.gemmAttentionRows {
                attentionGEMM(m, state: state, layer: l, mode: mode, prefix: prefix, qkv: qkv, out: core)
            } else {
                attention(m, state: state, layer: l, mode: mode, prefix: prefix, qkv: qkv.floats, out: core.floats)
            }
            linear(core, p.outW, p.outB, hpre, rows: m, cin: d, cout: d)
            backend.add(a: hpre, b: qn, out: hpre, count: m * d)
            backend.layerNormForward(x: hpre, out: h, mean: mean, rstd: rstd, rows: m, cols: d, eps: Self.layerNormEps)
            linear(h, p.w1, p.b1, f1, rows: m, cin: d, cout: hidden)
            backend.reluForward(x: f1, out: f1, count: m * hidden)
            linear(f1, p.w2, p.b2, y, rows: m, cin: hidden, cout: d)
            backend.add(a: y, b: h, out: y, count: m * d)
            swap(&x, &y)
        }
        let out = EncoderMath.normalizedOutputs(x, rows: m, model: model)
        if mode == .append { state.userVector = Array(out[(m - 1) * d ..< m * d]) }
        return out
    }

    /// `attention` for many new tokens, per head as two GEMMs: S = Q·Kᵀ over the R' stored rows,
    /// the scale and softmax (jointly with a candidate's own score) row by row, then C = P·V plus a
    /// candidate's own value.
    func attentionGEMM(_ m: Int, state: KVState, layer l: Int, mode: AttentionMode, prefix: Int, qkv: Tensor,
                       out: Tensor) {
        let d = dim, heads = heads, dh = d / heads, scale = 1 / Float(dh).squareRoot(), backend = model.backend
        let r = mode == .append ? prefix + m : prefix, ld = max(r, 1)
        let keys = EncoderMath.rowsTensor(state.keys[l], count: r, width: d), scores = Tensor(zeros: [m, ld])
        let values = EncoderMath.rowsTensor(state.values[l], count: r, width: d)
        let q = qkv.floats, o = out.floats, sp = scores.floats
        for h in 0..<heads {
            if r > 0 {
                backend.gemm(transA: false, transB: true, m: m, n: r, k: dh, alpha: scale,
                             a: qkv.view(h * dh, [m * 3 * d - h * dh]), lda: 3 * d,
                             b: keys.view(h * dh, [r * d - h * dh]), ldb: d, beta: 0, c: scores, ldc: ld)
            }
            // Own-candidate weights, kept out of the GEMM (0 for appends).
            let own = UnsafeMutablePointer<Float>.allocate(capacity: m)
            own.initialize(repeating: 0, count: m)
            defer { own.deallocate() }
            Parallel.forRanges(m, minChunk: max(1, 8192 / ld)) { rows in
                for t in rows {
                    let (stored, selfKey) = EncoderMath.keyRange(mode, prefix: prefix, token: t)
                    let row = sp + t * ld, base = q + t * 3 * d + h * dh
                    var top = -Float.infinity, mine = -Float.infinity
                    for j in 0..<stored { top = max(top, row[j]) }
                    if selfKey { mine = InferenceKernels.dot(base, base + d, dh) * scale; top = max(top, mine) }
                    var total: Float = 0
                    for j in 0..<stored { row[j] = Foundation.exp(row[j] - top); total += row[j] }
                    let e = selfKey ? Foundation.exp(mine - top) : 0
                    total += e
                    for j in 0..<stored { row[j] /= total }
                    if stored < r { (row + stored).initialize(repeating: 0, count: r - stored) }
                    own[t] = e / total
                }
            }
            EncoderMath.weightedValues(backend, p: scores, ldp: ld, rows: m, keys: r, values: values, ldv: d,
                                       offset: h * dh, dh: dh, out: out, ldo: d)
            if mode == .candidates {
                for t in 0..<m { InferenceKernels.axpy(own[t], q + t * 3 * d + 2 * d + h * dh, o + t * d + h * dh, dh) }
            }
        }
    }

    /// c (M, D): causal softmax attention of the new tokens' queries (column block 0 of `qkv`,
    /// stride 3D) over the keys they see. Rows run in parallel when there is enough work.
    func attention(_ count: Int, state: KVState, layer l: Int, mode: AttentionMode, prefix: Int,
                   qkv: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        let d = dim, heads = heads, dh = d / heads, scale = 1 / Float(dh).squareRoot(), keysMax = prefix + count + 1
        state.keys[l].withUnsafeBufferPointer { keys in
        state.values[l].withUnsafeBufferPointer { values in
            let keys = keys.baseAddress, values = values.baseAddress
            Parallel.forRanges(count, minChunk: max(1, 8192 / (keysMax * heads))) { rows in
                let a = UnsafeMutablePointer<Float>.allocate(capacity: keysMax)
                defer { a.deallocate() }
                for m in rows {
                    let (stored, selfKey) = EncoderMath.keyRange(mode, prefix: prefix, token: m)
                    let n = stored + (selfKey ? 1 : 0), row = qkv + m * 3 * d
                    for h in 0..<heads {
                        let q = row + h * dh
                        for j in 0..<stored { a[j] = InferenceKernels.dot(q, keys! + j * d + h * dh, dh) * scale }
                        if selfKey { a[stored] = InferenceKernels.dot(q, row + d + h * dh, dh) * scale }
                        InferenceKernels.softmax(a, n)
                        let o = out + m * d + h * dh
                        InferenceKernels.weightedRows(a, values! + h * dh, stride: d, rows: stored, o, dh)
                        if selfKey { InferenceKernels.axpy(a[stored], row + 2 * d + h * dh, o, dh) }
                    }
                }
            }
        }}
    }
}
