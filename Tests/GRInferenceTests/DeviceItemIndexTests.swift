import Foundation
import GRCore
import GRCPU
@testable import GRInference
import XCTest

/// `DeviceItemIndex` with the CPU backend standing in for the device (its GEMM sums in another
/// order than the exact FMA chain, so the bound and the retry logic are exercised): its answers
/// must equal the portable `ItemIndex` scan's, ids and scores, on random, tied, near-tied and
/// non-finite inputs. (On a GPU: `gr cuda bench-retrieval`.)
final class DeviceItemIndexTests: XCTestCase {
    func randoms(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(s >> 40) - (1 << 23)) / Float(1 << 23)
        }
    }

    /// Both indexes over `ids` (sparse, shuffled) with rows `vectors`; every (k, exclusions) case
    /// compared; returns the device index for its counters.
    @discardableResult
    func compare(vectors: [Float], d: Int, queries: [Float], ks: [Int], rounding: Double = 0,
                 file: StaticString = #filePath, line: UInt = #line) -> DeviceItemIndex {
        let v = vectors.count / d, q = queries.count / d
        let ids = (0..<v).map { Int32((($0 * 7919) % v) * 3 + 1) }
        var table = [Float](repeating: 0, count: (3 * v + 2) * d)
        for (r, id) in ids.enumerated() { for c in 0..<d { table[Int(id) * d + c] = vectors[r * d + c] } }
        let cpu = vectors.withUnsafeBufferPointer { ItemIndex(ids: ids, vectors: $0, dim: d, kernel: .portable) }
        let device = table.withUnsafeBufferPointer {
            DeviceItemIndex(ids: ids, table: $0.baseAddress!, tableRows: 3 * v + 2, dim: d,
                            retrieval: DeviceRetrieval(backend: CPUBackend(), gemmInputRounding: rounding))
        }
        for k in ks {
            for excludeEvery in [0, 3] {
                let excluded: [[Int32]] = excludeEvery == 0 ? [] : (0..<q).map { i in
                    ids.enumerated().filter { ($0.offset + i) % excludeEvery == 0 }.map(\.element) + [0, -5, 999_999]
                }
                let expected = cpu.search(queries: queries, k: k, excluded: excluded)
                let got = device.search(queries: queries, k: k, excluded: excluded)
                XCTAssertEqual(got, expected, "k \(k), every \(excludeEvery)th excluded", file: file, line: line)
            }
        }
        return device
    }

    func testRandomUnitVectors() {
        let d = 24, v = 3000
        var x = randoms(v * d, seed: 5)
        for r in 0..<v {
            let n = (0..<d).reduce(Float(0)) { $0 + x[r * d + $1] * x[r * d + $1] }.squareRoot()
            for c in 0..<d { x[r * d + c] /= n }
        }
        compare(vectors: x, d: d, queries: randoms(5 * d, seed: 9), ks: [1, 10, 100, 2999, 3000, 5000])
    }

    func testExactTiesOrderedById() {
        // Few distinct values: many exactly equal scores, which must come out by ascending id.
        let d = 8, v = 1500
        let x = randoms(v * d, seed: 11).map { ($0 * 2).rounded() / 2 }
        let q = randoms(4 * d, seed: 12).map { ($0 * 2).rounded() / 2 }
        compare(vectors: x, d: d, queries: q, ks: [10, 200])
    }

    func testNearTiesForceLargerCandidateSets() {
        // Every item within a few ulps of one vector: the bound cannot separate the top k from the
        // rest with K′ = k + 64, so queries run again with 4·K′ (until K′ = V), still exact. A
        // coarse input rounding (as a bf16 GEMM's) widens the bound the same way.
        let d = 16, v = 2000
        let base = randoms(d, seed: 21)
        let noise = randoms(v * d, seed: 22)
        let x = (0..<(v * d)).map { base[$0 % d] + noise[$0] * 1e-6 }
        let device = compare(vectors: x, d: d, queries: randoms(3 * d, seed: 23), ks: [10])
        XCTAssertGreaterThan(device.retries, 0)
        let coarse = compare(vectors: randoms(800 * d, seed: 24), d: d, queries: randoms(3 * d, seed: 25), ks: [10],
                             rounding: 0x1p-8)
        XCTAssertEqual(coarse.hostScans, 0)
    }

    func testSegmentedSelection() {
        // Small segments make these corpora take the segment-wise top-K′ (V ≥ 2·S, K′ ≤ S/4; the
        // last segment padded with −∞ columns); larger K′ (exclusions, retries) fall back to one
        // selection per row. Answers unchanged.
        let saved = DeviceItemIndex.segmentColumns
        defer { DeviceItemIndex.segmentColumns = saved }
        for segment in [1024, 700] {
            DeviceItemIndex.segmentColumns = segment
            let d = 24, v = 3000
            var x = randoms(v * d, seed: 31)
            for r in 0..<v {
                let n = (0..<d).reduce(Float(0)) { $0 + x[r * d + $1] * x[r * d + $1] }.squareRoot()
                for c in 0..<d { x[r * d + c] /= n }
            }
            compare(vectors: x, d: d, queries: randoms(6 * d, seed: 32), ks: [1, 10, 100])
            let ties = randoms(v * 8, seed: 33).map { ($0 * 2).rounded() / 2 }
            compare(vectors: ties, d: 8, queries: randoms(4 * 8, seed: 34).map { ($0 * 2).rounded() / 2 }, ks: [10, 40])
            let base = randoms(16, seed: 35), noise = randoms(v * 16, seed: 36)
            let near = compare(vectors: (0..<(v * 16)).map { base[$0 % 16] + noise[$0] * 1e-6 }, d: 16,
                               queries: randoms(3 * 16, seed: 37), ks: [10])
            XCTAssertGreaterThan(near.retries, 0)
        }
    }

    func testNonFiniteQueriesAndItemsUseTheHostScan() {
        let d = 6, v = 300
        var q = randoms(3 * d, seed: 31)
        q[2] = .nan
        q[d + 1] = .infinity
        let device = compare(vectors: randoms(v * d, seed: 32), d: d, queries: q, ks: [10])
        XCTAssertEqual(device.hostScans, 4)   // two queries, two exclusion cases
        var x = randoms(v * d, seed: 33)
        x[17] = .nan
        compare(vectors: x, d: d, queries: randoms(2 * d, seed: 34), ks: [10])
    }

    func testEmptyAndZeroK() {
        let d = 4
        let device = compare(vectors: randoms(40 * d, seed: 41), d: d, queries: randoms(2 * d, seed: 42), ks: [0, 1])
        XCTAssertEqual(device.search(queries: [], k: 10), [])
    }
}
