import GRCore

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
    /// B̂ packed in kc × NR panels.
    @inline(never)
    static func macroKernel(mc: Int, nc: Int, kc: Int,
                            a: UnsafePointer<Float>, tileStrideA: Int, rowStrideA: Int, colStrideA: Int,
                            b: UnsafePointer<Float>,
                            c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
        let mr = 6, nr = 16
        var j = 0
        while j < nc {
            let cols = min(nr, nc - j)
            let panel = b + (j / nr) * kc * nr
            var i = 0
            while i < mc {
                let rows = min(mr, mc - i)
                microKernel(kc: kc, a: a + (i / mr) * tileStrideA, rowStrideA: rowStrideA, colStrideA: colStrideA,
                            rows: rows, b: panel, c: c + i * ldc + j, ldc: ldc, cols: cols,
                            alpha: alpha, beta: beta)
                i += mr
            }
            j += nr
        }
    }

    @inline(__always)
    static func microKernel(kc: Int, a: UnsafePointer<Float>, rowStrideA: Int, colStrideA: Int, rows: Int,
                            b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int,
                            alpha: Float, beta: Float) {
        typealias V = SIMD8<Float>
        // Rows past `rows` re-read the last valid row; their results are discarded.
        let a0 = a
        let a1 = a + min(1, rows - 1) * rowStrideA
        let a2 = a + min(2, rows - 1) * rowStrideA
        let a3 = a + min(3, rows - 1) * rowStrideA
        let a4 = a + min(4, rows - 1) * rowStrideA
        let a5 = a + min(5, rows - 1) * rowStrideA
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
            pb += 64
            pa &+= colStrideA
        }
        if rows == 6 && cols == 16 {
            store(c00, c01, c, alpha, beta)
            store(c10, c11, c + ldc, alpha, beta)
            store(c20, c21, c + 2 * ldc, alpha, beta)
            store(c30, c31, c + 3 * ldc, alpha, beta)
            store(c40, c41, c + 4 * ldc, alpha, beta)
            store(c50, c51, c + 5 * ldc, alpha, beta)
            return
        }
        // Edge tile: spill to a local 6 × 16 tile, then copy the valid part.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 6 * 16) { buf in
            let t = UnsafeMutableRawPointer(buf.baseAddress!)
            let acc = [c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51]
            for (q, v) in acc.enumerated() { t.storeBytes(of: v, toByteOffset: q * 32, as: V.self) }
            let tile = buf.baseAddress!
            for r in 0..<rows {
                let dst = c + r * ldc, src = tile + r * 16
                if beta == 0 {
                    for q in 0..<cols { dst[q] = alpha * src[q] }
                } else {
                    for q in 0..<cols { dst[q] = alpha * src[q] + beta * dst[q] }
                }
            }
        }
    }

    @inline(__always)
    static func store(_ v0: SIMD8<Float>, _ v1: SIMD8<Float>, _ dst: UnsafeMutablePointer<Float>,
                      _ alpha: Float, _ beta: Float) {
        let p = UnsafeMutableRawPointer(dst)
        var r0 = v0 * alpha, r1 = v1 * alpha
        if beta != 0 {
            r0 = r0.addingProduct(p.loadUnaligned(as: SIMD8<Float>.self), beta)
            r1 = r1.addingProduct(p.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self), beta)
        }
        p.storeBytes(of: r0, as: SIMD8<Float>.self)
        p.storeBytes(of: r1, toByteOffset: 32, as: SIMD8<Float>.self)
    }
}
