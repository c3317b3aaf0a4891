import Foundation
import GRCore

/// Where a `Recommender`'s top-K search runs when a device backend is present (`gr serve
/// --retrieval-device`): the backend holding the item matrix, the relative rounding of one GEMM
/// input on it (0 for plain f32 products, 2⁻¹¹ for TF32, 2⁻⁸ for bf16: it widens the bound of
/// `DeviceItemIndex`), and the smallest corpus worth a device (smaller ones stay on the CPU scan).
public struct DeviceRetrieval: @unchecked Sendable {
    public let backend: any Backend
    public let gemmInputRounding: Double
    public let minimumItems: Int
    public init(backend: any Backend, gemmInputRounding: Double, minimumItems: Int = 0) {
        precondition(gemmInputRounding >= 0 && gemmInputRounding < 0.01, "DeviceRetrieval: input rounding \(gemmInputRounding)")
        self.backend = backend
        self.gemmInputRounding = gemmInputRounding
        self.minimumItems = minimumItems
    }
}

/// Exact top-K over the item vectors on a device backend (docs/inference.md, "Retrieval on a
/// GPU"), with the same answers as `ItemIndex` (order: descending exact score, ties to the lower
/// id; exact score = one Float FMA chain over the coordinates in order; NaN never returned).
///
/// Per batch of Q queries: scores S (Q, V) = queries · itemsᵀ by the backend's GEMM, its top K′
/// per row by the backend's `topK` (K′ = k + the query's exclusions + `slack`), those K′ ids
/// back to the host and rescored exactly there. The device scores are approximations with a
/// proven bound, |approx − exact| ≤ m_q = ‖q‖·N·(2u + u² + 2γ(1 + u)²) (u the GEMM's input
/// rounding, γ = (D + 2)·2⁻²⁴ for a sum of D products in any order, N the largest item norm),
/// so every item outside the K′ has exact ≤ a′ + m_q, a′ the K′-th approximate score. The answer
/// is accepted when its k-th exact score is above a′ + m_q (or K′ = V); otherwise that query
/// runs again with 4·K′. A query or corpus that the bound cannot cover (not finite) is scanned
/// exactly on the host.
public final class DeviceItemIndex: @unchecked Sendable {
    /// Extra candidates per query beyond k and its exclusions.
    public static let slack = 64
    /// Most scores held on the device at once (queries are split to stay below).
    public static let scoreBudget = 1 << 26
    /// Columns of one top-K′ segment: a row of V scores is selected per segment of this many items
    /// (one `topK` row each, so V/S selections run side by side instead of one over all V), when
    /// V ≥ 2·S and K′ ≤ S/4; settable for tests.
    nonisolated(unsafe) public static var segmentColumns = 32_768

    public let backend: any Backend
    public let dim: Int
    /// V.
    public let count: Int
    /// Item ids, ascending (row r = ids[r]), as `ItemIndex.ids`, and their id → row lookup.
    let sortedIDs: SortedItemIDs
    public var ids: [Int32] { sortedIDs.ids }
    /// (V, D) host rows in `ids` order: the exact rescoring.
    private let rows: [Float]
    /// (V, D) the same rows on the device.
    private let items: Tensor
    /// N: the largest item norm (Double; +∞ when some coordinate is not finite).
    private let maxNorm: Double
    private let boundFactor: Double
    /// Serialises device work of every index (a reload builds a second one while the first serves).
    private static let deviceLock = NSLock()
    /// Queries that needed a larger K′ / an exact host scan since creation (diagnostics, tests).
    public private(set) var retries = 0, hostScans = 0

    /// `table` (tableRows, D), row = item id; `ids` the indexed items (distinct, any order).
    public init(ids: [Int32], table: UnsafePointer<Float>, tableRows: Int, dim: Int, retrieval: DeviceRetrieval) {
        precondition(dim > 0 && !ids.isEmpty, "DeviceItemIndex: empty index")
        let sorted = ids.sorted()
        for i in sorted.indices.dropFirst() where sorted[i] == sorted[i - 1] {
            preconditionFailure("DeviceItemIndex: duplicate id \(sorted[i])")
        }
        var rows = [Float](repeating: 0, count: sorted.count * dim)
        var n2max = 0.0
        for (r, id) in sorted.enumerated() {
            precondition(id >= 0 && Int(id) < tableRows, "DeviceItemIndex: id \(id) has no row in a table of \(tableRows)")
            var n2 = 0.0
            for c in 0..<dim {
                let x = table[Int(id) * dim + c]
                rows[r * dim + c] = x
                n2 += Double(x) * Double(x)
            }
            n2max = max(n2max, n2.isNaN ? .infinity : n2)
        }
        sortedIDs = SortedItemIDs(sorted: sorted)
        self.rows = rows
        self.dim = dim
        count = sorted.count
        backend = retrieval.backend
        maxNorm = n2max.squareRoot()
        let u = retrieval.gemmInputRounding, gamma = Double(dim + 2) * 0x1p-24
        boundFactor = (2 * u + u * u + 2 * gamma * (1 + u) * (1 + u)) * (1 + 0x1p-10)
        items = Self.deviceLock.withLock { retrieval.backend.upload(rows, shape: [sorted.count, dim]) }
    }

    /// Top-k of each of the Q queries (Q, D) row-major; `excluded[q]` (empty or Q lists) never
    /// returned for query q. Same contract and answers as `ItemIndex.search`.
    public func search(queries: [Float], k: Int, excluded: [[Int32]] = []) -> [ItemIndex.Result] {
        precondition(queries.count % dim == 0, "DeviceItemIndex.search: \(queries.count) floats is not a multiple of D \(dim)")
        let q = queries.count / dim
        precondition(excluded.isEmpty || excluded.count == q, "DeviceItemIndex.search: \(excluded.count) exclusion lists for \(q) queries")
        precondition(k >= 0, "DeviceItemIndex.search: k must be ≥ 0")
        let kk = min(k, count)
        if q == 0 { return [] }
        if kk == 0 { return Array(repeating: ItemIndex.Result(ids: [], scores: []), count: q) }
        let exclusions: [Set<Int32>] = (0..<q).map { i in excluded.isEmpty ? [] : Set(excluded[i].compactMap { rowIndex(of: $0) }) }
        Self.deviceLock.lock()
        defer { Self.deviceLock.unlock() }
        var results = [ItemIndex.Result?](repeating: nil, count: q)
        // Queries the bound cannot cover go to the exact host scan at once.
        var pending: [(query: Int, kPrime: Int)] = []
        for i in 0..<q {
            if margin(queries, i) != nil {
                pending.append((i, min(count, kk + exclusions[i].count + Self.slack)))
            } else {
                results[i] = hostScan(queries, i, k: kk, exclusions: exclusions[i])
            }
        }
        while !pending.isEmpty {
            // One device pass per K′ (rows sharing it), chunks of at most `scoreBudget` scores.
            let kPrime = pending.map(\.kPrime).max()!
            let group = pending.filter { $0.kPrime == kPrime }.map(\.query)
            pending.removeAll { $0.kPrime == kPrime }
            let segment = count >= 2 * Self.segmentColumns && 4 * kPrime <= Self.segmentColumns ? Self.segmentColumns : count
            let width = (count + segment - 1) / segment * segment
            let chunk = max(1, Self.scoreBudget / width)
            for start in stride(from: 0, to: group.count, by: chunk) {
                let members = Array(group[start ..< min(group.count, start + chunk)])
                let found = deviceTop(queries, members, kPrime: kPrime, segment: segment)
                for (x, i) in members.enumerated() {
                    if let r = accept(queries, i, k: kk, kPrime: kPrime, candidates: found[x], exclusions: exclusions[i]) {
                        results[i] = r
                    } else if kPrime < count {
                        retries += 1
                        pending.append((i, min(count, 4 * kPrime)))
                    } else {
                        results[i] = hostScan(queries, i, k: kk, exclusions: exclusions[i])
                    }
                }
            }
        }
        return results.map { $0! }
    }

    /// m_q for query i, nil when it or N is not finite (the bound does not hold).
    private func margin(_ queries: [Float], _ i: Int) -> Double? {
        var n2 = 0.0
        for c in 0..<dim { n2 += Double(queries[i * dim + c]) * Double(queries[i * dim + c]) }
        let m = n2.squareRoot() * maxNorm * boundFactor + Double(dim) * 0x1p-120
        return m.isFinite && n2 < 1e30 && maxNorm < 1e15 ? m : nil
    }

    /// Candidates of one query: rows with their approximate scores, and a bound a′ such that every
    /// other row has approx ≤ a′.
    struct Candidates {
        var rows: [Int32] = [], approx: [Float] = []
        var bound = -Float.infinity
    }

    /// The device's candidates for the queries `members`. Scores (Q, W) with W = V rounded up to a
    /// multiple of `segment` (columns ≥ V hold −∞); each segment's top K′ is selected (a row of
    /// the (Q·W/S, S) view), so a row outside every segment's K′ has approx ≤ the largest of the
    /// segments' K′-th scores, the bound. One segment (S = V) is the plain per-row top K′.
    private func deviceTop(_ queries: [Float], _ members: [Int], kPrime: Int, segment: Int) -> [Candidates] {
        var packed = [Float](repeating: 0, count: members.count * dim)
        for (x, i) in members.enumerated() {
            packed.replaceSubrange(x * dim ..< (x + 1) * dim, with: queries[i * dim ..< (i + 1) * dim])
        }
        let b = members.count, segments = (count + segment - 1) / segment, width = segments * segment
        let qt = backend.upload(packed, shape: [b, dim])
        let scores = backend.zeros([b, width], .f32)
        if width > count { backend.fill(scores, -.infinity) }
        let values = backend.zeros([b * segments, kPrime], .f32), indices = backend.zeros([b * segments, kPrime], .i32)
        backend.gemm(transA: false, transB: true, m: b, n: count, k: dim, alpha: 1, a: qt, lda: dim, b: items, ldb: dim,
                     beta: 0, c: scores, ldc: width)
        backend.topK(scores: scores, rows: b * segments, columns: segment, ldScores: segment, k: kPrime,
                     values: values, indices: indices)
        let v = backend.download(values)
        // The i32 indices travel as the same 4-byte words through the f32 download.
        let bits = backend.download(Tensor(storage: indices.storage, offset: indices.offset, shape: indices.shape, dtype: .f32))
        return (0..<b).map { x in
            var c = Candidates()
            c.rows.reserveCapacity(segments * kPrime)
            c.approx.reserveCapacity(segments * kPrime)
            for g in 0..<segments {
                let base = (x * segments + g) * kPrime
                for j in 0..<kPrime {
                    let row = g * segment + Int(Int32(bitPattern: bits[base + j].bitPattern))
                    if row < count { c.rows.append(Int32(row)); c.approx.append(v[base + j]) }
                }
                c.bound = max(c.bound, v[base + kPrime - 1])
            }
            return c
        }
    }

    /// The exact top-k from a query's candidates, or nil when the bound cannot show that no other
    /// item belongs in it. Candidates whose approx is below A_k − 2m (A_k the k-th best approx among
    /// the non-excluded candidates) cannot be in the top k (k others are exactly above them) and are
    /// not rescored.
    private func accept(_ queries: [Float], _ i: Int, k: Int, kPrime: Int, candidates c: Candidates,
                        exclusions: Set<Int32>) -> ItemIndex.Result? {
        let complete = kPrime >= count
        guard let m = margin(queries, i) ?? (complete ? 0 : nil) else { return nil }
        var ak = -Float.infinity
        if !complete {
            var kept = [Float]()   // the k best approx so far, ascending
            kept.reserveCapacity(k + 1)
            for (j, r) in c.rows.enumerated() where !exclusions.contains(r) {
                let a = c.approx[j]
                if kept.count == k && !(a > kept[0]) { continue }
                let at = kept.firstIndex { $0 >= a } ?? kept.count
                kept.insert(a, at: at)
                if kept.count > k { kept.removeFirst() }
            }
            if kept.count == k { ak = kept[0] }
        }
        var all: [(Float, Int32)] = []
        for (j, r) in c.rows.enumerated() where !exclusions.contains(r) && Double(c.approx[j]) >= Double(ak) - 2 * m {
            let s = exactScore(row: Int(r), queries, i)
            if !s.isNaN { all.append((s, r)) }
        }
        let top = best(all, k)
        if !complete {
            // Every row outside the candidates has approx ≤ the bound a′, so exact ≤ a′ + m.
            guard top.count == k, !c.bound.isNaN else { return nil }
            guard Double(top.last!.0) > Double(c.bound) + m else { return nil }
        }
        return result(top)
    }

    /// Every item scored exactly on the host (queries the bound cannot cover).
    private func hostScan(_ queries: [Float], _ i: Int, k: Int, exclusions: Set<Int32>) -> ItemIndex.Result {
        hostScans += 1
        var all: [(Float, Int32)] = []
        for r in 0..<count where !exclusions.contains(Int32(r)) {
            let s = exactScore(row: r, queries, i)
            if !s.isNaN { all.append((s, Int32(r))) }
        }
        return result(best(all, k))
    }

    /// The k best (exact score, row) pairs: descending score, ties to the lower row.
    private func best(_ all: [(Float, Int32)], _ k: Int) -> ArraySlice<(Float, Int32)> {
        all.sorted { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }.prefix(k)
    }

    private func result(_ top: ArraySlice<(Float, Int32)>) -> ItemIndex.Result {
        ItemIndex.Result(ids: top.map { ids[Int($0.1)] }, scores: top.map(\.0))
    }

    /// One Float FMA chain over the coordinates in order (`ItemIndex`'s exact score).
    private func exactScore(row: Int, _ queries: [Float], _ i: Int) -> Float {
        var s: Float = 0
        for c in 0..<dim { s = s.addingProduct(queries[i * dim + c], rows[row * dim + c]) }
        return s
    }

    /// The row of `id`, nil when not indexed.
    func rowIndex(of id: Int32) -> Int32? { sortedIDs.row(of: id) }
}
