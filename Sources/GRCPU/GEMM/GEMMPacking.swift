/// Packing of GEMM operands into the layouts the register-tile kernels stream through.
/// op(A) is (M, K), op(B) is (K, N); see `GEMMOps.gemm` for the stored layouts.
enum GEMMPacking {
    /// Packs op(B)[p0 ..< p0+kc, j0 ..< j0+nc] into ceil(nc/NR) panels of kc × NR floats:
    /// panel j at `dst + j·kc·NR`, element (p, c) at `[p·NR + c]`, columns past nc zero.
    /// Only panels `panels` are written (so threads can split the work).
    static func packB(transB: Bool, b: UnsafePointer<Float>, ldb: Int, p0: Int, j0: Int, kc: Int, nc: Int,
                      nr: Int, panels: Range<Int>, dst: UnsafeMutablePointer<Float>) {
        for panel in panels {
            let out = dst + panel * kc * nr
            let col0 = j0 + panel * nr
            let cols = min(nr, nc - panel * nr)
            if !transB {
                // B stored (K, N): each row of the panel is a contiguous run.
                var src = b + p0 * ldb + col0
                var o = out
                for _ in 0..<kc {
                    o.update(from: src, count: cols)
                    if cols < nr { (o + cols).update(repeating: 0, count: nr - cols) }
                    src += ldb
                    o += nr
                }
            } else {
                // B stored (N, K): column c of the panel is the contiguous run b[(col0+c)·ldb + p0 ..].
                for cc in 0..<cols {
                    let src = b + (col0 + cc) * ldb + p0
                    var o = out + cc
                    for p in 0..<kc {
                        o.pointee = src[p]
                        o += nr
                    }
                }
                if cols < nr {
                    for p in 0..<kc { (out + p * nr + cols).update(repeating: 0, count: nr - cols) }
                }
            }
        }
    }

    /// Packs op(A)[i0 ..< i0+mc, p0 ..< p0+kc] into ceil(mc/MR) tiles of kc × MR floats:
    /// tile t at `dst + t·kc·MR`, element (r, p) at `[p·MR + r]`, rows past mc zero.
    static func packA(transA: Bool, a: UnsafePointer<Float>, lda: Int, i0: Int, p0: Int, mc: Int, kc: Int,
                      mr: Int, dst: UnsafeMutablePointer<Float>) {
        let tiles = (mc + mr - 1) / mr
        if transA {
            // A stored (K, M): at each p the block's rows are one contiguous run a[p·lda + i0 ..< i0+mc];
            // walk p outermost so each row of A is read once, front to back.
            let fullTiles = mc / mr, tail = mc - fullTiles * mr
            var src = a + p0 * lda + i0
            for p in 0..<kc {
                var o = dst + p * mr
                var s = src
                for _ in 0..<fullTiles {
                    o.update(from: s, count: mr)
                    s += mr
                    o += kc * mr
                }
                if tail > 0 {
                    o.update(from: s, count: tail)
                    (o + tail).update(repeating: 0, count: mr - tail)
                }
                src += lda
            }
            return
        }
        for t in 0..<tiles {
            let out = dst + t * kc * mr
            let row0 = i0 + t * mr
            let rows = min(mr, mc - t * mr)
            // A stored (M, K): row r of the tile is the contiguous run a[(row0+r)·lda + p0 ..].
            for r in 0..<rows {
                let src = a + (row0 + r) * lda + p0
                var o = out + r
                for p in 0..<kc {
                    o.pointee = src[p]
                    o += mr
                }
            }
            if rows < mr {
                for p in 0..<kc { (out + p * mr + rows).update(repeating: 0, count: mr - rows) }
            }
        }
    }
}
