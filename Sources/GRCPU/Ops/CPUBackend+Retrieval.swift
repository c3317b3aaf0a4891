import GRCore

extension CPUBackend {
    /// Row-wise top-k (see `RetrievalOps.topK`): scores (B, V) with row stride `ldScores`,
    /// values (B, k) f32 and indices (B, k) i32 overwritten, best first, ties to the lower index.
    ///
    /// Per row (`CPUTopK`): every score becomes one UInt64 sort key whose ascending order is the
    /// output order (high half: the score's bits mapped to descending order, NaN as −∞ and −0 as
    /// +0; low half: the column index), so keys are distinct and comparisons are single integer
    /// compares. Long rows with small k are first cut by a threshold key estimated from a sample
    /// (exact: redone without the cut if too few keys survive). A quickselect then moves the k
    /// smallest keys to the front, and an LSD radix sort orders them. Rows are split over
    /// `Parallel` threads.
    public func topK(scores: Tensor, rows: Int, columns: Int, ldScores: Int, k: Int,
                     values: Tensor, indices: Tensor) {
        precondition(k >= 0 && k <= columns, "topK: k \(k) outside 0...\(columns)")
        precondition(ldScores >= columns, "topK: row stride \(ldScores) < V \(columns)")
        precondition(columns <= Int(Int32.max), "topK: V \(columns) does not fit i32 indices")
        precondition(values.count >= rows * k && indices.count >= rows * k, "topK: outputs too small for (\(rows), \(k))")
        if rows == 0 || k == 0 { return }
        let s = scores.floats, outV = values.floats, outI = indices.int32s
        Parallel.forRanges(rows) { range in
            let keys = UnsafeMutablePointer<UInt64>.allocate(capacity: columns)
            let scratch = UnsafeMutablePointer<UInt64>.allocate(capacity: k)
            defer { keys.deallocate(); scratch.deallocate() }
            for r in range {
                let row = s + r * ldScores
                CPUTopK.selectRow(row, columns, k, keys, scratch)
                for j in 0..<k {
                    let index = Int(truncatingIfNeeded: keys[j] & 0xFFFF_FFFF)
                    outI[r * k + j] = Int32(index)
                    outV[r * k + j] = CPUTopK.read(row[index])
                }
            }
        }
    }
}

/// The per-row pieces of `CPUBackend.topK`. Output order "a before b" is
/// `a.score > b.score || (a.score == b.score && a.index < b.index)`, NaN read as −∞.
enum CPUTopK {
    /// A score as it is ranked: NaN → −∞.
    @inline(__always)
    static func read(_ x: Float) -> Float { x.isNaN ? -.infinity : x }

    /// Maps a score to 32 bits whose ascending order is descending score order; equal scores
    /// (including −0 / +0) map to equal bits, NaN maps like −∞. Branch-free.
    @inline(__always)
    static func descendingBits(_ x: Float) -> UInt32 {
        var b = x.bitPattern
        let magnitude = b & 0x7FFF_FFFF
        b = magnitude > 0x7F80_0000 ? 0xFF80_0000 : b      // NaN → −∞
        b = magnitude == 0 ? 0 : b                          // −0 → +0
        let negative = UInt32(bitPattern: Int32(bitPattern: b) >> 31)   // all ones when negative
        return ~(b ^ (negative | 0x8000_0000))
    }

    @inline(__always)
    static func key(_ row: UnsafePointer<Float>, _ j: Int) -> UInt64 {
        UInt64(descendingBits(row[j])) << 32 | UInt64(truncatingIfNeeded: j)
    }

    /// Rows at least this long, with k ≤ n / `prefilterRatio`, are prefiltered by a sampled threshold.
    static let prefilterMinColumns = 4096
    static let prefilterRatio = 4
    /// Sample size for the prefilter threshold.
    static let sampleSize = 1024

    /// Puts the keys of the k best of row[0..<n] into keys[0..<k], in output order.
    ///
    /// Long rows with small k are first cut by a threshold key T taken from an evenly spaced
    /// sample (its quantile 1.5·k/n plus a margin of 4 sample standard deviations): only keys ≤ T
    /// are kept. If fewer than k survive (a badly unrepresentative sample), the row is redone
    /// without the cut, so the result is always exact.
    static func selectRow(_ row: UnsafePointer<Float>, _ n: Int, _ k: Int,
                          _ keys: UnsafeMutablePointer<UInt64>, _ scratch: UnsafeMutablePointer<UInt64>) {
        var count = n
        if n >= prefilterMinColumns && k * prefilterRatio <= n {
            let m = sampleSize
            // The sample goes to keys[0..<m] (overwritten below) and is sorted there.
            for i in 0..<m { keys[i] = key(row, i * n / m) }
            radixSort(keys, m, keys + m)
            let sample = keys
            let q = 1.5 * Double(k) / Double(n)
            let margin = 4 * (q * (1 - q) / Double(m)).squareRoot()
            let r = Int(((q + margin) * Double(m)).rounded(.up))
            if r < m {
                let threshold = sample[r]
                var c = 0
                for j in 0..<n {
                    let kj = key(row, j)
                    keys[c] = kj
                    c &+= kj <= threshold ? 1 : 0   // branch-free compaction
                }
                if c >= k { count = c } else { count = 0 }
            }
        }
        if count == n || count == 0 {
            count = n
            for j in 0..<n { keys[j] = key(row, j) }
        }
        if k < count { select(keys, count, k) }
        radixSort(keys, k, scratch)
    }

    /// Quickselect (Hoare partition, median-of-three pivot): afterwards keys[0..<k] are the k
    /// smallest keys (unordered). Keys are distinct. Falls back to a full sort of the remaining
    /// range after 2·log₂(n) + 8 rounds, so the worst case stays O(n log n).
    static func select(_ keys: UnsafeMutablePointer<UInt64>, _ n: Int, _ k: Int) {
        var lo = 0, hi = n - 1   // the k-th smallest (index k − 1) lies in lo...hi
        let target = k - 1
        var budget = 2 * (Int.bitWidth - n.leadingZeroBitCount) + 8
        while hi - lo > 16 {
            if budget == 0 {
                sortRange(keys + lo, hi - lo + 1)
                return
            }
            budget -= 1
            let mid = lo + (hi - lo) / 2
            let a = keys[lo], b = keys[mid], c = keys[hi]
            let pivot = max(min(a, b), min(max(a, b), c))
            var i = lo, j = hi
            while i <= j {
                while keys[i] < pivot { i += 1 }
                while keys[j] > pivot { j -= 1 }
                if i <= j { let t = keys[i]; keys[i] = keys[j]; keys[j] = t; i += 1; j -= 1 }
            }
            // Now keys[lo...j] ≤ pivot ≤ keys[i...hi], and j < i.
            if target <= j { hi = j } else if target >= i { lo = i } else { return }
        }
        sortRange(keys + lo, hi - lo + 1)
    }

    @inline(__always)
    static func sortRange(_ p: UnsafeMutablePointer<UInt64>, _ n: Int) {
        var buffer = UnsafeMutableBufferPointer(start: p, count: n)
        buffer.sort()
    }

    /// LSD radix sort of keys[0..<n] by bytes, skipping bytes that are equal in every key (e.g. the
    /// high bytes of the index half, zero for short rows).
    static func radixSort(_ keys: UnsafeMutablePointer<UInt64>, _ n: Int, _ scratch: UnsafeMutablePointer<UInt64>) {
        if n < 2 { return }
        if n <= 64 {
            sortRange(keys, n)
            return
        }
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 8 * 256)
        defer { counts.deallocate() }
        counts.initialize(repeating: 0, count: 8 * 256)
        for i in 0..<n {
            let key = keys[i]
            for d in 0..<8 { counts[d * 256 + Int((key >> UInt64(8 * d)) & 0xFF)] += 1 }
        }
        var src = keys, dst = scratch
        for d in 0..<8 {
            let c = counts + d * 256
            if (0..<256).contains(where: { c[$0] == n }) { continue }  // one value: nothing to do
            var sum = 0
            for b in 0..<256 { let t = c[b]; c[b] = sum; sum += t }
            let shift = UInt64(8 * d)
            for i in 0..<n {
                let key = src[i]
                let b = Int((key >> shift) & 0xFF)
                dst[c[b]] = key
                c[b] += 1
            }
            swap(&src, &dst)
        }
        if src != keys { keys.update(from: src, count: n) }
    }
}
