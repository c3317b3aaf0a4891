import Foundation
import GRCore

/// Generates a synthetic dataset straight into a sequence store, deterministically from
/// `config.seed` (Philox streams of kind `.synthetic`: user u uses `stream(step: u, slot: k)`,
/// k = 0 length, 1 items, 2 timestamps, 3 ratings; the global item permutation uses slot 100 of
/// step 0), independent of the thread count.
///
/// Memory stays bounded: users are generated in blocks of `blockUsers` (in parallel), then
/// appended in order to the streaming writer; only per-user lengths (U ints), the popularity CDF
/// (alias table, 12 bytes per item) and one block's events are held.
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
        // Popularity rank r → corpus position perm[r] (Fisher–Yates); position perm[r] gets weight
        // 1 / (r+1)^s, sampled in O(1) with an alias table over positions.
        var perm = Array(0..<m)
        let ps = PhiloxStream(seed: seed, stream: RandomStreamKind.synthetic.stream(step: 0, slot: permutationSlot))
        if m > 1 { for i in stride(from: m - 1, through: 1, by: -1) { perm.swapAt(i, ps.below(i + 1, UInt64(m - 1 - i))) } }
        var weights = [Double](repeating: 0, count: m)
        for r in 0..<m { weights[perm[r]] = 1 / pow(Double(r + 1), config.zipfExponent) }
        let table = AliasTable(weights: weights)
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
                            generateUser(u, length: lengths[u], config: config, corpus: corpus, table: table,
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

    static func generateUser(_ u: Int, length n: Int, config c: SyntheticConfig, corpus: [Int32], table: AliasTable,
                             lastSeen: inout [Int32], into block: inout UserBlock) {
        let itemStream = PhiloxStream(seed: c.seed, stream: RandomStreamKind.synthetic.stream(step: u, slot: 1))
        let timeStream = PhiloxStream(seed: c.seed, stream: RandomStreamKind.synthetic.stream(step: u, slot: 2))
        let ratingStream = PhiloxStream(seed: c.seed, stream: RandomStreamKind.synthetic.stream(step: u, slot: 3))
        var ii: UInt64 = 0, ti: UInt64 = 0
        var t = c.startTime + Int64(uniform(timeStream, &ti) * Double(c.startSpread))
        let stamp = Int32(truncatingIfNeeded: u)
        for k in 0..<n {
            var pos = 0
            for attempt in 0...c.distinctRetries {
                pos = table.sample(itemStream.uint32(ii), itemStream.uint32(ii + 1))
                ii += 2
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

/// Walker/Vose alias table: draws index i with probability weights[i] / Σ weights in O(1) from two
/// random words (column = ⌊w₁·n / 2³²⌋, keep it if w₂ / 2³² < keep[column], else take its alias).
struct AliasTable {
    let keep: [Double]
    let alias: [Int32]

    init(weights: [Double]) {
        let n = weights.count
        let total = weights.reduce(0, +)
        var scaled = weights.map { $0 * Double(n) / total }
        var keep = [Double](repeating: 1, count: n)
        var alias = [Int32](repeating: 0, count: n)
        for i in 0..<n { alias[i] = Int32(i) }
        var small: [Int] = [], large: [Int] = []
        for i in 0..<n { if scaled[i] < 1 { small.append(i) } else { large.append(i) } }
        while let s = small.last, let l = large.last {
            small.removeLast()
            keep[s] = scaled[s]
            alias[s] = Int32(l)
            scaled[l] = (scaled[l] + scaled[s]) - 1
            if scaled[l] < 1 { large.removeLast(); small.append(l) }
        }
        // Leftovers (rounding) keep themselves with probability 1.
        self.keep = keep
        self.alias = alias
    }

    @inline(__always)
    func sample(_ w1: UInt32, _ w2: UInt32) -> Int {
        let column = Int((UInt64(w1) &* UInt64(keep.count)) >> 32)
        return (Double(w2) + 0.5) / 4_294_967_296.0 < keep[column] ? column : Int(alias[column])
    }
}
