import GRCore

/// A dropout stream for a (rows, W) contiguous tensor, optionally indexed by global rows.
///
/// Without `globalRows` the mask element (r, c) is `stream.uniform(r·W + c)` (the backend's own
/// `dropoutForward`). With `globalRows` (a rank's share of a data-parallel batch, see
/// `BatchPlacement`) it is `stream.uniform(globalRows[r]·W + c)`: the scaled mask of the whole
/// global batch (G_rows, W) is drawn by `dropoutForward` on ones, its rows gathered with
/// `embeddingForward`, and applied with `mulForward` — bit-identical values to the unsplit batch
/// (x·(1/(1−p)) either way), at the cost of drawing the global mask on every rank.
struct RowDropout {
    let stream: PhiloxStream
    /// i32 (rows): global row of each local row, and the global row count.
    let globalRows: (ids: Tensor, count: Int)?

    init(_ stream: PhiloxStream, globalRows: (ids: Tensor, count: Int)? = nil) {
        self.stream = stream
        self.globalRows = globalRows
    }

    /// out = dropout(x) on (rows, width) contiguous tensors; out may alias x.
    func forward(x: Tensor, out: Tensor, rows: Int, width: Int, p: Float, backend: any Backend, workspace ws: Workspace) {
        guard let map = globalRows else {
            backend.dropoutForward(x: x, out: out, count: rows * width, p: p, stream: stream)
            return
        }
        let mask = localMask(rows: rows, width: width, p: p, map: map, backend: backend, workspace: ws)
        backend.mulForward(a: x, lda: width, b: mask, ldb: width, out: out, ldo: width, rows: rows, cols: width)
    }

    /// dx += dropout-backward(dOut) (the forward's mask and scale).
    func backward(dOut: Tensor, dx: Tensor, rows: Int, width: Int, p: Float, backend: any Backend, workspace ws: Workspace) {
        guard let map = globalRows else {
            backend.dropoutBackward(dOut: dOut, dx: dx, count: rows * width, p: p, stream: stream)
            return
        }
        let mask = localMask(rows: rows, width: width, p: p, map: map, backend: backend, workspace: ws)
        backend.mulBackward(dOut: dOut, ldo: width, a: mask, lda: width, b: mask, ldb: width, da: dx, db: nil,
                            rows: rows, cols: width)
    }

    /// (rows, width): rows `map.ids` of the global scaled mask (0 or 1/(1−p)).
    private func localMask(rows: Int, width: Int, p: Float, map: (ids: Tensor, count: Int), backend: any Backend,
                           workspace ws: Workspace) -> Tensor {
        let global = ws.tensor("dropout.globalMask", [map.count, width])
        backend.fill(global, 1)
        backend.dropoutForward(x: global, out: global, count: map.count * width, p: p, stream: stream)
        let local = ws.tensor("dropout.localMask", [rows, width])
        backend.embeddingForward(table: global, ids: map.ids, scale: 1, out: local, rows: rows, dim: width,
                                 accumulate: false)
        return local
    }
}
