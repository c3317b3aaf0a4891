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

    /// y (R, C) = x (R, Cin) · Wᵀ + b, W (C, Cin).
    private func linear(_ x: Tensor, _ w: Tensor, _ b: Tensor, _ y: Tensor, rows: Int, cin: Int, cout: Int) {
        backend.gemm(transA: false, transB: true, m: rows, n: cout, k: cin, alpha: 1, a: x, lda: cin, b: w, ldb: cin,
                     beta: 0, c: y, ldc: cout)
        backend.addBias(x: y, bias: b, rows: rows, cols: cout)
    }

    /// dW += dyᵀ·x, db += Σ dy, dx (= or +=, by `accumulate`) dy·W.
    private func linearBackward(_ dy: Tensor, _ x: Tensor, _ w: Tensor, _ dw: Tensor, _ db: Tensor, _ dx: Tensor,
                                rows: Int, cin: Int, cout: Int, accumulate: Bool) {
        backend.gemm(transA: true, transB: false, m: cout, n: cin, k: rows, alpha: 1, a: dy, lda: cout, b: x, ldb: cin,
                     beta: 1, c: dw, ldc: cin)
        backend.biasBackward(dOut: dy, dBias: db, rows: rows, cols: cout)
        backend.gemm(transA: false, transB: false, m: rows, n: cin, k: cout, alpha: 1, a: dy, lda: cout, b: w, ldb: cin,
                     beta: accumulate ? 1 : 0, c: dx, ldc: cin)
    }

    /// x (B·N, D) → y (B·N, D) overwritten. `ids` i32 (B·N), the mask source [id ≠ 0].
    func forward(x: Tensor, y: Tensor, batch: Int, n: Int, ids: Tensor, streams: Streams, workspace ws: Workspace) {
        let r = batch * n, d = dim
        let qn = buffer(ws, "qn", [r, d]), mean = buffer(ws, "mean", [r]), rstd = buffer(ws, "rstd", [r])
        let qkv = buffer(ws, "qkv", [r, 3 * d])
        let probs = buffer(ws, "probs", [batch, heads, n, n]), core = buffer(ws, "core", [r, d])
        let hpre = buffer(ws, "hPre", [r, d]), h = buffer(ws, "h", [r, d])
        let hMean = buffer(ws, "hMean", [r]), hRstd = buffer(ws, "hRstd", [r])
        let f1pre = buffer(ws, "f1Pre", [r, hidden]), f1 = buffer(ws, "f1", [r, hidden])
        // Qn = LN(x); q = Qn·W_qᵀ + b_q; [k|v] = x·[W_k; W_v]ᵀ + [b_k; b_v]  (one (R, 3D) buffer)
        backend.layerNormForward(x: x, out: qn, mean: mean, rstd: rstd, rows: r, cols: d, eps: Self.layerNormEps)
        backend.gemm(transA: false, transB: true, m: r, n: d, k: d, alpha: 1, a: qn, lda: d, b: inW, ldb: d,
                     beta: 0, c: qkv, ldc: 3 * d)
        backend.gemm(transA: false, transB: true, m: r, n: 2 * d, k: d, alpha: 1, a: x, lda: d,
                     b: inW.view(d * d, [2 * d, d]), ldb: d, beta: 0, c: qkv.view(d, [r * 3 * d - d]), ldc: 3 * d)
        backend.addBias(x: qkv, bias: inB, rows: r, cols: 3 * d)
        // c = softmax attention; a = c·W_oᵀ + b_o; h = LN(Qn + a)
        backend.softmaxAttentionForward(q: qkv, k: qkv.view(d, [r * 3 * d - d]), v: qkv.view(2 * d, [r * 3 * d - 2 * d]),
                                  rowStride: 3 * d, batch: batch, width: n, dim: d, heads: heads, dropout: dropout,
                                  dropoutStream: streams.attention, probs: probs, out: core)
        linear(core, outW, outB, hpre, rows: r, cin: d, cout: d)
        backend.add(a: hpre, b: qn, out: hpre, count: r * d)
        backend.layerNormForward(x: hpre, out: h, mean: hMean, rstd: hRstd, rows: r, cols: d, eps: Self.layerNormEps)
        // f = Dropout(Dropout(ReLU(h·W_1ᵀ + b_1))·W_2ᵀ + b_2); x' = (f + h) ⊙ mask
        linear(h, w1, b1, f1pre, rows: r, cin: d, cout: hidden)
        backend.reluForward(x: f1pre, out: f1, count: r * hidden)
        if let s = streams.ffnHidden { backend.dropoutForward(x: f1, out: f1, count: r * hidden, p: dropout, stream: s) }
        linear(f1, w2, b2, y, rows: r, cin: hidden, cout: d)
        if let s = streams.ffnOut { backend.dropoutForward(x: y, out: y, count: r * d, p: dropout, stream: s) }
        backend.add(a: y, b: h, out: y, count: r * d)
        backend.maskRows(x: y, ids: ids, out: y, rows: r, cols: d)
    }

    /// dy (B·N, D) → dx (B·N, D) OVERWRITTEN (must not alias dy); parameter gradients +=.
    func backward(dy: Tensor, dx: Tensor, x: Tensor, batch: Int, n: Int, ids: Tensor, streams: Streams,
                  workspace ws: Workspace) {
        let r = batch * n, d = dim
        let qn = buffer(ws, "qn", [r, d]), mean = buffer(ws, "mean", [r]), rstd = buffer(ws, "rstd", [r])
        let qkv = buffer(ws, "qkv", [r, 3 * d])
        let probs = buffer(ws, "probs", [batch, heads, n, n]), core = buffer(ws, "core", [r, d])
        let hpre = buffer(ws, "hPre", [r, d]), h = buffer(ws, "h", [r, d])
        let hMean = buffer(ws, "hMean", [r]), hRstd = buffer(ws, "hRstd", [r])
        let f1 = buffer(ws, "f1", [r, hidden])
        // Scratch shared by all blocks.
        let dSum = ws.tensor("sasrec.dSum", [r, d]), dF2 = ws.tensor("sasrec.dF2", [r, d])
        let dh = ws.tensor("sasrec.dh", [r, d]), dHpre = ws.tensor("sasrec.dHpre", [r, d])
        let dF1 = ws.tensor("sasrec.dF1", [r, hidden]), dF1Relu = ws.tensor("sasrec.dF1Relu", [r, hidden])
        let dCore = ws.tensor("sasrec.dCore", [r, d]), dQn = ws.tensor("sasrec.dQn", [r, d])
        let dQkv = ws.tensor("sasrec.dQkv", [r, 3 * d])
        // x' = (f + h) ⊙ mask
        backend.fill(dSum, 0)
        backend.maskRowsBackward(dOut: dy, ids: ids, dx: dSum, rows: r, cols: d)
        backend.copy(dSum, to: dh)
        // f = Dropout(Dropout(ReLU(h·W_1ᵀ + b_1))·W_2ᵀ + b_2)
        // A dropout's backward, dOut·mask/(1−p), is its forward applied to dOut with the same stream
        // (same mask and scale, bit for bit): written directly instead of zero-fill + accumulate.
        var dF = dSum
        if let s = streams.ffnOut {
            backend.dropoutForward(x: dSum, out: dF2, count: r * d, p: dropout, stream: s)
            dF = dF2
        }
        linearBackward(dF, f1, w2, dW2, dB2, dF1, rows: r, cin: hidden, cout: d, accumulate: false)
        // f1 (after dropout) is positive exactly where ReLU passed and dropout kept.
        backend.fill(dF1Relu, 0)
        backend.reluBackward(dOut: dF1, y: f1, dx: dF1Relu, count: r * hidden)
        let dHidden = dF1Relu
        if let s = streams.ffnHidden {
            backend.dropoutForward(x: dF1Relu, out: dF1Relu, count: r * hidden, p: dropout, stream: s)
        }
        linearBackward(dHidden, h, w1, dW1, dB1, dh, rows: r, cin: d, cout: hidden, accumulate: true)
        // h = LN(Qn + a)
        backend.fill(dHpre, 0)
        backend.layerNormBackward(dOut: dh, x: hpre, mean: hMean, rstd: hRstd, dx: dHpre, rows: r, cols: d)
        backend.copy(dHpre, to: dQn)
        // a = c·W_oᵀ + b_o
        linearBackward(dHpre, core, outW, dOutW, dOutB, dCore, rows: r, cin: d, cout: d, accumulate: false)
        backend.softmaxAttentionBackward(dOut: dCore, q: qkv, k: qkv.view(d, [r * 3 * d - d]),
                                   v: qkv.view(2 * d, [r * 3 * d - 2 * d]), rowStride: 3 * d, batch: batch, width: n,
                                   dim: d, heads: heads, dropout: dropout, dropoutStream: streams.attention,
                                   probs: probs, dq: dQkv, dk: dQkv.view(d, [r * 3 * d - d]),
                                   dv: dQkv.view(2 * d, [r * 3 * d - 2 * d]))
        // q = Qn·W_qᵀ + b_q; [k|v] = x·[W_k; W_v]ᵀ + [b_k; b_v]
        backend.gemm(transA: true, transB: false, m: d, n: d, k: r, alpha: 1, a: dQkv, lda: 3 * d, b: qn, ldb: d,
                     beta: 1, c: dInW, ldc: d)
        backend.gemm(transA: true, transB: false, m: 2 * d, n: d, k: r, alpha: 1, a: dQkv.view(d, [r * 3 * d - d]),
                     lda: 3 * d, b: x, ldb: d, beta: 1, c: dInW.view(d * d, [2 * d, d]), ldc: d)
        backend.biasBackward(dOut: dQkv, dBias: dInB, rows: r, cols: 3 * d)
        backend.gemm(transA: false, transB: false, m: r, n: d, k: d, alpha: 1, a: dQkv, lda: 3 * d, b: inW, ldb: d,
                     beta: 1, c: dQn, ldc: d)
        backend.gemm(transA: false, transB: false, m: r, n: d, k: 2 * d, alpha: 1, a: dQkv.view(d, [r * 3 * d - d]),
                     lda: 3 * d, b: inW.view(d * d, [2 * d, d]), ldb: d, beta: 0, c: dx, ldc: d)
        // Qn = LN(x)
        backend.layerNormBackward(dOut: dQn, x: x, mean: mean, rstd: rstd, dx: dx, rows: r, cols: d)
    }
}
