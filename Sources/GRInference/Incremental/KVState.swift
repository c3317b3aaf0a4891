/// One user's cached encoder state: for each of the R rows of the model's input window (positions
/// 0..<R), each layer's attention keys and values, plus the window's ids and timestamps.
///
/// Rows are computed with the serving convention (target timestamp slot = last history timestamp),
/// so the state also serves M-FALCON scoring of the same history.
public struct KVState: Sendable {
    /// The window's ids (R), oldest first.
    public var ids: [Int32] = []
    /// Their timestamps (R).
    public var timestamps: [Int64] = []
    /// Per layer: (R, keyWidth) keys, row-major.
    public var keys: [[Float]]
    /// Per layer: (R, valueWidth) values.
    public var values: [[Float]]
    /// The L2-normalised user vector (D) at the last row (empty when R = 0).
    public var userVector: [Float] = []
    public let keyWidth: Int
    public let valueWidth: Int

    public init(layers: Int, keyWidth: Int, valueWidth: Int) {
        keys = Array(repeating: [], count: layers)
        values = Array(repeating: [], count: layers)
        self.keyWidth = keyWidth
        self.valueWidth = valueWidth
    }

    /// R.
    public var rows: Int { ids.count }

    /// Approximate memory held (the cache's byte bound counts this).
    public var bytes: Int {
        let floats = keys.reduce(0) { $0 + $1.count } + values.reduce(0) { $0 + $1.count } + userVector.count
        return 4 * floats + 12 * ids.count + 128
    }

    /// Keeps rows 0..<r.
    public mutating func truncate(to r: Int) {
        precondition(r <= rows, "KVState.truncate: \(r) > \(rows) rows")
        ids.removeLast(rows - r)
        timestamps.removeLast(timestamps.count - r)
        for l in keys.indices {
            keys[l].removeLast(keys[l].count - r * keyWidth)
            values[l].removeLast(values[l].count - r * valueWidth)
        }
        userVector = []
    }
}
