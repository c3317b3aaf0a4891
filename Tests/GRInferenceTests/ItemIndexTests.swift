import Foundation
import GRCore
@testable import GRInference
import XCTest

final class ItemIndexTests: XCTestCase {
    /// Deterministic pseudo-random floats in [-1, 1).
    func randoms(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(s >> 40) - (1 << 23)) / Float(1 << 23)
        }
    }

    /// Brute force: every item's score (summed in the same coordinate order as the index), sorted
    /// by score desc then id asc, exclusions removed.
    func bruteForce(ids: [Int32], vectors: [Float], query: [Float], k: Int, excluded: Set<Int32>) -> ItemIndex.Result {
        let d = query.count
        var all: [(Float, Int32)] = []
        for (r, id) in ids.enumerated() where !excluded.contains(id) {
            var s: Float = 0
            for c in 0..<d { s = s.addingProduct(query[c], vectors[r * d + c]) }
            all.append((s, id))
        }
        all.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        let top = all.prefix(k)
        return ItemIndex.Result(ids: top.map(\.1), scores: top.map(\.0))
    }

    /// Runs `check` with every scan kernel this CPU has (int8, float16, portable).
    func check(v: Int, d: Int, q: Int, k: Int, quantise: Bool, excludeEvery: Int?, threads: Int) {
        for kernel in ItemIndex.availableKernels {
            checkOnePath(v: v, d: d, q: q, k: k, quantise: quantise, excludeEvery: excludeEvery, threads: threads, kernel: kernel)
        }
    }

    func checkOnePath(v: Int, d: Int, q: Int, k: Int, quantise: Bool, excludeEvery: Int?, threads: Int,
                      kernel: ItemIndex.Kernel) {
        let saved = Parallel.threads
        Parallel.threads = threads
        defer { Parallel.threads = saved }
        // Ids shuffled and sparse, so the index must sort them.
        let ids = (0..<v).map { Int32((($0 * 7919) % v) * 3 + 1) }
        var vectors = randoms(v * d, seed: UInt64(v * 31 + d))
        var queries = randoms(q * d, seed: UInt64(q * 17 + k))
        if quantise {  // few distinct values: many exactly tied scores
            vectors = vectors.map { ($0 * 2).rounded() / 2 }
            queries = queries.map { ($0 * 2).rounded() / 2 }
        }
        let excluded: [[Int32]] = (0..<q).map { i in
            guard let e = excludeEvery else { return [] }
            return ids.enumerated().filter { ($0.offset + i) % e == 0 }.map(\.element) + [-5, 999_999]
        }
        let index = vectors.withUnsafeBufferPointer { ItemIndex(ids: ids, vectors: $0, dim: d, kernel: kernel) }
        XCTAssertEqual(index.kernel, kernel)
        let got = index.search(queries: queries, k: k, excluded: excludeEvery == nil ? [] : excluded)
        XCTAssertEqual(got.count, q)
        for i in 0..<q {
            let want = bruteForce(ids: ids, vectors: vectors, query: Array(queries[i * d ..< (i + 1) * d]), k: k,
                                  excluded: Set(excluded[i]))
            XCTAssertEqual(got[i].ids, want.ids, "v \(v) d \(d) query \(i) kernel \(kernel)")
            XCTAssertEqual(got[i].scores, want.scores, "v \(v) d \(d) query \(i) kernel \(kernel)")
        }
    }

    func testMatchesBruteForce() {
        check(v: 1000, d: 50, q: 5, k: 10, quantise: false, excludeEvery: nil, threads: 2)
        check(v: 333, d: 13, q: 9, k: 7, quantise: false, excludeEvery: 4, threads: 3)
        check(v: 4099, d: 64, q: 16, k: 25, quantise: false, excludeEvery: 9, threads: 2)
    }

    /// Every query-group shape of the tiles (fewer than 4, 8 + 4, 8 + 8 + 4 padded), a corpus that
    /// is not a multiple of the 32-item tile, several parts: equal to the naive exact top-K.
    func testBatchesOfQueriesMatchBruteForce() {
        for q in [1, 2, 3, 6, 12, 17] {
            check(v: 2085, d: 50, q: q, k: 10, quantise: false, excludeEvery: q % 2 == 0 ? 7 : nil, threads: 2)
        }
        // Many parts (≥ 1024 items each) and k larger than one tile.
        check(v: 5000, d: 16, q: 9, k: 40, quantise: false, excludeEvery: 11, threads: 4)
    }

    /// Scores that differ below Float16's resolution (the AVX-512 scan sees them as equal): the
    /// exact rescoring must still order them exactly, on both paths.
    func testDifferencesBelowFloat16ResolutionAreRankedExactly() {
        let v = 3000, d = 8
        let ids = (0..<v).map { Int32(($0 * 7919) % v + 1) }
        var vectors = [Float](repeating: 0.25, count: v * d)
        for r in 0..<v { vectors[r * d] = 0.5 + Float((r * 389) % v) * 1e-7 }
        for kernel in ItemIndex.availableKernels {
            let index = vectors.withUnsafeBufferPointer { ItemIndex(ids: ids, vectors: $0, dim: d, kernel: kernel) }
            let got = index.search(queries: [1, 0, 0, 0, 0, 0, 0, 0, 1, 0.5, 0, 0, 0, 0, 0, 0], k: 12,
                                   excluded: [[ids[0]], []])
            for (i, query) in [[Float(1), 0, 0, 0, 0, 0, 0, 0], [1, 0.5, 0, 0, 0, 0, 0, 0]].enumerated() {
                let want = bruteForce(ids: ids, vectors: vectors, query: query, k: 12, excluded: i == 0 ? [ids[0]] : [])
                XCTAssertEqual(got[i].ids, want.ids, "kernel \(kernel) query \(i)")
                XCTAssertEqual(got[i].scores, want.scores)
            }
        }
    }

    func testTiesGoToTheLowerId() {
        check(v: 700, d: 3, q: 4, k: 40, quantise: true, excludeEvery: nil, threads: 2)
        check(v: 700, d: 3, q: 4, k: 40, quantise: true, excludeEvery: 5, threads: 1)
        // All scores equal: the k lowest ids.
        let ids: [Int32] = (1...100).reversed().map { $0 }
        let vectors = [Float](repeating: 0.5, count: 100 * 4)
        let index = vectors.withUnsafeBufferPointer { ItemIndex(ids: ids, vectors: $0, dim: 4) }
        let r = index.search(queries: [1, 1, 1, 1], k: 5, excluded: [[2]])
        XCTAssertEqual(r[0].ids, [1, 3, 4, 5, 6])
        XCTAssertEqual(r[0].scores, [Float](repeating: 2, count: 5))
    }

    func testKLargerThanTheCorpus() {
        check(v: 11, d: 8, q: 3, k: 50, quantise: false, excludeEvery: nil, threads: 2)
        check(v: 11, d: 8, q: 3, k: 50, quantise: false, excludeEvery: 3, threads: 2)
        // Everything excluded: empty lists.
        let index = [Float](repeating: 1, count: 6).withUnsafeBufferPointer { ItemIndex(ids: [4, 5, 6], vectors: $0, dim: 2) }
        XCTAssertEqual(index.search(queries: [1, 0], k: 3, excluded: [[4, 5, 6]])[0].ids, [])
        XCTAssertEqual(index.search(queries: [1, 0, 0, 1], k: 0).map(\.ids), [[], []])
    }

    func testNaNScoresNeverEnter() {
        let vectors: [Float] = [1, 0, .nan, 0, 0.5, 0]
        let index = vectors.withUnsafeBufferPointer { ItemIndex(ids: [1, 2, 3], vectors: $0, dim: 2) }
        XCTAssertEqual(index.search(queries: [1, 0], k: 3)[0].ids, [1, 3])
    }

    /// Adversarial inputs for the quantised kernels, on every kernel: coordinates on the int8
    /// rounding edges (odd multiples of s_x/2 and s_q/2), norms from 1e-30 to 1e12 in one corpus,
    /// and near-ties; each answer equal to the naive exact top-K.
    func testQuantisationEdgesAndNormsMatchBruteForce() {
        let v = 1500, d = 11
        let ids = (0..<v).map { Int32(($0 * 7919) % v + 1) }
        var vectors = randoms(v * d, seed: 99)
        for r in 0..<v {
            let row = r * d
            switch r % 5 {
            case 0:  // max 63 steps of 1/64: every other coordinate at a half step
                vectors[row] = 63.0 / 64
                for c in 1..<d { vectors[row + c] = (Float(((r + c) * 37) % 126) - 62.5) / 64 }
            case 1: for c in 0..<d { vectors[row + c] *= 1e12 }
            case 2: for c in 0..<d { vectors[row + c] *= 1e-30 }
            case 3: for c in 0..<d { vectors[row + c] = vectors[(r - 3) * d + c] + (c == 0 ? 1e-7 : 0) }  // near-tie
            default: break
            }
        }
        // Query 0: max 64 (s_q = 1), the rest on half steps; a tiny one; zero (all scores tie); random.
        let queries: [Float] = (0..<d).map { $0 == 0 ? 64 : Float(($0 * 29) % 128) - 63.5 } + randoms(d, seed: 5).map { $0 * 1e-20 }
            + [Float](repeating: 0, count: d) + randoms(d, seed: 6)
        for kernel in ItemIndex.availableKernels {
            let index = vectors.withUnsafeBufferPointer { ItemIndex(ids: ids, vectors: $0, dim: d, kernel: kernel) }
            XCTAssertEqual(index.kernel, kernel)
            let got = index.search(queries: queries, k: 20, excluded: [[ids[1], ids[6]], [], [ids[0]], []])
            for i in 0..<4 {
                let want = bruteForce(ids: ids, vectors: vectors, query: Array(queries[i * d ..< (i + 1) * d]), k: 20,
                                      excluded: Set([[ids[1], ids[6]], [], [ids[0]], []][i]))
                XCTAssertEqual(got[i].ids, want.ids, "kernel \(kernel) query \(i)")
                XCTAssertEqual(got[i].scores, want.scores, "kernel \(kernel) query \(i)")
            }
        }
    }

    /// Items the quantised copies cannot hold (NaN, norms beyond their range) and queries beyond the
    /// bound's range: the index (or that search) falls back to the portable scan, still exact.
    func testFallbackToThePortableScan() {
        let v = 200, d = 6
        let ids = (1...Int32(v)).map { $0 }
        var vectors = randoms(v * d, seed: 7)
        vectors[5 * d] = 1e20   // norm beyond Int8Items.maxNorm and Float16's range
        for kernel in ItemIndex.availableKernels {
            let index = vectors.withUnsafeBufferPointer { ItemIndex(ids: ids, vectors: $0, dim: d, kernel: kernel) }
            XCTAssertEqual(index.kernel, .portable, "asked \(kernel)")
            let query = randoms(d, seed: 8)
            XCTAssertEqual(index.search(queries: query, k: 5)[0],
                           bruteForce(ids: ids, vectors: vectors, query: query, k: 5, excluded: []))
        }
        let finite = randoms(v * d, seed: 9)
        let index = finite.withUnsafeBufferPointer { ItemIndex(ids: ids, vectors: $0, dim: d) }
        XCTAssertEqual(index.kernel, ItemIndex.defaultKernel)
        let huge = randoms(d, seed: 10).map { $0 * 1e18 }
        XCTAssertEqual(index.search(queries: huge, k: 5)[0], bruteForce(ids: ids, vectors: finite, query: huge, k: 5, excluded: []))
        // A non-finite query: the portable scan's answer (NaN scores left out).
        let portable = finite.withUnsafeBufferPointer { ItemIndex(ids: ids, vectors: $0, dim: d, kernel: .portable) }
        let infinite: [Float] = [.infinity, 0, 0, 0, 0, 1]
        XCTAssertEqual(index.search(queries: infinite, k: 5), portable.search(queries: infinite, k: 5))
    }

    /// The int8 kernel's scores against the exact ones: within the bound `Int8Items` proves, on
    /// random items scaled by 1 to 7 (thresholds −∞, so the scan reports every score).
    func testInt8ScoresWithinTheirBound() throws {
        guard ItemIndex.availableKernels.contains(.int8) else { throw XCTSkip("no AVX2") }
        let v = 96, d = 50, q = 8
        var vectors = randoms(v * d, seed: 11)
        for r in 0..<v { for c in 0..<d { vectors[r * d + c] *= Float(1 + r % 7) } }
        let queries = randoms(q * d, seed: 12)
        var packed = [Float](repeating: 0, count: v / 16 * d * 16)
        for r in 0..<v { for c in 0..<d { packed[(r / 16 * d + c) * 16 + r % 16] = vectors[r * d + c] } }
        let items = try XCTUnwrap(packed.withUnsafeBufferPointer { Int8Items(packed: $0.baseAddress!, blocks: v / 16, dim: d) })
        let quantised = try XCTUnwrap(queries.withUnsafeBufferPointer { items.quantise($0.baseAddress!, count: q, dim: d) })
        let thresholds = [Float](repeating: -.infinity, count: q)
        var scratch = [Float](repeating: .nan, count: q * 32)
        var seen = 0
        scratch.withUnsafeMutableBufferPointer { scratch in
            items.scan(0..<(v / 32), queries: quantised, count: q, thresholds: thresholds, scratch: scratch.baseAddress!) { pair, qi, scores in
                for l in 0..<32 {
                    let r = pair * 32 + l
                    var exact: Float = 0
                    for c in 0..<d { exact = exact.addingProduct(queries[qi * d + c], vectors[r * d + c]) }
                    XCTAssertLessThanOrEqual(abs(scores[l] - exact), quantised.margins[qi], "item \(r) query \(qi)")
                    seen += 1
                }
            }
        }
        XCTAssertEqual(seen, v * q)
    }

    /// The int8 kernel's int16 pre-test never drops a hit: with fixed thresholds (negative, zero, and
    /// quantiles of each query's scores), every approximate score above its threshold is reported,
    /// on items whose scales vary 1 to 7× within each group of 8 pairs, for 1 to 7 queries (every
    /// tile shape).
    func testInt8PreTestKeepsEveryHit() throws {
        guard ItemIndex.availableKernels.contains(.int8) else { throw XCTSkip("no AVX2") }
        let v = 640, d = 37, pairs = v / 32
        var vectors = randoms(v * d, seed: 21)
        for r in 0..<v { for c in 0..<d { vectors[r * d + c] *= Float(1 + (r * 13) % 7) } }
        var packed = [Float](repeating: 0, count: v / 16 * d * 16)
        for r in 0..<v { for c in 0..<d { packed[(r / 16 * d + c) * 16 + r % 16] = vectors[r * d + c] } }
        let items = try XCTUnwrap(packed.withUnsafeBufferPointer { Int8Items(packed: $0.baseAddress!, blocks: v / 16, dim: d) })
        for q in 1...7 {
            let queries = randoms(q * d, seed: UInt64(30 + q))
            let quantised = try XCTUnwrap(queries.withUnsafeBufferPointer { items.quantise($0.baseAddress!, count: q, dim: d) })
            var scratch = [Float](repeating: .nan, count: q * 32)
            // Every score (thresholds −∞), then the hits above each set of thresholds.
            func hits(_ thresholds: [Float]) -> [Int: Float] {
                var out: [Int: Float] = [:]   // (query · v + item) → score
                scratch.withUnsafeMutableBufferPointer { scratch in
                    items.scan(0..<pairs, queries: quantised, count: q, thresholds: thresholds, scratch: scratch.baseAddress!) { p, j, scores in
                        for l in 0..<32 where scores[l] > thresholds[j] { out[j * v + p * 32 + l] = scores[l] }
                    }
                }
                return out
            }
            let all = hits([Float](repeating: -.infinity, count: q))
            XCTAssertEqual(all.count, q * v)
            for level in [-1, 0, 1, 2, 3] {
                let thresholds = (0..<q).map { j -> Float in
                    if level < 0 { return -0.5 }
                    if level == 0 { return 0 }
                    let scores = (0..<v).map { all[j * v + $0]! }.sorted()
                    return scores[v - v / (4 * level) - 1]   // leaves the top quarter, eighth, twelfth
                }
                let got = hits(thresholds)
                let want = all.filter { $0.value > thresholds[$0.key / v] }
                XCTAssertEqual(got, want, "q \(q) level \(level)")
            }
        }
    }

    /// Products at the edge of the int16 accumulators (a query parallel or opposite to the item of the
    /// largest ‖x̂‖, so |Σ q̂·x̂| is close to 32,767), odd and tiny D: the int8 answers equal the naive
    /// exact top-K.
    func testInt8SumsAtTheInt16Edge() {
        for d in [1, 2, 3, 8, 50] {
            let v = 300
            let ids = (1...Int32(v)).map { $0 }
            var vectors = randoms(v * d, seed: UInt64(40 + d)).map { $0 * 0.1 }
            for c in 0..<d { vectors[7 * d + c] = 1; vectors[8 * d + c] = -1; vectors[9 * d + c] = 0.999 }
            let queries = [Float](repeating: 0.5, count: d) + [Float](repeating: -2, count: d)
            let index = vectors.withUnsafeBufferPointer { ItemIndex(ids: ids, vectors: $0, dim: d, kernel: .int8) }
            let got = index.search(queries: queries, k: 5, excluded: [[], [9]])
            for i in 0..<2 {
                let want = bruteForce(ids: ids, vectors: vectors, query: Array(queries[i * d ..< (i + 1) * d]), k: 5,
                                      excluded: i == 1 ? [9] : [])
                XCTAssertEqual(got[i], want, "d \(d) query \(i)")
            }
        }
    }

    func testSHA256KnownVectors() {
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data(repeating: 0x61, count: 1000)).prefix(16), "41edece42d63e8d9")
    }
}
