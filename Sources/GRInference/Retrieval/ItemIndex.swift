import Foundation
import GRCore
import Synchronization
#if arch(x86_64)
import GRCPUAVX512
import _GRCPUShims
#endif

/// Exact maximum-inner-product top-K over a fixed set of item vectors (spec §6.1: brute-force
/// MIPS over the L2-normalised item vectors), built for serving: Q queries × V items, D = 50…256,
/// V up to millions.
///
/// Layout: items sorted by id and packed in blocks of `lanes` = 16 items, (V/16, D, 16), an even
/// number of blocks: each SIMD register holds one coordinate of 16 items, so a score needs no
/// horizontal sum. A search streams the item matrix once per batch of queries: one part per thread
/// (`Parallel.threads`) takes chunks of pairs of blocks (32 items, which stay in L1) from a shared
/// counter, in increasing order, and walks each pair through every query group. Each tile's scores are
/// compared in registers against a per-query threshold; only a tile with a score above it leaves
/// the registers and is offered to that query's bounded heap (after the first few thousand items
/// almost no tile does). Excluded ids are handled after that check: only a score that passes it
/// is looked up in the query's sorted exclusion list. The per-part results are merged at the end.
///
/// Three kernels (`Kernel`), with identical answers:
/// - **int8** (`Int8Items`, the default on x86-64 with AVX2): the scan reads an int8 copy of the
///   items (7-bit values, a Float scale per item; about a quarter of the Float bytes) against 8-bit
///   queries, products summed exactly in int16 (`vpmaddubsw`, `vpaddw`); approximate scores with the
///   proven bound of `Int8Items`, used exactly as the Float16 ones below.
/// - **float16** (`RetrievalTileAVX512`, when the CPU has AVX-512 and every item coordinate is finite
///   and within Float16 range): the scan reads a Float16 copy of the items — half the bytes, so
///   half the memory traffic of a scan that is memory-bound at 1M items — through 8 queries × 32
///   items tiles. Those scores are approximations with a proven bound: for query q,
///   |approx − exact| ≤ m_q = ‖q‖·(E + γ·2N), E the largest ‖x − half(x)‖ over the items, N the
///   largest item norm, γ = (D + 2)·2⁻²⁴ (the rounding of two Float FMA chains of length D). So a
///   true top-k item has approx ≥ A_k − 2m_q, A_k the k-th best approximate score among the
///   non-excluded items. The scan keeps, per query, every item with approx above (its current
///   A_k) − 2m_q — a superset, as A_k only grows — and those few candidates are rescored exactly
///   from the Float copy. (A corpus whose scores nearly all tie within 2m_q makes nearly every
///   item a candidate: still exact, as slow as a scalar scan.)
/// - **portable** (`scanPortable`, any CPU): the same scan over the Float copy, exact scores
///   straight into the heaps.
///
/// Order: descending score, equal scores by lower item id (the order of `RankingEvaluator` over a
/// sorted corpus). Every exact score is one Float FMA chain over the coordinates in order. NaN
/// scores never enter. k > V (or more exclusions than room) returns every remaining item.
public final class ItemIndex: @unchecked Sendable {
    /// Items per SIMD block.
    public static let lanes = 16
    /// Items per tile (a pair of blocks).
    static let pairItems = 2 * lanes
    /// Query rows are padded to a multiple of this (the smallest query group of a tile).
    static let queryPad = 4

    /// The scan kernels (all give identical answers; see the type's doc comment).
    public enum Kernel: String, CaseIterable, Sendable {
        case int8, float16, portable
    }

    /// The kernels this CPU runs, best first (portable always).
    public static let availableKernels: [Kernel] = {
        #if arch(x86_64)
        return (gr_cpu_supports_avx2_fma() != 0 ? [.int8] : []) + (gr_cpu_supports_avx512() != 0 ? [.float16] : [])
            + [.portable]
        #else
        return [.portable]
        #endif
    }()

    /// The kernel of a new index: `GR_RETRIEVAL_KERNEL` (int8, float16, portable) when this CPU runs
    /// it, else the best available (with a message on stderr for a value it cannot use).
    public static let defaultKernel: Kernel = {
        let best = availableKernels[0]
        guard let name = ProcessInfo.processInfo.environment["GR_RETRIEVAL_KERNEL"], !name.isEmpty else { return best }
        guard let k = Kernel(rawValue: name), availableKernels.contains(k) else {
            let choices = availableKernels.map(\.rawValue).joined(separator: ", ")
            FileHandle.standardError.write(Data("GR_RETRIEVAL_KERNEL=\(name): not one of this CPU's kernels (\(choices)); using \(best.rawValue)\n".utf8))
            return best
        }
        return k
    }()

    /// The kernel this index's searches use: the one asked for, or portable when its copy of the items
    /// could not be made (a coordinate not finite or out of range, D too large) or the CPU lacks it.
    /// A search whose queries are not finite (or too large for the bound) also runs portable.
    public private(set) var kernel: Kernel = .portable

    /// D.
    public let dim: Int
    /// V, the number of indexed items.
    public let count: Int
    /// The item ids, ascending (row r of the index is ids[r]), and their id → row lookup.
    let sortedIDs: SortedItemIDs
    public var ids: [Int32] { sortedIDs.ids }
    /// (blocks, D, 16) packed vectors; an even number of blocks, padding lanes zero.
    private let packed: UnsafeMutablePointer<Float>
    private let blockCount: Int
    /// The same layout in Float16 (the float16 kernel), nil for another kernel or when some
    /// coordinate is not finite or beyond Float16's range.
    private var half: UnsafeMutablePointer<Float16>?
    /// The int8 copy (the int8 kernel), nil for another kernel or when it could not be made.
    private var int8: Int8Items?
    /// E = max over items of ‖x − Float16(x)‖ and N = max over items of max(‖x‖, ‖Float16(x)‖).
    private var halfError = 0.0, maxNorm = 0.0

    /// `vectors`: (V, D) row-major, row r the vector of `ids[r]`. Ids must be distinct; they are
    /// sorted here (with their rows). `kernel`: the scan kernel asked for (`kernel` says what runs).
    public init(ids: [Int32], vectors: UnsafeBufferPointer<Float>, dim: Int, kernel: Kernel = ItemIndex.defaultKernel) {
        precondition(dim > 0, "ItemIndex: dim must be positive")
        precondition(vectors.count == ids.count * dim, "ItemIndex: \(vectors.count) floats for \(ids.count) × \(dim)")
        let order = ids.indices.sorted { ids[$0] < ids[$1] }
        for i in order.indices.dropFirst() where ids[order[i]] == ids[order[i - 1]] {
            preconditionFailure("ItemIndex: duplicate id \(ids[order[i]])")
        }
        self.dim = dim
        self.count = ids.count
        sortedIDs = SortedItemIDs(sorted: order.map { ids[$0] })
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
        var effective = Kernel.portable
        #if arch(x86_64)
        if kernel == .float16 && Self.availableKernels.contains(.float16) {
            makeHalfCopy()
            if half != nil { effective = .float16 }
        }
        if kernel == .int8 && Self.availableKernels.contains(.int8) {
            int8 = Int8Items(packed: packed, blocks: blockCount, dim: dim)
            if int8 != nil { effective = .int8 }
        }
        #endif
        self.kernel = effective
    }

    /// Fills `half`, `halfError` and `maxNorm` from `packed` (padding lanes are zero in both).
    private func makeHalfCopy() {
        let total = blockCount * dim * Self.lanes, lanes = Self.lanes, d = dim
        let h = UnsafeMutablePointer<Float16>.allocate(capacity: max(total, 1))
        let src = packed
        let parts = max(1, min(Parallel.threads, blockCount / 64))
        var stats = [(error: Double, norm: Double, ok: Bool)](repeating: (0, 0, true), count: parts)
        stats.withUnsafeMutableBufferPointer { out in
            let out = out
            Parallel.forEach(parts) { p in
                var worst = (error: 0.0, norm: 0.0, ok: true)
                for b in (blockCount * p / parts) ..< (blockCount * (p + 1) / parts) {
                    var e2 = [Double](repeating: 0, count: lanes), n2 = e2, m2 = e2
                    for c in 0..<d {
                        for l in 0..<lanes {
                            let i = (b * d + c) * lanes + l, x = src[i]
                            let y = Float16(x)
                            h[i] = y
                            if !x.isFinite || abs(x) > 60_000 { worst.ok = false }
                            let dx = Double(x), dy = Double(Float(y))
                            e2[l] += (dx - dy) * (dx - dy); n2[l] += dx * dx; m2[l] += dy * dy
                        }
                    }
                    for l in 0..<lanes {
                        worst.error = max(worst.error, e2[l].squareRoot())
                        worst.norm = max(worst.norm, n2[l].squareRoot(), m2[l].squareRoot())
                    }
                }
                out[p] = worst
            }
        }
        guard stats.allSatisfy(\.ok) else {
            h.deallocate()
            return
        }
        half = h
        halfError = stats.map(\.error).max()!
        maxNorm = stats.map(\.norm).max()!
    }

    /// Convenience: rows `ids` of a (rows, D) table (e.g. `itemEmbeddings()`, row = item id).
    public convenience init(ids: [Int32], table: UnsafePointer<Float>, tableRows: Int, dim: Int,
                            kernel: Kernel = ItemIndex.defaultKernel) {
        var rows = [Float](repeating: 0, count: ids.count * dim)
        for (r, id) in ids.enumerated() {
            precondition(id >= 0 && Int(id) < tableRows, "ItemIndex: id \(id) has no row in a table of \(tableRows)")
            for d in 0..<dim { rows[r * dim + d] = table[Int(id) * dim + d] }
        }
        self.init(ids: ids, vectors: rows.withUnsafeBufferPointer { $0 }, dim: dim, kernel: kernel)
    }

    deinit {
        packed.deallocate()
        half?.deallocate()
    }

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
        // Queries padded to a multiple of queryPad with zero rows (thresholds +∞: never a hit).
        let paddedQ = (q + Self.queryPad - 1) / Self.queryPad * Self.queryPad
        var padded = queries
        padded.append(contentsOf: repeatElement(0, count: (paddedQ - q) * dim))
        // Exclusions as sorted row indices per query.
        let exclusions: [[Int32]] = (0..<q).map { i in
            guard !excluded.isEmpty else { return [] }
            return Array(Set(excluded[i].compactMap { rowIndex(of: $0) })).sorted()
        }
        // The approximate scans need finite query norms for their bounds (else the portable scan).
        var margins: [Float]?, quantised: Int8Items.Queries?
        #if arch(x86_64)
        if half != nil { margins = self.margins(queries, count: q) }
        if let int8 {
            quantised = queries.withUnsafeBufferPointer { int8.quantise($0.baseAddress!, count: q, dim: dim) }
            margins = quantised?.margins
        }
        #endif
        let pairs = blockCount / 2
        // One part per thread (≥ 1024 items each). The pairs are handed out in chunks (about 8 a
        // part), in increasing order, to whichever part asks next: a thread that a busy machine
        // deschedules delays no one, and each part still sees its rows in increasing order.
        let parts = max(1, min(Parallel.threads, pairs / 32))
        let chunks = ChunkCounter(total: pairs, chunk: max(32, (pairs + 8 * parts - 1) / (8 * parts)))
        var partial = [Part](repeating: Part(), count: parts)
        partial.withUnsafeMutableBufferPointer { out in
            let out = out
            padded.withUnsafeBufferPointer { queries in
                Parallel.forEach(parts) { p in
                    out[p] = scan(next: chunks.next, queries: queries.baseAddress!, queryCount: q, paddedQueryCount: paddedQ,
                                  k: kk, exclusions: exclusions, margins: margins, quantised: quantised)
                }
            }
        }
        return (0..<q).map { i in
            var all: [(Float, Int32)] = []
            for p in 0..<parts { all.append(contentsOf: partial[p].heaps[i].entries) }
            if let margins {
                // all: the approximate top-k of each part. A true top-k item has approx ≥ A_k − 2m.
                all.sort { $0.0 > $1.0 }
                let bound = all.count < kk ? -Float.infinity : Self.loosened(all[kk - 1].0, by: margins[i])
                let query = padded.withUnsafeBufferPointer { $0.baseAddress! + i * dim }
                all = []
                for p in 0..<parts {
                    for (approx, row) in partial[p].candidates[i] where approx >= bound {
                        let s = exactScore(row: Int(row), query: query)
                        if !s.isNaN { all.append((s, row)) }
                    }
                }
            }
            all.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
            let top = all.prefix(kk)
            return Result(ids: top.map { ids[Int($0.1)] }, scores: top.map(\.0))
        }
    }

    /// m_q = ‖q‖·(E + γ·2N)·(1 + 2⁻¹⁰), rounded up, per query (the bound of the type's doc
    /// comment, with slack for computing it); nil when a query norm is not finite.
    private func margins(_ queries: [Float], count q: Int) -> [Float]? {
        let gamma = Double(dim + 2) * 0x1p-24
        var out: [Float] = []
        for i in 0..<q {
            var n2 = 0.0
            for c in 0..<dim { n2 += Double(queries[i * dim + c]) * Double(queries[i * dim + c]) }
            let m = n2.squareRoot() * (halfError + gamma * 2 * maxNorm) * (1 + 0x1p-10) + 0x1p-100
            guard m.isFinite && n2 < 1e30 else { return nil }
            out.append(Float(m).nextUp)
        }
        return out
    }

    /// `score − 2m`, rounded down (the loosened threshold of the approximate scan).
    @inline(__always)
    static func loosened(_ score: Float, by m: Float) -> Float {
        score == -.infinity ? score : Float(Double(score) - 2 * Double(m)).nextDown
    }

    /// The exact score of row `row`: one Float FMA chain over the coordinates in order.
    private func exactScore(row: Int, query: UnsafePointer<Float>) -> Float {
        let block = packed + (row / Self.lanes) * dim * Self.lanes + row % Self.lanes
        var s: Float = 0
        for c in 0..<dim { s = s.addingProduct(query[c], block[c * Self.lanes]) }
        return s
    }

    /// What a part of the scan found: per query its heap (exact scores on the portable path, the
    /// approximate top-k on the others) and, on the approximate paths, every candidate (approximate
    /// score, row) above the loosened threshold.
    struct Part {
        var heaps: [Heap] = []
        var candidates: [[(Float, Int32)]] = []
    }

    /// The row of `id`, nil when not indexed (`SortedItemIDs.row`).
    public func rowIndex(of id: Int32) -> Int32? { sortedIDs.row(of: id) }

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

    /// Scans the ranges of pairs `next` hands out (increasing) against all queries: one heap of
    /// capacity k per query; with `margins` an approximate scan (int8 with `quantised`, else Float16;
    /// candidates kept above the heap's threshold − 2m), else the exact portable one.
    private func scan(next: () -> Range<Int>?, queries: UnsafePointer<Float>, queryCount q: Int, paddedQueryCount: Int,
                      k: Int, exclusions: [[Int32]], margins: [Float]?, quantised: Int8Items.Queries?) -> Part {
        var part = Part(heaps: (0..<q).map { _ in Heap(capacity: k) },
                        candidates: Array(repeating: [], count: margins == nil ? 0 : q))
        var thresholds = (0..<paddedQueryCount).map { $0 < q ? -Float.infinity : Float.infinity }
        var scratch = [Float](repeating: 0, count: max(8, paddedQueryCount) * Self.pairItems)
        let count = self.count, pairItems = Self.pairItems
        thresholds.withUnsafeMutableBufferPointer { th in
            scratch.withUnsafeMutableBufferPointer { tile in
                let th = th, tile = tile
                // A tile of pair `pair` × queries g..<g+n had a hit (`scores`: n rows of 32, query
                // g + i in row i): offer each score above its query's threshold (padding queries
                // and padding rows skipped).
                func offer(_ pair: Int, _ g: Int, _ n: Int, _ tileScores: UnsafePointer<Float>) {
                    let firstRow = pair * pairItems
                    for i in 0..<min(n, q - g) {
                        let qi = g + i, scores = tileScores + i * pairItems
                        for lane in 0..<min(pairItems, count - firstRow) where scores[lane] > th[qi] {
                            let row = Int32(firstRow + lane)
                            if !exclusions[qi].isEmpty && Self.contains(exclusions[qi], row) { continue }
                            part.heaps[qi].insert((scores[lane], row))
                            if let margins {
                                part.candidates[qi].append((scores[lane], row))
                                th[qi] = Self.loosened(part.heaps[qi].threshold, by: margins[qi])
                            } else {
                                th[qi] = part.heaps[qi].threshold
                            }
                        }
                    }
                }
                while let range = next() {
                    #if arch(x86_64)
                    if let quantised, let int8 {
                        int8.scan(range, queries: quantised, count: q, thresholds: th.baseAddress!,
                                  scratch: tile.baseAddress!) { offer($0, $1, 1, $2) }
                        continue
                    }
                    if margins != nil, let half {
                        RetrievalTileAVX512.scan(items: half, pairs: range, dim: dim, queries: queries,
                                                 queryCount: paddedQueryCount, thresholds: th.baseAddress!,
                                                 scratch: tile.baseAddress!) { offer($0, $1, $2, tile.baseAddress!) }
                        continue
                    }
                    #endif
                    scanPortable(range, queries: queries, queryCount: paddedQueryCount, thresholds: th.baseAddress!,
                                 scratch: tile.baseAddress!) { offer($0, $1, $2, tile.baseAddress!) }
                }
            }
        }
        return part
    }

    /// The portable path of `scan` (exact Float scores): the same contract
    /// as `RetrievalTileAVX512.scan` with groups of 4 queries, one 16-item block at a time — 4
    /// SIMD16 accumulators (8 AVX2 registers); per coordinate 1 load, 4 broadcasts, 4 FMAs.
    private func scanPortable(_ pairs: Range<Int>, queries: UnsafePointer<Float>, queryCount q: Int,
                              thresholds th: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                              onHit: (Int, Int, Int) -> Void) {
        typealias V = SIMD16<Float>
        let d = dim, lanes = Self.lanes
        for pair in pairs {
            var g = 0
            while g < q {
                let q0 = queries + g * d, q1 = q0 + d, q2 = q1 + d, q3 = q2 + d
                let t0 = V(repeating: th[g]), t1 = V(repeating: th[g + 1])
                let t2 = V(repeating: th[g + 2]), t3 = V(repeating: th[g + 3])
                var hit = false
                for half in 0..<2 {
                    let block = UnsafeRawPointer(packed + (pair * 2 + half) * d * lanes)
                    var a0 = V(), a1 = V(), a2 = V(), a3 = V()
                    for c in 0..<d {
                        let x = block.loadUnaligned(fromByteOffset: c * lanes * 4, as: V.self)
                        a0.addProduct(V(repeating: q0[c]), x); a1.addProduct(V(repeating: q1[c]), x)
                        a2.addProduct(V(repeating: q2[c]), x); a3.addProduct(V(repeating: q3[c]), x)
                    }
                    let out = UnsafeMutableRawPointer(scratch + half * lanes), row = 2 * lanes * 4
                    out.storeBytes(of: a0, as: V.self); out.storeBytes(of: a1, toByteOffset: row, as: V.self)
                    out.storeBytes(of: a2, toByteOffset: 2 * row, as: V.self)
                    out.storeBytes(of: a3, toByteOffset: 3 * row, as: V.self)
                    if any((a0 .> t0) .| (a1 .> t1) .| (a2 .> t2) .| (a3 .> t3)) { hit = true }
                }
                if hit { onHit(pair, g, Self.queryPad) }
                g += Self.queryPad
            }
        }
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

/// Hands out 0..<total in consecutive chunks, in increasing order, to concurrent callers.
final class ChunkCounter: @unchecked Sendable {
    private let claimed = Atomic<Int>(0)
    let total: Int, chunk: Int

    init(total: Int, chunk: Int) {
        self.total = total
        self.chunk = max(1, chunk)
    }

    /// The next chunk, nil when all are taken.
    func next() -> Range<Int>? {
        let start = claimed.add(chunk, ordering: .relaxed).oldValue
        return start < total ? start ..< min(total, start + chunk) : nil
    }
}
