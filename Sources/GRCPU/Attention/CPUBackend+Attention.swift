import GRCore

/// `AttentionOps` on the CPU: checks shapes, then runs `HSTUAttentionKernel` /
/// `SoftmaxAttentionKernel` in Float (f32 tensors) or Double (f64 tensors, for gradient checks).
extension CPUBackend {
    public func hstuAttentionForward(q: Tensor, k: Tensor, v: Tensor, rowStride: Int, layout: JaggedLayout,
                                     timestamps: Tensor, positionWeights: Tensor, timeWeights: Tensor,
                                     heads: Int, dqk: Int, dv: Int, paddedWidth: Int, out: Tensor) {
        checkHSTU(q: q, k: k, v: v, rowStride: rowStride, layout: layout, timestamps: timestamps,
                  positionWeights: positionWeights, timeWeights: timeWeights, heads: heads, dqk: dqk, dv: dv,
                  paddedWidth: paddedWidth)
        precondition(out.dtype == q.dtype && out.count == layout.totalTokens * heads * dv,
                     "hstuAttentionForward: out must be (T, H·Dv) = (\(layout.totalTokens), \(heads * dv)) \(q.dtype), got \(out.shape) \(out.dtype)")
        switch q.dtype {
        case .f32:
            hstuKernel(Float.self, q: q, k: k, v: v, rowStride: rowStride, layout: layout, timestamps: timestamps,
                       positionWeights: positionWeights, timeWeights: timeWeights, heads: heads, dqk: dqk, dv: dv,
                       paddedWidth: paddedWidth) { $0.forward(out: out.typed(Float.self)) }
        case .f64:
            hstuKernel(Double.self, q: q, k: k, v: v, rowStride: rowStride, layout: layout, timestamps: timestamps,
                       positionWeights: positionWeights, timeWeights: timeWeights, heads: heads, dqk: dqk, dv: dv,
                       paddedWidth: paddedWidth) { $0.forward(out: out.typed(Double.self)) }
        default:
            preconditionFailure("hstuAttentionForward: unsupported dtype \(q.dtype) (f32 or f64)")
        }
    }

    public func hstuAttentionBackward(dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, rowStride: Int,
                                      layout: JaggedLayout, timestamps: Tensor, positionWeights: Tensor,
                                      timeWeights: Tensor, heads: Int, dqk: Int, dv: Int, paddedWidth: Int,
                                      dq: Tensor, dk: Tensor, dv dV: Tensor,
                                      dPositionWeights: Tensor, dTimeWeights: Tensor) {
        checkHSTU(q: q, k: k, v: v, rowStride: rowStride, layout: layout, timestamps: timestamps,
                  positionWeights: positionWeights, timeWeights: timeWeights, heads: heads, dqk: dqk, dv: dv,
                  paddedWidth: paddedWidth)
        let t = layout.totalTokens
        precondition(dOut.dtype == q.dtype && dOut.count == t * heads * dv,
                     "hstuAttentionBackward: dOut must be (T, H·Dv) = (\(t), \(heads * dv)), got \(dOut.shape)")
        checkStrided("dq", dq, rows: t, rowStride: rowStride, used: heads * dqk, dtype: q.dtype)
        checkStrided("dk", dk, rows: t, rowStride: rowStride, used: heads * dqk, dtype: q.dtype)
        checkStrided("dv", dV, rows: t, rowStride: rowStride, used: heads * dv, dtype: q.dtype)
        precondition(dPositionWeights.dtype == q.dtype && dPositionWeights.count == 2 * paddedWidth - 1,
                     "hstuAttentionBackward: dPositionWeights must be (2N − 1) = (\(2 * paddedWidth - 1))")
        precondition(dTimeWeights.dtype == q.dtype && dTimeWeights.count == TimeBucket.count,
                     "hstuAttentionBackward: dTimeWeights must be (\(TimeBucket.count))")
        func run<S: AttentionScalar>(_: S.Type) {
            hstuKernel(S.self, q: q, k: k, v: v, rowStride: rowStride, layout: layout, timestamps: timestamps,
                       positionWeights: positionWeights, timeWeights: timeWeights, heads: heads, dqk: dqk, dv: dv,
                       paddedWidth: paddedWidth) {
                $0.backward(dOut: dOut.typed(S.self), dq: dq.typed(S.self), dk: dk.typed(S.self),
                            dV: dV.typed(S.self), dPositionWeights: dPositionWeights.typed(S.self),
                            dTimeWeights: dTimeWeights.typed(S.self))
            }
        }
        switch q.dtype {
        case .f32: run(Float.self)
        case .f64: run(Double.self)
        default: preconditionFailure("hstuAttentionBackward: unsupported dtype \(q.dtype) (f32 or f64)")
        }
    }

    public func softmaxAttentionForward(q: Tensor, k: Tensor, v: Tensor, rowStride: Int,
                                        batch: Int, width: Int, dim: Int, heads: Int,
                                        dropout: Float, dropoutStream: PhiloxStream?,
                                        probs: Tensor, out: Tensor) {
        checkSoftmax(q: q, k: k, v: v, rowStride: rowStride, batch: batch, width: width, dim: dim, heads: heads,
                     dropout: dropout, probs: probs)
        precondition(out.dtype == q.dtype && out.count == batch * width * dim,
                     "softmaxAttentionForward: out must be (B, N, D) = (\(batch), \(width), \(dim)), got \(out.shape)")
        func run<S: AttentionScalar>(_: S.Type) {
            let kernel = SoftmaxAttentionKernel<S>(
                q: q.typed(S.self), k: k.typed(S.self), v: v.typed(S.self), rowStride: rowStride,
                batch: batch, n: width, dim: dim, heads: heads, dropout: dropout, stream: dropoutStream)
            kernel.forward(probs: probs.typed(S.self), out: out.typed(S.self))
        }
        switch q.dtype {
        case .f32: run(Float.self)
        case .f64: run(Double.self)
        default: preconditionFailure("softmaxAttentionForward: unsupported dtype \(q.dtype) (f32 or f64)")
        }
    }

    public func softmaxAttentionBackward(dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, rowStride: Int,
                                         batch: Int, width: Int, dim: Int, heads: Int,
                                         dropout: Float, dropoutStream: PhiloxStream?, probs: Tensor,
                                         dq: Tensor, dk: Tensor, dv dV: Tensor) {
        checkSoftmax(q: q, k: k, v: v, rowStride: rowStride, batch: batch, width: width, dim: dim, heads: heads,
                     dropout: dropout, probs: probs)
        precondition(dOut.dtype == q.dtype && dOut.count == batch * width * dim,
                     "softmaxAttentionBackward: dOut must be (B, N, D) = (\(batch), \(width), \(dim)), got \(dOut.shape)")
        checkStrided("dq", dq, rows: batch * width, rowStride: rowStride, used: dim, dtype: q.dtype)
        checkStrided("dk", dk, rows: batch * width, rowStride: rowStride, used: dim, dtype: q.dtype)
        checkStrided("dv", dV, rows: batch * width, rowStride: rowStride, used: dim, dtype: q.dtype)
        func run<S: AttentionScalar>(_: S.Type) {
            let kernel = SoftmaxAttentionKernel<S>(
                q: q.typed(S.self), k: k.typed(S.self), v: v.typed(S.self), rowStride: rowStride,
                batch: batch, n: width, dim: dim, heads: heads, dropout: dropout, stream: dropoutStream)
            kernel.backward(dOut: dOut.typed(S.self), probs: probs.typed(S.self), dq: dq.typed(S.self),
                            dk: dk.typed(S.self), dV: dV.typed(S.self))
        }
        switch q.dtype {
        case .f32: run(Float.self)
        case .f64: run(Double.self)
        default: preconditionFailure("softmaxAttentionBackward: unsupported dtype \(q.dtype) (f32 or f64)")
        }
    }

    // MARK: checks

    private func checkStrided(_ name: String, _ x: Tensor, rows: Int, rowStride: Int, used: Int, dtype: DType) {
        precondition(x.device == .cpu && x.dtype == dtype, "attention: \(name) must be a cpu \(dtype) tensor, got \(x.device) \(x.dtype)")
        precondition(used <= rowStride, "attention: \(name) uses \(used) columns but rowStride is \(rowStride)")
        precondition(rows == 0 || x.count >= (rows - 1) * rowStride + used,
                     "attention: \(name) holds \(x.count) elements, needs (\(rows) − 1)·\(rowStride) + \(used)")
    }

    private func checkHSTU(q: Tensor, k: Tensor, v: Tensor, rowStride: Int, layout: JaggedLayout,
                           timestamps: Tensor, positionWeights: Tensor, timeWeights: Tensor,
                           heads: Int, dqk: Int, dv: Int, paddedWidth n: Int) {
        precondition(q.dtype == .f32 || q.dtype == .f64, "hstuAttention: q must be f32 or f64, got \(q.dtype)")
        precondition(heads > 0 && dqk > 0 && dv > 0 && n > 0, "hstuAttention: heads, dqk, dv, paddedWidth must be > 0")
        let t = layout.totalTokens
        checkStrided("q", q, rows: t, rowStride: rowStride, used: heads * dqk, dtype: q.dtype)
        checkStrided("k", k, rows: t, rowStride: rowStride, used: heads * dqk, dtype: q.dtype)
        checkStrided("v", v, rows: t, rowStride: rowStride, used: heads * dv, dtype: q.dtype)
        precondition(timestamps.dtype == .i64 && timestamps.count == layout.batchSize * n,
                     "hstuAttention: timestamps must be i64 (B, N) = (\(layout.batchSize), \(n)), got \(timestamps.dtype) \(timestamps.shape)")
        precondition(positionWeights.dtype == q.dtype && positionWeights.count == 2 * n - 1,
                     "hstuAttention: positionWeights must be (2N − 1) = (\(2 * n - 1)), got \(positionWeights.shape)")
        precondition(timeWeights.dtype == q.dtype && timeWeights.count == TimeBucket.count,
                     "hstuAttention: timeWeights must be (\(TimeBucket.count)), got \(timeWeights.shape)")
        for b in 0..<layout.batchSize {
            precondition(layout.length(b) <= n, "hstuAttention: sequence \(b) has length \(layout.length(b)) > paddedWidth \(n)")
        }
    }

    private func checkSoftmax(q: Tensor, k: Tensor, v: Tensor, rowStride: Int, batch: Int, width: Int, dim: Int,
                              heads: Int, dropout: Float, probs: Tensor) {
        precondition(q.dtype == .f32 || q.dtype == .f64, "softmaxAttention: q must be f32 or f64, got \(q.dtype)")
        precondition(heads > 0 && dim % heads == 0, "softmaxAttention: dim \(dim) must be a multiple of heads \(heads)")
        precondition(width > 0 && batch >= 0, "softmaxAttention: width must be > 0")
        precondition(dropout >= 0 && dropout < 1, "softmaxAttention: dropout \(dropout) must be in [0, 1)")
        for (name, x) in [("q", q), ("k", k), ("v", v)] {
            checkStrided(name, x, rows: batch * width, rowStride: rowStride, used: dim, dtype: q.dtype)
        }
        precondition(probs.dtype == q.dtype && probs.count == batch * heads * width * width,
                     "softmaxAttention: probs must be (B, H, N, N) = (\(batch), \(heads), \(width), \(width)), got \(probs.shape)")
    }

    private func hstuKernel<S: AttentionScalar>(_: S.Type, q: Tensor, k: Tensor, v: Tensor, rowStride: Int,
                                                layout: JaggedLayout, timestamps: Tensor, positionWeights: Tensor,
                                                timeWeights: Tensor, heads: Int, dqk: Int, dv: Int, paddedWidth: Int,
                                                _ body: (HSTUAttentionKernel<S>) -> Void) {
        TimeBucket.table.withUnsafeBufferPointer { table in
            TimeBucket.thresholds.withUnsafeBufferPointer { thresholds in
                body(HSTUAttentionKernel<S>(
                    q: q.typed(S.self), k: k.typed(S.self), v: v.typed(S.self), rowStride: rowStride,
                    offsets: layout.offsets.map { Int($0) }, timestamps: timestamps.int64s, n: paddedWidth,
                    positionWeights: positionWeights.typed(S.self), timeWeights: timeWeights.typed(S.self),
                    heads: heads, dqk: dqk, dv: dv, table: table.baseAddress!, thresholds: thresholds.baseAddress!))
            }
        }
    }
}

extension Tensor {
    /// Host pointer as `S` (f32 ↔ Float, f64 ↔ Double), checked.
    @inline(__always)
    func typed<S: AttentionScalar>(_: S.Type) -> UnsafeMutablePointer<S> {
        precondition(device == .cpu && dtype.size == MemoryLayout<S>.size && (dtype == .f32 || dtype == .f64),
                     "attention: tensor \(shape) \(dtype) read as \(S.self)")
        return rawPointer.assumingMemoryBound(to: S.self)
    }
}
