import Foundation

/// The run's machine-readable logs, through GRTrain/Logging's writers: `metrics.jsonl`
/// (`JSONLinesWriter`, one object per epoch) and TensorBoard scalars under `tb/`
/// (`TensorBoardWriter`) with the reference's tags (spec §6.3, `LogTags`):
/// - `losses/ar_loss` every step; `loss/train`, `lr`, `eval/<metric>` at the in-loop monitor;
/// - `eval_epoch/<metric>` (x = epoch) after every epoch's evaluation;
/// - `eval_epoch_full/<metric>` for full evaluations when `full_eval_every_n > 1` (as the reference);
/// - `eval_epoch_valid/<metric>` in validation mode (not in the reference).
///
/// On resume `metrics.jsonl` is rewritten from the checkpoint's history, so it never holds an
/// epoch the run redid after an interruption; TensorBoard gets a new event file in `tb/`.
final class RunLog {
    private let jsonl: JSONLinesWriter
    private let tensorBoard: TensorBoardWriter
    private let fullEvalTags: Bool

    init(directory: String, history: [EpochRecord], fullEvalEveryN: Int) throws {
        jsonl = try JSONLinesWriter(path: (directory as NSString).appendingPathComponent("metrics.jsonl"), append: false)
        tensorBoard = try TensorBoardWriter(directory: (directory as NSString).appendingPathComponent("tb"))
        fullEvalTags = fullEvalEveryN > 1
        for r in history { jsonl.write(Self.object(r)) }
    }

    func scalar(_ tag: String, _ value: Double, step: Int) { tensorBoard.scalar(tag, value, step: step) }

    func epoch(_ r: EpochRecord) {
        for (k, v) in r.test.sorted(by: { $0.key < $1.key }) {
            scalar(LogTags.metric(LogTags.evalEpoch, k), v, step: r.epoch)
            if r.fullEval && fullEvalTags { scalar(LogTags.metric(LogTags.evalEpochFull, k), v, step: r.epoch) }
        }
        for (k, v) in (r.validation ?? [:]).sorted(by: { $0.key < $1.key }) {
            scalar(LogTags.metric("eval_epoch_valid", k), v, step: r.epoch)
        }
        jsonl.write(Self.object(r))
        flush()
    }

    /// An epoch record as a JSON-lines object.
    static func object(_ r: EpochRecord) -> [String: Any] {
        var o: [String: Any] = [
            "epoch": r.epoch, "step": r.step, "train_loss": r.trainLoss, "full_eval": r.fullEval,
            "eval_users": r.evalUsers, "train_seconds": r.trainSeconds, "eval_seconds": r.evalSeconds,
            "test": r.test.mapValues { $0 as Any },
        ]
        if let v = r.validation { o["validation"] = v.mapValues { $0 as Any } }
        return o
    }

    func flush() { tensorBoard.flush() }

    func close() {
        tensorBoard.close()
        jsonl.close()
    }
}
