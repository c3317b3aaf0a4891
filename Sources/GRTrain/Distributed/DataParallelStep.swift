import Foundation
import GRCore
import GRData
import GRModels

/// One rank's share of a data-parallel training step over a global batch.
///
/// Loss normalisation: the single-process loss is the mean over the P supervised positions of the
/// global batch (spec §4.1). A rank's `trainStep` gives the mean over its own P_r positions, so
/// its gradients (and loss) are scaled by w_r = P_r / P before the sum over ranks:
/// Σ_r w_r · (1/P_r) Σ_{p∈r} ∇ℓ_p = (1/P) Σ_p ∇ℓ_p, the single-process gradient.
/// Random draws (negatives, HSTU dropout) are indexed by global rows (`BatchPlacement`), so the
/// sum equals the single-process step up to float rounding.
public struct DataParallelShard {
    /// The rank's sequences as a model input (B_r rows, target at L_b), or nil when it has none.
    public let input: ModelInput?
    public let placement: BatchPlacement
    /// P_r / P (0 when the global batch has no supervised position).
    public let weight: Float
    /// P_r and P.
    public let positions: Int, globalPositions: Int

    /// Splits `global` (the whole batch, training input) with `BatchSplit.balanced` and keeps the
    /// share of `rank` of `worldSize`.
    public init(global: ModelInput, rank: Int, worldSize: Int) {
        let lengths = global.layout.lengths
        let supervised = BatchPlacement.supervisedCounts(global)
        let members = BatchSplit.balanced(lengths: lengths, ranks: worldSize)[rank]
        placement = BatchPlacement(members: members, globalLengths: lengths, globalSupervised: supervised)
        globalPositions = supervised.reduce(0, +)
        positions = members.reduce(0) { $0 + supervised[$1] }
        weight = globalPositions > 0 ? Float(positions) / Float(globalPositions) : 0
        input = members.isEmpty ? nil : global.selecting(members)
    }

    /// Zeroes the gradients, runs forward + backward of this share and scales the gradients by
    /// `weight`. Returns weight · (the share's mean loss): the share's part of the global loss.
    public func localGradients(model: any SequentialRecommender, step: Int, seed: UInt64) -> Float {
        let arena = model.parameters
        arena.zeroGrads()
        guard let input, positions > 0 else { return 0 }
        let loss = model.trainStep(input, step: step, seed: seed, placement: placement)
        if weight != 1 { model.backend.scale(x: arena.grads, alpha: weight, out: arena.grads, count: arena.grads.count) }
        return loss * weight
    }

    /// Like `localGradients`, with the gradient sum overlapped with the backward: each bucket of
    /// `plan` is scaled by `weight` and handed to `launch` as soon as the backward has made it
    /// final (the model's `backwardStageDone(k)` calls), in plan order. Buckets not launched when
    /// the backward returns (all of them on a rank without supervised positions, or with a model
    /// that reports no stages) are launched then, in plan order, so every rank makes the same calls
    /// in the same order. The first error thrown by `launch` stops further launches and is rethrown
    /// after the backward. Returns weight · (the share's mean loss).
    public func localGradients(model: any SequentialRecommender, step: Int, seed: UInt64, buckets plan: GradientBucketPlan,
                               launch: (GradientBucket) throws -> Void) throws -> Float {
        let arena = model.parameters, backend = model.backend
        arena.zeroGrads()
        let hasWork = input != nil && positions > 0
        var next = 0
        var failure: Error? = nil
        return try withoutActuallyEscaping(launch) { launch in
            func launchReady(afterStage k: Int) {
                while next < plan.buckets.count && plan.buckets[next].readyAfterStage <= k && failure == nil {
                    let bucket = plan.buckets[next]
                    if hasWork && weight != 1 {
                        for r in bucket.ranges {
                            let v = arena.grads.view(r.lowerBound, [r.count])
                            backend.scale(x: v, alpha: weight, out: v, count: r.count)
                        }
                    }
                    do { try launch(bucket) } catch { failure = error }
                    next += 1
                }
            }
            var loss: Float = 0
            if let input, hasWork {
                arena.backwardStageObserver = { launchReady(afterStage: $0) }
                defer { arena.backwardStageObserver = nil }
                loss = model.trainStep(input, step: step, seed: seed, placement: placement)
            }
            launchReady(afterStage: Int.max)
            if let failure { throw failure }
            return loss * weight
        }
    }
}

extension ModelInput {
    /// Rows `members` of this input, in that order.
    public func selecting(_ members: [Int]) -> ModelInput {
        let n = paddedWidth
        var ids = [Int32](), ts = [Int64]()
        ids.reserveCapacity(members.count * n)
        ts.reserveCapacity(members.count * n)
        for b in members {
            ids += self.ids[(b * n)..<((b + 1) * n)]
            ts += timestamps[(b * n)..<((b + 1) * n)]
        }
        return ModelInput(layout: JaggedLayout(lengths: members.map { layout.length($0) }), paddedWidth: n, ids: ids,
                          timestamps: ts)
    }
}

/// Data-parallel training steps through a `GradientReducer` (NCCL across processes).
///
/// With `overlap` (`--overlap` or `GR_NCCL_OVERLAP=1`; off by default, since on 2 and 4 H200s it
/// measured 0.3–1.2 ms per step slower than summing after the backward: BENCHMARKS.md) the flat gradient
/// arena is summed in the buckets of a `GradientBucketPlan` (reverse layer order, at most
/// `bucketBytes` each), each launched during the backward as soon as its gradients are final
/// (on NCCL: on a communication stream that waits for an event of the compute stream). Without
/// it the whole arena is summed after the backward in `bucketBytes` calls on the compute stream.
/// Either way `finish()` orders the optimizer step after the sums, and every rank then runs the
/// same AdamW step on the same sums, so parameters stay identical across ranks.
public final class DataParallel {
    public let reducer: any GradientReducer
    /// Bytes per all-reduce call (default 25 MiB).
    public var bucketBytes: Int
    public static let defaultBucketBytes = 25 << 20
    /// Launch each bucket's all-reduce during the backward (see the type's comment).
    public var overlap: Bool
    /// The switch `GR_NCCL_OVERLAP` (`EnvironmentSwitch`; default off).
    public static var overlapByDefault: Bool { EnvironmentSwitch.value("GR_NCCL_OVERLAP", default: false) }
    /// When set (and `sparseItems`), the item table's gradient is summed over these rows only
    /// (`SparseItemRows`: gathered, summed in `bucketBytes` calls, scattered back after `finish()`);
    /// the rest of the arena as before. Set by the trainer / bench from the training store.
    public var itemRows: SparseItemRows?
    /// False with `GR_NCCL_SPARSE_ITEMS=0`: the whole table is summed densely (the A/B switch).
    public var sparseItems: Bool = SparseItemRows.enabledByEnvironment
    private var lossBuffer: Tensor?
    private var plan: (arena: ObjectIdentifier, plan: GradientBucketPlan)?

    public init(reducer: any GradientReducer, bucketBytes: Int = DataParallel.defaultBucketBytes,
                overlap: Bool = DataParallel.overlapByDefault) {
        self.reducer = reducer
        self.bucketBytes = bucketBytes
        self.overlap = overlap
    }

    public var rank: Int { reducer.rank }
    public var worldSize: Int { reducer.worldSize }

    /// The bucket plan of `arena` for `bucketBytes` (made once, then reused).
    public func bucketPlan(_ arena: ParameterArena) -> GradientBucketPlan {
        let floats = max(1, bucketBytes / 4)
        if let p = plan, p.arena == ObjectIdentifier(arena), p.plan.bucketFloats == GradientBucketPlan.limit(floats) {
            return p.plan
        }
        let made = GradientBucketPlan(arena: arena, bucketFloats: floats)
        plan = (ObjectIdentifier(arena), made)
        return made
    }

    /// Forward + backward of this rank's share of `global`, then the sum of the scaled gradients
    /// (and of the loss) over all ranks: on return `model.parameters.grads` holds the gradient of
    /// the global batch's mean loss, which is returned (the same on every rank).
    public func trainStep(model: any SequentialRecommender, global: ModelInput, step: Int, seed: UInt64) throws -> Float {
        let shard = DataParallelShard(global: global, rank: rank, worldSize: worldSize)
        let backend = model.backend
        let grads = model.parameters.grads
        let rows = activeItemRows(model.parameters)
        let bucketFloats = max(1, bucketBytes / 4)
        let part: Float
        if overlap {
            part = try shard.localGradients(model: model, step: step, seed: seed, buckets: bucketPlan(model.parameters)) {
                try reducer.allReduceSum(grads, ranges: rows?.excludingTable($0.ranges) ?? $0.ranges)
            }
        } else {
            part = shard.localGradients(model: model, step: step, seed: seed)
            if let rows {
                for r in rows.excludingTable([0..<grads.count]) {
                    try reducer.allReduceSum(grads, offset: r.lowerBound, count: r.count, bucketFloats: bucketFloats)
                }
            } else {
                try reducer.allReduceSum(grads, offset: 0, count: grads.count, bucketFloats: bucketFloats)
            }
        }
        var compact: Tensor? = nil
        if let rows {
            rows.debugCheck(grads, backend: backend)
            let c = rows.gather(grads, backend: backend)
            try reducer.allReduceSum(c, offset: 0, count: c.count, bucketFloats: bucketFloats)
            compact = c
        }
        let lossTensor = lossBuffer ?? backend.zeros([1], .f32)
        lossBuffer = lossTensor
        backend.copy(backend.upload([part], shape: [1]), to: lossTensor)
        try reducer.allReduceSum(lossTensor, ranges: [0..<1])
        try reducer.finish()
        if let rows, let compact { rows.scatter(compact, into: grads, backend: backend) }
        return backend.download(lossTensor)[0]
    }

    /// `itemRows` when the compaction is on and the set belongs to `arena`'s item table.
    func activeItemRows(_ arena: ParameterArena) -> SparseItemRows? {
        guard sparseItems, let rows = itemRows, rows.tableRange.upperBound <= arena.count else { return nil }
        return rows
    }
}

/// W simulated ranks in one process, one after the other on one backend, summed with `axpy`: the
/// reference for the N-rank equivalence (tests on the CPU, `gr bench multi-gpu --simulate` on one
/// GPU). On return `model.parameters.grads` holds the summed gradients; returns the global loss.
/// With `overlap` each rank's buckets are added to the sum when `DataParallelShard`'s overlapped
/// backward launches them (in the middle of the backward), so a bucket launched before its
/// gradients are final gives a wrong sum here just as it would through NCCL.
public enum SimulatedDataParallel {
    public static func trainStep(model: any SequentialRecommender, global: ModelInput, step: Int, seed: UInt64,
                                 ranks: Int, overlap: Bool = false,
                                 bucketBytes: Int = DataParallel.defaultBucketBytes,
                                 itemRows: SparseItemRows? = nil) -> Float {
        let backend = model.backend, grads = model.parameters.grads
        let sum = backend.zeros(grads.shape, .f32)
        let plan = overlap ? GradientBucketPlan(arena: model.parameters, bucketFloats: max(1, bucketBytes / 4)) : nil
        // With `itemRows` the table is summed as through `DataParallel`: its set rows only, gathered.
        let compactSum = itemRows.map { backend.zeros([$0.rows.count, $0.dim], .f32) }
        func add(_ ranges: [Range<Int>]) {
            for range in itemRows?.excludingTable(ranges) ?? ranges {
                backend.axpy(alpha: 1, x: grads.view(range.lowerBound, [range.count]),
                             y: sum.view(range.lowerBound, [range.count]), count: range.count)
            }
        }
        var loss: Float = 0
        for r in 0..<ranks {
            let shard = DataParallelShard(global: global, rank: r, worldSize: ranks)
            if let plan {
                loss += try! shard.localGradients(model: model, step: step, seed: seed, buckets: plan) { add($0.ranges) }
            } else {
                loss += shard.localGradients(model: model, step: step, seed: seed)
                add([0..<grads.count])
            }
            if let itemRows, let compactSum {
                itemRows.debugCheck(grads, backend: backend)
                backend.axpy(alpha: 1, x: itemRows.gather(grads, backend: backend), y: compactSum, count: compactSum.count)
            }
        }
        backend.copy(sum, to: grads)
        if let itemRows, let compactSum { itemRows.scatter(compactSum, into: grads, backend: backend) }
        return loss
    }
}
