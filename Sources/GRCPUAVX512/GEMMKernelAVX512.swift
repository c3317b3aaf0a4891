// The AVX-512 copy of the GEMM macro/micro-kernel. This module is compiled with
// `-target-cpu skylake-avx512`; GRCPU calls it only after `gr_cpu_supports_avx512()` said yes.
// Same contract as `GEMMKernelAVX2` in GRCPU (see docs/cpu-gemm.md), with a 6 × 32 register tile of
// `SIMD16<Float>` (12 zmm accumulators).

#if arch(x86_64)
import _GRCPUShims
/// The 6 × 32 AVX-512 GEMM kernel (packed B panels, A read through strides).
public enum GEMMKernelAVX512 {
    /// Rows of the register tile (MR).
    public static let mr = 6
    /// Columns of the register tile (NR): two `SIMD16<Float>`.
    public static let nr = 32

    /// C[0..<mc, 0..<nc] = alpha · Â · B̂ + beta · C (beta == 0: C is not read).
    ///
    /// Â (mc × kc) is read through strides: row tile t (rows t·MR ..< t·MR + MR) starts at
    /// `a + t·tileStrideA`, and its element (r, p) is at `[r·rowStrideA + p·colStrideA]`; rows past `mc`
    /// are never read. B̂ (kc × nc) is ceil(nc / NR) panels, panel j at `b + j·bPanelStride`, its
    /// element (p, c) at `[p·bRowStride + c]`: either packed (bRowStride NR, bPanelStride kc·NR,
    /// zero-padded past nc) or row-major B read in place (bRowStride ldb, bPanelStride NR; then nc
    /// must be a multiple of NR, since a panel always reads NR columns).
    /// C is row-major with row stride `ldc`.
    @inline(never)
    public static func macroKernel(mc: Int, nc: Int, kc: Int,
                                   a: UnsafePointer<Float>, tileStrideA: Int, rowStrideA: Int, colStrideA: Int,
                                   b: UnsafePointer<Float>, bRowStride: Int, bPanelStride: Int,
                                   c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
        let mr = 6, nr = 32
        var j = 0
        while j < nc {
            let cols = min(nr, nc - j)
            let panel = b + (j / nr) * bPanelStride
            var i = 0
            while i < mc {
                let rows = min(mr, mc - i)
                // First panel, row-major A: prefetch the next tile's rows while this one runs, one
                // cache line per k step (the tall-skinny products stream A from memory in six
                // interleaved row runs, which the hardware prefetcher follows poorly). Column-major
                // A (TN) is not prefetched: the same scheme one row of stored A ahead along M
                // measured no gain.
                let tile = a + (i / mr) * tileStrideA
                var pf = UnsafeRawPointer(a), pfEnd = pf, pfStep = 0
                if j == 0 && colStrideA == 1 && i + mr < mc {
                    let next = tile + tileStrideA
                    pf = UnsafeRawPointer(next)
                    pfEnd = UnsafeRawPointer(next + (min(mr, mc - i - mr) - 1) * rowStrideA + kc)
                    pfStep = 64
                }
                microKernel(kc: kc, a: tile, rowStrideA: rowStrideA, colStrideA: colStrideA,
                            rows: rows, b: panel, bRowBytes: bRowStride * 4, c: c + i * ldc + j, ldc: ldc,
                            cols: cols, alpha: alpha, beta: beta, prefetchA: pf, prefetchAEnd: pfEnd,
                            prefetchAStep: pfStep)
                i += mr
            }
            j += nr
        }
    }

    @inline(__always)
    static func microKernel(kc: Int, a: UnsafePointer<Float>, rowStrideA: Int, colStrideA: Int, rows: Int,
                            b: UnsafePointer<Float>, bRowBytes: Int, c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int,
                            alpha: Float, beta: Float, prefetchA: UnsafeRawPointer, prefetchAEnd: UnsafeRawPointer,
                            prefetchAStep: Int) {
        typealias V = SIMD16<Float>
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
        // One cache line per k step: prefetchA, + step, … while below prefetchAEnd.
        var pf = prefetchA
        for _ in 0..<kc {
            let b0 = pb.loadUnaligned(as: V.self)
            let b1 = pb.loadUnaligned(fromByteOffset: 64, as: V.self)
            if pf < prefetchAEnd {
                gr_prefetch_read(pf)
                pf += prefetchAStep
            }
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

    /// How far ahead (rows of B̂: 1 KiB of a packed panel) the packed kernel prefetches B̂.
    public static let prefetchBRows = 8

    /// Rows of the register tile of the packed-A kernel.
    public static let packedMR = 12

    /// Like `macroKernel` (same B̂ layouts) but Â is packed: ceil(mc / 12) tiles of kc × 12 floats, tile t at
    /// `a + t·kc·12`, element (r, p) at `[p·12 + r]` (zero rows past mc). 12 × 32 register tile
    /// (24 zmm accumulators), so each k step does 24 FMAs for 2 loads of B̂ and 12 broadcasts of Â.
    /// Loop order: each Â tile (12 × kc, in L1) sweeps every B̂ panel, which streams from L2 with a
    /// software prefetch `prefetchBRows` rows ahead (a kc × 32 B̂ panel kept in L1 instead, as BLIS
    /// does, shares the 48 KiB L1 with the streaming Â tiles and measured ≈ 10 % slower).
    @inline(never)
    public static func macroKernelPacked(mc: Int, nc: Int, kc: Int, a: UnsafePointer<Float>,
                                         b: UnsafePointer<Float>, bRowStride: Int, bPanelStride: Int,
                                         c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
        let mr = 12, nr = 32
        var i = 0
        while i < mc {
            let rows = min(mr, mc - i)
            let tile = a + (i / mr) * kc * mr
            var j = 0
            while j < nc {
                let cols = min(nr, nc - j)
                microKernelPacked(kc: kc, a: tile, rows: rows, b: b + (j / nr) * bPanelStride,
                                  bRowBytes: bRowStride * 4, c: c + i * ldc + j,
                                  ldc: ldc, cols: cols, alpha: alpha, beta: beta)
                j += nr
            }
            i += mr
        }
    }

    @inline(__always)
    static func microKernelPacked(kc: Int, a: UnsafePointer<Float>, rows: Int,
                                  b: UnsafePointer<Float>, bRowBytes: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                                  cols: Int,
                                  alpha: Float, beta: Float) {
        typealias V = SIMD16<Float>
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        var c60 = V(), c61 = V(), c70 = V(), c71 = V(), c80 = V(), c81 = V()
        var c90 = V(), c91 = V(), cA0 = V(), cA1 = V(), cB0 = V(), cB1 = V()
        prefetchC(c, ldc: ldc, rows: rows)
        var pb = UnsafeRawPointer(b)
        var pa = a
        let prefetchB = prefetchBRows * bRowBytes
        for _ in 0..<kc {
            let b0 = pb.loadUnaligned(as: V.self)
            let b1 = pb.loadUnaligned(fromByteOffset: 64, as: V.self)
            gr_prefetch_read(pb + prefetchB)
            gr_prefetch_read(pb + prefetchB + 64)
            var x = V(repeating: pa[0])
            c00 = c00.addingProduct(x, b0); c01 = c01.addingProduct(x, b1)
            x = V(repeating: pa[1])
            c10 = c10.addingProduct(x, b0); c11 = c11.addingProduct(x, b1)
            x = V(repeating: pa[2])
            c20 = c20.addingProduct(x, b0); c21 = c21.addingProduct(x, b1)
            x = V(repeating: pa[3])
            c30 = c30.addingProduct(x, b0); c31 = c31.addingProduct(x, b1)
            x = V(repeating: pa[4])
            c40 = c40.addingProduct(x, b0); c41 = c41.addingProduct(x, b1)
            x = V(repeating: pa[5])
            c50 = c50.addingProduct(x, b0); c51 = c51.addingProduct(x, b1)
            x = V(repeating: pa[6])
            c60 = c60.addingProduct(x, b0); c61 = c61.addingProduct(x, b1)
            x = V(repeating: pa[7])
            c70 = c70.addingProduct(x, b0); c71 = c71.addingProduct(x, b1)
            x = V(repeating: pa[8])
            c80 = c80.addingProduct(x, b0); c81 = c81.addingProduct(x, b1)
            x = V(repeating: pa[9])
            c90 = c90.addingProduct(x, b0); c91 = c91.addingProduct(x, b1)
            x = V(repeating: pa[10])
            cA0 = cA0.addingProduct(x, b0); cA1 = cA1.addingProduct(x, b1)
            x = V(repeating: pa[11])
            cB0 = cB0.addingProduct(x, b0); cB1 = cB1.addingProduct(x, b1)
            pb += bRowBytes
            pa += 12
        }
        storeRow(c00, c01, c, cols, alpha, beta)
        if rows > 1 { storeRow(c10, c11, c + ldc, cols, alpha, beta) }
        if rows > 2 { storeRow(c20, c21, c + 2 * ldc, cols, alpha, beta) }
        if rows > 3 { storeRow(c30, c31, c + 3 * ldc, cols, alpha, beta) }
        if rows > 4 { storeRow(c40, c41, c + 4 * ldc, cols, alpha, beta) }
        if rows > 5 { storeRow(c50, c51, c + 5 * ldc, cols, alpha, beta) }
        if rows > 6 { storeRow(c60, c61, c + 6 * ldc, cols, alpha, beta) }
        if rows > 7 { storeRow(c70, c71, c + 7 * ldc, cols, alpha, beta) }
        if rows > 8 { storeRow(c80, c81, c + 8 * ldc, cols, alpha, beta) }
        if rows > 9 { storeRow(c90, c91, c + 9 * ldc, cols, alpha, beta) }
        if rows > 10 { storeRow(cA0, cA1, c + 10 * ldc, cols, alpha, beta) }
        if rows > 11 { storeRow(cB0, cB1, c + 11 * ldc, cols, alpha, beta) }
    }

    /// dst[0..<cols] = alpha · (v0 ‖ v1)[0..<cols] + beta · dst (beta == 0: dst not read); cols in 1...32.
    /// Never touches dst[cols...] (C may be a column block of a wider matrix).
    @inline(__always)
    static func storeRow(_ v0: SIMD16<Float>, _ v1: SIMD16<Float>, _ dst: UnsafeMutablePointer<Float>, _ cols: Int,
                         _ alpha: Float, _ beta: Float) {
        if cols == 32 {
            store(v0, dst, alpha, beta)
            store(v1, dst + 16, alpha, beta)
        } else if cols >= 16 {
            store(v0, dst, alpha, beta)
            if cols > 16 { storeTail(v1, dst + 16, cols - 16, alpha, beta) }
        } else {
            storeTail(v0, dst, cols, alpha, beta)
        }
    }

    /// dst[0..<count] from the first `count` (< 16) lanes of v, in pieces of 8, 4, 2, 1.
    @inline(__always)
    static func storeTail(_ v: SIMD16<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int,
                          _ alpha: Float, _ beta: Float) {
        var off = 0
        var v8 = v.lowHalf
        if count & 8 != 0 { store(v.lowHalf, dst, alpha, beta); v8 = v.highHalf; off = 8 }
        var v4 = v8.lowHalf
        if count & 4 != 0 { store(v8.lowHalf, dst + off, alpha, beta); v4 = v8.highHalf; off += 4 }
        var v2 = v4.lowHalf
        if count & 2 != 0 { store(v4.lowHalf, dst + off, alpha, beta); v2 = v4.highHalf; off += 2 }
        if count & 1 != 0 {
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
            gr_prefetch_write(row + 124)
            row += ldc * 4
        }
    }
}
#endif
