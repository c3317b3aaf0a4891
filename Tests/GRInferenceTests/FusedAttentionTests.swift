import Foundation
import GRCore
import GRCPU
@testable import GRInference
import XCTest

/// The fused AVX2 inference attention (`FusedHSTUAttention`) against the CPU tile kernel
/// (`hstuAttentionForward`, itself checked against a naive f64 reference in GRCPUTests) on ragged
/// random batches: every partial/full tile shape, odd head dims, chronological, unordered and huge
/// timestamps; the output poisoned with NaN first.
final class FusedAttentionTests: XCTestCase {
    struct Rng {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 11
        }
        mutating func symmetric(_ scale: Float) -> Float { (Float(next() % 2_000_001) / 1_000_000 - 1) * scale }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    func check(lengths: [Int], n: Int, heads: Int, dqk: Int, dv: Int, seed: UInt64, file: StaticString = #filePath,
               line: UInt = #line) {
        var rng = Rng(state: seed)
        let t = lengths.reduce(0, +), w = 2 * heads * dv + 2 * heads * dqk, hv = heads * dv, kw = heads * dqk
        let act = Tensor((0..<(t * w)).map { _ in rng.symmetric(1.5) }, shape: [t, w])
        let ts = Tensor(zeros: [lengths.count, n], dtype: .i64)
        let gaps: [Int64] = [0, 1, 59, 3600, 86_400, 417_901, 604_800, 2_592_000]
        for (b, l) in lengths.enumerated() {
            let row = ts.int64s + b * n
            var now: Int64 = 978_300_760 + Int64(rng.below(1_000_000))
            for i in 0...l {
                row[i] = now
                now += rng.below(3) == 0 ? Int64(rng.below(10_000_000)) : gaps[rng.below(gaps.count)]
            }
            switch b % 4 {
            case 1: for x in 0...(l / 2) { let s = row[x]; row[x] = row[l - x]; row[l - x] = s }   // unordered
            case 2: for i in 0...l { row[i] = Int64(rng.next() >> 1) &* (rng.below(2) == 0 ? 1 : -1) }   // huge, any sign
            default: break
            }
        }
        let wPos = Tensor((0..<(2 * n - 1)).map { _ in rng.symmetric(0.5) }, shape: [2 * n - 1])
        let wTs = Tensor((0..<TimeBucket.count).map { _ in rng.symmetric(0.5) }, shape: [TimeBucket.count])
        let want = Tensor(zeros: [t, hv])
        CPUBackend().hstuAttentionForward(q: act.view(2 * hv, [t * w - 2 * hv]), k: act.view(2 * hv + kw, [t * w - 2 * hv - kw]),
                                          v: act.view(hv, [t * w - hv]), rowStride: w, layout: JaggedLayout(lengths: lengths),
                                          timestamps: ts, positionWeights: wPos, timeWeights: wTs, heads: heads, dqk: dqk,
                                          dv: dv, paddedWidth: n, out: want)
        var rows = [0]
        for l in lengths { rows.append(rows.last! + l) }
        let jagged = JaggedRows(offsets: rows)
        let offsets = FusedHSTUAttention.bucketOffsets(jagged)
        var buckets = [UInt8](repeating: 0xFF, count: max(offsets.last!, 1))
        var got = [Float](repeating: .nan, count: t * hv)
        var scratch = [Float](repeating: .nan, count: FusedHSTUAttention.scratchFloats(heads: heads, dqk: dqk, dv: dv))
        buckets.withUnsafeMutableBufferPointer { bk in
            FusedHSTUAttention.buckets(rows: jagged, offsets: offsets, timestamps: ts.int64s, n: n, into: bk.baseAddress!)
            FusedHSTUAttention.forward(q: act.floats + 2 * hv, k: act.floats + 2 * hv + kw, v: act.floats + hv, rowStride: w,
                                       rows: jagged, buckets: bk.baseAddress!, bucketOffsets: offsets,
                                       positionsReversed: FusedHSTUAttention.reversedPositions(wPos.floats, n: n),
                                       timeWeights: wTs.floats, n: n, heads: heads, dqk: dqk, dv: dv,
                                       scratch: &scratch, out: &got)
        }
        let reference = want.toArray()
        var worst: Float = 0, scale: Float = 0
        for (x, y) in zip(got, reference) {
            XCTAssertFalse(x.isNaN, "NaN in the fused output", file: file, line: line)
            if x.isNaN { return }
            worst = max(worst, abs(x - y))
            scale = max(scale, abs(y))
        }
        XCTAssertGreaterThan(scale, 0, file: file, line: line)
        XCTAssertLessThanOrEqual(worst, 2e-6 * max(scale, 1), "lengths \(lengths) H \(heads) dqk \(dqk) dv \(dv)",
                                 file: file, line: line)
    }

    func testFusedAttentionMatchesTheTileKernel() throws {
        try XCTSkipUnless(FusedHSTUAttention.available, "the CPU lacks AVX2 + FMA")
        let lengths = [1, 5, 8, 16, 17, 31, 32, 33, 40, 63, 64, 65, 100, 131, 200]
        check(lengths: lengths, n: 211, heads: 2, dqk: 25, dv: 25, seed: 1)
        check(lengths: lengths.filter { $0 <= 70 }, n: 71, heads: 3, dqk: 13, dv: 7, seed: 2)
        check(lengths: [2, 19, 47, 70], n: 71, heads: 1, dqk: 8, dv: 8, seed: 3)
        check(lengths: [3, 33, 49], n: 50, heads: 2, dqk: 3, dv: 5, seed: 4)
        // A·V runs 5 value columns per step, then a tail of 4, 3, 2 or 1 (7, 8 above).
        check(lengths: [9, 32, 45], n: 50, heads: 2, dqk: 6, dv: 9, seed: 5)
        check(lengths: [1, 26, 41], n: 50, heads: 1, dqk: 11, dv: 6, seed: 6)
    }
}
