import GRCore

/// Generic bodies of the pointwise ops (`ElementwiseOps`); `CPUBackend` calls them with Float, the
/// gradient-check tests with Double. Shapes are given per function; backwards accumulate (+=).
public enum ElementwiseKernels {
    /// Elements per parallel chunk: below this, threading costs more than it saves.
    @usableFromInline static let minChunk = 1 << 14

    /// out = x·σ(x), n elements (x, out (n); may alias).
    @_specialize(where T == Float)
    public static func siluForward<T: KernelFloat>(_ x: UnsafeMutablePointer<T>, _ out: UnsafeMutablePointer<T>, _ n: Int) {
        Parallel.forRanges(n, minChunk: minChunk) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let v = Vec.load(x, i)
                Vec.store(v / (1 + T.vexp(-v)), out, i)
                i += 8
            }
            while i < r.upperBound { let v = x[i]; out[i] = v / (1 + T.kexp(-v)); i += 1 }
        }
    }

    /// dx += dOut · σ(x)(1 + x(1 − σ(x))), n elements (`accumulate` false: dx = …, overwritten).
    @_specialize(where T == Float)
    public static func siluBackward<T: KernelFloat>(_ dOut: UnsafeMutablePointer<T>, _ x: UnsafeMutablePointer<T>,
                                                    _ dx: UnsafeMutablePointer<T>, _ n: Int, accumulate: Bool = true) {
        Parallel.forRanges(n, minChunk: minChunk) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let v = Vec.load(x, i)
                let s = 1 / (1 + T.vexp(-v))
                let g = Vec.load(dOut, i) * s * (1 + v * (1 - s))
                Vec.store(accumulate ? Vec.load(dx, i) + g : g, dx, i)
                i += 8
            }
            while i < r.upperBound {
                let v = x[i], s = 1 / (1 + T.kexp(-v))
                let g = dOut[i] * s * (1 + v * (1 - s))
                dx[i] = accumulate ? dx[i] + g : g
                i += 1
            }
        }
    }

    /// out = max(x, 0), n elements.
    @_specialize(where T == Float)
    public static func reluForward<T: KernelFloat>(_ x: UnsafeMutablePointer<T>, _ out: UnsafeMutablePointer<T>, _ n: Int) {
        Parallel.forRanges(n, minChunk: minChunk) { r in
            for i in r { out[i] = x[i] > 0 ? x[i] : 0 }
        }
    }

    /// dx += dOut · [y > 0], n elements.
    @_specialize(where T == Float)
    public static func reluBackward<T: KernelFloat>(_ dOut: UnsafeMutablePointer<T>, _ y: UnsafeMutablePointer<T>,
                                                    _ dx: UnsafeMutablePointer<T>, _ n: Int) {
        Parallel.forRanges(n, minChunk: minChunk) { r in
            for i in r where y[i] > 0 { dx[i] += dOut[i] }
        }
    }

    /// out = a ⊙ b on (rows, cols) with row strides lda, ldb, ldo.
    @_specialize(where T == Float)
    public static func mulForward<T: KernelFloat>(_ a: UnsafeMutablePointer<T>, _ lda: Int, _ b: UnsafeMutablePointer<T>,
                                                  _ ldb: Int, _ out: UnsafeMutablePointer<T>, _ ldo: Int,
                                                  _ rows: Int, _ cols: Int) {
        Parallel.forRanges(rows, minChunk: max(1, minChunk / max(cols, 1))) { rr in
            for r in rr {
                let pa = a + r * lda, pb = b + r * ldb, po = out + r * ldo
                for c in 0..<cols { po[c] = pa[c] * pb[c] }
            }
        }
    }

    /// da += dOut ⊙ b, db += dOut ⊙ a (rows, cols), each with its primal's stride.
    @_specialize(where T == Float)
    public static func mulBackward<T: KernelFloat>(_ dOut: UnsafeMutablePointer<T>, _ ldo: Int,
                                                   _ a: UnsafeMutablePointer<T>, _ lda: Int,
                                                   _ b: UnsafeMutablePointer<T>, _ ldb: Int,
                                                   _ da: UnsafeMutablePointer<T>?, _ db: UnsafeMutablePointer<T>?,
                                                   _ rows: Int, _ cols: Int) {
        Parallel.forRanges(rows, minChunk: max(1, minChunk / max(cols, 1))) { rr in
            for r in rr {
                let g = dOut + r * ldo
                if let da { let pa = da + r * lda, pb = b + r * ldb; for c in 0..<cols { pa[c] += g[c] * pb[c] } }
                if let db { let pb = db + r * ldb, pa = a + r * lda; for c in 0..<cols { pb[c] += g[c] * pa[c] } }
            }
        }
    }

    /// out = a + b, n elements.
    @_specialize(where T == Float)
    public static func add<T: KernelFloat>(_ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>,
                                           _ out: UnsafeMutablePointer<T>, _ n: Int) {
        Parallel.forRanges(n, minChunk: minChunk) { r in
            for i in r { out[i] = a[i] + b[i] }
        }
    }

    /// y += alpha·x, n elements.
    @_specialize(where T == Float)
    public static func axpy<T: KernelFloat>(_ alpha: T, _ x: UnsafeMutablePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int) {
        Parallel.forRanges(n, minChunk: minChunk) { r in
            Vec.axpy(alpha, x + r.lowerBound, y + r.lowerBound, r.count)
        }
    }

    /// out = alpha·x, n elements.
    @_specialize(where T == Float)
    public static func scale<T: KernelFloat>(_ x: UnsafeMutablePointer<T>, _ alpha: T, _ out: UnsafeMutablePointer<T>, _ n: Int) {
        Parallel.forRanges(n, minChunk: minChunk) { r in
            for i in r { out[i] = alpha * x[i] }
        }
    }

    /// x[r, c] += bias[c]; x (rows, cols), bias (cols).
    @_specialize(where T == Float)
    public static func addBias<T: KernelFloat>(_ x: UnsafeMutablePointer<T>, _ bias: UnsafeMutablePointer<T>,
                                               _ rows: Int, _ cols: Int) {
        Parallel.forRanges(rows, minChunk: max(1, minChunk / max(cols, 1))) { rr in
            for r in rr {
                let p = x + r * cols
                for c in 0..<cols { p[c] += bias[c] }
            }
        }
    }

    /// Rows per partial sum in `biasBackward`: fixed, so the result does not depend on threads.
    @usableFromInline static let biasRowBlock = 512

    /// dBias[c] += Σ_r dOut[r, c]; dOut (rows, cols). Partial sums over fixed blocks of rows, then
    /// added in block order: bit-identical whatever the thread count.
    @_specialize(where T == Float)
    public static func biasBackward<T: KernelFloat>(_ dOut: UnsafeMutablePointer<T>, _ dBias: UnsafeMutablePointer<T>,
                                                    _ rows: Int, _ cols: Int) {
        if rows == 0 || cols == 0 { return }
        let blocks = (rows + biasRowBlock - 1) / biasRowBlock
        let partial = UnsafeMutablePointer<T>.allocate(capacity: blocks * cols)
        defer { partial.deallocate() }
        partial.initialize(repeating: 0, count: blocks * cols)
        Parallel.forRanges(blocks) { br in
            for blk in br {
                let acc = partial + blk * cols
                for r in (blk * biasRowBlock)..<min(rows, (blk + 1) * biasRowBlock) {
                    Vec.axpy(1, dOut + r * cols, acc, cols)
                }
            }
        }
        for blk in 0..<blocks { Vec.axpy(1, partial + blk * cols, dBias, cols) }
    }

    /// out[i] = x[i]/(1−p) if stream.uniform(i) ≥ p else 0 (i < n); p == 0 copies.
    @_specialize(where T == Float)
    public static func dropoutForward<T: KernelFloat>(_ x: UnsafeMutablePointer<T>, _ out: UnsafeMutablePointer<T>,
                                                      _ n: Int, _ p: Float, _ stream: PhiloxStream) {
        precondition(p >= 0 && p < 1, "dropout probability \(p) not in [0, 1)")
        if p == 0 {
            if x != out { Parallel.forRanges(n, minChunk: minChunk) { r in for i in r { out[i] = x[i] } } }
            return
        }
        let s = T(1 / (1 - Double(p)))
        if T.self == Float.self {
            // Same values as the generic loop below, 8 lanes at a time.
            let xf = UnsafeMutableRawPointer(x).assumingMemoryBound(to: Float.self)
            let of = UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self)
            let sf = Float(1 / (1 - Double(p)))
            forMaskGroups(n, p, stream) { lo, hi, w, threshold in
                var i = lo
                while i + 8 <= hi {
                    var v = Vec.load(xf, i) * sf
                    v.replace(with: 0, where: .!keepMask8(w, i, threshold))
                    Vec.store(v, of, i)
                    i += 8
                }
                while i < hi { of[i] = (w[i] >> 8) >= threshold ? xf[i] * sf : 0; i += 1 }
            }
            return
        }
        forMaskGroups(n, p, stream) { lo, hi, w, threshold in
            for i in lo..<hi { out[i] = (w[i] >> 8) >= threshold ? x[i] * s : 0 }
        }
    }

    /// Lanes i ..< i + 8 kept by the dropout mask: (words[i + l] >> 8) ≥ threshold (both < 2²⁴, so
    /// the signed 32-bit compare is exact).
    @inlinable @inline(__always)
    static func keepMask8(_ w: UnsafeMutablePointer<UInt32>, _ i: Int, _ threshold: UInt32) -> SIMDMask<SIMD8<Int32>> {
        let words = UnsafeRawPointer(w + i).loadUnaligned(as: SIMD8<UInt32>.self)
        return unsafeBitCast(words &>> 8, to: SIMD8<Int32>.self) .>= SIMD8<Int32>(repeating: Int32(threshold))
    }

    /// dx[i] += dOut[i]/(1−p) where the forward kept element i.
    @_specialize(where T == Float)
    public static func dropoutBackward<T: KernelFloat>(_ dOut: UnsafeMutablePointer<T>, _ dx: UnsafeMutablePointer<T>,
                                                       _ n: Int, _ p: Float, _ stream: PhiloxStream) {
        precondition(p >= 0 && p < 1, "dropout probability \(p) not in [0, 1)")
        if p == 0 { axpy(1, dOut, dx, n); return }
        let s = T(1 / (1 - Double(p)))
        forMaskGroups(n, p, stream) { lo, hi, w, threshold in
            for i in lo..<hi { dx[i] += (w[i] >> 8) >= threshold ? dOut[i] * s : 0 }
        }
    }

    /// Runs body(lo, hi, words, threshold) over groups of 32 numbers covering 0..<n, in parallel;
    /// element i is kept ⟺ stream.uniform(i) ≥ p ⟺ (words[i] >> 8) ≥ threshold = ⌈p·2²⁴⌉
    /// (uniform(i) = (word_i >> 8)·2⁻²⁴ exactly, so the test is done on integers).
    @inlinable @inline(__always)
    static func forMaskGroups(_ n: Int, _ p: Float, _ stream: PhiloxStream,
                              _ body: (Int, Int, UnsafeMutablePointer<UInt32>, UInt32) -> Void) {
        let threshold = UInt32((Double(p) * 16_777_216).rounded(.up))
        let gen = PhiloxBatch(stream)
        let groups = (n + 31) / 32
        Parallel.forRanges(groups, minChunk: minChunk / 32) { gr in
            gen.forEachGroup(in: (gr.lowerBound * 32)..<min(n, gr.upperBound * 32)) { lo, hi, w in
                body(lo, hi, w, threshold)
            }
        }
    }

    /// out[r, :] = x[r, :]·[ids[r] ≠ 0]; (rows, cols).
    @_specialize(where T == Float)
    public static func maskRows<T: KernelFloat>(_ x: UnsafeMutablePointer<T>, _ ids: UnsafeMutablePointer<Int32>,
                                                _ out: UnsafeMutablePointer<T>, _ rows: Int, _ cols: Int) {
        Parallel.forRanges(rows, minChunk: max(1, minChunk / max(cols, 1))) { rr in
            for r in rr {
                let keep = ids[r] != 0
                for c in 0..<cols { out[r * cols + c] = keep ? x[r * cols + c] : 0 }
            }
        }
    }

    /// dx[r, :] += dOut[r, :]·[ids[r] ≠ 0].
    @_specialize(where T == Float)
    public static func maskRowsBackward<T: KernelFloat>(_ dOut: UnsafeMutablePointer<T>, _ ids: UnsafeMutablePointer<Int32>,
                                                        _ dx: UnsafeMutablePointer<T>, _ rows: Int, _ cols: Int) {
        Parallel.forRanges(rows, minChunk: max(1, minChunk / max(cols, 1))) { rr in
            for r in rr where ids[r] != 0 { Vec.axpy(1, dOut + r * cols, dx + r * cols, cols) }
        }
    }
}
