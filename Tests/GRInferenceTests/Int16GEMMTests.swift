import Foundation
import GRCore
import GRCPU
@testable import GRInference
import XCTest

/// The int16 layer products (`--precision int16`: `LayerWeight` with `Int16Weight`, C shim
/// `gr_i16gemm_avx2`) against the f32 product (`CPUGEMM.sgemm` + `InferenceSiLU`) on ragged random
/// shapes, C poisoned with NaN first; rows with NaN/∞ (computed in f32); the int32 overflow bound.
/// The whole-forward comparison is in `BatchedForwardTests.testReducedPrecisionMatchesF32OnATrainedModel`.
final class Int16GEMMTests: XCTestCase {
    /// C (m, |columns|) (+)= A·op(W)[:, columns] (SiLU when `silu`) by both paths; rows `nonFinite`
    /// of A get a NaN / +∞ / −∞ (cycling) and must equal f32 exactly (NaN where f32 has NaN).
    /// Error bound of a product: |â·ŵ − a·w| ≤ Σ_k (|a_k|·s_j + |w_k|·s_r + s_r·s_j/2)/2 ≤
    /// K·max|a_r|·max|w_j|/Q (Q = 4095) plus f32 rounding; SiLU's slope is below 1.1.
    func check(m: Int, k: Int, n: Int, transposed: Bool, columns: Range<Int>? = nil, accumulate: Bool = false,
               silu: Bool = false, nonFinite: [Int] = [], seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        let p = SmallGEMMTests.ProductCase(m: m, k: k, n: n, transposed: transposed, columns: columns, accumulate: accumulate,
                                           silu: silu, precision: .int16, seed: seed) { a, lda, rng in
            for (i, r) in nonFinite.enumerated() { a[r * lda + rng.below(k)] = [Float.nan, .infinity, -.infinity][i % 3] }
        }
        XCTAssertEqual(p.effectivePrecision, .int16, file: file, line: line)
        let (a, lda, ldc, cols, got, want) = (p.a, p.lda, p.ldc, p.cols, p.got, p.want)
        let wMax = (0..<n).map { j in (0..<k).map { abs(p.op($0, j)) }.max()! }
        var worst: Float = 0
        for i in 0..<(m * ldc) {
            let r = i / ldc, j = i % ldc
            if j >= cols.count {
                XCTAssertTrue(got[i].isNaN, "padding of C written at \(i)", file: file, line: line)
                continue
            }
            if nonFinite.contains(r) {
                XCTAssertTrue(got[i].isNaN == want[i].isNaN && (want[i].isNaN || got[i] == want[i]),
                              "row \(r) with a non-finite input: \(got[i]) vs f32 \(want[i])", file: file, line: line)
                continue
            }
            XCTAssertFalse(got[i].isNaN, "NaN at \(r), \(j)", file: file, line: line)
            if got[i].isNaN { return }
            let aMax = (0..<k).map { abs(a[r * lda + $0]) }.max()!
            let bound = 1.1 * Float(k) * aMax * wMax[cols.lowerBound + j] / 4095 + 1e-5 * max(1, abs(want[i]))
            worst = max(worst, abs(got[i] - want[i]) / bound)
        }
        XCTAssertLessThanOrEqual(worst, 1, "m \(m) k \(k) n \(n) columns \(cols) transposed \(transposed)", file: file, line: line)
    }

    func testInt16KernelMatchesF32() throws {
        try XCTSkipUnless(Int16Weight.available, "the CPU lacks AVX2")
        var seed: UInt64 = 11
        for m in [1, 5, 7, 23, 24, 25, 53] {
            for (k, n) in [(50, 200), (50, 50), (1, 3), (7, 8), (25, 17), (64, 9), (128, 33)] {
                check(m: m, k: k, n: n, transposed: false, seed: seed)
                check(m: m, k: k, n: n, transposed: true, accumulate: true, seed: seed + 1)
                check(m: m, k: k, n: n, transposed: false, silu: true, seed: seed + 2)
                seed += 3
            }
        }
        for m in [1, 11, 60] {
            check(m: m, k: 50, n: 200, transposed: false, columns: 50 ..< 100, silu: true, seed: seed)
            check(m: m, k: 13, n: 41, transposed: false, columns: 3 ..< 10, seed: seed + 1)
            seed += 2
        }
    }

    /// Rows with NaN, +∞ or −∞ run in f32: NaN exactly where f32 has NaN, the same values elsewhere;
    /// the other rows of the block stay int16-accurate (with `+ C` the int16 pass must add 0).
    func testNonFiniteRowsFallBackToF32() throws {
        try XCTSkipUnless(Int16Weight.available, "the CPU lacks AVX2")
        check(m: 30, k: 50, n: 200, transposed: false, silu: true, nonFinite: [0, 7, 24, 29], seed: 3)
        check(m: 30, k: 50, n: 50, transposed: true, accumulate: true, nonFinite: [1, 2, 3, 25], seed: 4)
        check(m: 9, k: 50, n: 200, transposed: false, columns: 150 ..< 200, silu: true, nonFinite: [8], seed: 5)
        // A weight with a NaN or ∞ is not quantised: the product stays f32.
        var w = [Float](repeating: 0.5, count: 50 * 20)
        w[77] = .infinity
        let weight = w.withUnsafeMutableBufferPointer { LayerWeight($0.baseAddress!, k: 50, n: 20, transposed: false, precision: .int16) }
        XCTAssertEqual(weight.precision, .f32)
    }

    /// The int32 sums at their bound: K = 128 (and odd 127) with every â·ŵ = +Q² (or −Q²): Σ =
    /// 128·4095² = 2 146 435 200 < 2³¹ − 1. A wrap would flip the sign.
    func testOverflowBoundWithAdversarialInputs() throws {
        try XCTSkipUnless(Int16Weight.available, "the CPU lacks AVX2")
        for k in [128, 127] {
            let n = 19, m = 7
            // Signs alternate along K; row r of A matches column j of W (+Q²) or is its negative (−Q²).
            let w = (0..<(k * n)).map { i in Float(i / n % 2 == 0 ? 3 : -3) }
            let a = (0..<(m * k)).map { i in Float(i % k % 2 == 0 ? 2 : -2) * (i / k % 2 == 0 ? 1 : -1) }
            let q = Int16Weight(w, ldw: n, k: k, n: n)!
            XCTAssertEqual(Int64(k) * 4095 * 4095 < Int64(Int32.max), true)
            var c = [Float](repeating: .nan, count: m * n)
            a.withUnsafeBufferPointer { ap in
                w.withUnsafeBufferPointer { wp in
                    c.withUnsafeMutableBufferPointer { cp in
                        q.multiply(ap.baseAddress!, rows: m, lda: k, f32: wp.baseAddress!, ldw: n, into: cp.baseAddress!, ldc: n,
                                   accumulate: false, silu: false)
                    }
                }
            }
            for r in 0..<m {
                for j in 0..<n {
                    let want = Float(6 * k) * (r % 2 == 0 ? 1 : -1)
                    XCTAssertEqual(c[r * n + j], want, accuracy: abs(want) * 1e-6, "k \(k) (\(r), \(j))")
                }
            }
        }
    }
}
