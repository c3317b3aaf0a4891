/// The split of one global batch across the ranks of a data-parallel step, balancing attention
/// work rather than sequence counts.
///
/// Cost of sequence b: L_b² (HSTU's attention is O(L²) per sequence and dominates at long L; the
/// linear parts add O(L), which this ignores). Greedy longest-processing-time-first: sequences
/// in order of decreasing L (ties: lower global index first) go to the rank with the least cost so
/// far (ties: lower rank). Deterministic. Each rank's members are returned in increasing global
/// index, so adjacent sequences keep their relative order.
///
/// Shapes: B sequences, W ranks.
public enum BatchSplit {
    /// (W) lists of global sequence indices; their union is 0..<B, each exactly once.
    public static func balanced(lengths: [Int], ranks: Int) -> [[Int]] {
        precondition(ranks > 0, "ranks must be positive")
        let order = lengths.indices.sorted { lengths[$0] != lengths[$1] ? lengths[$0] > lengths[$1] : $0 < $1 }
        var load = [Int](repeating: 0, count: ranks)
        var parts = [[Int]](repeating: [], count: ranks)
        for b in order {
            var best = 0
            for r in 1..<ranks where load[r] < load[best] { best = r }
            parts[best].append(b)
            load[best] += cost(lengths[b])
        }
        return parts.map { $0.sorted() }
    }

    /// The balanced quantity of one sequence: L².
    @inlinable
    public static func cost(_ length: Int) -> Int { length * length }

    /// max over ranks of Σ L² divided by the mean (1 = perfect balance).
    public static func imbalance(lengths: [Int], parts: [[Int]]) -> Double {
        let loads = parts.map { $0.reduce(0) { $0 + cost(lengths[$1]) } }
        let total = loads.reduce(0, +)
        guard total > 0 else { return 1 }
        return Double(loads.max()!) / (Double(total) / Double(parts.count))
    }
}
