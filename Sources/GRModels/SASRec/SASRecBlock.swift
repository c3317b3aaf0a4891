import GRCore

/// One SASRec block as the reference implements it (spec §3), on the dense padded (B, N, D) tensor
/// (R = B·N rows):
///
///     Qn = LN(x)                                   eps 1e-8, affine-free
///     q = Qn·W_qᵀ + b_q;  k = x·W_kᵀ + b_k;  v = x·W_vᵀ + b_v
///     c = CausalSoftmaxAttention(q, k, v)         scale 1/√(D/H), prob dropout p
///     a = c·W_oᵀ + b_o
///     h = LN(Qn + a)                               eps 1e-8
///     f = Dropout(Dropout(ReLU(h·W_1ᵀ + b_1))·W_2ᵀ + b_2)
///     x' = (f + h) ⊙ [id ≠ 0]
///
/// Random streams (seed, step): attention dropout `attentionDropout` slot l; the two FFN dropouts
/// `layerDropout` slots 2l and 2l + 1.
struct SASRecBlock {
    /// eps of both SASRec LayerNorms (spec §3 steps 1 and 3).
    static let layerNormEps: Float = 1e-8

    let index: Int
    let dim: Int, heads: Int, hidden: Int
    let dropout: Float
    let backend: any Backend
    let inW: Tensor, inB: Tensor, outW: Tensor, outB: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor
    let dInW: Tensor, dInB: Tensor, dOutW: Tensor, dOutB: Tensor, dW1: Tensor, dB1: Tensor, dW2: Tensor, dB2: Tensor

    init(index l: Int, config c: ModelConfig, arena: ParameterArena, backend: any Backend) {
        typealias P = ParameterNames.SASRec
        index = l
        dim = c.itemDim; heads = c.heads; hidden = c.ffnHidden
        dropout = c.blockDropout
        self.backend = backend
        inW = arena.value(P.inProjWeight(l)); dInW = arena.grad(P.inProjWeight(l))
        inB = arena.value(P.inProjBias(l)); dInB = arena.grad(P.inProjBias(l))
        outW = arena.value(P.outProjWeight(l)); dOutW = arena.grad(P.outProjWeight(l))
        outB = arena.value(P.outProjBias(l)); dOutB = arena.grad(P.outProjBias(l))
        w1 = arena.value(P.conv1Weight(l)); dW1 = arena.grad(P.conv1Weight(l))
        b1 = arena.value(P.conv1Bias(l)); dB1 = arena.grad(P.conv1Bias(l))
        w2 = arena.value(P.conv2Weight(l)); dW2 = arena.grad(P.conv2Weight(l))
        b2 = arena.value(P.conv2Bias(l)); dB2 = arena.grad(P.conv2Bias(l))
    }

    /// Dropout streams of this block within one step.
    struct Streams {
        var attention: PhiloxStream?
        var ffnHidden: PhiloxStream?
        var ffnOut: PhiloxStream?
        init(_ r: StepRandomness?, layer l: Int, p: Float) {
            guard let r, p > 0 else { return }
            attention = r.stream(.attentionDropout, slot: l)
            ffnHidden = r.stream(.layerDropout, slot: 2 * l)
            ffnOut = r.stream(.layerDropout, slot: 2 * l + 1)
        }
    }

    private func buffer(_ ws: Workspace, _ name: String, _ shape: [Int]) -> Tensor {
        ws.tensor("sasrec.\(index).\(name)", shape)
    }

    /// W rows [row0, row0 + D) of the in-projection (as a (D, D) matrix) and its bias slice.
    private func slice(_ w: Tensor, _ b: Tensor, _ part: Int) -> (Tensor, Tensor) {
        (w.view(part * dim * dim, [dim, dim]), b.view(part * dim, [dim]))
    }

    /// y (R, C) = x (R, Cin) · Wᵀ + b, W (C, Cin).
    private func linear(_ x: Tensor, _ w: Tensor, _ b: Tensor, _ y: Tensor, rows: Int, cin: Int, cout: Int) {
        backend.gemm(transA: false, transB: true, m: rows, n: cout, k: cin, alpha: 1, a: x, lda: cin, b: w, ldb: cin,
                     beta: 0, c: y, ldc: cout)
        K.addBias(y, b, rows: rows, cols: cout)
    }

    /// dW += dyᵀ·x, db += Σ dy, dx (= or +=, by `accumulate`) dy·W.
    private func linearBackward(_ dy: Tensor, _ x: Tensor, _ w: Tensor, _ dw: Tensor, _ db: Tensor, _ dx: Tensor,
                                rows: Int, cin: Int, cout: Int, accumulate: Bool) {
        backend.gemm(transA: true, transB: false, m: cout, n: cin, k: rows, alpha: 1, a: dy, lda: cout, b: x, ldb: cin,
                     beta: 1, c: dw, ldc: cin)
        K.biasGrad(dy, db, rows: rows, cols: cout)
        backend.gemm(transA: false, transB: false, m: rows, n: cin, k: cout, alpha: 1, a: dy, lda: cout, b: w, ldb: cin,
                     beta: accumulate ? 1 : 0, c: dx, ldc: cin)
    }

    /// x (B·N, D) → y (B·N, D) overwritten. `mask` (B·N) is [id ≠ 0].
    func forward(x: Tensor, y: Tensor, batch: Int, n: Int, mask: [Bool], streams: Streams, workspace ws: Workspace) {
        let r = batch * n, d = dim
        let qn = buffer(ws, "qn", [r, d]), mean = buffer(ws, "mean", [r]), rstd = buffer(ws, "rstd", [r])
        let q = buffer(ws, "q", [r, d]), k = buffer(ws, "k", [r, d]), v = buffer(ws, "v", [r, d])
        let probs = buffer(ws, "probs", [batch, heads, n, n]), core = buffer(ws, "core", [r, d])
        let hpre = buffer(ws, "hPre", [r, d]), h = buffer(ws, "h", [r, d])
        let hMean = buffer(ws, "hMean", [r]), hRstd = buffer(ws, "hRstd", [r])
        let f1pre = buffer(ws, "f1Pre", [r, hidden]), f1 = buffer(ws, "f1", [r, hidden])
        K.layerNormForward(x, qn, mean: mean, rstd: rstd, rows: r, cols: d, eps: Self.layerNormEps)
        let (wq, bq) = slice(inW, inB, 0), (wk, bk) = slice(inW, inB, 1), (wv, bv) = slice(inW, inB, 2)
        linear(qn, wq, bq, q, rows: r, cin: d, cout: d)
        linear(x, wk, bk, k, rows: r, cin: d, cout: d)
        linear(x, wv, bv, v, rows: r, cin: d, cout: d)
        K.softmaxAttentionForward(q: q, k: k, v: v, batch: batch, n: n, dim: d, heads: heads, dropout: dropout,
                                  stream: streams.attention, probs: probs, out: core)
        linear(core, outW, outB, hpre, rows: r, cin: d, cout: d)
        let hp = hpre.floats, qp = qn.floats
        for i in 0..<(r * d) { hp[i] += qp[i] }
        K.layerNormForward(hpre, h, mean: hMean, rstd: hRstd, rows: r, cols: d, eps: Self.layerNormEps)
        linear(h, w1, b1, f1pre, rows: r, cin: d, cout: hidden)
        K.reluForward(f1pre, f1, count: r * hidden)
        if let s = streams.ffnHidden { K.dropout(f1, count: r * hidden, p: dropout, stream: s) }
        linear(f1, w2, b2, y, rows: r, cin: hidden, cout: d)
        if let s = streams.ffnOut { K.dropout(y, count: r * d, p: dropout, stream: s) }
        let yp = y.floats, hq = h.floats
        for i in 0..<r {
            if mask[i] {
                for c in 0..<d { yp[i * d + c] += hq[i * d + c] }
            } else {
                for c in 0..<d { yp[i * d + c] = 0 }
            }
        }
    }

    /// dy (B·N, D) → dx (B·N, D) OVERWRITTEN (must not alias dy); parameter gradients +=.
    func backward(dy: Tensor, dx: Tensor, x: Tensor, batch: Int, n: Int, mask: [Bool], streams: Streams,
                  workspace ws: Workspace) {
        let r = batch * n, d = dim
        let qn = buffer(ws, "qn", [r, d]), rstd = buffer(ws, "rstd", [r])
        let q = buffer(ws, "q", [r, d]), k = buffer(ws, "k", [r, d]), v = buffer(ws, "v", [r, d])
        let probs = buffer(ws, "probs", [batch, heads, n, n]), core = buffer(ws, "core", [r, d])
        let h = buffer(ws, "h", [r, d]), hRstd = buffer(ws, "hRstd", [r])
        let f1pre = buffer(ws, "f1Pre", [r, hidden]), f1 = buffer(ws, "f1", [r, hidden])
        let dSum = ws.tensor("sasrec.dSum", [r, d]), dh = ws.tensor("sasrec.dh", [r, d])
        let dF1 = ws.tensor("sasrec.dF1", [r, hidden]), dHpre = ws.tensor("sasrec.dHpre", [r, d])
        let dCore = ws.tensor("sasrec.dCore", [r, d]), dQn = ws.tensor("sasrec.dQn", [r, d])
        let dq = ws.tensor("sasrec.dq", [r, d]), dk = ws.tensor("sasrec.dk", [r, d]), dv = ws.tensor("sasrec.dv", [r, d])
        // x' = (f + h) ⊙ mask
        let dyp = dy.floats, dsp = dSum.floats
        for i in 0..<r { for c in 0..<d { dsp[i * d + c] = mask[i] ? dyp[i * d + c] : 0 } }
        backend.copy(dSum, to: dh)
        // f = Dropout(Dropout(ReLU(h·W_1ᵀ + b_1))·W_2ᵀ + b_2)
        if let s = streams.ffnOut { K.dropout(dSum, count: r * d, p: dropout, stream: s) }
        linearBackward(dSum, f1, w2, dW2, dB2, dF1, rows: r, cin: hidden, cout: d, accumulate: false)
        if let s = streams.ffnHidden { K.dropout(dF1, count: r * hidden, p: dropout, stream: s) }
        K.reluBackward(dy: dF1, x: f1pre, dx: dF1, count: r * hidden)
        linearBackward(dF1, h, w1, dW1, dB1, dh, rows: r, cin: d, cout: hidden, accumulate: true)
        // h = LN(Qn + a)
        backend.fill(dHpre, 0)
        K.layerNormBackward(dy: dh, y: h, rstd: hRstd, dx: dHpre, rows: r, cols: d)
        backend.copy(dHpre, to: dQn)
        // a = c·W_oᵀ + b_o
        linearBackward(dHpre, core, outW, dOutW, dOutB, dCore, rows: r, cin: d, cout: d, accumulate: false)
        K.softmaxAttentionBackward(dOut: dCore, q: q, k: k, v: v, probs: probs, batch: batch, n: n, dim: d,
                                   heads: heads, dropout: dropout, stream: streams.attention, dq: dq, dk: dk, dV: dv)
        let (wq, _) = slice(inW, inB, 0), (wk, _) = slice(inW, inB, 1), (wv, _) = slice(inW, inB, 2)
        let (dWq, dBq) = slice(dInW, dInB, 0), (dWk, dBk) = slice(dInW, dInB, 1), (dWv, dBv) = slice(dInW, dInB, 2)
        linearBackward(dq, qn, wq, dWq, dBq, dQn, rows: r, cin: d, cout: d, accumulate: true)
        linearBackward(dk, x, wk, dWk, dBk, dx, rows: r, cin: d, cout: d, accumulate: false)
        linearBackward(dv, x, wv, dWv, dBv, dx, rows: r, cin: d, cout: d, accumulate: true)
        // Qn = LN(x)
        K.layerNormBackward(dy: dQn, y: qn, rstd: rstd, dx: dx, rows: r, cols: d)
    }
}
