import Foundation
import _GRCPUShims
#if arch(x86_64)
import GRCPUAVX512
#endif

/// Building blocks shared by the attention kernels: a tile is `AttentionTile.size` queries ×
/// `AttentionTile.size` keys; operands are packed into 64-byte aligned scratch whose rows are
/// padded to a multiple of 8 elements (`padded(_:)`), so every SIMD8 access is in bounds.
/// Two micro-kernels cover every product of the forward and backward passes:
/// - `dotRows`:  out[r][0..<32] = Σ_d x_r[d] · Bt[d][0..<32]   (x times a transposed tile: S = Q Kᵀ, dA = dO Vᵀ)
/// - `axpyRows`: acc_r[0..<dPad] += Σ_c coeff_r[c] · P[c][0..<dPad]   (tile times rows: O += A V, dV += Aᵀ dO, ...)
enum AttentionTile {
    /// Tile edge (queries and keys). A 32×32 f32 tile is 4 KiB, a few of them fit L1 with the operands.
    static let size = 32

    /// Whether f32 `dotRows` / `axpyRows` run the AVX-512 copies (`AttentionTileAVX512`, module
    /// GRCPUAVX512): when the CPU supports them, unless `GR_ATTENTION_KERNEL=avx2`. Both give
    /// bit-identical results (every output element is the same FMA chain); tests switch it.
    nonisolated(unsafe) public static var useAVX512: Bool = {
        #if arch(x86_64)
        return gr_cpu_supports_avx512() != 0 && ProcessInfo.processInfo.environment["GR_ATTENTION_KERNEL"] != "avx2"
        #else
        return false
        #endif
    }()

    /// n rounded up to a multiple of 8 (one SIMD8 register).
    @inline(__always) static func padded(_ n: Int) -> Int { (n + 7) & ~7 }

    @inline(__always)
    static func load<S: AttentionScalar>(_ p: UnsafePointer<S>) -> SIMD8<S> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<S>.self)
    }

    @inline(__always)
    static func store<S: AttentionScalar>(_ v: SIMD8<S>, _ p: UnsafeMutablePointer<S>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<S>.self)
    }

    /// out0[0..<32] = Σ_d x0[d]·bt[d·32 ..< d·32+32], and the same for x1 → out1 (two rows share
    /// the loads of bt). bt: (d, 32) contiguous.
    @inline(__always)
    static func dotRows2<S: AttentionScalar>(_ x0: UnsafePointer<S>, _ x1: UnsafePointer<S>, xColStride: Int, d: Int,
                                             _ bt: UnsafePointer<S>,
                                             _ out0: UnsafeMutablePointer<S>, _ out1: UnsafeMutablePointer<S>,
                                             accumulate: Bool) {
        var a0 = SIMD8<S>(), a1 = SIMD8<S>(), a2 = SIMD8<S>(), a3 = SIMD8<S>()
        var b0 = SIMD8<S>(), b1 = SIMD8<S>(), b2 = SIMD8<S>(), b3 = SIMD8<S>()
        if accumulate {
            a0 = load(out0); a1 = load(out0 + 8); a2 = load(out0 + 16); a3 = load(out0 + 24)
            b0 = load(out1); b1 = load(out1 + 8); b2 = load(out1 + 16); b3 = load(out1 + 24)
        }
        var p = bt
        for t in 0..<d {
            let k0 = load(p), k1 = load(p + 8), k2 = load(p + 16), k3 = load(p + 24)
            let u = SIMD8(repeating: x0[t &* xColStride]), w = SIMD8(repeating: x1[t &* xColStride])
            a0 = a0.addingProduct(u, k0); a1 = a1.addingProduct(u, k1)
            a2 = a2.addingProduct(u, k2); a3 = a3.addingProduct(u, k3)
            b0 = b0.addingProduct(w, k0); b1 = b1.addingProduct(w, k1)
            b2 = b2.addingProduct(w, k2); b3 = b3.addingProduct(w, k3)
            p += 32
        }
        store(a0, out0); store(a1, out0 + 8); store(a2, out0 + 16); store(a3, out0 + 24)
        store(b0, out1); store(b1, out1 + 8); store(b2, out1 + 16); store(b3, out1 + 24)
    }

    /// Single-row `dotRows2`.
    @inline(__always)
    static func dotRow<S: AttentionScalar>(_ x0: UnsafePointer<S>, xColStride: Int, d: Int, _ bt: UnsafePointer<S>,
                                           _ out0: UnsafeMutablePointer<S>, accumulate: Bool) {
        var a0 = SIMD8<S>(), a1 = SIMD8<S>(), a2 = SIMD8<S>(), a3 = SIMD8<S>()
        if accumulate { a0 = load(out0); a1 = load(out0 + 8); a2 = load(out0 + 16); a3 = load(out0 + 24) }
        var p = bt
        for t in 0..<d {
            let u = SIMD8(repeating: x0[t &* xColStride])
            a0 = a0.addingProduct(u, load(p)); a1 = a1.addingProduct(u, load(p + 8))
            a2 = a2.addingProduct(u, load(p + 16)); a3 = a3.addingProduct(u, load(p + 24))
            p += 32
        }
        store(a0, out0); store(a1, out0 + 8); store(a2, out0 + 16); store(a3, out0 + 24)
    }

    /// rows x_r (r < rows, row stride xStride, element stride xColStride) times bt (d, 32) into out
    /// (rows, 32), row stride outStride; `accumulate`: out += instead of out =. With xStride 1 and
    /// xColStride a row stride, x is read transposed in place (x_r = column r of a row-major matrix).
    static func dotRows<S: AttentionScalar>(_ x: UnsafePointer<S>, xStride: Int, xColStride: Int = 1, rows: Int, d: Int,
                                            _ bt: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>,
                                            outStride: Int = 32, accumulate: Bool = false) {
        #if arch(x86_64)
        if S.self == Float.self && useAVX512 {
            AttentionTileAVX512.dotRows(UnsafeRawPointer(x).assumingMemoryBound(to: Float.self), xStride: xStride,
                                        xColStride: xColStride, rows: rows, d: d, UnsafeRawPointer(bt).assumingMemoryBound(to: Float.self),
                                        UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self),
                                        outStride: outStride, accumulate: accumulate)
            return
        }
        #endif
        var r = 0
        while r + 1 < rows {
            dotRows2(x + r * xStride, x + (r + 1) * xStride, xColStride: xColStride, d: d, bt, out + r * outStride,
                     out + (r + 1) * outStride, accumulate: accumulate)
            r += 2
        }
        if r < rows { dotRow(x + r * xStride, xColStride: xColStride, d: d, bt, out + r * outStride, accumulate: accumulate) }
    }

    /// acc_r[0..<32·chunks] += Σ_{c < count} coeff_r[c] · p_c[0..<32·chunks] for two rows r
    /// (p_c = p + c·pStride); 8 accumulators per 32 columns.
    @inline(__always)
    static func axpyRows2x32<S: AttentionScalar>(_ c0: UnsafePointer<S>, _ c1: UnsafePointer<S>, count: Int,
                                                 _ p: UnsafePointer<S>, columns: Int, pStride: Int,
                                                 _ acc0: UnsafeMutablePointer<S>, _ acc1: UnsafeMutablePointer<S>) {
        var v = 0
        while v + 32 <= columns {
            var a0 = load(acc0 + v), a1 = load(acc0 + v + 8), a2 = load(acc0 + v + 16), a3 = load(acc0 + v + 24)
            var b0 = load(acc1 + v), b1 = load(acc1 + v + 8), b2 = load(acc1 + v + 16), b3 = load(acc1 + v + 24)
            var q = p + v
            for c in 0..<count {
                let k0 = load(q), k1 = load(q + 8), k2 = load(q + 16), k3 = load(q + 24)
                let u = SIMD8(repeating: c0[c]), w = SIMD8(repeating: c1[c])
                a0 = a0.addingProduct(u, k0); a1 = a1.addingProduct(u, k1)
                a2 = a2.addingProduct(u, k2); a3 = a3.addingProduct(u, k3)
                b0 = b0.addingProduct(w, k0); b1 = b1.addingProduct(w, k1)
                b2 = b2.addingProduct(w, k2); b3 = b3.addingProduct(w, k3)
                q += pStride
            }
            store(a0, acc0 + v); store(a1, acc0 + v + 8); store(a2, acc0 + v + 16); store(a3, acc0 + v + 24)
            store(b0, acc1 + v); store(b1, acc1 + v + 8); store(b2, acc1 + v + 16); store(b3, acc1 + v + 24)
            v += 32
        }
    }

    /// Eight rows r, one 8-column chunk: acc_r[0..<8] += Σ_c coeff_r[c] · p_c[0..<8] (8 accumulators).
    @inline(__always)
    static func axpyRows8x8<S: AttentionScalar>(_ coeff: UnsafePointer<S>, coeffStride: Int, count: Int,
                                                _ p: UnsafePointer<S>, pStride: Int,
                                                _ acc: UnsafeMutablePointer<S>, accStride: Int) {
        let r0 = coeff, r1 = coeff + coeffStride, r2 = coeff + 2 * coeffStride, r3 = coeff + 3 * coeffStride
        let r4 = coeff + 4 * coeffStride, r5 = coeff + 5 * coeffStride, r6 = coeff + 6 * coeffStride
        let r7 = coeff + 7 * coeffStride
        var a0 = load(acc), a1 = load(acc + accStride), a2 = load(acc + 2 * accStride), a3 = load(acc + 3 * accStride)
        var a4 = load(acc + 4 * accStride), a5 = load(acc + 5 * accStride), a6 = load(acc + 6 * accStride)
        var a7 = load(acc + 7 * accStride)
        var q = p
        for c in 0..<count {
            let k = load(q)
            a0 = a0.addingProduct(SIMD8(repeating: r0[c]), k); a1 = a1.addingProduct(SIMD8(repeating: r1[c]), k)
            a2 = a2.addingProduct(SIMD8(repeating: r2[c]), k); a3 = a3.addingProduct(SIMD8(repeating: r3[c]), k)
            a4 = a4.addingProduct(SIMD8(repeating: r4[c]), k); a5 = a5.addingProduct(SIMD8(repeating: r5[c]), k)
            a6 = a6.addingProduct(SIMD8(repeating: r6[c]), k); a7 = a7.addingProduct(SIMD8(repeating: r7[c]), k)
            q += pStride
        }
        store(a0, acc); store(a1, acc + accStride); store(a2, acc + 2 * accStride); store(a3, acc + 3 * accStride)
        store(a4, acc + 4 * accStride); store(a5, acc + 5 * accStride); store(a6, acc + 6 * accStride)
        store(a7, acc + 7 * accStride)
    }

    /// One row, one 8-column chunk.
    @inline(__always)
    static func axpyRow1x8<S: AttentionScalar>(_ c0: UnsafePointer<S>, count: Int, _ p: UnsafePointer<S>, pStride: Int,
                                               _ acc0: UnsafeMutablePointer<S>) {
        var a0 = load(acc0)
        var q = p
        for c in 0..<count {
            a0 = a0.addingProduct(SIMD8(repeating: c0[c]), load(q))
            q += pStride
        }
        store(a0, acc0)
    }

    /// rows acc_r (r < rows, stride accStride) += coeff_r (stride coeffStride, count entries) · p
    /// (count rows of dPad values, pStride apart; default dPad). Columns in whole 32-blocks go
    /// through the 2-row × 32 kernel, the rest (8, 16 or 24 columns) through 8-row × 8 kernels.
    static func axpyRows<S: AttentionScalar>(_ coeff: UnsafePointer<S>, coeffStride: Int, rows: Int, count: Int,
                                             _ p: UnsafePointer<S>, dPad: Int, pStride: Int? = nil,
                                             _ acc: UnsafeMutablePointer<S>, accStride: Int) {
        let pStride = pStride ?? dPad
        #if arch(x86_64)
        if S.self == Float.self && useAVX512 {
            AttentionTileAVX512.axpyRows(UnsafeRawPointer(coeff).assumingMemoryBound(to: Float.self),
                                         coeffStride: coeffStride, rows: rows, count: count,
                                         UnsafeRawPointer(p).assumingMemoryBound(to: Float.self), dPad: dPad,
                                         pStride: pStride, UnsafeMutableRawPointer(acc).assumingMemoryBound(to: Float.self),
                                         accStride: accStride)
            return
        }
        #endif
        let columns32 = dPad & ~31
        if columns32 > 0 {
            var r = 0
            while r + 1 < rows {
                axpyRows2x32(coeff + r * coeffStride, coeff + (r + 1) * coeffStride, count: count, p,
                             columns: columns32, pStride: pStride, acc + r * accStride, acc + (r + 1) * accStride)
                r += 2
            }
            if r < rows {
                for v in stride(from: 0, to: columns32, by: 8) {
                    axpyRow1x8(coeff + r * coeffStride, count: count, p + v, pStride: pStride, acc + r * accStride + v)
                }
            }
        }
        for v in stride(from: columns32, to: dPad, by: 8) {
            var r = 0
            while r + 8 <= rows {
                axpyRows8x8(coeff + r * coeffStride, coeffStride: coeffStride, count: count, p + v, pStride: pStride,
                            acc + r * accStride + v, accStride: accStride)
                r += 8
            }
            while r < rows {
                axpyRow1x8(coeff + r * coeffStride, count: count, p + v, pStride: pStride, acc + r * accStride + v)
                r += 1
            }
        }
    }

    /// bt[t·32 + c] = src[c·stride + t] for c < count, t < d; zeros for c ≥ count (transposed pack).
    static func packTransposed<S: AttentionScalar>(_ src: UnsafePointer<S>, stride: Int, count: Int, d: Int,
                                                   _ bt: UnsafeMutablePointer<S>) {
        // Read rows contiguously; the 32-wide destination (d·128 bytes in f32) stays in L1.
        for c in 0..<count {
            let from = src + c &* stride, to = bt + c
            for t in 0..<d { to[t &* 32] = from[t] }
        }
        if count < 32 {
            for t in 0..<d { for c in count..<32 { bt[t &* 32 &+ c] = 0 } }
        }
    }

    /// dst[c·dstStride + t] = src[c·stride + t] for c < count, t < d; zeros in the padding lanes
    /// d..<dPad and in rows count..<rows (dstStride defaults to dPad).
    static func packRows<S: AttentionScalar>(_ src: UnsafePointer<S>, stride: Int, count: Int, d: Int,
                                             dPad: Int, rows: Int, _ dst: UnsafeMutablePointer<S>,
                                             dstStride: Int? = nil) {
        let dstStride = dstStride ?? dPad
        for c in 0..<count {
            let row = dst + c * dstStride
            let from = src + c * stride
            for t in 0..<d { row[t] = from[t] }
            for t in d..<dPad { row[t] = 0 }
        }
        for c in count..<max(rows, count) { (dst + c * dstStride).update(repeating: 0, count: dPad) }
    }

    /// A 32×32 tile with 1 where key c ≤ query r, else 0 (the causal mask of a diagonal tile);
    /// `transposed`: rows are keys c, columns queries r (1 where r ≥ c).
    static func causalMask<S: AttentionScalar>(_: S.Type, transposed: Bool = false) -> UnsafeMutablePointer<S> {
        let m = UnsafeMutablePointer<S>.allocate(capacity: size * size)
        for r in 0..<size { for c in 0..<size { m[r * size + c] = (transposed ? r <= c : c <= r) ? 1 : 0 } }
        return m
    }

    /// tile[r][·] *= mask[r][·] for r < rows (32-wide rows).
    @inline(__always)
    static func multiply<S: AttentionScalar>(_ tile: UnsafeMutablePointer<S>, by mask: UnsafePointer<S>, rows: Int) {
        for o in stride(from: 0, to: rows * size, by: 8) { store(load(tile + o) * load(mask + o), tile + o) }
    }

    /// dst[r][·] += src[r][·] for r < rows (32-wide rows).
    @inline(__always)
    static func add<S: AttentionScalar>(_ src: UnsafePointer<S>, to dst: UnsafeMutablePointer<S>, rows: Int) {
        for o in stride(from: 0, to: rows * size, by: 8) { store(load(dst + o) + load(src + o), dst + o) }
    }

    /// The 0/1 lane masks of `addMasked` / `keepLanes` / `accumulateMasked`: entry k (k = 0...8)
    /// has ones in lanes < k (9 vectors; deallocate when done).
    static func laneMasks<S: AttentionScalar>(_: S.Type) -> UnsafeMutablePointer<SIMD8<S>> {
        let masks = UnsafeMutablePointer<SIMD8<S>>.allocate(capacity: 9)
        for k in 0...8 {
            var v = SIMD8<S>()
            for x in 0..<k { v[x] = 1 }
            masks[k] = v
        }
        return masks
    }

    /// Ones in lanes base + l ∈ [lo, hi) of the 8-lane chunk starting at `base`, zeros elsewhere.
    @inline(__always)
    static func chunkMask<S: AttentionScalar>(base: Int, lo: Int, hi: Int, _ lanes: UnsafePointer<SIMD8<S>>) -> SIMD8<S> {
        lanes[min(max(hi &- base, 0), 8)] - lanes[min(max(lo &- base, 0), 8)]
    }

    /// row[lo..<hi] += w (0 ≤ lo < hi ≤ 32), as masked SIMD adds over the chunks the range touches
    /// (the values outside the range are unchanged: + 0).
    @inline(__always)
    static func addMasked<S: AttentionScalar>(_ w: S, to row: UnsafeMutablePointer<S>, from lo: Int, to hi: Int,
                                              lanes: UnsafePointer<SIMD8<S>>) {
        var base = lo & ~7
        while base < hi {
            let p = row + base
            store(load(p).addingProduct(chunkMask(base: base, lo: lo, hi: hi, lanes), SIMD8(repeating: w)), p)
            base &+= 8
        }
    }

    /// acc[0..<8] += Σ over chunks of row[x]·[lo ≤ x < hi] (lane-wise partial sums; lo < hi ≤ 32).
    @inline(__always)
    static func accumulateMasked<S: AttentionScalar>(_ row: UnsafePointer<S>, from lo: Int, to hi: Int,
                                                     lanes: UnsafePointer<SIMD8<S>>, into acc: UnsafeMutablePointer<S>) {
        var sum = load(acc)
        var base = lo & ~7
        while base < hi {
            sum = sum.addingProduct(load(row + base), chunkMask(base: base, lo: lo, hi: hi, lanes))
            base &+= 8
        }
        store(sum, acc)
    }

    /// acc[16·bucket_k + 0..<16] += the gradient row g (32 lanes) restricted to run k, for every run
    /// k of row `row` of `runs` (lane-wise partial sums in lanes 0..<8 of each 16, reduced by the
    /// caller; the AVX-512 span tiles use all 16).
    @inline(__always)
    static func accumulateRuns<S: AttentionScalar>(_ g: UnsafePointer<S>, runs: BiasRuns, row c: Int,
                                                   lanes: UnsafePointer<SIMD8<S>>, into acc: UnsafeMutablePointer<S>) {
        let count = Int(runs.counts[c]), starts = runs.starts + c &* 33, buckets = runs.buckets + c &* 32
        for k in 0..<count {
            accumulateMasked(g, from: Int(starts[k]), to: Int(starts[k &+ 1]), lanes: lanes,
                             into: acc + Int(buckets[k]) &* 16)
        }
    }

    /// a[o] = SiLU(s[o] + bias[o])·scale for o < count (a multiple of 8).
    @inline(__always)
    static func siluForward<S: AttentionScalar>(_ s: UnsafePointer<S>, _ bias: UnsafePointer<S>, count: Int, scale: S,
                                                _ a: UnsafeMutablePointer<S>) {
        #if arch(x86_64)
        if S.self == Float.self && useAVX512 && count % 16 == 0 {
            AttentionTileAVX512.siluForward(UnsafeRawPointer(s).assumingMemoryBound(to: Float.self),
                                            UnsafeRawPointer(bias).assumingMemoryBound(to: Float.self), count: count,
                                            scale: Float(scale), UnsafeMutableRawPointer(a).assumingMemoryBound(to: Float.self))
            return
        }
        #endif
        for o in stride(from: 0, to: count, by: 8) {
            let x = load(s + o) + load(bias + o)
            store(x * S.sigmoid(x) * scale, a + o)
        }
    }

    /// With x = s + bias, σ = sigmoid(x): a = x·σ·scale, ds = dA·σ·(1 + x·(1 − σ))·scale (SiLU and its
    /// derivative), o < count (a multiple of 8).
    @inline(__always)
    static func siluBackward<S: AttentionScalar>(_ s: UnsafePointer<S>, _ bias: UnsafePointer<S>, _ dA: UnsafePointer<S>,
                                                 count: Int, scale: S, _ a: UnsafeMutablePointer<S>,
                                                 _ ds: UnsafeMutablePointer<S>) {
        #if arch(x86_64)
        if S.self == Float.self && useAVX512 && count % 16 == 0 {
            AttentionTileAVX512.siluBackward(UnsafeRawPointer(s).assumingMemoryBound(to: Float.self),
                                             UnsafeRawPointer(bias).assumingMemoryBound(to: Float.self),
                                             UnsafeRawPointer(dA).assumingMemoryBound(to: Float.self), count: count,
                                             scale: Float(scale), UnsafeMutableRawPointer(a).assumingMemoryBound(to: Float.self),
                                             UnsafeMutableRawPointer(ds).assumingMemoryBound(to: Float.self))
            return
        }
        #endif
        for o in stride(from: 0, to: count, by: 8) {
            let x = load(s + o) + load(bias + o)
            let sg = S.sigmoid(x)
            store(x * sg * scale, a + o)
            store(load(dA + o) * sg * (1 + x * (1 - sg)) * scale, ds + o)
        }
    }

    /// row[x] for x ∉ [lo, hi) (x < 32) set to 0 (multiplied by a 0/1 mask: row entries are finite).
    @inline(__always)
    static func keepLanes<S: AttentionScalar>(_ row: UnsafeMutablePointer<S>, from lo: Int, to hi: Int,
                                              lanes: UnsafePointer<SIMD8<S>>) {
        for base in stride(from: 0, to: 32, by: 8) {
            store(load(row + base) * chunkMask(base: base, lo: lo, hi: hi, lanes), row + base)
        }
    }

    /// prefix[k] (k = 0...8): SIMD8 with ones in lanes < k, zeros after.
    static func prefixMasks<S: AttentionScalar>(_: S.Type) -> [SIMD8<S>] {
        (0...8).map { k in
            var v = SIMD8<S>()
            for x in 0..<k { v[x] = 1 }
            return v
        }
    }
}

/// The runs of equal time buckets along the rows of a transposed bias tile (filled by
/// `HSTUAttentionKernel.biasTileTransposed`, read by the bias gradient): row c (a key) has
/// counts[c] runs; run k covers queries starts[c·33 + k] ..< starts[c·33 + k + 1] with bucket
/// buckets[c·32 + k]. When spans.pointee = 1 (f32 AVX-512 tiles, `AttentionTileAVX512.biasTileSpans`)
/// the tile holds bucket spans instead: buckets[2c], buckets[2c + 1] = first and last bucket of row
/// c. Views into scratch memory of `size` elements.
struct BiasRuns {
    let starts: UnsafeMutablePointer<Int32>    // 32 × 33
    let buckets: UnsafeMutablePointer<Int32>   // 32 × 32
    let counts: UnsafeMutablePointer<Int32>    // 32
    let spans: UnsafeMutablePointer<Int32>     // 1
    /// Scratch elements (4 bytes or more each) that hold the arrays.
    static let size = 32 * 33 + 32 * 32 + 32 + 1

    init(_ memory: UnsafeMutableRawPointer) {
        let all = memory.bindMemory(to: Int32.self, capacity: Self.size)
        starts = all
        buckets = all + 32 * 33
        counts = all + 32 * 33 + 32 * 32
        spans = all + 32 * 33 + 32 * 32 + 32
    }
}

/// One 64-byte aligned scratch allocation carved into named regions, taken from `ScratchPool`.
struct AttentionScratch<S: AttentionScalar> {
    let base: UnsafeMutablePointer<S>
    private var used = 0
    private let capacity: Int
    private let block: ScratchPool.Block

    /// Uninitialised unless `zeroed` (every user writes a region before reading it, or zeroes it).
    init(capacity: Int, zeroed: Bool = false) {
        self.capacity = capacity
        block = ScratchPool.shared.acquire(max(capacity, 8) * MemoryLayout<S>.stride)
        base = block.pointer.bindMemory(to: S.self, capacity: max(capacity, 8))
        if zeroed { base.update(repeating: 0, count: max(capacity, 8)) }
    }

    /// The next `count` elements (rounded up to 8 so regions stay 32/64-byte aligned).
    mutating func take(_ count: Int) -> UnsafeMutablePointer<S> {
        let p = base + used
        used += AttentionTile.padded(count)
        precondition(used <= capacity, "attention scratch overflow")
        return p
    }

    static func size(_ counts: [Int]) -> Int { counts.reduce(0) { $0 + AttentionTile.padded($1) } }

    func free() { ScratchPool.shared.release(block) }
}

/// Scratch memory kept between calls. The attention ops run thousands of work items per training
/// step; fresh allocations of a few hundred KiB (and the forward's packed operands, several MiB)
/// come back from the OS as new pages each time (page faults and zero-fill, measured at ~10% of
/// the op). Released blocks are kept (at most `limit`, the largest ones) and handed out again,
/// best fit first.
final class ScratchPool: @unchecked Sendable {
    struct Block {
        let pointer: UnsafeMutableRawPointer
        let bytes: Int
    }

    static let shared = ScratchPool()
    /// Blocks kept at most (a few per thread are live at a time).
    static let limit = 64

    private let lock = NSLock()
    private var blocks: [Block] = []

    func acquire(_ bytes: Int) -> Block {
        lock.lock()
        var best = -1
        for (x, b) in blocks.enumerated() where b.bytes >= bytes && (best < 0 || b.bytes < blocks[best].bytes) { best = x }
        if best >= 0 {
            let b = blocks.remove(at: best)
            lock.unlock()
            return b
        }
        lock.unlock()
        return Block(pointer: UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64), bytes: bytes)
    }

    func release(_ block: Block) {
        lock.lock()
        blocks.append(block)
        var evicted: Block?
        if blocks.count > Self.limit, let smallest = blocks.indices.min(by: { blocks[$0].bytes < blocks[$1].bytes }) {
            evicted = blocks.remove(at: smallest)
        }
        lock.unlock()
        evicted?.pointer.deallocate()
    }
}
