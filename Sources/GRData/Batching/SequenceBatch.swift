import GRCore

/// One batch of samples (spec §1.4): per user a history of L_b ≤ maxLength items (oldest first,
/// the newest kept) and a target, stored jagged (values + offsets) with padded views on demand.
public struct SequenceBatch: Sendable {
    /// `gr_output_length` of the reference (gin default 10); spec §1.4.
    public static let outputLength = 10
    /// Extra padding columns after max_sequence_length: gr_output_length + 1 = 11 (spec §1.4).
    public static let extraPadding = outputLength + 1

    /// B store user indices.
    public let users: [Int]
    /// History lengths L_b (offsets into `historyIds`).
    public let layout: JaggedLayout
    /// T ids, jagged, oldest first.
    public let historyIds: [Int32]
    /// T unix-second timestamps.
    public let historyTimestamps: [Int64]
    /// T ratings (not a model input; may be empty when built by hand).
    public let historyRatings: [Float]
    /// B target ids.
    public let targetIds: [Int32]
    /// B target timestamps.
    public let targetTimestamps: [Int64]
    /// B target ratings.
    public let targetRatings: [Float]
    /// max_sequence_length: 200 MovieLens, 50 Books.
    public let maxLength: Int

    public init(users: [Int], layout: JaggedLayout, historyIds: [Int32], historyTimestamps: [Int64],
                historyRatings: [Float] = [], targetIds: [Int32], targetTimestamps: [Int64], targetRatings: [Float],
                maxLength: Int) {
        precondition(layout.batchSize == users.count && historyIds.count == layout.totalTokens
            && historyTimestamps.count == historyIds.count && targetIds.count == users.count
            && targetTimestamps.count == users.count && targetRatings.count == users.count)
        precondition(layout.lengths.allSatisfy { $0 <= maxLength }, "history longer than maxLength")
        self.users = users
        self.layout = layout
        self.historyIds = historyIds
        self.historyTimestamps = historyTimestamps
        self.historyRatings = historyRatings
        self.targetIds = targetIds
        self.targetTimestamps = targetTimestamps
        self.targetRatings = targetRatings
        self.maxLength = maxLength
    }

    /// B.
    public var batchSize: Int { users.count }
    /// N = maxLength + 11.
    public var paddedWidth: Int { maxLength + Self.extraPadding }

    /// The history ids of sample `b` (for seen-item filtering, spec §6.1: the truncated history).
    public func history(_ b: Int) -> ArraySlice<Int32> { historyIds[layout.start(b) ..< layout.start(b) + layout.length(b)] }

    /// (B, N) ids, row b = [h_1 … h_L, 0, …]; with `includeTarget` (the training input, spec §1.4)
    /// the target id is written at index L_b: [h_1 … h_L, target, 0, …].
    public func paddedIds(includeTarget: Bool) -> [Int32] {
        let n = paddedWidth
        var out = [Int32](repeating: 0, count: batchSize * n)
        for b in 0..<batchSize {
            let s = layout.start(b), l = layout.length(b)
            for i in 0..<l { out[b * n + i] = historyIds[s + i] }
            if includeTarget { out[b * n + l] = targetIds[b] }
        }
        return out
    }

    /// (B, N) timestamps, row b = [t_1 … t_L, target timestamp, 0, …]: the target timestamp is
    /// always at index L_b (train and eval, spec §1.4) for HSTU's time bias.
    public func paddedTimestamps() -> [Int64] {
        let n = paddedWidth
        var out = [Int64](repeating: 0, count: batchSize * n)
        for b in 0..<batchSize {
            let s = layout.start(b), l = layout.length(b)
            for i in 0..<l { out[b * n + i] = historyTimestamps[s + i] }
            out[b * n + l] = targetTimestamps[b]
        }
        return out
    }
}
