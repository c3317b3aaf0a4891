import Foundation
import GRCore
import GRData
import GRModels

/// The item-table rows whose gradient can be non-zero, for an all-reduce of those rows only.
///
/// Shapes: V item-table rows, D item dim, K rows in the set (K ≤ V).
///
/// The item table's gradient is written by the input embedding's scatter (ids of the training
/// sequences; id 0, the padding, is skipped by `embeddingBackward` but included here anyway: one
/// row, and correctness then does not hang on that rule) and by the loss (positives = training ids,
/// negatives drawn from the corpus). So with `ids` = every id of the training store ∪ the corpus ∪
/// {0}, a row outside the set has a zero gradient on every rank and its sum is zero: summing only
/// the K set rows (gathered into a contiguous (K, D) buffer, summed, scattered back into the
/// zeroed table gradient) gives the dense all-reduce's values (sum of zeros is zero; a −0 sum
/// comes back as +0). Debug builds check that every non-zero gradient row is in the set
/// (`uncoveredRows`). The set is the same on every rank (made from the same store before training)
/// and sorted. Through NCCL with more than 2 ranks the order in which a float's addends are summed
/// may depend on where it lies in the buffer (ring chunks), so there the sums agree with the dense
/// path up to float rounding; 2 ranks (a + b = b + a) and simulated ranks are bit-identical.
public final class SparseItemRows {
    /// Sorted, unique row ids (0..<V).
    public let rows: [Int32]
    /// Float offset of the item table in the arena, V and D.
    public let tableOffset: Int, tableRows: Int, dim: Int
    /// Compaction is skipped (nil from `init`) when the set holds more than this share of the rows.
    public static let maxCoveredFraction = 0.7
    private var idsTensor: Tensor?
    private var buffer: Tensor?

    /// False when the environment sets `GR_NCCL_SPARSE_ITEMS=0` (or `off` / `false` / `no`).
    public static var enabledByEnvironment: Bool {
        EnvironmentSwitch.value("GR_NCCL_SPARSE_ITEMS", default: true)
    }

    /// The set `ids` ∪ {0} for the item table of `arena`; nil when the arena has no item table or
    /// the set covers more than `maxCoveredFraction` of its rows (then the dense sum is as cheap).
    /// Ids outside 0..<V are a precondition failure.
    public init?(ids: some Sequence<Int32>, arena: ParameterArena, maxCoveredFraction: Double = SparseItemRows.maxCoveredFraction) {
        guard arena.contains(ParameterNames.itemEmbedding),
              let e = arena.entries.first(where: { $0.name == ParameterNames.itemEmbedding }), e.shape.count == 2 else { return nil }
        let v = e.shape[0]
        var seen = [Bool](repeating: false, count: v)
        seen[0] = true
        for id in ids {
            precondition(id >= 0 && Int(id) < v, "SparseItemRows: id \(id) outside the item table's \(v) rows")
            seen[Int(id)] = true
        }
        let rows = seen.indices.filter { seen[$0] }.map(Int32.init)
        guard Double(rows.count) <= maxCoveredFraction * Double(v) else { return nil }
        self.rows = rows
        tableOffset = e.offset; tableRows = v; dim = e.shape[1]
    }

    /// The set for training on `store`: every id of its sequences ∪ its corpus (the negatives') ∪ {0}.
    public convenience init?(store: SequenceStore, arena: ParameterArena) {
        var ids = store.corpus
        for u in 0..<store.userCount { ids += store.items(u) }
        self.init(ids: ids, arena: arena)
    }

    /// Floats of the item table (dense) and of the compacted buffer.
    public var denseFloats: Int { tableRows * dim }
    public var compactFloats: Int { rows.count * dim }
    /// Floats summed per step for an arena of `arenaCount` floats: the arena without the table,
    /// plus the compact buffer.
    public func summedFloats(arenaCount: Int) -> Int { arenaCount - denseFloats + compactFloats }
    /// The table's float range in the arena.
    public var tableRange: Range<Int> { tableOffset..<(tableOffset + denseFloats) }

    /// `ranges` with the item table's floats taken out (the rest is summed densely).
    public func excludingTable(_ ranges: [Range<Int>]) -> [Range<Int>] {
        let t = tableRange
        return ranges.flatMap { r -> [Range<Int>] in
            let below = r.lowerBound..<max(r.lowerBound, min(r.upperBound, t.lowerBound))
            let above = min(r.upperBound, max(r.lowerBound, t.upperBound))..<r.upperBound
            return [below, above].filter { !$0.isEmpty }
        }
    }

    /// The (K, D) buffer (made once on `backend`) and the row ids as an i32 tensor.
    private func tensors(_ backend: any Backend) -> (ids: Tensor, buffer: Tensor) {
        if let i = idsTensor, let b = buffer { return (i, b) }
        let i = backend.upload(rows, shape: [rows.count]), b = backend.zeros([rows.count, dim], .f32)
        idsTensor = i; buffer = b
        return (i, b)
    }

    /// Copies the set rows of the table gradient in `grads` (the arena's gradients) into the
    /// compact buffer and returns it: (K, D), row k = table row `rows[k]`.
    public func gather(_ grads: Tensor, backend: any Backend) -> Tensor {
        let (ids, buf) = tensors(backend)
        backend.embeddingForward(table: grads.view(tableOffset, [tableRows, dim]), ids: ids, scale: 1, out: buf,
                                 rows: rows.count, dim: dim, accumulate: false)
        return buf
    }

    /// Zeroes the table gradient in `grads` and writes the (K, D) `summed` rows back to their rows.
    public func scatter(_ summed: Tensor, into grads: Tensor, backend: any Backend) {
        let table = grads.view(tableOffset, [tableRows, dim])
        backend.fill(table, 0)
        backend.embeddingBackward(dOut: summed, ids: tensors(backend).ids, scale: 1, dTable: table, rows: rows.count,
                                  dim: dim, paddingId: nil)
    }

    /// Rows of the table gradient in `grads` outside the set that hold a non-zero value (downloads
    /// the table: for tests and debug checks). Empty when the set is sound for this gradient.
    public func uncoveredRows(_ grads: Tensor, backend: any Backend) -> [Int] {
        let table = backend.download(grads.view(tableOffset, [tableRows, dim]))
        var inSet = [Bool](repeating: false, count: tableRows)
        for r in rows { inSet[Int(r)] = true }
        return (0..<tableRows).filter { r in !inSet[r] && table[(r * dim)..<((r + 1) * dim)].contains { $0 != 0 } }
    }

    /// Debug builds: stops when a non-zero gradient row lies outside the set.
    func debugCheck(_ grads: Tensor, backend: any Backend) {
        #if DEBUG
        let bad = uncoveredRows(grads, backend: backend)
        precondition(bad.isEmpty, "SparseItemRows: item-table gradient rows \(bad.prefix(8)) are non-zero but outside the all-reduced row set")
        #endif
    }
}
