import GRCore
import _GRCPUShims

/// The portable GEMM kernel: a 6 × 16 register tile of `SIMD8<Float>` pairs (12 ymm accumulators
/// under the Haswell floor; NEON quads on arm64). Used when the CPU lacks AVX-512.
/// Same contract as `GEMMKernelAVX512.macroKernel` (see there and docs/cpu-gemm.md).
enum GEMMKernelAVX2 {
    /// Rows of the register tile (MR).
    static let mr = 6
    /// Columns of the register tile (NR): two `SIMD8<Float>`.
    static let nr = 16

    /// C[0..<mc, 0..<nc] = alpha · Â · B̂ + beta · C (beta == 0: C is not read); Â read through
    /// strides (tile t at `a + t·tileStrideA`, element (r, p) at `[r·rowStrideA + p·colStrideA]`),
    /// B̂ in NR-wide panels (panel j at `b + j·bPanelStride`, rows `bRowStride` apart).
    @inline(never)
    static func macroKernel(mc: Int, nc: Int, kc: Int,
                            a: UnsafePointer<Float>, tileStrideA: Int, rowStrideA: Int, colStrideA: Int,
                            b: UnsafePointer<Float>, bRowStride: Int, bPanelStride: Int,
                            c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
        let mr = 6, nr = 16
        var j = 0
        while j < nc {
            let cols = min(nr, nc - j)
            let panel = b + (j / nr) * bPanelStride
            var i = 0
            while i < mc {
                let rows = min(mr, mc - i)
                microKernel(kc: kc, a: a + (i / mr) * tileStrideA, rowStrideA: rowStrideA, colStrideA: colStrideA,
                            rows: rows, b: panel, bRowBytes: bRowStride * 4, c: c + i * ldc + j, ldc: ldc,
                            cols: cols,
                            alpha: alpha, beta: beta)
                i += mr
            }
            j += nr
        }
    }

    @inline(__always)
    static func microKernel(kc: Int, a: UnsafePointer<Float>, rowStrideA: Int, colStrideA: Int, rows: Int,
                            b: UnsafePointer<Float>, bRowBytes: Int, c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int,
                            alpha: Float, beta: Float) {
        typealias V = SIMD8<Float>
        // Rows past `rows` re-read the last valid row; their results are discarded.
        let a0 = a
        let a1 = a + min(1, rows - 1) * rowStrideA
        let a2 = a + min(2, rows - 1) * rowStrideA
        let a3 = a + min(3, rows - 1) * rowStrideA
        let a4 = a + min(4, rows - 1) * rowStrideA
        let a5 = a + min(5, rows - 1) * rowStrideA
        prefetchC(c, ldc: ldc, rows: rows)
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        var pb = UnsafeRawPointer(b)
        var pa = 0
        for _ in 0..<kc {
            let b0 = pb.loadUnaligned(as: V.self)
            let b1 = pb.loadUnaligned(fromByteOffset: 32, as: V.self)
            var x = V(repeating: a0[pa])
            c00 = c00.addingProduct(x, b0); c01 = c01.addingProduct(x, b1)
            x = V(repeating: a1[pa])
            c10 = c10.addingProduct(x, b0); c11 = c11.addingProduct(x, b1)
            x = V(repeating: a2[pa])
            c20 = c20.addingProduct(x, b0); c21 = c21.addingProduct(x, b1)
            x = V(repeating: a3[pa])
            c30 = c30.addingProduct(x, b0); c31 = c31.addingProduct(x, b1)
            x = V(repeating: a4[pa])
            c40 = c40.addingProduct(x, b0); c41 = c41.addingProduct(x, b1)
            x = V(repeating: a5[pa])
            c50 = c50.addingProduct(x, b0); c51 = c51.addingProduct(x, b1)
            pb += bRowBytes
            pa &+= colStrideA
        }
        storeRow(c00, c01, c, cols, alpha, beta)
        if rows > 1 { storeRow(c10, c11, c + ldc, cols, alpha, beta) }
        if rows > 2 { storeRow(c20, c21, c + 2 * ldc, cols, alpha, beta) }
        if rows > 3 { storeRow(c30, c31, c + 3 * ldc, cols, alpha, beta) }
        if rows > 4 { storeRow(c40, c41, c + 4 * ldc, cols, alpha, beta) }
        if rows > 5 { storeRow(c50, c51, c + 5 * ldc, cols, alpha, beta) }
    }

    /// dst[0..<cols] = alpha · (v0 ‖ v1)[0..<cols] + beta · dst (beta == 0: dst not read); cols in 1...16.
    /// Never touches dst[cols...] (C may be a column block of a wider matrix).
    @inline(__always)
    static func storeRow(_ v0: SIMD8<Float>, _ v1: SIMD8<Float>, _ dst: UnsafeMutablePointer<Float>, _ cols: Int,
                         _ alpha: Float, _ beta: Float) {
        if cols == 16 {
            store(v0, dst, alpha, beta)
            store(v1, dst + 8, alpha, beta)
            return
        }
        var v = v0, off = 0
        if cols & 8 != 0 { store(v0, dst, alpha, beta); v = v1; off = 8 }
        var v4 = v.lowHalf
        if cols & 4 != 0 { store(v.lowHalf, dst + off, alpha, beta); v4 = v.highHalf; off += 4 }
        var v2 = v4.lowHalf
        if cols & 2 != 0 { store(v4.lowHalf, dst + off, alpha, beta); v2 = v4.highHalf; off += 2 }
        if cols & 1 != 0 {
            dst[off] = beta == 0 ? alpha * v2[0] : alpha * v2[0] + beta * dst[off]
        }
    }

    @inline(__always)
    static func store<V: SIMD>(_ v: V, _ dst: UnsafeMutablePointer<Float>, _ alpha: Float, _ beta: Float)
        where V.Scalar == Float {
        let p = UnsafeMutableRawPointer(dst)
        var r = v * alpha
        if beta != 0 { r = r.addingProduct(p.loadUnaligned(as: V.self), V(repeating: beta)) }
        p.storeBytes(of: r, as: V.self)
    }

    /// Prefetches the C tile (its first and last cache line per row) before the k loop.
    @inline(__always)
    static func prefetchC(_ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int) {
        var row = UnsafeRawPointer(c)
        for _ in 0..<rows {
            gr_prefetch_write(row)
            gr_prefetch_write(row + 60)
            row += ldc * 4
        }
    }
}
