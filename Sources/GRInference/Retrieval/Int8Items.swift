import Foundation
import GRCore
#if arch(x86_64)
import _GRCPUShims
#endif

/// The int8 copy of an `ItemIndex`'s items and the AVX2 scan over it (`gr_retrieval_i8_scan`,
/// `_GRCPUShims/retrieval_i8_avx2.c`; docs/inference.md "Retrieval index").
///
/// Item x (D floats) is stored as x̂ = round(x / s_x) ∈ [−63, 63]^D with s_x = max|x_c| / 63 (one
/// Float per item): x̃ = s_x·x̂. A query q becomes q̂ = round(q / s_q) ∈ [−64, 64]^D, s_q = max|q_c| / 64,
/// fed to `vpmaddubsw` as the unsigned bytes q̂ + 64; the accumulator starts at −64·Σx̂ (per item), so
/// it ends at Σ q̂·x̂ exactly (integers). Two 4-coordinate steps are summed in int16 before widening
/// (|Σ| ≤ 4·128·63 < 2¹⁵). The approximate score is a = fl(fl(Float(Σ q̂·x̂)·s_x)·s_q).
///
/// Bound: with e_x = x − x̃, e_q = q − s_q·q̂, the exact real product minus s_q·s_x·Σ q̂·x̂ is
/// Σ q·e_x + Σ e_q·x̃, so |a − exact Float score| ≤ ‖q‖·E + ‖e_q‖·N + γ·2·(‖q‖ + ‖e_q‖)·N with E the
/// largest ‖e_x‖, N the largest max(‖x‖, ‖x̃‖) over the items and γ = (D + 2)·2⁻²⁴ (two roundings of
/// a, the FMA chain of the exact score). `margin` returns that bound, padded.
///
/// Layout: (blocks, ⌈D/4⌉, 16, 4) — a 16-item block holds, per group of 4 coordinates, 64 bytes:
/// item l's 4 coordinates at byte 4l (one 32-byte load = 8 items × 4 coordinates, the
/// `vpmaddubsw` + `vpmaddwd` shape); coordinates past D and padding items are 0.
final class Int8Items {
    /// ⌈D/4⌉.
    let groups: Int
    /// (blocks, groups, 16, 4) x̂.
    let values: UnsafeMutablePointer<Int8>
    /// Per item −64·Σx̂ (the accumulator start), 0 for padding items.
    let bias: UnsafeMutablePointer<Int32>
    /// Per item s_x (0 for padding and all-zero items).
    let scales: UnsafeMutablePointer<Float>
    /// E and N of the bound.
    let error: Double, norm: Double

    /// The largest D: keeps every |Σ q̂·x̂| below 2²⁴, so Float(Σ) is exact.
    static let maxDim = 2048
    /// The largest item norm (and query norm, `margin`): keeps scores and their bound far from overflow.
    static let maxNorm = 1e15

    /// The copy of `packed` ((blocks, D, 16) Floats); nil when D > `maxDim`, a coordinate is not
    /// finite or an item's norm exceeds `maxNorm` (then searches take another path).
    init?(packed: UnsafePointer<Float>, blocks: Int, dim d: Int) {
        guard d <= Self.maxDim else { return nil }
        let groups = (d + 3) / 4, lanes = ItemIndex.lanes
        let values = UnsafeMutablePointer<Int8>.allocate(capacity: max(blocks * groups * 64, 1))
        values.initialize(repeating: 0, count: max(blocks * groups * 64, 1))
        let bias = UnsafeMutablePointer<Int32>.allocate(capacity: max(blocks * lanes, 1))
        let scales = UnsafeMutablePointer<Float>.allocate(capacity: max(blocks * lanes, 1))
        let parts = max(1, min(Parallel.threads, blocks / 64))
        var stats = [(error: Double, norm: Double, ok: Bool)](repeating: (0, 0, true), count: parts)
        stats.withUnsafeMutableBufferPointer { out in
            let out = out
            Parallel.forEach(parts) { p in
                var worst = (error: 0.0, norm: 0.0, ok: true)
                for b in (blocks * p / parts) ..< (blocks * (p + 1) / parts) {
                    for l in 0..<lanes {
                        let x = packed + b * d * lanes + l   // coordinate c at x[c * lanes]
                        var top = 0.0
                        for c in 0..<d {
                            let v = Double(x[c * lanes])
                            if !v.isFinite { worst.ok = false }
                            top = max(top, abs(v))
                        }
                        let s = Float(top / 63), sd = Double(s)
                        var sum: Int32 = 0, e2 = 0.0, n2 = 0.0, m2 = 0.0
                        for c in 0..<d {
                            let v = Double(x[c * lanes])
                            let q = sd > 0 ? min(63, max(-63, (v / sd).rounded())) : 0
                            values[((b * groups + c / 4) * lanes + l) * 4 + c % 4] = Int8(q)
                            sum += Int32(q)
                            let y = sd * q
                            e2 += (v - y) * (v - y); n2 += v * v; m2 += y * y
                        }
                        bias[b * lanes + l] = -64 * sum
                        scales[b * lanes + l] = s
                        worst.error = max(worst.error, e2.squareRoot())
                        worst.norm = max(worst.norm, n2.squareRoot(), m2.squareRoot())
                    }
                }
                if !(worst.norm <= Self.maxNorm) { worst.ok = false }
                out[p] = worst
            }
        }
        guard stats.allSatisfy(\.ok) else {
            values.deallocate(); bias.deallocate(); scales.deallocate()
            return nil
        }
        self.groups = groups
        self.values = values
        self.bias = bias
        self.scales = scales
        error = stats.map(\.error).max()!
        norm = stats.map(\.norm).max()!
    }

    deinit {
        values.deallocate(); bias.deallocate(); scales.deallocate()
    }

    /// Queries as the kernel reads them: `bytes` (Q, groups·4) = q̂ + 64 (64 past D and for padding
    /// rows), `scales` s_q (1 for zero and padding rows), `margins` the bound m_q of the type's doc
    /// comment. nil when a query is not finite or its norm exceeds `maxNorm`.
    struct Queries {
        var bytes: [UInt8]
        var scales: [Float]
        var margins: [Float]
    }

    /// `queries`: (paddedCount, D) row-major, rows ≥ `count` zero (padding).
    func quantise(_ queries: UnsafePointer<Float>, count q: Int, paddedCount: Int, dim d: Int) -> Queries? {
        let width = groups * 4
        var out = Queries(bytes: [UInt8](repeating: 64, count: paddedCount * width),
                          scales: [Float](repeating: 1, count: paddedCount), margins: [])
        let gamma = Double(d + 2) * 0x1p-24
        for i in 0..<q {
            let row = queries + i * d
            var top = 0.0, n2 = 0.0
            for c in 0..<d {
                let v = Double(row[c])
                guard v.isFinite else { return nil }
                top = max(top, abs(v)); n2 += v * v
            }
            var s = Float(top / 64)
            if !(s > 0) { s = 1 }   // a zero (or underflowing) row: q̂ = 0, e_q = q
            let sd = Double(s)
            var e2 = 0.0
            for c in 0..<d {
                let v = Double(row[c]), qv = min(64, max(-64, (v / sd).rounded()))
                out.bytes[i * width + c] = UInt8(qv + 64)
                e2 += (v - sd * qv) * (v - sd * qv)
            }
            out.scales[i] = s
            let qn = n2.squareRoot(), eq = e2.squareRoot()
            let m = (qn * error + eq * norm + gamma * 2 * (qn + eq) * norm) * (1 + 0x1p-10) + 0x1p-100
            guard qn <= Self.maxNorm, m.isFinite else { return nil }
            out.margins.append(Float(m).nextUp)
        }
        return out
    }

    /// Scans the pairs of blocks `pairs` against the quantised queries (Q = `paddedCount`, a multiple
    /// of 4). A score a of query i is a hit when a > thresholds[i] (read again after every hit, so
    /// `onHit` may raise them). On a hit in pair p, for each group g of 4 queries with one,
    /// `onHit(p, g, scores)` runs with `scores` the group's 4 × 32 approximate scores (row j: query
    /// g + j, items 32p..<32p + 32). `scratch`: Q × 32 floats.
    func scan(_ pairs: Range<Int>, queries: Queries, paddedCount q: Int, thresholds: UnsafePointer<Float>,
              scratch: UnsafeMutablePointer<Float>, onHit: (Int, Int, UnsafePointer<Float>) -> Void) {
        #if arch(x86_64)
        var hits = [UInt8](repeating: 0, count: q / 4)
        queries.bytes.withUnsafeBufferPointer { bytes in
            queries.scales.withUnsafeBufferPointer { qs in
                hits.withUnsafeMutableBufferPointer { hits in
                    var p = pairs.lowerBound
                    while p < pairs.upperBound {
                        p = gr_retrieval_i8_scan(values, bias, scales, p, pairs.upperBound, Int32(groups), bytes.baseAddress!,
                                                 qs.baseAddress!, Int32(q), thresholds, scratch, hits.baseAddress!)
                        guard p < pairs.upperBound else { break }
                        for g in 0..<(q / 4) where hits[g] != 0 { onHit(p, 4 * g, scratch + 4 * g * 32) }
                        p += 1
                    }
                }
            }
        }
        #else
        preconditionFailure("Int8Items.scan: x86-64 only")
        #endif
    }
}
