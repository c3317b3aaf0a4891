import GRCore
import GRCUDA
import GRModels

/// `gr cuda train-parity`'s check of the device-assembled batches: every tensor of
/// `DeviceBatchSource.input(users:)` against what the host path builds from the same
/// `SequenceBatch` (`ModelInput(batch:)`, `EncoderRows`, `AutoregressiveLoss`), bit for bit.
enum DeviceBatchParity {
    /// The names of the tensors that differ (empty: identical).
    static func mismatches(device: ModelInput, host: ModelInput, dense: Bool, gpu: CUDABackend) -> [String] {
        guard let d = device.device else { return ["no device batch"] }
        let n = host.paddedWidth, layout = host.layout
        var ids = [Int32](), positions = [Int32](), positives = [Int32](), rows = [Int32]()
        for b in 0..<layout.batchSize {
            for p in 0..<(dense ? n : layout.length(b)) {
                ids.append(host.ids[b * n + p]); positions.append(Int32(p))
            }
        }
        for b in 0..<layout.batchSize {
            for p in 0..<layout.length(b) {
                positives.append(host.ids[b * n + p + 1])
                rows.append(Int32(dense ? b * n + p : layout.start(b) + p))
            }
        }
        let ts = gpu.toHost(d.timestamps)
        let deviceTimes = Array(UnsafeBufferPointer(start: ts.int64s, count: ts.count))
        var out: [String] = []
        if device.layout.lengths != layout.lengths { out.append("lengths") }
        if gpu.downloadInt32(d.ids) != ids { out.append("ids") }
        if gpu.downloadInt32(d.positions) != positions { out.append("positions") }
        if deviceTimes != host.timestamps { out.append("timestamps") }
        if gpu.downloadInt32(d.positives) != positives { out.append("positives") }
        if gpu.downloadInt32(d.rows) != rows { out.append("rows") }
        return out
    }
}
