// The AVX-512 score tiles of the exact top-K retrieval (`ItemIndex` in GRInference, see
// docs/inference.md). This module is compiled with `-target-cpu skylake-avx512`; ItemIndex calls
// it only after `gr_cpu_supports_avx512()` said yes. The item vectors are read as Float16 (half
// the memory traffic of the 1M-item scan) and widened in registers (`vcvtph2ps`); every score is
// one sequential Float FMA chain over the coordinates 0..<D. These are bounded approximations:
// ItemIndex rescores the candidates they let through exactly in Float.

#if arch(x86_64)
import _GRCPUShims

/// Query-block × item-block approximate scores (Float16 items, Float queries and sums) for top-K
/// retrieval, checked against per-query thresholds in registers: only a tile that holds a score
/// above its query's threshold leaves the registers.
public enum RetrievalTileAVX512 {
    typealias V = SIMD16<Float>

    /// Items per block (one register: coordinate c of 16 items).
    public static let lanes = 16

    /// 16 halves widened to Float (one `vcvtph2ps` with a memory operand).
    @inline(__always) static func load(_ p: UnsafePointer<Float16>) -> V { gr_load_half16(p) }
    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    /// Scans the item-block pairs `pairs` against every query.
    ///
    /// - `items`: (pairs, 2, D, 16) Float16 — pair p holds items 32p..<32p+32, block b of it
    ///   coordinate c of its 16 items at `items + ((2p + b)·D + c)·16`.
    /// - `queries`: (Q, D) row-major, Q a multiple of 4 (padding rows are any finite values).
    /// - `thresholds`: Q values; a score s of query i is a hit when s > thresholds[i] (so NaN never
    ///   is; a padding query with +∞ never is). Read again for every tile, so `onHit` may raise them.
    /// - `scratch`: 8 × 32 floats. On a hit in the tile of pair p and queries g..<g+n (n = 8 or 4),
    ///   the tile's scores are stored there (row i − g: the 32 scores of query i, items 32p..<32p+32)
    ///   and `onHit(p, g, n)` runs.
    ///
    /// Each pair (3.2 KB at D 50) is loaded once from memory and stays in L1 while every query
    /// group runs over it: the item matrix is streamed once per batch of queries.
    @inline(never)
    public static func scan(items: UnsafePointer<Float16>, pairs: Range<Int>, dim d: Int,
                            queries: UnsafePointer<Float>, queryCount q: Int,
                            thresholds: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                            onHit: (_ pair: Int, _ firstQuery: Int, _ queries: Int) -> Void) {
        precondition(q % 4 == 0, "RetrievalTileAVX512.scan: query count \(q) is not a multiple of 4")
        for pair in pairs {
            let lo = items + pair * 2 * d * lanes, hi = lo + d * lanes
            var g = 0
            while g + 8 <= q {
                if tile8(lo, hi, d, queries + g * d, thresholds + g, scratch) { onHit(pair, g, 8) }
                g += 8
            }
            if g < q, tile4(lo, hi, d, queries + g * d, thresholds + g, scratch) { onHit(pair, g, 4) }
        }
    }

    /// 8 queries × 32 items: 16 accumulators; per coordinate 2 loads, 8 broadcasts, 16 FMAs.
    /// Returns whether any score beats its query's threshold (then all 8 × 32 are in `out`).
    @inline(__always)
    static func tile8(_ lo: UnsafePointer<Float16>, _ hi: UnsafePointer<Float16>, _ d: Int, _ qs: UnsafePointer<Float>,
                      _ th: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) -> Bool {
        let q0 = qs, q1 = qs + d, q2 = qs + 2 * d, q3 = qs + 3 * d
        let q4 = qs + 4 * d, q5 = qs + 5 * d, q6 = qs + 6 * d, q7 = qs + 7 * d
        var a0 = V(), b0 = V(), a1 = V(), b1 = V(), a2 = V(), b2 = V(), a3 = V(), b3 = V()
        var a4 = V(), b4 = V(), a5 = V(), b5 = V(), a6 = V(), b6 = V(), a7 = V(), b7 = V()
        for c in 0..<d {
            let x = load(lo + c * lanes), y = load(hi + c * lanes)
            var s = V(repeating: q0[c]); a0.addProduct(s, x); b0.addProduct(s, y)
            s = V(repeating: q1[c]); a1.addProduct(s, x); b1.addProduct(s, y)
            s = V(repeating: q2[c]); a2.addProduct(s, x); b2.addProduct(s, y)
            s = V(repeating: q3[c]); a3.addProduct(s, x); b3.addProduct(s, y)
            s = V(repeating: q4[c]); a4.addProduct(s, x); b4.addProduct(s, y)
            s = V(repeating: q5[c]); a5.addProduct(s, x); b5.addProduct(s, y)
            s = V(repeating: q6[c]); a6.addProduct(s, x); b6.addProduct(s, y)
            s = V(repeating: q7[c]); a7.addProduct(s, x); b7.addProduct(s, y)
        }
        var t = V(repeating: th[0]); var hit = (a0 .> t) .| (b0 .> t)
        t = V(repeating: th[1]); hit = hit .| (a1 .> t) .| (b1 .> t)
        t = V(repeating: th[2]); hit = hit .| (a2 .> t) .| (b2 .> t)
        t = V(repeating: th[3]); hit = hit .| (a3 .> t) .| (b3 .> t)
        t = V(repeating: th[4]); hit = hit .| (a4 .> t) .| (b4 .> t)
        t = V(repeating: th[5]); hit = hit .| (a5 .> t) .| (b5 .> t)
        t = V(repeating: th[6]); hit = hit .| (a6 .> t) .| (b6 .> t)
        t = V(repeating: th[7]); hit = hit .| (a7 .> t) .| (b7 .> t)
        guard any(hit) else { return false }
        store(a0, out); store(b0, out + 16); store(a1, out + 32); store(b1, out + 48)
        store(a2, out + 64); store(b2, out + 80); store(a3, out + 96); store(b3, out + 112)
        store(a4, out + 128); store(b4, out + 144); store(a5, out + 160); store(b5, out + 176)
        store(a6, out + 192); store(b6, out + 208); store(a7, out + 224); store(b7, out + 240)
        return true
    }

    /// 4 queries × 32 items (the last group of a batch whose size is not a multiple of 8).
    @inline(__always)
    static func tile4(_ lo: UnsafePointer<Float16>, _ hi: UnsafePointer<Float16>, _ d: Int, _ qs: UnsafePointer<Float>,
                      _ th: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) -> Bool {
        let q0 = qs, q1 = qs + d, q2 = qs + 2 * d, q3 = qs + 3 * d
        var a0 = V(), b0 = V(), a1 = V(), b1 = V(), a2 = V(), b2 = V(), a3 = V(), b3 = V()
        for c in 0..<d {
            let x = load(lo + c * lanes), y = load(hi + c * lanes)
            var s = V(repeating: q0[c]); a0.addProduct(s, x); b0.addProduct(s, y)
            s = V(repeating: q1[c]); a1.addProduct(s, x); b1.addProduct(s, y)
            s = V(repeating: q2[c]); a2.addProduct(s, x); b2.addProduct(s, y)
            s = V(repeating: q3[c]); a3.addProduct(s, x); b3.addProduct(s, y)
        }
        var t = V(repeating: th[0]); var hit = (a0 .> t) .| (b0 .> t)
        t = V(repeating: th[1]); hit = hit .| (a1 .> t) .| (b1 .> t)
        t = V(repeating: th[2]); hit = hit .| (a2 .> t) .| (b2 .> t)
        t = V(repeating: th[3]); hit = hit .| (a3 .> t) .| (b3 .> t)
        guard any(hit) else { return false }
        store(a0, out); store(b0, out + 16); store(a1, out + 32); store(b1, out + 48)
        store(a2, out + 64); store(b2, out + 80); store(a3, out + 96); store(b3, out + 112)
        return true
    }
}
#endif
