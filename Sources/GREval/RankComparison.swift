/// A user-by-user comparison of two models' ranks on the same users and targets (A vs B).
///
/// Only users present in both lists are compared. A "win" for A is a strictly better (smaller)
/// rank; equal ranks are ties, which include users both models missed (both `maxRank + 1`).
public struct RankComparison: Equatable, Sendable, CustomStringConvertible {
    /// Users in both lists.
    public var users = 0
    /// Users where A ranks the target strictly better than B.
    public var wins = 0
    /// Users where B ranks the target strictly better than A.
    public var losses = 0
    /// Users with equal ranks (including both missed).
    public var ties = 0
    /// Users whose target neither model found (both ranks ≥ `absentRank`).
    public var bothMissed = 0
    /// Users with rank ≤ 10 under A but not B, and the reverse: the HR@10 disagreement.
    public var hitsOnlyA = 0, hitsOnlyB = 0
    /// Users in only one of the lists.
    public var onlyInA = 0, onlyInB = 0
    /// Mean over common users of 1/rank_A − 1/rank_B (the MRR difference).
    public var meanReciprocalRankDelta = 0.0

    public init() {}

    public var description: String {
        "users \(users): A better \(wins), B better \(losses), tied \(ties) (both missed \(bothMissed)); "
            + "hr@10 only A \(hitsOnlyA), only B \(hitsOnlyB); mrr(A) − mrr(B) = \(meanReciprocalRankDelta)"
            + (onlyInA + onlyInB > 0 ? "; users only in A \(onlyInA), only in B \(onlyInB)" : "")
    }
}

/// Compares two rank lists user by user (see `RankComparison`). `absentRank` is the rank given to
/// misses (2501 for the reference cap). Throws `EvalError.targetMismatch` when a common user has
/// different targets, `EvalError.duplicateUser` when a user appears twice in one list.
public func compareRanks(_ a: [RankRecord], _ b: [RankRecord],
                         absentRank: Int = RankingEvaluator.referenceMaxRank + 1) throws -> RankComparison {
    var byUser = [Int: RankRecord](minimumCapacity: b.count)
    for r in b {
        if byUser[r.user] != nil { throw EvalError.duplicateUser(user: r.user, list: "B") }
        byUser[r.user] = r
    }
    var c = RankComparison()
    var seenA = Set<Int>()
    var rrDelta = 0.0
    for ra in a {
        guard seenA.insert(ra.user).inserted else {
            throw EvalError.duplicateUser(user: ra.user, list: "A")
        }
        guard let rb = byUser[ra.user] else { c.onlyInA += 1; continue }
        guard ra.target == rb.target else {
            throw EvalError.targetMismatch(user: ra.user, targetA: ra.target, targetB: rb.target)
        }
        c.users += 1
        if ra.rank < rb.rank { c.wins += 1 } else if ra.rank > rb.rank { c.losses += 1 } else { c.ties += 1 }
        if ra.rank >= absentRank && rb.rank >= absentRank { c.bothMissed += 1 }
        if ra.rank <= 10 && rb.rank > 10 { c.hitsOnlyA += 1 }
        if rb.rank <= 10 && ra.rank > 10 { c.hitsOnlyB += 1 }
        rrDelta += 1 / Double(ra.rank) - 1 / Double(rb.rank)
    }
    c.onlyInB = b.count - (c.users)
    c.meanReciprocalRankDelta = c.users > 0 ? rrDelta / Double(c.users) : 0
    return c
}
