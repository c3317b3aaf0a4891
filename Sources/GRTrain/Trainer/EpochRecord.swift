/// What one epoch produced: mean training loss, the evaluation metrics and timings. Kept in the
/// checkpoint (so a resumed run reports the same best epoch) and written to `metrics.jsonl`.
public struct EpochRecord: Codable, Equatable, Sendable {
    /// 0-based epoch index.
    public var epoch: Int
    /// Optimiser steps done at the end of the epoch.
    public var step: Int
    /// Mean of the per-batch training losses of the epoch.
    public var trainLoss: Double
    /// True when the evaluation covered every user (false: the first `partial_eval_num_iters` batches).
    public var fullEval: Bool
    /// Metrics on the test target (the user's last item; eval view ignore_last_n = 0), name → value
    /// ("ndcg@10", "hr@10", "mrr", ...).
    public var test: [String: Double]
    /// Metrics on the validation target (2nd-to-last item) in validation mode, else nil.
    public var validation: [String: Double]?
    /// Users evaluated.
    public var evalUsers: Int
    public var trainSeconds: Double
    public var evalSeconds: Double

    public init(epoch: Int, step: Int, trainLoss: Double, fullEval: Bool, test: [String: Double],
                validation: [String: Double]?, evalUsers: Int, trainSeconds: Double, evalSeconds: Double) {
        self.epoch = epoch
        self.step = step
        self.trainLoss = trainLoss
        self.fullEval = fullEval
        self.test = test
        self.validation = validation
        self.evalUsers = evalUsers
        self.trainSeconds = trainSeconds
        self.evalSeconds = evalSeconds
    }

    /// The metric the epoch is selected by: validation NDCG@10 in validation mode, else test NDCG@10.
    public var selectionScore: Double? { (validation ?? test)[EpochRecord.selectionMetric] }

    /// Epoch selection metric (spec §6.4: "select by NDCG@10").
    public static let selectionMetric = "ndcg@10"

    /// The epoch with the highest selection score among full evaluations (partial ones cover a
    /// random subset of users and are too noisy to select on); the earliest wins ties.
    public static func best(of history: [EpochRecord]) -> EpochRecord? {
        var best: EpochRecord? = nil
        for r in history where r.fullEval {
            guard let s = r.selectionScore else { continue }
            if best == nil || s > best!.selectionScore! { best = r }
        }
        return best
    }
}
