import Foundation

/// The time bucket of HSTU's relative attention bias (spec §2.3, fixtures README quirk 1):
///   bucket(Δ) = clamp( trunc( Float32(ln(Double(max(|Δ|, 1)))) / Float32(0.301) ), 0, 128 )
/// The logarithm is taken in float32 (correctly rounded) as the reference does (PyTorch takes the
/// log of an int64 tensor in float32), which makes e.g. Δ = 417,901 s land in bucket 43 (exact
/// arithmetic: 42). Δ is in seconds.
///
/// `bucket` is the definition. `fastBucket` gives the same value without a logarithm: the
/// definition is monotone non-decreasing in |Δ|, so it is the number of thresholds
/// `minimalDelta(k)` (k = 1...128) that |Δ| reaches; the thresholds are found once by binary
/// search over the definition, and a per-power-of-two table leaves three compares per call.
public enum TimeBucket {
    /// Largest bucket index: the reference clamps to [0, num_buckets] with num_buckets = 128 (spec §2.3).
    public static let maxBucket = 128
    /// Rows of the time-bias table w_ts: num_buckets + 1 = 129 (spec §2.3).
    public static let count = maxBucket + 1
    /// The divisor of ln|Δ| (spec §2.3: `/ 0.301`), applied in float32.
    public static let logDivisor: Float = 0.301

    /// The definition (spec §2.3 with the float32 log of quirk 1).
    @inlinable
    public static func bucket(_ delta: Int64) -> Int {
        let magnitude = max(delta.magnitude, 1)
        let scaled = Float(log(Double(magnitude))) / logDivisor
        return min(max(Int(scaled), 0), maxBucket)   // Int(_:) truncates; scaled ≥ 0
    }

    /// Per floor(log2 |Δ|) e in 0..<64: the bucket of 2^e, then the (up to) three thresholds in
    /// (2^e, 2^(e+1)) at which the bucket grows by one (UInt64.max when there is none).
    public struct Entry: Sendable {
        public var base: Int32
        public var t1: UInt64, t2: UInt64, t3: UInt64
    }

    private static func bucketOf(_ m: UInt64) -> Int {
        let scaled = Float(log(Double(max(m, 1)))) / logDivisor
        return min(max(Int(scaled), 0), maxBucket)
    }

    /// maxBucket + 2 = 130 entries: thresholds[0] = 0, thresholds[k] (k = 1...128) = the smallest
    /// |Δ| whose bucket is ≥ k, thresholds[129] = UInt64.max. So bucket(Δ) is the largest k with
    /// thresholds[k] ≤ |Δ| (thresholds repeat where a bucket is skipped: bucket 1 never occurs).
    public static let thresholds: [UInt64] = {
        var thresholds = [UInt64](repeating: .max, count: maxBucket + 2)
        thresholds[0] = 0
        for k in 1...maxBucket {
            var lo: UInt64 = 1, hi: UInt64 = .max   // bucketOf(hi) = 128 ≥ k
            if bucketOf(lo) >= k { thresholds[k] = lo; continue }
            while hi - lo > 1 {   // invariant: bucketOf(lo) < k ≤ bucketOf(hi)
                let mid = lo + (hi - lo) / 2
                if bucketOf(mid) >= k { hi = mid } else { lo = mid }
            }
            thresholds[k] = hi
        }
        return thresholds
    }()

    /// Same value as `bucket(delta)`, found by walking `thresholds` (pass its base address) from
    /// `guess`: O(1) when neighbouring deltas share or nearly share a bucket, as along a row of
    /// chronological keys. Any guess in 0...maxBucket gives the right answer.
    @inlinable @inline(__always)
    public static func bucket(_ delta: Int64, from guess: Int, _ thresholds: UnsafePointer<UInt64>) -> Int {
        let m = delta.magnitude
        var b = guess
        while m < thresholds[b] { b &-= 1 }        // thresholds[0] = 0 stops it
        while m >= thresholds[b &+ 1] { b &+= 1 }  // thresholds[129] = UInt64.max stops it
        return b
    }

    /// 64 entries, built once.
    public static let table: [Entry] = {
        let thresholds = Self.thresholds
        var entries: [Entry] = []
        for e in 0..<64 {
            let low: UInt64 = 1 << UInt64(e)
            let high: UInt64 = e == 63 ? .max : (1 << UInt64(e + 1)) - 1
            let base = bucketOf(low)
            var inside: [UInt64] = []
            for k in 1...maxBucket where thresholds[k] > low && thresholds[k] <= high { inside.append(thresholds[k]) }
            precondition(inside.count <= 3, "time bucket table: \(inside.count) thresholds in [2^\(e), 2^\(e + 1))")
            while inside.count < 3 { inside.append(.max) }
            entries.append(Entry(base: Int32(base), t1: inside[0], t2: inside[1], t3: inside[2]))
        }
        return entries
    }()

    /// Same value as `bucket(delta)`, via `table` (pass `table` fetched once outside hot loops).
    @inlinable
    public static func fastBucket(_ delta: Int64, _ table: UnsafePointer<Entry>) -> Int {
        let m = max(delta.magnitude, 1)
        let entry = table[63 - m.leadingZeroBitCount]
        var b = Int(entry.base)
        b += m >= entry.t1 ? 1 : 0
        b += m >= entry.t2 ? 1 : 0
        b += m >= entry.t3 ? 1 : 0
        return b
    }
}
