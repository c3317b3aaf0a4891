import Foundation
import GRCore
import GRCPU
@testable import GRInference
import XCTest

/// The small-K AVX2 kernel of the serving forward's products (`LayerWeight` with `smallKernel`,
/// C shim `gr_sgemm_small_avx2`) against the GRCPU GEMM (`CPUGEMM.sgemm`) + `InferenceSiLU` on
/// ragged random shapes: every row tail (M mod 6), column tail (N mod 16, N < 8), column blocks at
/// odd offsets, W stored transposed, C with a row stride; C poisoned with NaN first (only the
/// accumulating product reads it, and then it holds numbers), and the padding columns of C must
/// keep their poison.
final class SmallGEMMTests: XCTestCase {
    typealias Rng = FusedAttentionTests.Rng

    /// One random layer product, run by the GRCPU GEMM (+ `InferenceSiLU`, `want`) and by
    /// `LayerWeight` at `precision` with the small kernel on (`got`): A (m, lda = k + 3), W (k, n) or
    /// (n, k) when `transposed`, C (m, ldc = |columns| + 5) NaN-poisoned (random in its columns when
    /// `accumulate`); `corrupt` edits A (row stride lda) before both run.
    struct ProductCase {
        let m: Int, k: Int, n: Int, lda: Int, ldc: Int, cols: Range<Int>, transposed: Bool
        var a: [Float], w: [Float], want: [Float], got: [Float]
        var effectivePrecision = InferencePrecision.f32

        init(m: Int, k: Int, n: Int, transposed: Bool, columns: Range<Int>?, accumulate: Bool, silu: Bool,
             precision: InferencePrecision, seed: UInt64, corrupt: (inout [Float], Int, inout Rng) -> Void = { _, _, _ in }) {
            var rng = Rng(state: seed)
            let lda = k + 3, cols = columns ?? 0 ..< n, ldc = cols.count + 5
            (self.m, self.k, self.n, self.lda, self.ldc, self.cols, self.transposed) = (m, k, n, lda, ldc, cols, transposed)
            var a = (0..<(m * lda)).map { _ in rng.symmetric(2) }
            corrupt(&a, lda, &rng)
            var w = (0..<(k * n)).map { _ in rng.symmetric(0.5) }
            let start = (0..<(m * ldc)).map { i in i % ldc < cols.count ? rng.symmetric(1) : Float.nan }
            var want = accumulate ? start : [Float](repeating: .nan, count: m * ldc)
            var got = want, used = InferencePrecision.f32
            w.withUnsafeMutableBufferPointer { wp in
                let wp = wp.baseAddress!
                a.withUnsafeBufferPointer { ap in
                    let ap = ap.baseAddress!
                    CPUGEMM.sgemm(transA: false, transB: transposed, m: m, n: cols.count, k: k, alpha: 1, a: ap, lda: lda,
                                  b: transposed ? wp + cols.lowerBound * k : wp + cols.lowerBound, ldb: transposed ? k : n,
                                  beta: accumulate ? 1 : 0, c: &want, ldc: ldc)
                    if silu { for r in 0..<m { want.withUnsafeMutableBufferPointer { InferenceSiLU.apply($0.baseAddress! + r * ldc, cols.count) } } }
                    let saved = LayerWeight.smallKernel
                    LayerWeight.smallKernel = true
                    let weight = LayerWeight(wp, k: k, n: n, transposed: transposed, precision: precision,
                                             columnBlocks: columns.map { [$0] } ?? [])
                    LayerWeight.smallKernel = saved
                    used = weight.precision
                    XCTAssertTrue(weight.small || precision != .f32)
                    got.withUnsafeMutableBufferPointer { c in
                        if let columns {
                            weight.multiply(ap, rows: m, lda: lda, columns: columns, into: c.baseAddress!, ldc: ldc, silu: silu)
                        } else {
                            weight.multiply(ap, rows: m, lda: lda, into: c.baseAddress!, ldc: ldc, accumulate: accumulate, silu: silu)
                        }
                    }
                }
            }
            (self.a, self.w, self.want, self.got, effectivePrecision) = (a, w, want, got, used)
        }

        /// op(W)[kk][j].
        func op(_ kk: Int, _ j: Int) -> Float { transposed ? w[j * k + kk] : w[kk * n + j] }
    }

    /// C (m, |columns|) (+)= A·op(W)[:, columns] (SiLU when `silu`) by both paths.
    func check(m: Int, k: Int, n: Int, transposed: Bool, columns: Range<Int>? = nil, accumulate: Bool = false,
               silu: Bool = false, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        let p = ProductCase(m: m, k: k, n: n, transposed: transposed, columns: columns, accumulate: accumulate, silu: silu,
                            precision: .f32, seed: seed)
        let (ldc, cols, got, want) = (p.ldc, p.cols, p.got, p.want)
        var worst: Float = 0
        for i in 0..<(m * ldc) {
            if i % ldc >= cols.count {
                XCTAssertTrue(got[i].isNaN, "padding of C written at \(i)", file: file, line: line)
                continue
            }
            XCTAssertFalse(got[i].isNaN, "NaN at \(i / ldc), \(i % ldc)", file: file, line: line)
            if got[i].isNaN { return }
            worst = max(worst, abs(got[i] - want[i]) / max(1, abs(want[i])))
        }
        XCTAssertLessThanOrEqual(worst, 1e-5, "m \(m) k \(k) n \(n) columns \(cols) transposed \(transposed)",
                                 file: file, line: line)
    }

    func testSmallKernelMatchesTheGEMM() throws {
        try XCTSkipUnless(FusedHSTUAttention.available, "the CPU lacks AVX2 + FMA")
        var seed: UInt64 = 1
        for m in [1, 5, 6, 7, 13, 40] {
            for (k, n) in [(50, 200), (50, 50), (1, 3), (7, 8), (25, 17), (64, 9), (128, 33)] {
                check(m: m, k: k, n: n, transposed: false, seed: seed)
                check(m: m, k: k, n: n, transposed: true, accumulate: true, seed: seed + 1)
                check(m: m, k: k, n: n, transposed: false, silu: true, seed: seed + 2)
                seed += 3
            }
        }
        // The last layer's column blocks (HSTU-large: V = [50, 100), K = [150, 200) of 200).
        for m in [1, 11, 200] {
            check(m: m, k: 50, n: 200, transposed: false, columns: 50 ..< 100, silu: true, seed: seed)
            check(m: m, k: 50, n: 200, transposed: false, columns: 150 ..< 200, silu: true, seed: seed + 1)
            check(m: m, k: 13, n: 41, transposed: false, columns: 3 ..< 10, seed: seed + 2)
            seed += 3
        }
    }
}
