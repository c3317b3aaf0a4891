/// Fused jagged HSTU attention with relative position/time bias (spec §2.2 steps 3-4, §2.3), and
/// causal multi-head softmax attention for SASRec (spec §3 step 2, the core between the in- and
/// out-projections).
///
/// Strided operands: `q`, `k`, `v` (and their gradients) are views whose *first element* is the
/// first element of row 0 of the block; row t starts `rowStride` elements later. So they can be
/// column blocks of one projection output without copies, e.g. for HSTU's
/// UVQK (T, W = 2·H·Dv + 2·H·Dqk) the Q block is `uvqk.view(2·H·Dv, [T·W − 2·H·Dv])`.
/// Inside a row, head h owns the contiguous slice h·d ..< (h+1)·d.
///
/// Precision: the CPU backend accepts f32 tensors (the fast path) or f64 tensors (the same code
/// in double, used by the finite-difference gradient checks); all float operands of one call must
/// have the same dtype. Timestamps are always i64.
public protocol AttentionOps {
    /// HSTU pointwise attention over a jagged batch. For each sequence b, head h, query i < L_b and
    /// key j ≤ i (keys j ≥ L_b contribute nothing, spec §2.2 step 3):
    ///   s_ij = q_i · k_j + positionWeights[N − 1 + j − i] + timeWeights[bucket(T'[b, i+1] − T'[b, j])]
    ///   out_i = Σ_j SiLU(s_ij) / N · v_j
    /// with T' the timestamps extended by repeating the last column (T'[b, N] = T[b, N−1]),
    /// `bucket` = `TimeBucket.bucket` (spec §2.3), N = `paddedWidth` (the constant normaliser, not L_b).
    /// - q, k: (T, rowStride) strided, H·Dqk values used per row; v: (T, rowStride), H·Dv used.
    /// - timestamps: i64 (B, N), history at 0..<L_b, the target's timestamp at index L_b.
    /// - positionWeights: (2N − 1); timeWeights: (TimeBucket.count = 129).
    /// - out: (T, H·Dv) contiguous, overwritten.
    func hstuAttentionForward(q: Tensor, k: Tensor, v: Tensor, rowStride: Int, layout: JaggedLayout,
                              timestamps: Tensor, positionWeights: Tensor, timeWeights: Tensor,
                              heads: Int, dqk: Int, dv: Int, paddedWidth: Int, out: Tensor)

    /// Backward of `hstuAttentionForward` (recomputes the scores tile by tile).
    /// - dOut: (T, H·Dv) contiguous.
    /// - dq, dk, dV: same strided layout (and `rowStride`) as q, k, v; their H·d columns of each of
    ///   the T rows are OVERWRITTEN (other columns untouched).
    /// - dPositionWeights (2N − 1) and dTimeWeights (129) are ACCUMULATED (+=).
    func hstuAttentionBackward(dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, rowStride: Int,
                               layout: JaggedLayout, timestamps: Tensor, positionWeights: Tensor,
                               timeWeights: Tensor, heads: Int, dqk: Int, dv: Int, paddedWidth: Int,
                               dq: Tensor, dk: Tensor, dv dV: Tensor,
                               dPositionWeights: Tensor, dTimeWeights: Tensor)

    /// Causal multi-head softmax attention on padded sequences (SASRec, spec §3 step 2), PyTorch
    /// `nn.MultiheadAttention` core semantics:
    ///   p_ij = softmax_j≤i( q_i · k_j / √(D/H) ),  p'_ij = p_ij · keep_ij / (1 − dropout)
    ///   out_i = Σ_j p'_ij v_j
    /// Causal mask only (key j > query i disallowed), no key-padding mask, every one of the N rows
    /// is computed (padded rows too). Attention-probability dropout: keep_ij = 1 iff
    /// `dropoutStream.uniform(((b·H + h)·N + i)·N + j) >= dropout`; no dropout when `dropout == 0`
    /// or `dropoutStream == nil`.
    /// - q, k, v: (B·N, rowStride) strided, D = H·(D/H) values used per row (e.g. column blocks of
    ///   one (B·N, 3D) in-projection buffer).
    /// - probs: (B, H, N, N), overwritten with p (before dropout; zeros for j > i), saved for the backward.
    /// - out: (B, N, D) contiguous, overwritten.
    func softmaxAttentionForward(q: Tensor, k: Tensor, v: Tensor, rowStride: Int,
                                 batch: Int, width: Int, dim: Int, heads: Int,
                                 dropout: Float, dropoutStream: PhiloxStream?,
                                 probs: Tensor, out: Tensor)

    /// Backward of `softmaxAttentionForward`; the dropout mask is redrawn from the same stream.
    /// - dOut: (B, N, D) contiguous; probs: as saved by the forward.
    /// - dq, dk, dV: same strided layout as q, k, v; their D columns are OVERWRITTEN.
    func softmaxAttentionBackward(dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, rowStride: Int,
                                  batch: Int, width: Int, dim: Int, heads: Int,
                                  dropout: Float, dropoutStream: PhiloxStream?, probs: Tensor,
                                  dq: Tensor, dk: Tensor, dv dV: Tensor)
}
