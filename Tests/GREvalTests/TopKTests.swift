import GRCore
import GRCPU
import XCTest

/// `CPUBackend.topK` against a full sort with the documented order (score desc, index asc).
final class TopKTests: XCTestCase {
    let backend = CPUBackend()

    /// Reference: stable sort of (score desc, index asc), NaN as −∞.
    func naive(_ row: [Float], _ k: Int) -> (values: [Float], indices: [Int32]) {
        let keyed = row.enumerated().map { (v: $1.isNaN ? -Float.infinity : $1, i: $0) }
        let sorted = keyed.sorted { $0.v > $1.v || ($0.v == $1.v && $0.i < $1.i) }.prefix(k)
        return (sorted.map(\.v), sorted.map { Int32($0.i) })
    }

    func run(_ scores: [Float], rows: Int, columns: Int, ld: Int, k: Int) -> ([Float], [Int32]) {
        let s = Tensor(scores, shape: [rows, ld])
        let v = backend.zeros([rows, k], .f32), i = backend.zeros([rows, k], .i32)
        backend.topK(scores: s, rows: rows, columns: columns, ldScores: ld, k: k, values: v, indices: i)
        return (v.toArray(), Array(UnsafeBufferPointer(start: i.int32s, count: rows * k)))
    }

    func testHandExample() {
        let (v, i) = run([0.1, 0.9, 0.5, 0.7], rows: 1, columns: 4, ld: 4, k: 2)
        XCTAssertEqual(v, [0.9, 0.7])
        XCTAssertEqual(i, [1, 3])
    }

    func testTiesGoToLowerIndex() {
        // Ties inside the first k, across the heap boundary, and in a later SIMD block.
        var row = [Float](repeating: 0, count: 37)
        for j in [3, 5, 20, 21, 36] { row[j] = 1 }
        row[30] = 2
        let (v, i) = run(row, rows: 1, columns: 37, ld: 37, k: 4)
        XCTAssertEqual(v, [2, 1, 1, 1])
        XCTAssertEqual(i, [30, 3, 5, 20])
        let all = run([Float](repeating: 0.5, count: 19), rows: 1, columns: 19, ld: 19, k: 19)
        XCTAssertEqual(all.1, (0..<19).map(Int32.init))
    }

    func testNaNSortsLast() {
        let (v, i) = run([.nan, 1, .nan, -3, 2], rows: 1, columns: 5, ld: 5, k: 5)
        XCTAssertEqual(i, [4, 1, 3, 0, 2])
        XCTAssertEqual(Array(v.prefix(3)), [2, 1, -3])
        XCTAssertEqual(v[3], -.infinity)
    }

    func testSignedZerosAreEqualScores() {
        // −0 == +0, so the lower index comes first whatever the sign.
        let (_, i) = run([0, -0.0, 0, -0.0, -1], rows: 1, columns: 5, ld: 5, k: 5)
        XCTAssertEqual(i, [0, 1, 2, 3, 4])
        let (_, j) = run([-0.0, 0], rows: 1, columns: 2, ld: 2, k: 1)
        XCTAssertEqual(j, [0])
    }

    /// Sorted, reverse-sorted, constant and organ-pipe rows (the classic quickselect worst cases),
    /// long enough for the quickselect and the radix sort (k > 64).
    func testStructuredRows() {
        let n = 3000
        let patterns: [[Float]] = [
            (0..<n).map { Float($0) }, (0..<n).map { Float(n - $0) }, [Float](repeating: 0.25, count: n),
            (0..<n).map { Float(min($0, n - $0)) }, (0..<n).map { Float($0 % 7) - 3 },
            (0..<n).map { Float(-($0 % 100)) * 1e-3 },
        ]
        for (p, row) in patterns.enumerated() {
            for k in [1, 65, 700, 2999, 3000] {
                let (v, i) = run(row, rows: 1, columns: n, ld: n, k: k)
                let ref = naive(row, k)
                XCTAssertEqual(i, ref.indices, "pattern \(p) k \(k)")
                XCTAssertEqual(v, ref.values, "pattern \(p) k \(k)")
            }
        }
    }

    /// Rows long enough for the sampled-threshold prefilter (V ≥ 4096, k ≤ V/4), including one
    /// whose sample (every 4th column here) is unrepresentative, forcing the exact fallback.
    func testPrefilterAndItsFallback() {
        var rng = SystemRandomNumberGenerator()
        let n = 4096
        let random = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
        let quantised = (0..<n).map { _ in Float(Int.random(in: 0...40, using: &rng)) }
        let sampledHigh = (0..<n).map { Float($0 % 4 == 0 ? 1 : 0) }
        for (name, row) in [("random", random), ("quantised", quantised), ("sampledHigh", sampledHigh)] {
            for k in [1, 100, 1000, 1024] {
                let (v, i) = run(row, rows: 1, columns: n, ld: n, k: k)
                let ref = naive(row, k)
                XCTAssertEqual(i, ref.indices, "\(name) k \(k)")
                XCTAssertEqual(v, ref.values, "\(name) k \(k)")
            }
        }
    }

    func testKZeroAndKEqualsV() {
        let (v0, i0) = run([1, 2, 3], rows: 1, columns: 3, ld: 3, k: 0)
        XCTAssertEqual(v0, []); XCTAssertEqual(i0, [])
        let (v, i) = run([1, 3, 2], rows: 1, columns: 3, ld: 3, k: 3)
        XCTAssertEqual(v, [3, 2, 1]); XCTAssertEqual(i, [1, 2, 0])
    }

    /// Many rows (threaded), a row stride larger than V, sizes around the 8-wide blocks, and
    /// quantised scores so that ties are frequent.
    func testRandomRowsMatchSort() {
        var rng = SystemRandomNumberGenerator()
        for (columns, k) in [(1, 1), (7, 3), (8, 8), (9, 2), (64, 10), (203, 57), (500, 499), (1000, 1)] {
            let rows = 5, ld = columns + 3
            let scores = (0..<(rows * ld)).map { _ in Float(Int.random(in: -20...20, using: &rng)) / 8 }
            let (v, i) = run(scores, rows: rows, columns: columns, ld: ld, k: k)
            for r in 0..<rows {
                let ref = naive(Array(scores[(r * ld)..<(r * ld + columns)]), k)
                XCTAssertEqual(Array(v[(r * k)..<(r * k + k)]), ref.values, "V \(columns) k \(k) row \(r)")
                XCTAssertEqual(Array(i[(r * k)..<(r * k + k)]), ref.indices, "V \(columns) k \(k) row \(r)")
            }
        }
    }
}
