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

    /// Runs `check` on both scan paths (AVX-512 tiles when the CPU has them, and the portable one).
    func check(v: Int, d: Int, q: Int, k: Int, quantise: Bool, excludeEvery: Int?, threads: Int) {
        let saved = ItemIndex.useAVX512
        defer { ItemIndex.useAVX512 = saved }
        for avx512 in saved ? [true, false] : [false] {
            ItemIndex.useAVX512 = avx512
            checkOnePath(v: v, d: d, q: q, k: k, quantise: quantise, excludeEvery: excludeEvery, threads: threads)
        }
    }

    func checkOnePath(v: Int, d: Int, q: Int, k: Int, quantise: Bool, excludeEvery: Int?, threads: Int) {
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
        let index = vectors.withUnsafeBufferPointer { ItemIndex(ids: ids, vectors: $0, dim: d) }
        let got = index.search(queries: queries, k: k, excluded: excludeEvery == nil ? [] : excluded)
        XCTAssertEqual(got.count, q)
        for i in 0..<q {
            let want = bruteForce(ids: ids, vectors: vectors, query: Array(queries[i * d ..< (i + 1) * d]), k: k,
                                  excluded: Set(excluded[i]))
            XCTAssertEqual(got[i].ids, want.ids, "v \(v) d \(d) query \(i) avx512 \(ItemIndex.useAVX512)")
            for (a, b) in zip(got[i].scores, want.scores) { XCTAssertEqual(a, b, accuracy: 1e-5) }
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
        for q in [1, 12, 17] {
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
        let saved = ItemIndex.useAVX512
        defer { ItemIndex.useAVX512 = saved }
        for avx512 in saved ? [true, false] : [false] {
            ItemIndex.useAVX512 = avx512
            let index = vectors.withUnsafeBufferPointer { ItemIndex(ids: ids, vectors: $0, dim: d) }
            let got = index.search(queries: [1, 0, 0, 0, 0, 0, 0, 0, 1, 0.5, 0, 0, 0, 0, 0, 0], k: 12,
                                   excluded: [[ids[0]], []])
            for (i, query) in [[Float(1), 0, 0, 0, 0, 0, 0, 0], [1, 0.5, 0, 0, 0, 0, 0, 0]].enumerated() {
                let want = bruteForce(ids: ids, vectors: vectors, query: query, k: 12, excluded: i == 0 ? [ids[0]] : [])
                XCTAssertEqual(got[i].ids, want.ids, "avx512 \(avx512) query \(i)")
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

    func testSHA256KnownVectors() {
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data(repeating: 0x61, count: 1000)).prefix(16), "41edece42d63e8d9")
    }
}
