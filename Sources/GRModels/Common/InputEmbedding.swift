import GRCore

/// The device-side index tensors of one batch for an encoder whose R rows are positions (b, t):
/// HSTU uses the jagged rows (t < L_b), SASRec all B·N padded rows.
struct EncoderRows {
    /// i32 (R): the item id of each row (0 = padding).
    let ids: Tensor
    /// i32 (R): the position t of each row (index into the positional table).
    let positions: Tensor
    /// i64 (B, N): the padded timestamps (target timestamp at L_b).
    let timestamps: Tensor
    /// R.
    let count: Int

    /// Jagged rows: sequence b contributes positions 0..<L_b.
    static func jagged(_ input: ModelInput, backend: any Backend) -> EncoderRows {
        if let d = input.device {
            precondition(d.rowCount == input.layout.totalTokens || (d.offsets != nil && d.rowCount >= input.layout.totalTokens),
                         "device batch: \(d.rowCount) rows, not the jagged T (or a padded T_cap ≥ T)")
            return EncoderRows(ids: d.ids, positions: d.positions, timestamps: d.timestamps, count: d.rowCount)
        }
        let n = input.paddedWidth, t = input.layout.totalTokens
        var ids = [Int32](), positions = [Int32]()
        ids.reserveCapacity(t); positions.reserveCapacity(t)
        for b in 0..<input.batchSize {
            for p in 0..<input.layout.length(b) { ids.append(input.ids[b * n + p]); positions.append(Int32(p)) }
        }
        return EncoderRows(ids: backend.upload(ids, shape: [t]), positions: backend.upload(positions, shape: [t]),
                           timestamps: uploadTimestamps(input, backend: backend), count: t)
    }

    /// Dense rows: all B·N positions.
    static func dense(_ input: ModelInput, backend: any Backend) -> EncoderRows {
        if let d = input.device {
            precondition(d.rowCount == input.batchSize * input.paddedWidth, "device batch: \(d.rowCount) rows, not B·N")
            return EncoderRows(ids: d.ids, positions: d.positions, timestamps: d.timestamps, count: d.rowCount)
        }
        let n = input.paddedWidth, r = input.batchSize * n
        // 0..<N per sequence, written row by row (a `% n` per element cost ~80 µs per B 128 batch).
        let positions = [Int32](unsafeUninitializedCapacity: r) { buffer, count in
            for b in 0..<input.batchSize { for t in 0..<n { buffer[b * n + t] = Int32(t) } }
            count = r
        }
        return EncoderRows(ids: backend.upload(input.ids, shape: [r]), positions: backend.upload(positions, shape: [r]),
                           timestamps: uploadTimestamps(input, backend: backend), count: r)
    }

    /// The (B, N) timestamps as an i64 tensor: a host tensor for the CPU backend; for a device
    /// backend copied up once per batch here (with `Backend.copy`), so that the attention of every
    /// layer, forward and backward, reads the same device copy.
    static func uploadTimestamps(_ input: ModelInput, backend: any Backend) -> Tensor {
        let t = Tensor(zeros: [input.batchSize, input.paddedWidth], dtype: .i64)
        input.timestamps.withUnsafeBufferPointer { t.int64s.update(from: $0.baseAddress!, count: $0.count) }
        if backend.device == .cpu { return t }
        let d = backend.zeros(t.shape, .i64)
        backend.copy(t, to: d)
        return d
    }
}

/// The input preprocessor (spec §2.1): x⁰_t = Dropout_p(E[id_t]·√D + P[t]) · [id_t ≠ 0].
/// Dropout element index is r·D + c over the R rows (keep iff uniform ≥ p, scaled 1/(1 − p)).
enum InputEmbedding {
    /// x (R, D) overwritten.
    static func forward(_ rows: EncoderRows, table: Tensor, positions: Tensor, dim: Int, dropout p: Float,
                        stream: RowDropout?, out x: Tensor, workspace ws: Workspace, backend: any Backend) {
        let r = rows.count
        if r == 0 { return }
        backend.embeddingForward(table: table, ids: rows.ids, scale: Float(dim).squareRoot(), out: x, rows: r, dim: dim,
                                 accumulate: false)
        backend.embeddingForward(table: positions, ids: rows.positions, scale: 1, out: x, rows: r, dim: dim,
                                 accumulate: true)
        stream?.forward(x: x, out: x, rows: r, width: dim, p: p, backend: backend, workspace: ws)
        backend.maskRows(x: x, ids: rows.ids, out: x, rows: r, cols: dim)
    }

    /// dTable[id] += √D·g (row 0, the padding, gets nothing), dPositions[t] += g, with
    /// g = dropout-backward(dx ⊙ [id ≠ 0]).
    static func backward(_ rows: EncoderRows, dim: Int, dropout p: Float, stream: RowDropout?, dx: Tensor,
                         dTable: Tensor, dPositions: Tensor, workspace ws: Workspace, backend: any Backend) {
        let r = rows.count
        if r == 0 { return }
        var g = ws.tensor("input.dMasked", [r, dim])
        backend.fill(g, 0)
        backend.maskRowsBackward(dOut: dx, ids: rows.ids, dx: g, rows: r, cols: dim)
        if let s = stream {
            let kept = ws.tensor("input.dKept", [r, dim])
            backend.fill(kept, 0)
            s.backward(dOut: g, dx: kept, rows: r, width: dim, p: p, backend: backend, workspace: ws)
            g = kept
        }
        backend.embeddingBackward(dOut: g, ids: rows.ids, scale: Float(dim).squareRoot(), dTable: dTable, rows: r,
                                  dim: dim, paddingId: 0)
        backend.embeddingBackward(dOut: g, ids: rows.positions, scale: 1, dTable: dPositions, rows: r, dim: dim,
                                  paddingId: nil)
    }
}
