import Foundation

/// The run's machine-readable logs: `metrics.jsonl` (one JSON object per epoch) and TensorBoard
/// scalars under `tb/` with the reference's tags (spec §6.3):
/// - `losses/ar_loss` every step; `loss/train`, `lr`, `eval/<metric>` at the in-loop monitor;
/// - `eval_epoch/<metric>` (x = epoch) after every epoch's evaluation;
/// - `eval_epoch_full/<metric>` for full evaluations when `full_eval_every_n > 1` — we log it for
///   every full evaluation (with `full_eval_every_n = 1` it repeats `eval_epoch/`);
/// - `eval_epoch_valid/<metric>` (validation mode only; not in the reference).
final class RunLog {
    private let jsonl: FileHandle
    private let scalars: ScalarLog?

    /// `append`: keep the existing `metrics.jsonl` (resume), else start it afresh.
    init(directory: String, append: Bool) throws {
        let path = (directory as NSString).appendingPathComponent("metrics.jsonl")
        let fm = FileManager.default
        if !append || !fm.fileExists(atPath: path) { fm.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw TrainError.badData("cannot open \(path) for writing")
        }
        h.seekToEndOfFile()
        jsonl = h
        scalars = try makeScalarLog(directory: (directory as NSString).appendingPathComponent("tb"))
    }

    func scalar(_ tag: String, _ value: Double, step: Int) { scalars?.scalar(tag, value, step: step) }

    func epoch(_ r: EpochRecord, selectionOnValidation: Bool) {
        for (k, v) in r.test.sorted(by: { $0.key < $1.key }) {
            scalar("eval_epoch/\(k)", v, step: r.epoch)
            if r.fullEval { scalar("eval_epoch_full/\(k)", v, step: r.epoch) }
        }
        for (k, v) in (r.validation ?? [:]).sorted(by: { $0.key < $1.key }) { scalar("eval_epoch_valid/\(k)", v, step: r.epoch) }
        scalar("losses/epoch_mean", r.trainLoss, step: r.epoch)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        if var line = try? enc.encode(r) {
            line.append(0x0A)
            jsonl.write(line)
        }
        flush()
    }

    func flush() {
        scalars?.flush()
        try? jsonl.synchronize()
    }

    func close() {
        scalars?.close()
        try? jsonl.close()
    }
}

/// Where TensorBoard scalars go.
protocol ScalarLog: AnyObject {
    func scalar(_ tag: String, _ value: Double, step: Int)
    func flush()
    func close()
}
