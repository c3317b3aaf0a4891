import GRCPU
import _GRCPUShims

/// Small SIMD loops of the incremental encoders' attention (a few new query rows against up to N
/// cached keys: too small for the GEMM, and not the jagged layout of the training kernels).
enum InferenceKernels {
    /// Σ_c a[c]·b[c], c < n, in SIMD8 chunks plus a scalar tail.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var c = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while c + 8 <= n {
            acc.addProduct(ra.loadUnaligned(fromByteOffset: 4 * c, as: SIMD8<Float>.self),
                           rb.loadUnaligned(fromByteOffset: 4 * c, as: SIMD8<Float>.self))
            c += 8
        }
        var s = acc.sum()
        while c < n { s += a[c] * b[c]; c += 1 }
        return s
    }

    /// Whether `dots` and `layerNormRows` run their AVX2 kernels (`gr_row_scores_avx2`,
    /// `gr_layernorm_rows_avx2`).
    static let avx2 = gr_cpu_supports_avx2_fma() == 1

    /// out[j] = q·k_j for j < count, k_j = k + j·stride (d floats each): one query against a
    /// row block of keys, 8 keys per SIMD step on AVX2 (no per-key horizontal sum), else `dot`.
    @inline(__always)
    static func dots(_ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, stride: Int, count: Int, _ d: Int,
                     into out: UnsafeMutablePointer<Float>) {
        if count <= 0 { return }
        if avx2 {
            gr_row_scores_avx2(q, k, stride, Int32(count), Int32(d), out)
        } else {
            for j in 0..<count { out[j] = dot(q, k + j * stride, d) }
        }
    }

    /// out = u ⊙ LN(x) per row (u == nil: out = LN(x)), mean and rstd per row: GRCPU's
    /// `NormKernels.layerNormMulForward` (x and out rows `cols` apart, u rows `ldu` apart, one
    /// thread), on AVX2 by `gr_layernorm_rows_avx2` (4 rows per step, masked column tail).
    static func layerNormRows(_ x: UnsafeMutablePointer<Float>, _ u: UnsafeMutablePointer<Float>?, ldu: Int,
                              _ out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                              rstd: UnsafeMutablePointer<Float>, rows: Int, cols: Int, eps: Float) {
        if avx2 {
            gr_layernorm_rows_avx2(x, cols, u, ldu, out, cols, mean, rstd, rows, Int32(cols), eps)
        } else {
            NormKernels.layerNormMulForward(x, u, ldu, out, mean, rstd, rows, cols, eps)
        }
    }

    /// y[c] += alpha·x[c], c < n.
    @inline(__always)
    static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var c = 0
        let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y), va = SIMD8<Float>(repeating: alpha)
        while c + 8 <= n {
            var acc = ry.loadUnaligned(fromByteOffset: 4 * c, as: SIMD8<Float>.self)
            acc.addProduct(va, rx.loadUnaligned(fromByteOffset: 4 * c, as: SIMD8<Float>.self))
            ry.storeBytes(of: acc, toByteOffset: 4 * c, as: SIMD8<Float>.self)
            c += 8
        }
        while c < n { y[c] += alpha * x[c]; c += 1 }
    }

    /// out[c] = Σ_j a[j]·x[j·stride + c] over j < rows, c < n: bit for bit `out` zeroed and then
    /// `axpy(a[j], x + j·stride, out, n)` for j in order (the same FMAs per SIMD8 chunk, the same
    /// separate multiply and add in the tail), with the row kept in registers when n ≤ 32.
    @inline(__always)
    static func weightedRows(_ a: UnsafePointer<Float>, _ x: UnsafePointer<Float>, stride: Int, rows: Int,
                             _ out: UnsafeMutablePointer<Float>, _ n: Int) {
        out.initialize(repeating: 0, count: n)
        guard n <= 32 else {
            for j in 0..<rows { axpy(a[j], x + j * stride, out, n) }
            return
        }
        let chunks = n / 8, tail = n - 8 * chunks
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>(), acc2 = SIMD8<Float>(), acc3 = SIMD8<Float>()
        var rest = SIMD8<Float>()
        for j in 0..<rows {
            let row = UnsafeRawPointer(x + j * stride), va = SIMD8<Float>(repeating: a[j])
            if chunks > 0 { acc0.addProduct(va, row.loadUnaligned(fromByteOffset: 0, as: SIMD8<Float>.self)) }
            if chunks > 1 { acc1.addProduct(va, row.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)) }
            if chunks > 2 { acc2.addProduct(va, row.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)) }
            if chunks > 3 { acc3.addProduct(va, row.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)) }
            for c in 0..<tail { rest[c] += a[j] * x[j * stride + 8 * chunks + c] }
        }
        let o = UnsafeMutableRawPointer(out)
        if chunks > 0 { o.storeBytes(of: acc0, toByteOffset: 0, as: SIMD8<Float>.self) }
        if chunks > 1 { o.storeBytes(of: acc1, toByteOffset: 32, as: SIMD8<Float>.self) }
        if chunks > 2 { o.storeBytes(of: acc2, toByteOffset: 64, as: SIMD8<Float>.self) }
        if chunks > 3 { o.storeBytes(of: acc3, toByteOffset: 96, as: SIMD8<Float>.self) }
        for c in 0..<tail { out[8 * chunks + c] = rest[c] }
    }

    /// a[j] ← SiLU(a[j])·scale, j < n (HSTU's pointwise attention weight, spec §2.2): `InferenceSiLU`
    /// (on AVX2 the serving forward's `gr_silu8`), then the scale.
    @inline(__always)
    static func siluScaled(_ a: UnsafeMutablePointer<Float>, _ n: Int, scale: Float) {
        if n <= 0 { return }
        InferenceSiLU.apply(a, n)
        var j = 0
        let raw = UnsafeMutableRawPointer(a), vs = SIMD8<Float>(repeating: scale)
        while j + 8 <= n {
            raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self) * vs, toByteOffset: 4 * j,
                           as: SIMD8<Float>.self)
            j += 8
        }
        while j < n { a[j] *= scale; j += 1 }
    }

    /// a[j] ← softmax(a)[j], j < n (max-subtracted).
    @inline(__always)
    static func softmax(_ a: UnsafeMutablePointer<Float>, _ n: Int) {
        var top = -Float.infinity
        for j in 0..<n { top = max(top, a[j]) }
        var j = 0, total: Float = 0
        let raw = UnsafeMutableRawPointer(a), shift = SIMD8<Float>(repeating: top)
        while j + 8 <= n {
            let e = Float.exp(raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self) - shift)
            raw.storeBytes(of: e, toByteOffset: 4 * j, as: SIMD8<Float>.self)
            total += e.sum()
            j += 8
        }
        while j < n {
            var lanes = SIMD8<Float>(repeating: 0)
            lanes[0] = a[j] - top
            a[j] = Float.exp(lanes)[0]
            total += a[j]
            j += 1
        }
        let inv = 1 / total
        for j in 0..<n { a[j] *= inv }
    }
}
