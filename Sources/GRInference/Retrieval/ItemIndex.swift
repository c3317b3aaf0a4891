import GRCore

/// Exact maximum-inner-product top-K over a fixed set of item vectors (spec §6.1: brute-force
/// MIPS over the L2-normalised item vectors), built for serving: Q queries × V items, D = 50…256.
///
/// Layout: items sorted by id and packed in blocks of `lanes` = 8 items, (V/8, D, 8) — each SIMD
/// register holds one coordinate of 8 items, so a score block needs no horizontal sums:
/// for 16 items × 4 queries the kernel keeps 8 SIMD8 accumulators and does, per coordinate d,
/// 2 loads, 4 broadcasts and 8 FMAs. The item range is split over `Parallel.threads` threads;
/// each keeps a bounded heap of size k per query (a score enters only when it beats the heap's
/// worst), the per-thread lists are merged at the end.
///
/// Order: descending score, equal scores by lower item id (the order of `RankingEvaluator` over a
/// sorted corpus). NaN scores never enter. `excluded` ids are skipped when they would enter a
/// heap. k > V (or more exclusions than room) returns every remaining item.
public final class ItemIndex: @unchecked Sendable {
    /// Items per SIMD block.
    public static let lanes = 8
    /// Queries per kernel pass (the register block is 16 items × `queryBlock` queries).
    static let queryBlock = 4

    /// D.
    public let dim: Int
    /// V, the number of indexed items.
    public let count: Int
    /// The item ids, ascending (row r of the index is ids[r]).
    public let ids: [Int32]
    /// (blocks, D, 8) packed vectors; an even number of blocks, padding lanes zero.
    private let packed: UnsafeMutablePointer<Float>
    private let blockCount: Int

    /// `vectors`: (V, D) row-major, row r the vector of `ids[r]`. Ids must be distinct; they are
    /// sorted here (with their rows).
    public init(ids: [Int32], vectors: UnsafeBufferPointer<Float>, dim: Int) {
        precondition(dim > 0, "ItemIndex: dim must be positive")
        precondition(vectors.count == ids.count * dim, "ItemIndex: \(vectors.count) floats for \(ids.count) × \(dim)")
        let order = ids.indices.sorted { ids[$0] < ids[$1] }
        for i in order.indices.dropFirst() where ids[order[i]] == ids[order[i - 1]] {
            preconditionFailure("ItemIndex: duplicate id \(ids[order[i]])")
        }
        self.dim = dim
        self.count = ids.count
        self.ids = order.map { ids[$0] }
        let blocks = (ids.count + Self.lanes - 1) / Self.lanes
        blockCount = blocks + (blocks & 1)
        let total = blockCount * dim * Self.lanes
        packed = .allocate(capacity: max(total, 1))
        packed.initialize(repeating: 0, count: max(total, 1))
        let src = vectors.baseAddress, dst = packed, lanes = Self.lanes
        if let src {
            Parallel.forRanges(order.count, minChunk: 4096) { rows in
                for r in rows {
                    let row = src + order[r] * dim, block = dst + (r / lanes) * dim * lanes, lane = r % lanes
                    for d in 0..<dim { block[d * lanes + lane] = row[d] }
                }
            }
        }
    }

    /// Convenience: rows `ids` of a (rows, D) table (e.g. `itemEmbeddings()`, row = item id).
    public convenience init(ids: [Int32], table: UnsafePointer<Float>, tableRows: Int, dim: Int) {
        var rows = [Float](repeating: 0, count: ids.count * dim)
        for (r, id) in ids.enumerated() {
            precondition(id >= 0 && Int(id) < tableRows, "ItemIndex: id \(id) has no row in a table of \(tableRows)")
            for d in 0..<dim { rows[r * dim + d] = table[Int(id) * dim + d] }
        }
        self.init(ids: ids, vectors: rows.withUnsafeBufferPointer { $0 }, dim: dim)
    }

    deinit { packed.deallocate() }

    /// One query's answer: ids best first and their scores.
    public struct Result: Sendable, Equatable {
        public var ids: [Int32]
        public var scores: [Float]
    }

    /// Top-k of each of the Q query vectors `queries` (Q, D) row-major. `excluded[q]` (empty or Q
    /// lists; any order, duplicates and unknown ids allowed) are never returned for query q.
    public func search(queries: [Float], k: Int, excluded: [[Int32]] = []) -> [Result] {
        precondition(queries.count % dim == 0, "ItemIndex.search: \(queries.count) floats is not a multiple of D \(dim)")
        let q = queries.count / dim
        precondition(excluded.isEmpty || excluded.count == q, "ItemIndex.search: \(excluded.count) exclusion lists for \(q) queries")
        precondition(k >= 0, "ItemIndex.search: k must be ≥ 0")
        let kk = min(k, count)
        if q == 0 { return [] }
        if kk == 0 { return Array(repeating: Result(ids: [], scores: []), count: q) }
        // Queries padded to a multiple of queryBlock with zero rows (their results are dropped).
        let qb = Self.queryBlock, paddedQ = (q + qb - 1) / qb * qb
        var padded = queries
        padded.append(contentsOf: repeatElement(0, count: (paddedQ - q) * dim))
        // Exclusions as sorted row indices per query.
        let exclusions: [[Int32]] = (0..<q).map { i in
            guard !excluded.isEmpty else { return [] }
            return Array(Set(excluded[i].compactMap { rowIndex(of: $0) })).sorted()
        }
        let pairs = blockCount / 2
        // Each part scans a contiguous range of block pairs; ≥ 512 items per part.
        let parts = max(1, min(Parallel.threads, pairs / 32))
        var partial = [[Heap]](repeating: [], count: parts)
        partial.withUnsafeMutableBufferPointer { out in
            let out = out
            padded.withUnsafeBufferPointer { queries in
                Parallel.forEach(parts) { p in
                    let range = (pairs * p / parts) ..< (pairs * (p + 1) / parts)
                    out[p] = scan(range, queries: queries.baseAddress!, queryCount: q, paddedQueryCount: paddedQ,
                                  k: kk, exclusions: exclusions)
                }
            }
        }
        return (0..<q).map { i in
            var all: [(Float, Int32)] = []
            for p in 0..<parts { all.append(contentsOf: partial[p][i].entries) }
            all.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
            let top = all.prefix(kk)
            return Result(ids: top.map { ids[Int($0.1)] }, scores: top.map(\.0))
        }
    }

    /// The row of `id`, nil when not indexed.
    public func rowIndex(of id: Int32) -> Int32? {
        var lo = 0, hi = ids.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ids[mid] < id { lo = mid + 1 } else { hi = mid }
        }
        return lo < ids.count && ids[lo] == id ? Int32(lo) : nil
    }

    /// Bounded min-heap of (score, row): the root is the worst kept entry (lowest score, among
    /// equal scores the highest row).
    struct Heap {
        var entries: [(Float, Int32)] = []
        let capacity: Int

        init(capacity: Int) {
            self.capacity = capacity
            entries.reserveCapacity(capacity)
        }

        @inline(__always)
        static func worse(_ a: (Float, Int32), _ b: (Float, Int32)) -> Bool { a.0 < b.0 || (a.0 == b.0 && a.1 > b.1) }

        /// The score an entry must exceed (rows arrive in increasing order, so equal loses).
        var threshold: Float { entries.count < capacity ? -.infinity : entries[0].0 }

        mutating func insert(_ e: (Float, Int32)) {
            if entries.count < capacity {
                entries.append(e)
                var i = entries.count - 1
                while i > 0 {
                    let parent = (i - 1) / 2
                    if !Self.worse(entries[i], entries[parent]) { break }
                    entries.swapAt(i, parent); i = parent
                }
                return
            }
            if !Self.worse(entries[0], e) { return }
            entries[0] = e
            var i = 0
            let n = entries.count
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < n && Self.worse(entries[l], entries[m]) { m = l }
                if r < n && Self.worse(entries[r], entries[m]) { m = r }
                if m == i { break }
                entries.swapAt(i, m); i = m
            }
        }
    }

    /// Scores block pairs `range` against all queries, keeping per-query heaps.
    private func scan(_ range: Range<Int>, queries: UnsafePointer<Float>, queryCount q: Int, paddedQueryCount: Int,
                      k: Int, exclusions: [[Int32]]) -> [Heap] {
        var heaps = (0..<q).map { _ in Heap(capacity: k) }
        // Padding queries get +∞ so they never pass the fast-path test.
        var thresholds = (0..<paddedQueryCount).map { $0 < q ? -Float.infinity : Float.infinity }
        let d = dim, lanes = Self.lanes, qb = Self.queryBlock
        let pairStride = 2 * d * lanes
        thresholds.withUnsafeMutableBufferPointer { th in
            for pair in range {
                let items = packed + pair * pairStride
                let firstRow = pair * 2 * lanes
                var g = 0
                while g < paddedQueryCount {
                    let q0 = queries + g * d, q1 = q0 + d, q2 = q1 + d, q3 = q2 + d
                    var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a10 = SIMD8<Float>(), a11 = SIMD8<Float>()
                    var a20 = SIMD8<Float>(), a21 = SIMD8<Float>(), a30 = SIMD8<Float>(), a31 = SIMD8<Float>()
                    let lo = UnsafeRawPointer(items), hi = UnsafeRawPointer(items + d * lanes)
                    for c in 0..<d {
                        let x0 = lo.loadUnaligned(fromByteOffset: c * 32, as: SIMD8<Float>.self)
                        let x1 = hi.loadUnaligned(fromByteOffset: c * 32, as: SIMD8<Float>.self)
                        let s0 = SIMD8<Float>(repeating: q0[c]), s1 = SIMD8<Float>(repeating: q1[c])
                        let s2 = SIMD8<Float>(repeating: q2[c]), s3 = SIMD8<Float>(repeating: q3[c])
                        a00.addProduct(s0, x0); a01.addProduct(s0, x1)
                        a10.addProduct(s1, x0); a11.addProduct(s1, x1)
                        a20.addProduct(s2, x0); a21.addProduct(s2, x1)
                        a30.addProduct(s3, x0); a31.addProduct(s3, x1)
                    }
                    // Fast path: no score of the block beats its query's current worst kept one.
                    let t0 = SIMD8<Float>(repeating: th[g]), t1 = SIMD8<Float>(repeating: th[g + 1])
                    let t2 = SIMD8<Float>(repeating: th[g + 2]), t3 = SIMD8<Float>(repeating: th[g + 3])
                    var hit = (a00 .> t0) .| (a01 .> t0) .| (a10 .> t1) .| (a11 .> t1)
                    hit = hit .| (a20 .> t2) .| (a21 .> t2) .| (a30 .> t3) .| (a31 .> t3)
                    if any(hit) {
                        offer(a00, a01, query: g, firstRow: firstRow, heaps: &heaps, thresholds: th, exclusions: exclusions)
                        offer(a10, a11, query: g + 1, firstRow: firstRow, heaps: &heaps, thresholds: th, exclusions: exclusions)
                        offer(a20, a21, query: g + 2, firstRow: firstRow, heaps: &heaps, thresholds: th, exclusions: exclusions)
                        offer(a30, a31, query: g + 3, firstRow: firstRow, heaps: &heaps, thresholds: th, exclusions: exclusions)
                    }
                    g += qb
                }
            }
        }
        return heaps
    }

    /// Offers the 16 scores (x: rows firstRow..<+8, y: the next 8) to query `qi`'s heap (padding
    /// queries qi ≥ heaps.count and padding rows ≥ count are skipped).
    private func offer(_ x: SIMD8<Float>, _ y: SIMD8<Float>, query qi: Int, firstRow: Int,
                       heaps: inout [Heap], thresholds th: UnsafeMutableBufferPointer<Float>,
                       exclusions: [[Int32]]) {
        let lanes = Self.lanes
        guard qi < heaps.count else { return }
        let t = SIMD8<Float>(repeating: th[qi])
        if !any(x .> t) && !any(y .> t) { return }
        for lane in 0..<(2 * lanes) {
            let s = lane < lanes ? x[lane] : y[lane - lanes]
            let row = firstRow + lane
            if row >= count || !(s > heaps[qi].threshold) { continue }
            if !exclusions[qi].isEmpty && Self.contains(exclusions[qi], Int32(row)) { continue }
            heaps[qi].insert((s, Int32(row)))
        }
        th[qi] = heaps[qi].threshold
    }

    @inline(__always)
    static func contains(_ sorted: [Int32], _ x: Int32) -> Bool {
        var lo = 0, hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sorted[mid] < x { lo = mid + 1 } else { hi = mid }
        }
        return lo < sorted.count && sorted[lo] == x
    }
}
