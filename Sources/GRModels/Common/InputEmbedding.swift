import Foundation
import GRCore

/// The input preprocessor (spec §2.1): x⁰_t = Dropout_p(E[id_t]·√D + P[t]) · [id_t ≠ 0].
///
/// `rows` maps each output row r to (sequence b, position t); the row's id is ids[b·N + t]. HSTU
/// uses the jagged rows (t < L_b only), SASRec all B·N padded rows. Dropout element index is
/// r·D + c within `stream` (keep iff uniform ≥ p, scaled 1/(1 − p)).
enum InputEmbedding {
    /// x (R, D) overwritten.
    static func forward(ids: [Int32], rows: [(b: Int, t: Int)], n: Int, table: Tensor, positions: Tensor,
                        dim: Int, dropout p: Float, stream: PhiloxStream?, out x: Tensor) {
        let ep = table.floats, pp = positions.floats, xp = x.floats
        let scale = Float(dim).squareRoot()
        for (r, bt) in rows.enumerated() {
            let id = Int(ids[bt.b * n + bt.t])
            let dst = xp + r * dim
            if id == 0 {
                for c in 0..<dim { dst[c] = 0 }
                continue
            }
            for c in 0..<dim { dst[c] = ep[id * dim + c] * scale + pp[bt.t * dim + c] }
        }
        if let s = stream { K.dropout(x, count: rows.count * dim, p: p, stream: s) }
    }

    /// dTable[id] += √D·g, dPositions[t] += g with g = dropout-backward(dx)·[id ≠ 0]; row 0 of the
    /// table (padding) gets nothing. `dx` is modified (the dropout backward runs in place).
    static func backward(ids: [Int32], rows: [(b: Int, t: Int)], n: Int, dim: Int, dropout p: Float,
                         stream: PhiloxStream?, dx: Tensor, dTable: Tensor, dPositions: Tensor) {
        if let s = stream { K.dropout(dx, count: rows.count * dim, p: p, stream: s) }
        let gp = dx.floats, dep = dTable.floats, dpp = dPositions.floats
        let scale = Float(dim).squareRoot()
        for (r, bt) in rows.enumerated() {
            let id = Int(ids[bt.b * n + bt.t])
            if id == 0 { continue }
            for c in 0..<dim {
                let g = gp[r * dim + c]
                dep[id * dim + c] += scale * g
                dpp[bt.t * dim + c] += g
            }
        }
    }
}
