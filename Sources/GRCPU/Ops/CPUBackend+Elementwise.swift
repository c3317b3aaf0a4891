import GRCore

extension CPUBackend {
    public func siluForward(x: Tensor, out: Tensor, count: Int) {
        check(count, x, out)
        ElementwiseKernels.siluForward(x.floats, out.floats, count)
    }
    public func siluBackward(dOut: Tensor, x: Tensor, dx: Tensor, count: Int) {
        check(count, dOut, x, dx)
        ElementwiseKernels.siluBackward(dOut.floats, x.floats, dx.floats, count)
    }
    public func reluForward(x: Tensor, out: Tensor, count: Int) {
        check(count, x, out)
        ElementwiseKernels.reluForward(x.floats, out.floats, count)
    }
    public func reluBackward(dOut: Tensor, y: Tensor, dx: Tensor, count: Int) {
        check(count, dOut, y, dx)
        ElementwiseKernels.reluBackward(dOut.floats, y.floats, dx.floats, count)
    }
    public func mulForward(a: Tensor, lda: Int, b: Tensor, ldb: Int, out: Tensor, ldo: Int, rows: Int, cols: Int) {
        checkStrided(rows, cols, (a, lda), (b, ldb), (out, ldo))
        ElementwiseKernels.mulForward(a.floats, lda, b.floats, ldb, out.floats, ldo, rows, cols)
    }
    public func mulBackward(dOut: Tensor, ldo: Int, a: Tensor, lda: Int, b: Tensor, ldb: Int,
                            da: Tensor?, db: Tensor?, rows: Int, cols: Int) {
        checkStrided(rows, cols, (dOut, ldo), (a, lda), (b, ldb))
        if let da { checkStrided(rows, cols, (da, lda)) }
        if let db { checkStrided(rows, cols, (db, ldb)) }
        ElementwiseKernels.mulBackward(dOut.floats, ldo, a.floats, lda, b.floats, ldb, da?.floats, db?.floats, rows, cols)
    }
    public func add(a: Tensor, b: Tensor, out: Tensor, count: Int) {
        check(count, a, b, out)
        ElementwiseKernels.add(a.floats, b.floats, out.floats, count)
    }
    public func axpy(alpha: Float, x: Tensor, y: Tensor, count: Int) {
        check(count, x, y)
        ElementwiseKernels.axpy(alpha, x.floats, y.floats, count)
    }
    public func scale(x: Tensor, alpha: Float, out: Tensor, count: Int) {
        check(count, x, out)
        ElementwiseKernels.scale(x.floats, alpha, out.floats, count)
    }
    public func addBias(x: Tensor, bias: Tensor, rows: Int, cols: Int) {
        check(rows * cols, x); check(cols, bias)
        ElementwiseKernels.addBias(x.floats, bias.floats, rows, cols)
    }
    public func biasBackward(dOut: Tensor, dBias: Tensor, rows: Int, cols: Int) {
        check(rows * cols, dOut); check(cols, dBias)
        ElementwiseKernels.biasBackward(dOut.floats, dBias.floats, rows, cols)
    }
    public func dropoutForward(x: Tensor, out: Tensor, count: Int, p: Float, stream: PhiloxStream) {
        check(count, x, out)
        ElementwiseKernels.dropoutForward(x.floats, out.floats, count, p, stream)
    }
    public func dropoutBackward(dOut: Tensor, dx: Tensor, count: Int, p: Float, stream: PhiloxStream) {
        check(count, dOut, dx)
        ElementwiseKernels.dropoutBackward(dOut.floats, dx.floats, count, p, stream)
    }
    public func maskRows(x: Tensor, ids: Tensor, out: Tensor, rows: Int, cols: Int) {
        check(rows * cols, x, out); checkIds(rows, ids)
        ElementwiseKernels.maskRows(x.floats, ids.int32s, out.floats, rows, cols)
    }
    public func maskRowsBackward(dOut: Tensor, ids: Tensor, dx: Tensor, rows: Int, cols: Int) {
        check(rows * cols, dOut, dx); checkIds(rows, ids)
        ElementwiseKernels.maskRowsBackward(dOut.floats, ids.int32s, dx.floats, rows, cols)
    }
}

// MARK: - argument checks shared by the op families

extension CPUBackend {
    /// Each tensor holds at least `count` elements (its `floats` accessor checks device and dtype).
    func check(_ count: Int, _ tensors: Tensor..., function: StaticString = #function) {
        precondition(count >= 0, "\(function): negative count \(count)")
        for t in tensors {
            precondition(t.count >= count, "\(function): tensor \(t.shape) holds fewer than \(count) elements")
        }
    }
    /// Each (tensor, stride) holds a (rows, cols) matrix with that row stride.
    func checkStrided(_ rows: Int, _ cols: Int, _ tensors: (Tensor, Int)..., function: StaticString = #function) {
        for (t, ld) in tensors {
            precondition(ld >= cols, "\(function): row stride \(ld) < \(cols) columns")
            let need = rows == 0 ? 0 : (rows - 1) * ld + cols
            precondition(t.storage.byteCount / 4 - t.offset >= need,
                         "\(function): tensor \(t.shape) at offset \(t.offset) too small for \(rows)×\(cols) stride \(ld)")
        }
    }
    func checkIds(_ count: Int, _ ids: Tensor, function: StaticString = #function) {
        precondition(ids.dtype == .i32 && ids.count >= count,
                     "\(function): ids must be i32 with ≥ \(count) elements, got \(ids.dtype) \(ids.shape)")
    }
}
