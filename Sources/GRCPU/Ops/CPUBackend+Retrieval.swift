import GRCore

extension CPUBackend {
    /// Row-wise top-k (see `RetrievalOps.topK`): scores (B, V) with row stride `ldScores`,
    /// values (B, k) f32 and indices (B, k) i32 overwritten, best first, ties to the lower index.
    ///
    /// Per row: a size-k min-heap of the best candidates seen so far, scanned in increasing column
    /// order, so a score equal to the heap's worst is always worse (higher index) and is rejected by
    /// a single `>` test; 8-wide SIMD blocks whose scores are all ≤ the heap's worst are skipped.
    /// The heap is sorted at the end. Rows are split over `Parallel` threads.
    public func topK(scores: Tensor, rows: Int, columns: Int, ldScores: Int, k: Int,
                     values: Tensor, indices: Tensor) {
        precondition(k >= 0 && k <= columns, "topK: k \(k) outside 0...\(columns)")
        precondition(ldScores >= columns, "topK: row stride \(ldScores) < V \(columns)")
        precondition(values.count >= rows * k && indices.count >= rows * k, "topK: outputs too small for (\(rows), \(k))")
        if rows == 0 || k == 0 { return }
        let s = scores.floats, outV = values.floats, outI = indices.int32s
        Parallel.forRanges(rows) { range in
            let heapV = UnsafeMutablePointer<Float>.allocate(capacity: k)
            let heapI = UnsafeMutablePointer<Int32>.allocate(capacity: k)
            defer { heapV.deallocate(); heapI.deallocate() }
            for r in range {
                CPUTopK.selectRow(s + r * ldScores, columns, k, heapV, heapI)
                CPUTopK.sortDescending(heapV, heapI, k)
                (outV + r * k).update(from: heapV, count: k)
                (outI + r * k).update(from: heapI, count: k)
            }
        }
    }
}

/// The per-row pieces of `CPUBackend.topK`. Ordering "a better than b" is
/// `a.value > b.value || (a.value == b.value && a.index < b.index)`; NaN reads as −∞.
enum CPUTopK {
    @inline(__always)
    static func read(_ x: Float) -> Float { x.isNaN ? -.infinity : x }

    /// a worse than b (the heap keeps the worst element at the root).
    @inline(__always)
    static func worse(_ av: Float, _ ai: Int32, _ bv: Float, _ bi: Int32) -> Bool {
        av < bv || (av == bv && ai > bi)
    }

    /// Restores the min-heap (worst at root) below `start`.
    @inline(__always)
    static func siftDown(_ hv: UnsafeMutablePointer<Float>, _ hi: UnsafeMutablePointer<Int32>, _ count: Int, _ start: Int) {
        var i = start
        let v = hv[i], id = hi[i]
        while true {
            var c = 2 * i + 1
            if c >= count { break }
            if c + 1 < count && worse(hv[c + 1], hi[c + 1], hv[c], hi[c]) { c += 1 }
            if !worse(hv[c], hi[c], v, id) { break }
            hv[i] = hv[c]; hi[i] = hi[c]
            i = c
        }
        hv[i] = v; hi[i] = id
    }

    /// Fills the heap (hv, hi) of size k with the k best of row[0..<n] (unordered).
    static func selectRow(_ row: UnsafePointer<Float>, _ n: Int, _ k: Int,
                          _ hv: UnsafeMutablePointer<Float>, _ hi: UnsafeMutablePointer<Int32>) {
        for j in 0..<k { hv[j] = read(row[j]); hi[j] = Int32(j) }
        var p = k / 2 - 1
        while p >= 0 { siftDown(hv, hi, k, p); p -= 1 }
        var j = k
        // Scalar steps up to an 8-aligned column, then 8-wide blocks that can be skipped whole.
        while j < n && j & 7 != 0 { consider(row[j], j, hv, hi, k); j += 1 }
        while j + 8 <= n {
            let block = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self)
            // NaN > t is false: NaN never enters once the heap is full, as −∞ would not either.
            if any(block .> SIMD8(repeating: hv[0])) {
                for t in 0..<8 { consider(block[t], j + t, hv, hi, k) }
            }
            j += 8
        }
        while j < n { consider(row[j], j, hv, hi, k); j += 1 }
    }

    /// Columns arrive in increasing order, so equal-to-root means worse: a strict `>` suffices.
    @inline(__always)
    static func consider(_ x: Float, _ j: Int, _ hv: UnsafeMutablePointer<Float>, _ hi: UnsafeMutablePointer<Int32>, _ k: Int) {
        if x > hv[0] {
            hv[0] = x; hi[0] = Int32(j)
            siftDown(hv, hi, k, 0)
        }
    }

    /// Heap-sorts in place into best-first order (repeatedly moves the worst root to the back).
    static func sortDescending(_ hv: UnsafeMutablePointer<Float>, _ hi: UnsafeMutablePointer<Int32>, _ k: Int) {
        var end = k - 1
        while end > 0 {
            let tv = hv[0], ti = hi[0]
            hv[0] = hv[end]; hi[0] = hi[end]
            hv[end] = tv; hi[end] = ti
            siftDown(hv, hi, end, 0)
            end -= 1
        }
    }
}
