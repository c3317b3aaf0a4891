import Foundation
import GRCPU
import XCTest

/// `InferenceSiLU` (the serving forward's SiLU: the AVX2 `gr_silu8` of the attention and of the
/// fused GEMM store on this machine) against x/(1 + e^−x) in Double, over samples of the whole f32
/// range: every 65,521st bit pattern (all exponents, both signs, NaN and ±inf) and a dense grid of
/// [−90, 90]. Relative error ≤ 1e-6 where the result is not ≈ 0 (x ≥ −80; the AVX2 kernel's
/// measured maximum over every f32 is 3.2e-7), |error| ≤ 1e-30·max(1, |x|) below;
/// NaN in, NaN out. Lengths 0…19 check the 8-lane body, the tail and that nothing past n changes.
final class InferenceSiLUTests: XCTestCase {
    private static func exact(_ x: Float) -> Double { Double(x) / (1 + Foundation.exp(-Double(x))) }

    private func check(_ xs: [Float], file: StaticString = #filePath, line: UInt = #line) {
        var y = xs
        y.withUnsafeMutableBufferPointer { InferenceSiLU.apply($0.baseAddress!, $0.count) }
        var worst = 0.0, worstX: Float = 0, failures = 0
        for (x, v) in zip(xs, y) {
            if x.isNaN { if !v.isNaN { failures += 1 }; continue }
            if x.isInfinite { continue }
            let want = Self.exact(x), error = abs(Double(v) - want)
            if !v.isFinite { failures += 1; continue }
            if x < -80 {
                if error > 1e-30 * max(1, Double(abs(x))) { failures += 1 }
                continue
            }
            if error <= 1e-37 { continue }
            let rel = error / abs(want)
            if rel > worst { worst = rel; worstX = x }
        }
        XCTAssertEqual(failures, 0, "non-finite or NaN-losing results", file: file, line: line)
        XCTAssertLessThanOrEqual(worst, 1e-6, "worst relative error at x = \(worstX)", file: file, line: line)
    }

    func testSampledBitPatterns() {
        var xs: [Float] = []
        xs.reserveCapacity(65_600)
        var bits: UInt64 = 0
        while bits < 1 << 32 { xs.append(Float(bitPattern: UInt32(bits))); bits += 65_521 }
        xs += [.nan, .infinity, -.infinity, 0, -0.0, .leastNonzeroMagnitude, -.leastNormalMagnitude, 87, -87, 88.7, -88.7]
        check(xs)
    }

    func testDenseGrid() {
        check((0...180_000).map { Float(-90 + Double($0) * 0.001) })
    }

    func testRaggedLengthsKeepTheRest() {
        for n in 0...19 {
            let xs = (0..<n).map { Float($0) * 0.7 - 5 }
            var buffer = xs + [.nan, .nan]
            buffer.withUnsafeMutableBufferPointer { InferenceSiLU.apply($0.baseAddress!, n) }
            for i in 0..<n {
                XCTAssertEqual(Double(buffer[i]), Self.exact(xs[i]), accuracy: 1e-6 * max(1, abs(Self.exact(xs[i]))), "n \(n), i \(i)")
            }
            XCTAssertTrue(buffer[n].isNaN && buffer[n + 1].isNaN, "n \(n): wrote past the end")
        }
    }
}
