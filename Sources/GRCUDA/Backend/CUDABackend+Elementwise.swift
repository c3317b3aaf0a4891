import GRCore

extension CUDABackend {
    public func siluForward(x: Tensor, out: Tensor, count: Int) {
        context.launch("gr_silu_fwd", blocks: blocks(count), [.ptr(x), .ptr(out), .i(count)])
    }
    public func siluBackward(dOut: Tensor, x: Tensor, dx: Tensor, count: Int) {
        context.launch("gr_silu_bwd", blocks: blocks(count), [.ptr(dOut), .ptr(x), .ptr(dx), .i(count), .i(1)])
    }
    public func reluForward(x: Tensor, out: Tensor, count: Int) {
        context.launch("gr_relu_fwd", blocks: blocks(count), [.ptr(x), .ptr(out), .i(count)])
    }
    public func reluBackward(dOut: Tensor, y: Tensor, dx: Tensor, count: Int) {
        context.launch("gr_relu_bwd", blocks: blocks(count), [.ptr(dOut), .ptr(y), .ptr(dx), .i(count)])
    }
    public func mulForward(a: Tensor, lda: Int, b: Tensor, ldb: Int, out: Tensor, ldo: Int, rows: Int, cols: Int) {
        context.launch("gr_mul_fwd", blocks: blocks(rows * cols),
                       [.ptr(a), .i(lda), .ptr(b), .i(ldb), .ptr(out), .i(ldo), .i(rows), .i(cols)])
    }
    public func mulBackward(dOut: Tensor, ldo: Int, a: Tensor, lda: Int, b: Tensor, ldb: Int,
                            da: Tensor?, db: Tensor?, rows: Int, cols: Int) {
        if da == nil && db == nil { return }
        context.launch("gr_mul_bwd", blocks: blocks(rows * cols),
                       [.ptr(dOut), .i(ldo), .ptr(a), .i(lda), .ptr(b), .i(ldb), .ptr(da), .ptr(db), .i(rows), .i(cols)])
    }
    public func add(a: Tensor, b: Tensor, out: Tensor, count: Int) {
        context.launch("gr_add", blocks: blocks(count), [.ptr(a), .ptr(b), .ptr(out), .i(count)])
    }
    public func axpy(alpha: Float, x: Tensor, y: Tensor, count: Int) {
        context.launch("gr_axpy", blocks: blocks(count), [.f(alpha), .ptr(x), .ptr(y), .i(count)])
    }
    public func scale(x: Tensor, alpha: Float, out: Tensor, count: Int) {
        context.launch("gr_scale", blocks: blocks(count), [.ptr(x), .f(alpha), .ptr(out), .i(count)])
    }
    public func addBias(x: Tensor, bias: Tensor, rows: Int, cols: Int) {
        context.launch("gr_add_bias", blocks: blocks(rows * cols), [.ptr(x), .ptr(bias), .i(rows), .i(cols)])
    }
    public func biasBackward(dOut: Tensor, dBias: Tensor, rows: Int, cols: Int) {
        if rows == 0 { return }
        context.launch("gr_bias_bwd", blocks: cols, block: 256, [.ptr(dOut), .ptr(dBias), .i(rows), .i(cols)])
    }

    /// keep ⟺ (word >> 8) ≥ ⌈p·2²⁴⌉ and the scale 1/(1 − p) in double, as `ElementwiseKernels`.
    static func dropoutConstants(_ p: Float) -> (threshold: UInt64, scale: Float) {
        precondition(p >= 0 && p < 1, "dropout probability \(p) not in [0, 1)")
        return (UInt64((Double(p) * 16_777_216).rounded(.up)), Float(1 / (1 - Double(p))))
    }

    public func dropoutForward(x: Tensor, out: Tensor, count: Int, p: Float, stream: PhiloxStream) {
        if p == 0 {
            if x.devicePointer != out.devicePointer { copy(x.view(0, [count]), to: out.view(0, [count])) }
            return
        }
        let (th, s) = Self.dropoutConstants(p)
        context.launch("gr_dropout_fwd", blocks: blocks(count),
                       [.ptr(x), .ptr(out), .i(count), .u(th), .f(s), .u(stream.seed), .u(streamID(stream))])
    }
    public func dropoutBackward(dOut: Tensor, dx: Tensor, count: Int, p: Float, stream: PhiloxStream) {
        if p == 0 { axpy(alpha: 1, x: dOut, y: dx, count: count); return }
        let (th, s) = Self.dropoutConstants(p)
        context.launch("gr_dropout_bwd", blocks: blocks(count),
                       [.ptr(dOut), .ptr(dx), .i(count), .u(th), .f(s), .u(stream.seed), .u(streamID(stream))])
    }
    public func maskRows(x: Tensor, ids: Tensor, out: Tensor, rows: Int, cols: Int) {
        context.launch("gr_mask_rows", blocks: blocks(rows * cols), [.ptr(x), .ptr(ids), .ptr(out), .i(rows), .i(cols)])
    }
    public func maskRowsBackward(dOut: Tensor, ids: Tensor, dx: Tensor, rows: Int, cols: Int) {
        context.launch("gr_mask_rows_bwd", blocks: blocks(rows * cols), [.ptr(dOut), .ptr(ids), .ptr(dx), .i(rows), .i(cols)])
    }
}
