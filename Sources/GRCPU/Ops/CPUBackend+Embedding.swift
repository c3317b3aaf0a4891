import GRCore

extension CPUBackend {
    public func embeddingForward(table: Tensor, ids: Tensor, scale: Float, out: Tensor, rows: Int, dim: Int,
                                 accumulate: Bool) {
        precondition(table.shape.last == dim || table.count % max(dim, 1) == 0, "embedding table \(table.shape) vs dim \(dim)")
        checkIds(rows, ids); check(rows * dim, out)
        EmbeddingKernels.forward(table.floats, table.count / max(dim, 1), ids.int32s, scale, out.floats, rows, dim,
                                 accumulate)
    }
    public func embeddingBackward(dOut: Tensor, ids: Tensor, scale: Float, dTable: Tensor, rows: Int, dim: Int,
                                  paddingId: Int32?) {
        checkIds(rows, ids); check(rows * dim, dOut)
        EmbeddingKernels.backward(dOut.floats, ids.int32s, scale, dTable.floats, dTable.count / max(dim, 1), rows, dim,
                                  paddingId)
    }
}
