import GRCore

/// The resident events of `BatchAssemblyOps`: every user's items and timestamps, concatenated.
final class CUDAResidentEvents {
    let items: Tensor
    let times: Tensor
    init(items: Tensor, times: Tensor) { self.items = items; self.times = times }
}

extension CUDABackend: BatchAssemblyOps {
    public func residentEvents(items: UnsafeBufferPointer<Int32>, timestamps: UnsafeBufferPointer<Int64>) -> AnyObject {
        precondition(items.count == timestamps.count, "resident events: \(items.count) items, \(timestamps.count) timestamps")
        let i = empty([max(items.count, 1)], .i32), t = empty([max(timestamps.count, 1)], .i64)
        if items.count > 0 {
            context.copyToDevice(i.devicePointer, UnsafeRawPointer(items.baseAddress!), items.count * 4)
            context.copyToDevice(t.devicePointer, UnsafeRawPointer(timestamps.baseAddress!), timestamps.count * 8)
        }
        return CUDAResidentEvents(items: i, times: t)
    }

    /// One upload of 3·B i64 window coordinates, one kernel (`gr_assemble_batch`).
    public func assembleTrainingBatch(events: AnyObject, first: [Int], layout: JaggedLayout, paddedWidth n: Int,
                                      dense: Bool) -> DeviceBatch {
        guard let ev = events as? CUDAResidentEvents else { preconditionFailure("assembleTrainingBatch: events from another backend") }
        let B = layout.batchSize, T = layout.totalTokens
        precondition(first.count == B, "assembleTrainingBatch: \(first.count) windows for B \(B)")
        var window = [Int64](repeating: 0, count: 3 * B)
        for b in 0..<B {
            precondition(layout.length(b) < n, "sequence \(b): length \(layout.length(b)) leaves no room for the target in N = \(n)")
            window[3 * b] = Int64(first[b]); window[3 * b + 1] = Int64(layout.length(b)); window[3 * b + 2] = Int64(layout.start(b))
        }
        let w = empty([max(3 * B, 1)], .i64)
        window.withUnsafeBytes { if $0.count > 0 { context.copyToDevice(w.devicePointer, $0.baseAddress!, $0.count) } }
        let r = dense ? B * n : T
        let ids = empty([max(r, 1)], .i32), positions = empty([max(r, 1)], .i32)
        let ts = empty([B, n], .i64)
        let positives = empty([max(T, 1)], .i32), rows = empty([max(T, 1)], .i32)
        context.launch("gr_assemble_batch", blocks: B, block: 256,
                       [.ptr(ev.items), .ptr(ev.times), .ptr(w), .i(n), .i(dense ? 1 : 0), .ptr(ids), .ptr(positions),
                        .ptr(ts), .ptr(positives), .ptr(rows)])
        return DeviceBatch(ids: ids.view(0, [r]), positions: positions.view(0, [r]), timestamps: ts,
                           positives: positives.view(0, [T]), rows: rows.view(0, [T]), rowCount: r)
    }
}
