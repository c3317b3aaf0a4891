import Foundation
import GRCore

/// Generates a synthetic dataset straight into a sequence store, deterministically from
/// `config.seed` (Philox streams of kind `.synthetic`: user u uses `stream(step: u, slot: k)`,
/// k = 0 length, 1 items, 2 timestamps, 3 ratings; the global item permutation uses slot 100 of
/// step 0), independent of the thread count.
///
/// Memory stays bounded: users are generated in blocks of `blockUsers` (in parallel), then
/// appended in order to the streaming writer; only per-user lengths (U ints), the popularity CDF
/// (M doubles) and one block's events are held.
public enum SyntheticGenerator {
    static let blockUsers = 4096
    /// Slot of the global item-permutation stream.
    static let permutationSlot = 100

    /// Ratings 1…5 with MovieLens-like frequencies.
    static let ratingCDF: [Float] = [0.06, 0.17, 0.44, 0.79, 1.0]

    /// Writes the store to `storePath`.
    public static func generate(_ config: SyntheticConfig, storePath: String) throws {
        try config.validate()
        let seed = config.seed
        let m = config.items, maxId = config.maxItemId ?? config.items
        // Corpus: M ids spread evenly over 1...maxId, including both ends.
        let corpus: [Int32] = (0..<m).map { j in
            m == 1 ? Int32(maxId) : Int32(1 + (Int64(j) * Int64(maxId - 1)) / Int64(m - 1))
        }
        // Popularity rank r → corpus position perm[r] (Fisher–Yates).
        var perm = Array(0..<m)
        let ps = PhiloxStream(seed: seed, stream: RandomStreamKind.synthetic.stream(step: 0, slot: permutationSlot))
        if m > 1 { for i in stride(from: m - 1, through: 1, by: -1) { perm.swapAt(i, ps.below(i + 1, UInt64(m - 1 - i))) } }
        var cdf = [Double](repeating: 0, count: m)
        var acc = 0.0
        for r in 0..<m { acc += 1 / pow(Double(r + 1), config.zipfExponent); cdf[r] = acc }
        for r in 0..<m { cdf[r] /= acc }
        let lengths = sequenceLengths(config)

        let writer = try SequenceStoreWriter(path: storePath, name: config.name, userCount: config.users,
                                             eventCount: config.events, corpus: corpus, titles: nil, hasRatings: true)
        let threads = max(1, Parallel.threads)
        // Per part: the last user that drew each corpus position (user indices are unique stamps,
        // so the arrays are never reset).
        var lastSeenPerPart = [[Int32]](repeating: [Int32](repeating: -1, count: m), count: threads)
        var blockStart = 0
        while blockStart < config.users {
            let blockEnd = min(config.users, blockStart + blockUsers)
            let count = blockEnd - blockStart
            // One output slot per part: parts are contiguous user ranges.
            let parts = min(threads, count)
            var outputs = [UserBlock](repeating: UserBlock(), count: parts)
            outputs.withUnsafeMutableBufferPointer { out in
                lastSeenPerPart.withUnsafeMutableBufferPointer { seen in
                    let out = out, seen = seen
                    Parallel.forEach(parts) { p in
                        let lo = blockStart + count * p / parts, hi = blockStart + count * (p + 1) / parts
                        var block = UserBlock()
                        for u in lo..<hi {
                            generateUser(u, length: lengths[u], config: config, corpus: corpus, perm: perm, cdf: cdf,
                                         lastSeen: &seen[p], into: &block)
                        }
                        out[p] = block
                    }
                }
            }
            for block in outputs {
                var e = 0
                for (k, n) in block.lengths.enumerated() {
                    try block.items.withUnsafeBufferPointer { i in
                        try block.timestamps.withUnsafeBufferPointer { t in
                            try block.ratings.withUnsafeBufferPointer { r in
                                try writer.append(userId: block.userIds[k],
                                                  items: UnsafeBufferPointer(rebasing: i[e..<e + n]),
                                                  timestamps: UnsafeBufferPointer(rebasing: t[e..<e + n]),
                                                  ratings: UnsafeBufferPointer(rebasing: r[e..<e + n]))
                            }
                        }
                    }
                    e += n
                }
            }
            blockStart = blockEnd
        }
        try writer.finish()
    }

    /// Per-user lengths: min + lognormal weights scaled to the remaining events, rounded, capped at
    /// the max length, the rounding residual spread one event at a time over users in index order.
    static func sequenceLengths(_ c: SyntheticConfig) -> [Int] {
        let cap = c.maxLength ?? c.items
        var w = [Double](repeating: 0, count: c.users)
        for u in 0..<c.users {
            let s = PhiloxStream(seed: c.seed, stream: RandomStreamKind.synthetic.stream(step: u, slot: 0))
            let u1 = max(Double(s.uint32(0)) / 4_294_967_296.0, 1e-12), u2 = Double(s.uint32(1)) / 4_294_967_296.0
            let z = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)  // Box–Muller
            w[u] = exp(c.lengthSigma * z)
        }
        let total = w.reduce(0, +)
        let spare = Double(c.events - c.users * c.minLength)
        var lengths = w.map { min(cap, c.minLength + Int((spare * $0 / total).rounded())) }
        var residual = c.events - lengths.reduce(0, +)
        var u = 0
        while residual != 0 {
            if residual > 0 && lengths[u] < cap { lengths[u] += 1; residual -= 1 }
            else if residual < 0 && lengths[u] > c.minLength { lengths[u] -= 1; residual += 1 }
            u = (u + 1) % c.users
        }
        return lengths
    }

    struct UserBlock {
        var userIds: [Int64] = []
        var lengths: [Int] = []
        var items: [Int32] = []
        var timestamps: [Int64] = []
        var ratings: [Float] = []
    }

    @inline(__always)
    static func uniform(_ s: PhiloxStream, _ i: inout UInt64) -> Double {
        defer { i += 1 }
        return (Double(s.uint32(i)) + 0.5) / 4_294_967_296.0
    }

    static func generateUser(_ u: Int, length n: Int, config c: SyntheticConfig, corpus: [Int32], perm: [Int],
                             cdf: [Double], lastSeen: inout [Int32], into block: inout UserBlock) {
        let itemStream = PhiloxStream(seed: c.seed, stream: RandomStreamKind.synthetic.stream(step: u, slot: 1))
        let timeStream = PhiloxStream(seed: c.seed, stream: RandomStreamKind.synthetic.stream(step: u, slot: 2))
        let ratingStream = PhiloxStream(seed: c.seed, stream: RandomStreamKind.synthetic.stream(step: u, slot: 3))
        var ii: UInt64 = 0, ti: UInt64 = 0
        var t = c.startTime + Int64(uniform(timeStream, &ti) * Double(c.startSpread))
        let stamp = Int32(truncatingIfNeeded: u)
        for k in 0..<n {
            var pos = 0
            for attempt in 0...c.distinctRetries {
                let x = uniform(itemStream, &ii)
                var lo = 0, hi = cdf.count - 1  // first rank with cdf ≥ x
                while lo < hi {
                    let mid = (lo + hi) >> 1
                    if cdf[mid] < x { lo = mid + 1 } else { hi = mid }
                }
                pos = perm[lo]
                if lastSeen[pos] != stamp || attempt == c.distinctRetries { break }
            }
            lastSeen[pos] = stamp
            if k > 0 {
                let newSession = uniform(timeStream, &ti) < 1 / c.sessionMean
                let mean = newSession ? c.breakGapMean : c.sessionGapMean
                t += Int64(-mean * log(uniform(timeStream, &ti)))  // Exp(mean), floored: ties happen
            }
            let r = PhiloxStream.toUniform(ratingStream.uint32(UInt64(k)))
            var rating: Float = 5
            for (v, p) in ratingCDF.enumerated() where r < p { rating = Float(v + 1); break }
            block.items.append(corpus[pos])
            block.timestamps.append(t)
            block.ratings.append(rating)
        }
        block.userIds.append(Int64(u + 1))
        block.lengths.append(n)
    }
}
