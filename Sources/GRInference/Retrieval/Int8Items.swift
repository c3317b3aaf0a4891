import Foundation
import GRCore
#if arch(x86_64)
import _GRCPUShims
#endif

/// The int8 copy of an `ItemIndex`'s items and the AVX2 scan over it (`gr_retrieval_i8_scan`,
/// `_GRCPUShims/retrieval_i8_avx2.c`; docs/inference.md "Retrieval index").
///
/// Item x (D floats) is stored as x̂ = round(x / s_x) ∈ [−63, 63]^D with s_x = max(max|x_c| / 63,
/// ‖x‖ / R) (one Float per item; R is chosen at build time, `normCap`), as the unsigned bytes x̂ + 64.
/// A query q becomes q̂ = round(q / s_q) ∈ [−127, 127]^D with s_q = max(max|q_c| / 127, ‖q‖ / R_q),
/// R_q such that ‖q̂‖·X ≤ 32,767 with X the largest ‖x̂‖ over the items (checked exactly after
/// rounding). `vpmaddubsw` multiplies (x̂ + 64)·q̂ pairwise (|a pair's sum| ≤ 2·127·127 < 2¹⁵: no
/// saturation) and `vpaddw` accumulates in int16 from −64·Σq̂: wrapping modulo 2¹⁶, the result is
/// Σ q̂·x̂ exactly, since |Σ q̂·x̂| ≤ ‖q̂‖·‖x̂‖ ≤ 32,767. The approximate score is
/// a = fl(fl(Float(Σ q̂·x̂)·s_x)·s_q).
///
/// Bound: with e_x = x − x̃ (x̃ = s_x·x̂), e_q = q − s_q·q̂, the exact real product minus
/// s_q·s_x·Σ q̂·x̂ is Σ q·e_x + Σ e_q·x̃, so |a − exact Float score| ≤ ‖q‖·E + ‖e_q‖·N +
/// γ·2·(‖q‖ + ‖e_q‖)·N with E the largest ‖e_x‖, N the largest max(‖x‖, ‖x̃‖) over the items and
/// γ = (D + 2)·2⁻²⁴ (two roundings of a, the FMA chain of the exact score). `quantise` returns that
/// bound, padded.
///
/// Layout: (pairs, ⌈D/2⌉, 32, 2) — a 32-item pair holds, per pair of coordinates, 64 bytes: item l's
/// 2 coordinates at byte 2l (one 32-byte load = 16 items × 2 coordinates, and one `vpmaddubsw` with
/// a query's broadcast pair gives the 16 items' partial sums, one int16 each); coordinates past D
/// and padding items are x̂ = 0.
final class Int8Items {
    /// ⌈D/2⌉.
    let groups: Int
    /// (pairs, groups, 32, 2) x̂ + 64.
    let values: UnsafeMutablePointer<UInt8>
    /// Per item s_x (0 for padding and all-zero items).
    let scales: UnsafeMutablePointer<Float>
    /// Per pair 1 / (the largest s_x of its group of 8 pairs, 256 items), rounded down and finite (the
    /// kernel's int16 pre-test; the kernel computes its limits once a group).
    let pairInv: UnsafeMutablePointer<Float>
    /// E and N of the bound; X² = the largest Σ x̂² (exact).
    let error: Double, norm: Double, squaredNorm: Int
    /// R of s_x.
    let normCap: Double

    /// The largest D (keeps the quantisation loops' integer sums small).
    static let maxDim = 2048
    /// The largest item norm (and query norm, `quantise`): keeps scores and their bound far from overflow.
    static let maxNorm = 1e15
    /// The choices of R: the one with the smallest estimated bound on a sample of the items wins
    /// (a small R coarsens the items, a large one the queries).
    static let normCaps: [Double] = [90, 110, 128, 150, 181, 220]

    /// x̂ (D bytes, as x̂ + 64 into `out` with `stride` between coordinates) and s_x of the item whose
    /// coordinate c is x[c·lanes]; returns s_x and (‖e_x‖², ‖x‖², ‖x̃‖², Σx̂²), or nil for a
    /// non-finite coordinate.
    static func quantiseItem(_ x: UnsafePointer<Float>, lanes: Int, dim d: Int, cap: Double,
                             store: ((Int, UInt8) -> Void)?) -> (Float, Double, Double, Double, Int)? {
        var top = 0.0, n2 = 0.0
        for c in 0..<d {
            let v = Double(x[c * lanes])
            guard v.isFinite else { return nil }
            top = max(top, abs(v)); n2 += v * v
        }
        let s = Float(max(top / 63, n2.squareRoot() / cap)), sd = Double(s)
        var e2 = 0.0, m2 = 0.0, q2 = 0
        for c in 0..<d {
            let v = Double(x[c * lanes])
            let q = sd > 0 ? min(63, max(-63, (v / sd).rounded())) : 0
            store?(c, UInt8(q + 64))
            let y = sd * q
            e2 += (v - y) * (v - y); m2 += y * y; q2 += Int(q * q)
        }
        return (s, e2, n2, m2, q2)
    }

    /// The copy of `packed` ((blocks, D, 16) Floats, `blocks` even); nil when D > `maxDim`, a
    /// coordinate is not finite or an item's norm exceeds `maxNorm` (then searches take another path).
    init?(packed: UnsafePointer<Float>, blocks: Int, dim d: Int) {
        guard d <= Self.maxDim, blocks % 2 == 0 else { return nil }
        let groups = (d + 1) / 2, lanes = ItemIndex.lanes, pairs = blocks / 2, items = blocks * lanes
        // R: the smallest estimate of E/N + (R/32,767)·√(D/12) (the item error against the query
        // rounding one, whose step is ≈ ‖q‖·R/32,767) over ≤ 4,096 items spread over the corpus.
        let step = max(1, items / 4096)
        var best = (cap: Self.normCaps[0], cost: Double.infinity)
        for cap in Self.normCaps {
            var e = 0.0, n = 0.0
            for i in Swift.stride(from: 0, to: items, by: step) {
                let x = packed + (i / lanes) * d * lanes + i % lanes
                guard let r = Self.quantiseItem(x, lanes: lanes, dim: d, cap: cap, store: nil) else { return nil }
                e = max(e, r.1.squareRoot()); n = max(n, r.2.squareRoot())
            }
            let cost = (n > 0 ? e / n : 0) + cap / 32767 * (Double(d) / 12).squareRoot()
            if cost < best.cost { best = (cap, cost) }
        }
        let cap = best.cap
        let values = UnsafeMutablePointer<UInt8>.allocate(capacity: max(pairs * groups * 64, 1))
        values.initialize(repeating: 64, count: max(pairs * groups * 64, 1))
        let scales = UnsafeMutablePointer<Float>.allocate(capacity: max(items, 1))
        let pairInv = UnsafeMutablePointer<Float>.allocate(capacity: max(pairs, 1))
        let parts = max(1, min(Parallel.threads, pairs / 32))
        var stats = [(error: Double, norm: Double, q2: Int, ok: Bool)](repeating: (0, 0, 0, true), count: parts)
        stats.withUnsafeMutableBufferPointer { out in
            let out = out
            Parallel.forEach(parts) { part in
                var worst = (error: 0.0, norm: 0.0, q2: 0, ok: true)
                // Whole groups of 8 pairs per part.
                let groupCount = (pairs + 7) / 8
                var largest: Float = 0
                for p in (groupCount * part / parts * 8) ..< min(pairs, groupCount * (part + 1) / parts * 8) {
                    if p % 8 == 0 { largest = 0 }
                    for l in 0..<(2 * lanes) {
                        let x = packed + (2 * p + l / lanes) * d * lanes + l % lanes
                        let base = values + p * groups * 64 + 2 * l
                        guard let r = Self.quantiseItem(x, lanes: lanes, dim: d, cap: cap,
                                                        store: { c, b in base[(c / 2) * 64 + c % 2] = b }) else {
                            worst.ok = false
                            continue
                        }
                        scales[p * 2 * lanes + l] = r.0
                        largest = max(largest, r.0)
                        worst.error = max(worst.error, r.1.squareRoot())
                        worst.norm = max(worst.norm, r.2.squareRoot(), r.3.squareRoot())
                        worst.q2 = max(worst.q2, r.4)
                    }
                    if p % 8 == 7 || p == pairs - 1 {
                        let inv = Float(1 / Double(largest)).nextDown
                        for g in (p - p % 8)...p { pairInv[g] = inv }
                    }
                }
                if !(worst.norm <= Self.maxNorm) { worst.ok = false }
                out[part] = worst
            }
        }
        guard stats.allSatisfy(\.ok) else {
            values.deallocate(); scales.deallocate(); pairInv.deallocate()
            return nil
        }
        self.groups = groups
        self.values = values
        self.scales = scales
        self.pairInv = pairInv
        normCap = cap
        error = stats.map(\.error).max()!
        norm = stats.map(\.norm).max()!
        squaredNorm = stats.map(\.q2).max()!
    }

    deinit {
        values.deallocate(); scales.deallocate(); pairInv.deallocate()
    }

    /// Queries as the kernel reads them: `bytes` (Q, groups, 32) int8 — per coordinate pair c the
    /// bytes (q̂_2c, q̂_2c+1) repeated 16 times (0 past D); `bias` −64·Σq̂ mod 2¹⁶; `scales` s_q (1 for
    /// a zero row); `inverses` (1/s_q)·(1 − 2⁻¹⁰) rounded down, finite; `margins` the bound m_q of the
    /// type's doc comment. nil when a query is not finite or its norm exceeds `maxNorm`.
    struct Queries {
        var bytes: [Int8]
        var bias: [Int16]
        var scales: [Float]
        var inverses: [Float]
        var margins: [Float]
    }

    /// `queries`: (count, D) row-major.
    func quantise(_ queries: UnsafePointer<Float>, count q: Int, dim d: Int) -> Queries? {
        let width = groups * 32
        var out = Queries(bytes: [Int8](repeating: 0, count: q * width), bias: [], scales: [], inverses: [], margins: [])
        let gamma = Double(d + 2) * 0x1p-24
        // ‖q̂‖² · X² ≤ 32,767² keeps every |Σ q̂·x̂| ≤ 32,767.
        let limit = 32767.0 * 32767.0, x2 = Double(squaredNorm)
        var q̂ = [Double](repeating: 0, count: d)
        for i in 0..<q {
            let row = queries + i * d
            var top = 0.0, n2 = 0.0
            for c in 0..<d {
                let v = Double(row[c])
                guard v.isFinite else { return nil }
                top = max(top, abs(v)); n2 += v * v
            }
            var s = Float(max(top / 127, x2 > 0 ? (n2 * x2 / limit).squareRoot() : 0))
            if !(s > 0) { s = 1 }   // a zero (or underflowing) row: q̂ = 0, e_q = q
            var sum = 0.0, q2 = 0.0, e2 = 0.0
            while true {
                let sd = Double(s)
                sum = 0; q2 = 0; e2 = 0
                for c in 0..<d {
                    let v = Double(row[c]), qv = min(127, max(-127, (v / sd).rounded()))
                    q̂[c] = qv
                    sum += qv; q2 += qv * qv
                    e2 += (v - sd * qv) * (v - sd * qv)
                }
                if q2 * x2 <= limit { break }
                s *= 1 + 0x1p-7   // rounding pushed ‖q̂‖ over: a slightly coarser step
            }
            for c in 0..<d {
                let b = Int8(q̂[c])
                for l in 0..<16 { out.bytes[i * width + (c / 2) * 32 + 2 * l + c % 2] = b }
            }
            out.bias.append(Int16(truncatingIfNeeded: -64 * Int(sum)))
            out.scales.append(s)
            out.inverses.append(Float(1 / Double(s) * (1 - 0x1p-10)).nextDown)
            let qn = n2.squareRoot(), eq = e2.squareRoot()
            let m = (qn * error + eq * norm + gamma * 2 * (qn + eq) * norm) * (1 + 0x1p-10) + 0x1p-100
            guard qn <= Self.maxNorm, m.isFinite else { return nil }
            out.margins.append(Float(m).nextUp)
        }
        return out
    }

    /// Scans the pairs `pairs` against the quantised queries (Q = `count`). A score a of query j is a
    /// hit when a > thresholds[j] (read again after every hit, so `onHit` may raise them). On a hit
    /// in pair p, for each query j with one, `onHit(p, j, scores)` runs with `scores` its 32
    /// approximate scores (items 32p..<32p + 32). `scratch`: Q × 32 floats.
    func scan(_ pairs: Range<Int>, queries: Queries, count q: Int, thresholds: UnsafePointer<Float>,
              scratch: UnsafeMutablePointer<Float>, onHit: (Int, Int, UnsafePointer<Float>) -> Void) {
        #if arch(x86_64)
        var hits = [UInt8](repeating: 0, count: q)
        var limits = [Int16](repeating: 0, count: q)
        queries.bytes.withUnsafeBufferPointer { bytes in
            queries.bias.withUnsafeBufferPointer { bias in
                queries.scales.withUnsafeBufferPointer { qs in
                    queries.inverses.withUnsafeBufferPointer { inv in
                        hits.withUnsafeMutableBufferPointer { hits in
                            limits.withUnsafeMutableBufferPointer { limits in
                                var p = pairs.lowerBound
                                while p < pairs.upperBound {
                                    p = gr_retrieval_i8_scan(values, scales, pairInv, p, pairs.upperBound, Int32(groups),
                                                             bytes.baseAddress!, bias.baseAddress!, qs.baseAddress!,
                                                             inv.baseAddress!, Int32(q), thresholds, limits.baseAddress!,
                                                             scratch, hits.baseAddress!)
                                    guard p < pairs.upperBound else { break }
                                    for j in 0..<q where hits[j] != 0 {
                                        hits[j] = 0
                                        onHit(p, j, scratch + 32 * j)
                                    }
                                    p += 1
                                }
                            }
                        }
                    }
                }
            }
        }
        #else
        preconditionFailure("Int8Items.scan: x86-64 only")
        #endif
    }
}
