import _GRCPUShims

/// Packing of GEMM operands into the layouts the register-tile kernels stream through.
/// op(A) is (M, K), op(B) is (K, N); see `GEMMOps.gemm` for the stored layouts.
enum GEMMPacking {
    /// Packs op(B)[p0 ..< p0+kc, j0 ..< j0+nc] into ceil(nc/NR) panels of kc × NR floats:
    /// panel j at `dst + j·kc·NR`, element (p, c) at `[p·NR + c]`, columns past nc zero.
    /// Only panels `panels` are written (so threads can split the work).
    static func packB(transB: Bool, b: UnsafePointer<Float>, ldb: Int, p0: Int, j0: Int, kc: Int, nc: Int,
                      nr: Int, panels: Range<Int>, dst: UnsafeMutablePointer<Float>) {
        if panels.isEmpty { return }
        if !transB {
            // B stored (K, N): row p of every panel is a contiguous run of row p of B; walk p
            // outermost so B is read front to back (one stream the prefetcher follows).
            let first = panels.lowerBound, last = panels.upperBound - 1
            let lastCols = min(nr, nc - last * nr)
            var src = b + p0 * ldb + j0 + first * nr
            var o = dst + first * kc * nr
            for _ in 0..<kc {
                var s = src, d = o
                for _ in first..<last {
                    copy(s, d, nr)
                    s += nr
                    d += kc * nr
                }
                copy(s, d, lastCols)
                if lastCols < nr { zero(d + lastCols, nr - lastCols) }
                src += ldb
                o += nr
            }
            return
        }
        for panel in panels {
            let out = dst + panel * kc * nr
            let col0 = j0 + panel * nr
            let cols = min(nr, nc - panel * nr)
            // B stored (N, K): column c of the panel is the contiguous run b[(col0+c)·ldb + p0 ..].
            interleave(b + col0 * ldb + p0, ld: ldb, rows: cols, count: kc, width: nr, out)
            if cols < nr {
                for p in 0..<kc { zero(out + p * nr + cols, nr - cols) }
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
            let ahead = min(kc, prefetchRows)
            for p in 0..<ahead { prefetchRun(src + p * lda, mc) }
            for p in 0..<kc {
                if p + ahead < kc { prefetchRun(src + ahead * lda, mc) }
                var o = dst + p * mr
                var s = src
                for _ in 0..<fullTiles {
                    copy(s, o, mr)
                    s += mr
                    o += kc * mr
                }
                if tail > 0 {
                    copy(s, o, tail)
                    zero(o + tail, mr - tail)
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
            interleave(a + row0 * lda + p0, ld: lda, rows: rows, count: kc, width: mr, out)
            if rows < mr {
                for p in 0..<kc { zero(out + p * mr + rows, mr - rows) }
            }
        }
    }

    /// dst[0..<count] = src[0..<count] in 16/8/4/1-float SIMD pieces, inlined: the packing loops copy
    /// runs of 6–32 floats, where a `memmove` call per run costs more than the copy (it made packing
    /// op(A) of a 2048³ TN product ≈ 15 % of its time).
    @inline(__always)
    static func copy(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst)
        var i = 0
        while i + 16 <= count {
            d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self), toByteOffset: 4 * i,
                         as: SIMD16<Float>.self)
            i += 16
        }
        if i + 8 <= count {
            d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self), toByteOffset: 4 * i,
                         as: SIMD8<Float>.self)
            i += 8
        }
        if i + 4 <= count {
            d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self), toByteOffset: 4 * i,
                         as: SIMD4<Float>.self)
            i += 4
        }
        while i < count {
            dst[i] = src[i]
            i += 1
        }
    }

    /// Rows of a transposed A that `packA` prefetches ahead of the one it copies.
    static let prefetchRows = 8

    /// Prefetches the cache lines of src[0..<count] (one per 64 bytes, and the last one).
    @inline(__always)
    static func prefetchRun(_ src: UnsafePointer<Float>, _ count: Int) {
        var i = 0
        while i < count {
            gr_prefetch_read(src + i)
            i += 16
        }
        gr_prefetch_read(src + (count - 1))
    }

    /// dst[0..<count] = 0 (short runs: the zero padding of partial tiles and panels).
    @inline(__always)
    static func zero(_ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count { dst[i] = 0 }
    }

    /// out[p·width + r] = src[r·ld + p] for r < rows, p < count (a transposing copy of `rows` runs).
    @inline(__always)
    static func interleave(_ src: UnsafePointer<Float>, ld: Int, rows: Int, count: Int, width: Int,
                            _ out: UnsafeMutablePointer<Float>) {
        var r = 0
        while r + 4 <= rows {
            let s0 = src + r * ld, s1 = s0 + ld, s2 = s1 + ld, s3 = s2 + ld
            var o = UnsafeMutableRawPointer(out + r)
            var p = 0
            while p + 4 <= count {
                let x0 = UnsafeRawPointer(s0 + p).loadUnaligned(as: SIMD4<Float>.self)
                let x1 = UnsafeRawPointer(s1 + p).loadUnaligned(as: SIMD4<Float>.self)
                let x2 = UnsafeRawPointer(s2 + p).loadUnaligned(as: SIMD4<Float>.self)
                let x3 = UnsafeRawPointer(s3 + p).loadUnaligned(as: SIMD4<Float>.self)
                // 4 × 4 transpose.
                let y0 = SIMD4(x0[0], x1[0], x2[0], x3[0])
                let y1 = SIMD4(x0[1], x1[1], x2[1], x3[1])
                let y2 = SIMD4(x0[2], x1[2], x2[2], x3[2])
                let y3 = SIMD4(x0[3], x1[3], x2[3], x3[3])
                o.storeBytes(of: y0, as: SIMD4<Float>.self)
                o.storeBytes(of: y1, toByteOffset: width * 4, as: SIMD4<Float>.self)
                o.storeBytes(of: y2, toByteOffset: width * 8, as: SIMD4<Float>.self)
                o.storeBytes(of: y3, toByteOffset: width * 12, as: SIMD4<Float>.self)
                o += width * 16
                p += 4
            }
            while p < count {
                o.storeBytes(of: SIMD4(s0[p], s1[p], s2[p], s3[p]), as: SIMD4<Float>.self)
                o += width * 4
                p += 1
            }
            r += 4
        }
        while r < rows {
            let s = src + r * ld
            var o = out + r
            for p in 0..<count {
                o.pointee = s[p]
                o += width
            }
            r += 1
        }
    }
}
