/// Pointwise ops: SiLU, ReLU, products, residual adds, bias add and its gradient, scaling, dropout,
/// row masking by id.
///
/// Conventions (see `Backend`): f32 tensors; `count` / `rows`·`cols` elements are used, starting at
/// each tensor's offset; `ld*` parameters are row strides in elements (so a column block of a wider
/// matrix, e.g. U inside the UVQK projection output (T, 2·H·Dv + 2·H·Dqk), is passed as a view that
/// starts at the block's first element plus its row stride). A forward's `out` is overwritten and may
/// alias its input (in place) unless stated otherwise; a backward ACCUMULATES (+=) into its gradient
/// tensors.
public protocol ElementwiseOps {
    /// out = x · σ(x)  (SiLU), `count` elements. out may alias x.
    func siluForward(x: Tensor, out: Tensor, count: Int)
    /// dx += dOut · σ(x) · (1 + x · (1 − σ(x))), where x is the SiLU *input* (keep it).
    func siluBackward(dOut: Tensor, x: Tensor, dx: Tensor, count: Int)

    /// out = max(x, 0), `count` elements. out may alias x.
    func reluForward(x: Tensor, out: Tensor, count: Int)
    /// dx += dOut · [y > 0]; `y` may be the ReLU input or its output (same sign test).
    func reluBackward(dOut: Tensor, y: Tensor, dx: Tensor, count: Int)

    /// out = a ⊙ b on (rows, cols) matrices with row strides lda, ldb, ldo (e.g. the gating U ⊙ y).
    func mulForward(a: Tensor, lda: Int, b: Tensor, ldb: Int, out: Tensor, ldo: Int, rows: Int, cols: Int)
    /// da += dOut ⊙ b, db += dOut ⊙ a (either may be nil); da has a's layout (stride lda), db b's.
    func mulBackward(dOut: Tensor, ldo: Int, a: Tensor, lda: Int, b: Tensor, ldb: Int,
                     da: Tensor?, db: Tensor?, rows: Int, cols: Int)

    /// out = a + b (residual), `count` elements; out may alias a or b. Its backward is `axpy` of
    /// dOut into da and db.
    func add(a: Tensor, b: Tensor, out: Tensor, count: Int)
    /// y += alpha · x, `count` elements (gradient accumulation, residual backward).
    func axpy(alpha: Float, x: Tensor, y: Tensor, count: Int)
    /// out = alpha · x, `count` elements; out may alias x. Backward: axpy(alpha, dOut, dx).
    func scale(x: Tensor, alpha: Float, out: Tensor, count: Int)

    /// x[r, c] += bias[c] in place; x is (rows, cols) contiguous, bias (cols).
    func addBias(x: Tensor, bias: Tensor, rows: Int, cols: Int)
    /// dBias[c] += Σ_r dOut[r, c] (column sums; deterministic for a given thread count).
    func biasBackward(dOut: Tensor, dBias: Tensor, rows: Int, cols: Int)

    /// Inverted dropout: out[i] = x[i] / (1 − p) if stream.uniform(i) ≥ p else 0, `count` elements,
    /// element index i counted from the tensor's start (row-major). p == 0 copies. out may alias x.
    /// No mask is stored: the backward regenerates it from the same stream.
    func dropoutForward(x: Tensor, out: Tensor, count: Int, p: Float, stream: PhiloxStream)
    /// dx[i] += dOut[i] / (1 − p) if stream.uniform(i) ≥ p (the forward's mask, regenerated).
    func dropoutBackward(dOut: Tensor, dx: Tensor, count: Int, p: Float, stream: PhiloxStream)

    /// out[r, :] = x[r, :] · [ids[r] ≠ 0]; x, out (rows, cols) contiguous, ids i32 (rows). out may
    /// alias x. Its backward is the same op applied to the gradient: see `maskRowsBackward`.
    func maskRows(x: Tensor, ids: Tensor, out: Tensor, rows: Int, cols: Int)
    /// dx[r, :] += dOut[r, :] · [ids[r] ≠ 0].
    func maskRowsBackward(dOut: Tensor, ids: Tensor, dx: Tensor, rows: Int, cols: Int)
}
