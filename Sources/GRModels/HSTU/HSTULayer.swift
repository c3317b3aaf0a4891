import GRCore

/// One HSTU layer (`SequentialTransductionUnitJagged`, spec §2.2) on a jagged batch of T tokens:
///
///     X̂ = LN(X)                                  (T, D), eps 1e-6, affine-free
///     [U|V|Q|K] = SiLU(X̂ · W_uvqk)              (T, 2·H·Dv + 2·H·Dqk), no bias
///     O = HSTUAttention(Q, K, V; w_pos, w_ts)    (T, H·Dv), spec §2.2 steps 3-4, §2.3
///     G = Dropout_q(U ⊙ LN(O))                   (T, H·Dv), eps 1e-6
///     Y = G · W_oᵀ + b_o + X                     (T, D)
///
/// Activations are kept in the model's workspace under `hstu.<index>.*` for the backward (X̂, its
/// mean/rstd, the UVQK pre-activation, O, its mean/rstd, G). The SiLU outputs [U|V|Q|K] of all
/// layers share one workspace buffer `hstu.uvqk` of `layerCount`·T·(2·H·Dv + 2·H·Dqk) floats, layer
/// l at offset l·T·(2·H·Dv + 2·H·Dqk), and are kept for the backward (not recomputed: costs one SiLU
/// pass over (T, 2·H·Dv + 2·H·Dqk) per layer and step, for T·(2·H·Dv + 2·H·Dqk) floats per layer).
struct HSTULayer {
    /// LayerNorm eps of both HSTU norms (spec §2.2 steps 1 and 5).
    static let layerNormEps: Float = 1e-6
    /// `GR_CUDA_FUSED` (`EnvironmentSwitch`, default on since it passed on an H100 in session 7):
    /// 1/on runs the fused op sequence of docs/cuda.md "Fusions (session 6)"; 0/off runs the
    /// unfused one (fill/copy + accumulating ops) on any backend.
    static let fused = EnvironmentSwitch.value("GR_CUDA_FUSED", default: true)

    let index: Int
    /// Number of layers sharing the `hstu.uvqk` buffer (the model's `blocks`).
    let layerCount: Int
    let dim: Int, heads: Int, dqk: Int, dv: Int
    /// N, the padded width: attention normaliser and bias-table size.
    let paddedWidth: Int
    let dropout: Float
    let backend: any Backend
    // Parameters and their gradients (arena views).
    let uvqk: Tensor, timeWeights: Tensor, positionWeights: Tensor, outWeight: Tensor, outBias: Tensor
    let dUvqk: Tensor, dTimeWeights: Tensor, dPositionWeights: Tensor, dOutWeight: Tensor, dOutBias: Tensor

    /// H·Dv.
    var valueWidth: Int { heads * dv }
    /// 2·H·Dv + 2·H·Dqk, the row stride of the UVQK projection.
    var uvqkWidth: Int { 2 * heads * dv + 2 * heads * dqk }

    init(index: Int, config c: ModelConfig, arena: ParameterArena, backend: any Backend) {
        typealias P = ParameterNames.HSTU
        self.init(index: index, layerCount: c.blocks, dim: c.itemDim, heads: c.heads, dqk: c.dqk, dv: c.dv, paddedWidth: c.paddedWidth,
                  dropout: c.blockDropout, backend: backend, arena: arena,
                  names: (P.uvqk(index), P.timeWeights(index), P.positionWeights(index), P.outWeight(index),
                          P.outBias(index)))
    }

    /// `names`: arena names of (W_uvqk, w_ts, w_pos, f2 weight, f2 bias).
    init(index: Int, layerCount: Int = 1, dim: Int, heads: Int, dqk: Int, dv: Int, paddedWidth: Int, dropout: Float, backend: any Backend,
         arena: ParameterArena, names: (String, String, String, String, String)) {
        precondition(index >= 0 && index < layerCount, "HSTU layer \(index) of \(layerCount)")
        self.index = index
        self.layerCount = layerCount
        self.dim = dim; self.heads = heads; self.dqk = dqk; self.dv = dv
        self.paddedWidth = paddedWidth
        self.dropout = dropout
        self.backend = backend
        uvqk = arena.value(names.0); dUvqk = arena.grad(names.0)
        timeWeights = arena.value(names.1); dTimeWeights = arena.grad(names.1)
        positionWeights = arena.value(names.2); dPositionWeights = arena.grad(names.2)
        outWeight = arena.value(names.3); dOutWeight = arena.grad(names.3)
        outBias = arena.value(names.4); dOutBias = arena.grad(names.4)
    }

    /// The Philox stream of the fused LN ⊙ U + dropout kernels: fused on, a stream without a
    /// global-row map (a data-parallel rank's share keeps the unfused gathered mask) and p > 0.
    private func fusedDropout(_ stream: RowDropout?) -> PhiloxStream? {
        guard Self.fused, let stream, stream.globalRows == nil, dropout > 0 else { return nil }
        return stream.stream
    }

    private func buffer(_ ws: Workspace, _ name: String, _ shape: [Int]) -> Tensor {
        ws.tensor("hstu.\(index).\(name)", shape)
    }

    /// This layer's SiLU output [U|V|Q|K] (T, 2·H·Dv + 2·H·Dqk): its slice of the shared `hstu.uvqk`.
    private func activations(_ ws: Workspace, tokens t: Int) -> Tensor {
        ws.tensor("hstu.uvqk", [layerCount * t * uvqkWidth]).view(index * t * uvqkWidth, [t, uvqkWidth])
    }

    /// Column block of the UVQK activations: U at 0, V at H·Dv, Q at 2·H·Dv, K at 2·H·Dv + H·Dqk.
    private func block(_ t: Tensor, _ column: Int, tokens: Int) -> Tensor {
        t.view(column, [max(tokens * uvqkWidth - column, 0)])
    }

    /// Attention over `layout`, or over a padded batch's offsets as they are when it runs.
    private func attention(_ layout: JaggedLayout, _ padding: HSTUPadding?, _ body: (JaggedLayout) -> Void) {
        if let padding { padding.attention(layout, backend: backend, body) } else { body(layout) }
    }

    /// x (T, D) → y (T, D) (overwritten). `timestamps` i64 (B, N) padded, target timestamp at L_b.
    /// `stream`: dropout stream of this layer (nil = no dropout). `padding`: a padded batch, whose
    /// T_cap = `padding`'s row count replaces T (`HSTUPadding`).
    func forward(x: Tensor, y: Tensor, layout: JaggedLayout, timestamps: Tensor, stream: RowDropout?,
                 workspace ws: Workspace, padding: (HSTUPadding, tokens: Int)? = nil) {
        let t = padding?.tokens ?? layout.totalTokens, d = dim, w = uvqkWidth, hv = valueWidth
        let xn = buffer(ws, "xn", [t, d]), mean = buffer(ws, "mean", [t]), rstd = buffer(ws, "rstd", [t])
        let pre = buffer(ws, "uvqkPre", [t, w]), act = activations(ws, tokens: t)
        let o = buffer(ws, "attn", [t, hv]), oMean = buffer(ws, "attnMean", [t]), oRstd = buffer(ws, "attnRstd", [t])
        let g = buffer(ws, "gated", [t, hv])
        if t == 0 { return }
        // X̂ = LN(X); [U|V|Q|K] = SiLU(X̂·W_uvqk)
        backend.layerNormForward(x: x, out: xn, mean: mean, rstd: rstd, rows: t, cols: d, eps: Self.layerNormEps)
        backend.gemm(transA: false, transB: false, m: t, n: w, k: d, alpha: 1, a: xn, lda: d, b: uvqk, ldb: w,
                     beta: 0, c: pre, ldc: w)
        backend.siluForward(x: pre, out: act, count: t * w)
        // O = attention(Q, K, V)
        attention(layout, padding?.0) { layout in   // on the real rows 0..<T (of T_cap when padded)
            let t = layout.totalTokens
            backend.hstuAttentionForward(q: block(act, 2 * hv, tokens: t), k: block(act, 2 * hv + heads * dqk, tokens: t),
                                   v: block(act, hv, tokens: t), rowStride: w, layout: layout, timestamps: timestamps,
                                   positionWeights: positionWeights, timeWeights: timeWeights, heads: heads, dqk: dqk,
                                   dv: dv, paddedWidth: paddedWidth, out: o.view(0, [t, hv]))
        }
        // G = Dropout(U ⊙ LN(O))
        if let s = fusedDropout(stream) {   // one kernel, the same mask
            backend.layerNormMulDropoutForward(x: o, u: act, ldu: w, out: g, mean: oMean, rstd: oRstd, rows: t, cols: hv,
                                               eps: Self.layerNormEps, p: dropout, stream: s)
        } else {
            backend.layerNormMulForward(x: o, u: act, ldu: w, out: g, mean: oMean, rstd: oRstd, rows: t, cols: hv,
                                        eps: Self.layerNormEps)
            stream?.forward(x: g, out: g, rows: t, width: hv, p: dropout, backend: backend, workspace: ws)
        }
        // Y = G·W_oᵀ + b_o + X (fused: one GEMM, C = X, D = Y, the bias in its epilogue; unfused:
        // copy, GEMM with β = 1, bias)
        if Self.fused {
            backend.gemmBiasResidual(transA: false, transB: true, m: t, n: d, k: hv, a: g, lda: hv, b: outWeight, ldb: hv,
                                     bias: outBias, c: x, d: y)
        } else {
            backend.gemmBiasResidualUnfused(transA: false, transB: true, m: t, n: d, k: hv, a: g, lda: hv, b: outWeight,
                                            ldb: hv, bias: outBias, c: x, d: y)
        }
    }

    /// Given dy (T, D) and this layer's input x, writes dx (T, D) (OVERWRITTEN; must not alias dy)
    /// and accumulates the parameter gradients. Uses the activations saved by the last `forward`.
    func backward(dy: Tensor, x: Tensor, dx: Tensor, layout: JaggedLayout, timestamps: Tensor, stream: RowDropout?,
                  workspace ws: Workspace, padding: (HSTUPadding, tokens: Int)? = nil) {
        let t = padding?.tokens ?? layout.totalTokens, d = dim, w = uvqkWidth, hv = valueWidth
        if t == 0 { return }
        let xn = buffer(ws, "xn", [t, d]), mean = buffer(ws, "mean", [t]), rstd = buffer(ws, "rstd", [t])
        let pre = buffer(ws, "uvqkPre", [t, w]), act = activations(ws, tokens: t)
        let o = buffer(ws, "attn", [t, hv]), oMean = buffer(ws, "attnMean", [t]), oRstd = buffer(ws, "attnRstd", [t])
        let g = buffer(ws, "gated", [t, hv])
        // Scratch shared by all layers.
        let dg = ws.tensor("hstu.dGated", [t, hv])
        let dO = ws.tensor("hstu.dAttn", [t, hv]), dAct = ws.tensor("hstu.dUvqk", [t, w])
        let dPre = ws.tensor("hstu.dUvqkPre", [t, w]), dXn = ws.tensor("hstu.dXn", [t, d])
        // Y = G·W_oᵀ + b_o + X
        backend.gemm(transA: true, transB: false, m: d, n: hv, k: t, alpha: 1, a: dy, lda: d, b: g, ldb: hv,
                     beta: 1, c: dOutWeight, ldc: hv)
        backend.biasBackward(dOut: dy, dBias: dOutBias, rows: t, cols: d)
        backend.gemm(transA: false, transB: false, m: t, n: hv, k: d, alpha: 1, a: dy, lda: d, b: outWeight, ldb: hv,
                     beta: 0, c: dg, ldc: hv)
        // G = Dropout(U ⊙ LN(O))
        // The dropout backward, dG·mask/(1−p), is the dropout forward applied to dG with the same
        // stream (same mask, same scale, bit for bit), done in place instead of zero-fill + accumulate.
        // Fused: dO and dAct's U block overwritten (dQ, dK, dV: below), no zero-fills, and the mask
        // applied as dG is read.
        if let s = fusedDropout(stream) {
            backend.layerNormMulDropoutBackwardOverwrite(dOut: dg, x: o, u: act, ldu: w, mean: oMean, rstd: oRstd,
                                                         dx: dO, du: dAct, rows: t, cols: hv, p: dropout, stream: s)
        } else if Self.fused {
            stream?.forward(x: dg, out: dg, rows: t, width: hv, p: dropout, backend: backend, workspace: ws)
            backend.layerNormMulBackwardOverwrite(dOut: dg, x: o, u: act, ldu: w, mean: oMean, rstd: oRstd, dx: dO,
                                                  du: dAct, rows: t, cols: hv)
        } else {
            stream?.forward(x: dg, out: dg, rows: t, width: hv, p: dropout, backend: backend, workspace: ws)
            backend.fill(dAct, 0)
            backend.fill(dO, 0)
            backend.layerNormMulBackward(dOut: dg, x: o, u: act, ldu: w, mean: oMean, rstd: oRstd, dx: dO, du: dAct,
                                         rows: t, cols: hv)
        }
        // O = attention(Q, K, V): dQ, dK, dV overwrite their column blocks of dAct.
        attention(layout, padding?.0) { layout in   // on the real rows 0..<T (of T_cap when padded)
            let t = layout.totalTokens
            backend.hstuAttentionBackward(dOut: dO.view(0, [t, hv]), q: block(act, 2 * hv, tokens: t),
                                    k: block(act, 2 * hv + heads * dqk, tokens: t), v: block(act, hv, tokens: t),
                                    rowStride: w, layout: layout, timestamps: timestamps, positionWeights: positionWeights,
                                    timeWeights: timeWeights, heads: heads, dqk: dqk, dv: dv, paddedWidth: paddedWidth,
                                    dq: block(dAct, 2 * hv, tokens: t), dk: block(dAct, 2 * hv + heads * dqk, tokens: t),
                                    dv: block(dAct, hv, tokens: t), dPositionWeights: dPositionWeights,
                                    dTimeWeights: dTimeWeights)
        }
        padding?.0.maskGradients(dAct, rows: t, width: w, backend: backend)
        // [U|V|Q|K] = SiLU(X̂·W_uvqk)
        if Self.fused {
            backend.siluBackwardOverwrite(dOut: dAct, x: pre, dx: dPre, count: t * w)
        } else {
            backend.fill(dPre, 0)
            backend.siluBackward(dOut: dAct, x: pre, dx: dPre, count: t * w)
        }
        backend.gemm(transA: true, transB: false, m: d, n: w, k: t, alpha: 1, a: xn, lda: d, b: dPre, ldb: w,
                     beta: 1, c: dUvqk, ldc: w)
        backend.gemm(transA: false, transB: true, m: t, n: d, k: w, alpha: 1, a: dPre, lda: w, b: uvqk, ldb: w,
                     beta: 0, c: dXn, ldc: d)
        // X̂ = LN(X), plus the residual
        if Self.fused {   // dx = dy + LN-backward(dXn), one pass
            backend.layerNormBackwardResidual(dOut: dXn, x: x, mean: mean, rstd: rstd, residual: dy, dx: dx, rows: t, cols: d)
        } else {
            backend.copy(dy, to: dx)
            backend.layerNormBackward(dOut: dXn, x: x, mean: mean, rstd: rstd, dx: dx, rows: t, cols: d)
        }
    }
}
