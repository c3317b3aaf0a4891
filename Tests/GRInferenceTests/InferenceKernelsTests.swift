@testable import GRInference
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
}
