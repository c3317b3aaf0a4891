@testable import GRInference
import GRCPU
import XCTest

/// `InferenceKernels.weightedRows` (the incremental attention's A·V) is bit for bit the loop of
/// `axpy` calls it replaced, for every width (register path n ≤ 32, the fallback beyond).
final class InferenceKernelsTests: XCTestCase {
    func testWeightedRowsEqualsAxpyLoop() {
        var s: UInt64 = 7
        func next() -> Float {
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(s >> 40) - (1 << 23)) / Float(1 << 22)
        }
        for n in [1, 7, 8, 9, 16, 25, 31, 32, 33, 50] {
            for rows in [0, 1, 5, 200] {
                let stride = n + 3
                let a = (0..<max(rows, 1)).map { _ in next() }, x = (0..<(max(rows, 1) * stride)).map { _ in next() }
                var expected = [Float](repeating: 0, count: n), got = [Float](repeating: .nan, count: n)
                for j in 0..<rows { x.withUnsafeBufferPointer { InferenceKernels.axpy(a[j], $0.baseAddress! + j * stride, &expected, n) } }
                a.withUnsafeBufferPointer { pa in
                    x.withUnsafeBufferPointer { px in
                        got.withUnsafeMutableBufferPointer {
                            InferenceKernels.weightedRows(pa.baseAddress!, px.baseAddress!, stride: stride, rows: rows, $0.baseAddress!, n)
                        }
                    }
                }
                XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern), "n \(n), rows \(rows)")
            }
        }
    }

    /// `dots` (8 keys per AVX2 step, `gr_row_scores_avx2`) against f64 sums on ragged sizes; the
    /// keys end exactly at the buffer's end and nothing past `count` is written.
    func testDotsMatchF64() {
        var s: UInt64 = 11
        func next() -> Float {
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(s >> 40) - (1 << 23)) / Float(1 << 22)
        }
        for d in [1, 7, 8, 9, 16, 25, 33, 50] {
            for count in [0, 1, 7, 8, 9, 17, 200] {
                let stride = d + 5, q = (0..<d).map { _ in next() }
                let k = (0..<(max(count - 1, 0) * stride + d)).map { _ in next() }
                var got = [Float](repeating: .nan, count: count + 8)
                q.withUnsafeBufferPointer { pq in
                    k.withUnsafeBufferPointer { pk in
                        got.withUnsafeMutableBufferPointer {
                            InferenceKernels.dots(pq.baseAddress!, pk.baseAddress!, stride: stride, count: count, d, into: $0.baseAddress!)
                        }
                    }
                }
                for j in 0..<count {
                    var want = 0.0
                    for t in 0..<d { want += Double(q[t]) * Double(k[j * stride + t]) }
                    XCTAssertEqual(Double(got[j]), want, accuracy: 1e-5 * max(1, abs(want)), "d \(d), count \(count), key \(j)")
                }
                XCTAssertTrue(got[count...].allSatisfy(\.isNaN), "d \(d), count \(count): written past count")
            }
        }
    }

    /// `layerNormRows` (on AVX2 `gr_layernorm_rows_avx2`, 4 rows per step) = GRCPU's
    /// `layerNormMulForward` to float rounding, with and without u, every row and column tail;
    /// nothing written past the rows (NaN kept).
    func testLayerNormRowsMatchNormKernels() {
        var s: UInt64 = 5
        func next() -> Float {
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(s >> 40) - (1 << 23)) / Float(1 << 21) + 0.7
        }
        for cols in [1, 7, 8, 9, 25, 50, 67] {
            for rows in [1, 3, 4, 6, 9] {
                for withU in [false, true] {
                    let ldu = cols + 3
                    var x = (0..<(rows * cols)).map { _ in next() }, u = (0..<(rows * ldu)).map { _ in next() }
                    var want = [Float](repeating: 0, count: rows * cols), got = [Float](repeating: .nan, count: rows * cols + 8)
                    var m1 = [Float](repeating: 0, count: rows), r1 = m1, m2 = [Float](repeating: .nan, count: rows), r2 = m2
                    u.withUnsafeMutableBufferPointer { pu in
                        NormKernels.layerNormMulForward(&x, withU ? pu.baseAddress! : nil, ldu, &want, &m1, &r1, rows, cols, 1e-6)
                        InferenceKernels.layerNormRows(&x, withU ? pu.baseAddress! : nil, ldu: ldu, &got, mean: &m2, rstd: &r2,
                                                       rows: rows, cols: cols, eps: 1e-6)
                    }
                    let tag = "rows \(rows), cols \(cols), u \(withU)"
                    for i in 0..<(rows * cols) { XCTAssertEqual(got[i], want[i], accuracy: 2e-6 * max(1, abs(want[i])), tag) }
                    for r in 0..<rows {
                        XCTAssertEqual(m2[r], m1[r], accuracy: 1e-6 * max(1, abs(m1[r])), tag)
                        XCTAssertEqual(r2[r], r1[r], accuracy: 1e-5 * r1[r], tag)
                    }
                    XCTAssertTrue(got[(rows * cols)...].allSatisfy(\.isNaN), "\(tag): written past the rows")
                }
            }
        }
    }
}
