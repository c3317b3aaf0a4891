/// The jagged (ragged) layout of a batch of sequences: the tokens of all sequences stacked in
/// batch order, oldest first, with `offsets[b] ..< offsets[b+1]` the rows of sequence b
/// (like FlashAttention's `cu_seqlens`). No padding rows, so no padding FLOPs.
public struct JaggedLayout: Sendable, Equatable {
    /// B + 1 cumulative lengths, offsets[0] == 0.
    public let offsets: [Int32]

    public init(offsets: [Int32]) {
        precondition(offsets.first == 0, "jagged offsets must start at 0")
        for i in 1..<max(offsets.count, 1) where offsets[i] < offsets[i - 1] {
            preconditionFailure("jagged offsets must be non-decreasing (index \(i))")
        }
        self.offsets = offsets
    }

    public init(lengths: [Int]) {
        var o: [Int32] = [0]
        o.reserveCapacity(lengths.count + 1)
        for l in lengths { o.append(o.last! + Int32(l)) }
        self.init(offsets: o)
    }

    /// B.
    public var batchSize: Int { offsets.count - 1 }
    /// T: total tokens.
    public var totalTokens: Int { Int(offsets.last ?? 0) }
    public func length(_ b: Int) -> Int { Int(offsets[b + 1] - offsets[b]) }
    public func start(_ b: Int) -> Int { Int(offsets[b]) }
    public var lengths: [Int] { (0..<batchSize).map(length) }
    public var maxLength: Int { lengths.max() ?? 0 }
}
