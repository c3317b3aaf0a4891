import Foundation

/// Accumulates per-user ranks into the reference's eval metrics (spec §6.2) and averages them.
///
/// Per user with rank r (1-based, `maxRank + 1` for a miss):
/// - `hr@K` = 1[r ≤ K] for K in `hitCutoffs`;
/// - `ndcg@K` = 1/log₂(r + 1) if r ≤ K else 0 for K in `ndcgCutoffs` (one relevant item ⇒ IDCG 1);
/// - `mrr` = 1/r (so a miss contributes 1/2501);
/// - over users whose target rating ≥ 4 only: `ndcg@10_>=4`, `hr@10_>=4`, `hr@50_>=4`, `mrr_>=4`.
///
/// Per-user values are computed in Float exactly as the reference does (log2 and division in
/// float32 from the integer rank, fixture quirk 6); the sums are accumulated in Double (the
/// reference sums float32, which differs by rounding only) and `means()` returns Σ/count.
/// Names are the reference's logging names (`metric.*` / `mean.*` in the `eval_metrics` fixture).
public struct RankingMetrics: Sendable {
    /// K of `hr@K` (spec §6.2).
    public static let hitCutoffs = [1, 10, 50, 100, 200, 500, 1000]
    /// K of `ndcg@K` (spec §6.2).
    public static let ndcgCutoffs = [1, 10, 50, 100, 200]
    /// The reference's `min_positive_rating` (spec §6.2): the `_>=4` metrics use rating ≥ 4.
    public static let minPositiveRating: Float = 4
    /// Names in `means()` order: the all-user metrics, then the `_>=4` ones.
    public static let names: [String] = allUserNames + positiveNames
    static let allUserNames = ndcgCutoffs.map { "ndcg@\($0)" } + hitCutoffs.map { "hr@\($0)" } + ["mrr"]
    static let positiveNames = ["ndcg@10_>=4", "hr@10_>=4", "hr@50_>=4", "mrr_>=4"]

    /// Users added.
    public private(set) var count = 0
    /// Users added whose target rating is ≥ `minPositiveRating`.
    public private(set) var positiveCount = 0
    private var sums = [Double](repeating: 0, count: RankingMetrics.allUserNames.count)
    private var positiveSums = [Double](repeating: 0, count: RankingMetrics.positiveNames.count)

    public init() {}

    /// Adds B users. `ratings` are the targets' ratings (B), or empty when the dataset has none
    /// (then no user counts towards the `_>=4` metrics).
    public mutating func add(ranks: [Int], ratings: [Float]) {
        precondition(ratings.isEmpty || ratings.count == ranks.count,
                     "\(ratings.count) ratings for \(ranks.count) ranks")
        for (b, r) in ranks.enumerated() {
            precondition(r >= 1, "rank \(r) of user \(b) is not 1-based")
            let values = Self.perUser(rank: r)
            for i in 0..<values.count { sums[i] += Double(values[i]) }
            count += 1
            if !ratings.isEmpty && ratings[b] >= Self.minPositiveRating {
                let p = Self.perUserPositive(rank: r)
                for i in 0..<p.count { positiveSums[i] += Double(p[i]) }
                positiveCount += 1
            }
        }
    }

    /// Adds another accumulator's users (e.g. one per worker or per rank).
    public mutating func merge(_ other: RankingMetrics) {
        for i in 0..<sums.count { sums[i] += other.sums[i] }
        for i in 0..<positiveSums.count { positiveSums[i] += other.positiveSums[i] }
        count += other.count
        positiveCount += other.positiveCount
    }

    /// Σ/count per metric, in `names` order. Empty when no user was added; the `_>=4` metrics are
    /// left out when no user had a rating ≥ 4 (the reference would log NaN there).
    public func means() -> [(name: String, value: Double)] {
        if count == 0 { return [] }
        var out = zip(Self.allUserNames, sums).map { (name: $0, value: $1 / Double(count)) }
        if positiveCount > 0 {
            out += zip(Self.positiveNames, positiveSums).map { (name: $0, value: $1 / Double(positiveCount)) }
        }
        return out
    }

    /// The mean of one metric by name, nil when absent.
    public func mean(_ name: String) -> Double? { means().first { $0.name == name }?.value }

    /// One line for the console (spec §6.3): NDCG@10, NDCG@50, HR@10, HR@50, MRR.
    public func summary() -> String {
        ["ndcg@10", "ndcg@50", "hr@10", "hr@50", "mrr"].map { name in
            guard let v = mean(name) else { return "\(name) -" }
            return "\(name) \(String(format: "%.4f", v))"
        }.joined(separator: " ")
    }

    /// Per-user values of `allUserNames` for rank r, as float32 like the reference.
    public static func perUser(rank r: Int) -> [Float] {
        ndcgCutoffs.map { ndcg(rank: r, cutoff: $0) } + hitCutoffs.map { r <= $0 ? 1 : 0 } + [reciprocal(rank: r)]
    }

    /// Per-user values of `positiveNames` for rank r (for a user whose target rating is ≥ 4).
    public static func perUserPositive(rank r: Int) -> [Float] {
        [ndcg(rank: r, cutoff: 10), r <= 10 ? 1 : 0, r <= 50 ? 1 : 0, reciprocal(rank: r)]
    }

    /// 1/log₂(r + 1) in float32 when r ≤ K, else 0.
    public static func ndcg(rank r: Int, cutoff: Int) -> Float {
        r <= cutoff ? 1 / log2f(Float(r + 1)) : 0
    }

    /// 1/r in float32.
    public static func reciprocal(rank r: Int) -> Float { 1 / Float(r) }
}
