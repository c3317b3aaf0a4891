/// TensorBoard tags of the reference's training loop (spec §6.3).
public enum LogTags {
    /// End-of-epoch eval on the eval view: `eval_epoch/<metric>`, x = epoch.
    public static let evalEpoch = "eval_epoch"
    /// Full eval when `full_eval_every_n > 1` (Books): `eval_epoch_full/<metric>`, x = epoch.
    public static let evalEpochFull = "eval_epoch_full"
    /// In-loop monitor on the current training batch: `eval/<metric>`, x = batch.
    public static let evalInLoop = "eval"
    /// Training loss, every batch.
    public static let arLoss = "losses/ar_loss"
    /// Training loss, every eval_interval batches.
    public static let trainLoss = "loss/train"
    /// Learning rate, every eval_interval batches.
    public static let learningRate = "lr"

    /// `<prefix>/<metric>`, e.g. `metric(evalEpoch, "ndcg@10")` = "eval_epoch/ndcg@10".
    public static func metric(_ prefix: String, _ name: String) -> String { "\(prefix)/\(name)" }
}
