import GRCore

/// A padded jagged batch (GRTrain `StepGraphRunner`'s HSTU capacity buckets): the encoder runs
/// on T_cap ≥ T rows, rows T..<T_cap are padding that belongs to no sequence (id 0, position 0).
/// They stay inert: the input embedding zeroes them (id 0), attention never reads or writes them
/// (it walks the sequences of the B + 1 offsets), the loss supervises only real rows and writes
/// zero d(outputs) on the others, so every upstream gradient of a padding row is exactly zero —
/// except attention's dQ, dK, dV, which attention leaves unwritten there (stale): `maskGradients`
/// zeroes them. So padding adds nothing to any parameter gradient (docs/cuda.md "HSTU step graphs").
struct HSTUPadding {
    /// i32 (B + 1): the real offsets, read when attention runs (a replayed graph's batch).
    let offsets: Tensor
    /// i32 (T_cap): the rows' ids, 0 exactly on padding rows (store ids are ≥ 1).
    let ids: Tensor

    /// From a padded device batch (`DeviceBatch.offsets` set), else nil.
    init?(_ input: ModelInput) {
        guard let d = input.device, let offsets = d.offsets else { return nil }
        self.offsets = offsets
        ids = d.ids
    }

    /// Runs attention over the real sequences as they are when it runs: a device backend reads the
    /// bound offsets (`StepGraphOps.bindJaggedOffsets`); the CPU reads the offsets tensor now.
    func attention(_ layout: JaggedLayout, backend: any Backend, _ body: (JaggedLayout) -> Void) {
        if offsets.device == .cpu {
            return body(JaggedLayout(offsets: Array(UnsafeBufferPointer(start: offsets.int32s, count: offsets.count))))
        }
        guard let ops = backend as? StepGraphOps else {
            preconditionFailure("padded HSTU batch on the \(backend.device) backend, which cannot bind offsets")
        }
        ops.bindJaggedOffsets(offsets)
        defer { ops.bindJaggedOffsets(nil) }
        body(layout)
    }

    /// Zeroes the padding rows of `dAct` (T_cap, width): attention's dQ, dK, dV are not written there.
    func maskGradients(_ dAct: Tensor, rows: Int, width: Int, backend: any Backend) {
        backend.maskRows(x: dAct, ids: ids, out: dAct, rows: rows, cols: width)
    }
}
