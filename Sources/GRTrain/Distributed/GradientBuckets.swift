import GRModels

/// One all-reduce call's share of the flat gradient arena: float ranges (ascending, adjacent ones
/// merged) and the backward stage after which all of them are final.
public struct GradientBucket: Equatable, Sendable {
    /// Float ranges of the arena, ascending and non-adjacent.
    public var ranges: [Range<Int>]
    /// Index into `ParameterArena.backwardStages` (== stages.count: final only after `trainStep`).
    public var readyAfterStage: Int
    /// Floats in the bucket.
    public var count: Int { ranges.reduce(0) { $0 + $1.count } }
}

/// The gradient arena cut into all-reduce buckets in the order the backward makes them final
/// (reverse layer order: the last layer's gradients first, the input embedding's — item table
/// included — last), so that each bucket's sum can start while the backward still runs.
///
/// Rules (tested in `DistributedBucketTests`):
/// * The parameters are walked stage by stage (`ParameterArena.backwardStages`; parameters named
///   by no stage come after the last one), within a stage from the highest arena offset down, so
///   for HSTU the walk is one downward sweep of the arena and every bucket is one contiguous range.
/// * A parameter's span is its floats plus the alignment padding after it, so the buckets cover
///   the arena exactly once.
/// * A bucket never mixes stages: the open bucket is closed where the walk enters the next stage,
///   so each layer's gradients are summed right after that layer's backward, while the earlier
///   layers' backward runs (at ML-20M shape an HSTU-large layer is 1.25 MiB: one bucket per layer,
///   then the positional table, then the item table's chunks). Merging layers into 25 MiB buckets
///   would hold their sums back until the last layer of the bucket — with the positional table,
///   final only at the end, until after the whole backward.
/// * A parameter joins the open bucket when it fits in what is left of `bucketFloats`; otherwise
///   the bucket is closed and the parameter starts the next one, so a parameter no larger than
///   the limit lies in exactly one bucket. A parameter larger than the limit (the item table)
///   is cut, from its top end down, into limit-sized chunks, each filling a bucket of its own;
///   its last (lowest) chunk is the open bucket that later parameters of its stage may join.
/// * No bucket holds more than `bucketFloats` floats (rounded down to the arena's 16-float
///   alignment, at least 16), so every range starts on a 64-byte boundary.
/// * A bucket is ready after its stage; readiness increases along the plan, so launching buckets
///   in plan order as stages complete is in order on every rank.
public struct GradientBucketPlan: Equatable, Sendable {
    public let buckets: [GradientBucket]
    /// The limit the plan was made with (floats).
    public let bucketFloats: Int
    /// Number of backward stages (a bucket with readyAfterStage == stageCount waits for the end).
    public let stageCount: Int

    public init(arena: ParameterArena, bucketFloats requested: Int) {
        let limit = Self.limit(requested)
        let entries = arena.entries
        let spans: [Range<Int>] = entries.indices.map { i in
            entries[i].offset..<(i + 1 < entries.count ? entries[i + 1].offset : arena.count)
        }
        var stageOf = [Int](repeating: arena.backwardStages.count, count: entries.count)
        let position = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
        for (k, names) in arena.backwardStages.enumerated() {
            for name in names {
                guard let i = position[name] else { preconditionFailure("backward stage \(k) names unknown parameter \(name)") }
                precondition(stageOf[i] == arena.backwardStages.count, "parameter \(name) is in two backward stages")
                stageOf[i] = k
            }
        }
        // Stage order, then descending offset within a stage.
        let order = entries.indices.sorted { stageOf[$0] != stageOf[$1] ? stageOf[$0] < stageOf[$1] : $0 > $1 }

        var buckets: [GradientBucket] = []
        var open: [Range<Int>] = [], openCount = 0, openStage = 0
        func close() {
            guard openCount > 0 else { return }
            buckets.append(GradientBucket(ranges: Self.merged(open), readyAfterStage: openStage))
            open = []; openCount = 0; openStage = 0
        }
        func add(_ r: Range<Int>, stage: Int) {
            open.append(r); openCount += r.count; openStage = max(openStage, stage)
        }
        for i in order {
            var span = spans[i]
            if span.isEmpty { continue }
            if openCount > 0 && (openStage != stageOf[i] || openCount + span.count > limit) { close() }
            while span.count > limit {   // only for a parameter larger than the limit
                add((span.upperBound - limit)..<span.upperBound, stage: stageOf[i])
                close()
                span = span.lowerBound..<(span.upperBound - limit)
            }
            add(span, stage: stageOf[i])
        }
        close()
        self.buckets = buckets
        bucketFloats = limit
        stageCount = arena.backwardStages.count
    }

    /// The bucket size used for a requested one: rounded down to the arena alignment, at least one
    /// alignment unit.
    public static func limit(_ requestedFloats: Int) -> Int {
        let align = ParameterArena.alignment
        return max(align, requestedFloats / align * align)
    }

    /// Sorted ranges with touching neighbours joined.
    static func merged(_ ranges: [Range<Int>]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, last.upperBound == r.lowerBound {
                out[out.count - 1] = last.lowerBound..<r.upperBound
            } else {
                out.append(r)
            }
        }
        return out
    }
}
