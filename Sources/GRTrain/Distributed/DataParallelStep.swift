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
/// The flat gradient arena is summed in buckets of `bucketBytes` after the whole backward (the
/// model's backward is one call, so the all-reduce is not overlapped with it), then every rank
/// runs the same AdamW step on the same sums, so parameters stay identical across ranks.
public final class DataParallel {
    public let reducer: any GradientReducer
    /// Bytes per all-reduce call (default 25 MiB).
    public var bucketBytes: Int
    public static let defaultBucketBytes = 25 << 20
    private var lossBuffer: Tensor?

    public init(reducer: any GradientReducer, bucketBytes: Int = DataParallel.defaultBucketBytes) {
        self.reducer = reducer
        self.bucketBytes = bucketBytes
    }

    public var rank: Int { reducer.rank }
    public var worldSize: Int { reducer.worldSize }

    /// Forward + backward of this rank's share of `global`, then the sum of the scaled gradients
    /// (and of the loss) over all ranks: on return `model.parameters.grads` holds the gradient of
    /// the global batch's mean loss, which is returned (the same on every rank).
    public func trainStep(model: any SequentialRecommender, global: ModelInput, step: Int, seed: UInt64) throws -> Float {
        let shard = DataParallelShard(global: global, rank: rank, worldSize: worldSize)
        let part = shard.localGradients(model: model, step: step, seed: seed)
        let backend = model.backend
        let grads = model.parameters.grads
        try reducer.allReduceSum(grads, offset: 0, count: grads.count, bucketFloats: max(1, bucketBytes / 4))
        let lossTensor = lossBuffer ?? backend.zeros([1], .f32)
        lossBuffer = lossTensor
        backend.copy(backend.upload([part], shape: [1]), to: lossTensor)
        try reducer.allReduceSum(lossTensor, offset: 0, count: 1, bucketFloats: 1)
        try reducer.finish()
        return backend.download(lossTensor)[0]
    }
}

/// W simulated ranks in one process, one after the other on one backend, summed with `axpy`: the
/// reference for the N-rank equivalence (tests on the CPU, `gr bench multi-gpu --simulate` on one
/// GPU). On return `model.parameters.grads` holds the summed gradients; returns the global loss.
public enum SimulatedDataParallel {
    public static func trainStep(model: any SequentialRecommender, global: ModelInput, step: Int, seed: UInt64,
                                 ranks: Int) -> Float {
        let backend = model.backend, grads = model.parameters.grads
        let sum = backend.zeros(grads.shape, .f32)
        var loss: Float = 0
        for r in 0..<ranks {
            let shard = DataParallelShard(global: global, rank: r, worldSize: ranks)
            loss += shard.localGradients(model: model, step: step, seed: seed)
            backend.axpy(alpha: 1, x: grads, y: sum, count: grads.count)
        }
        backend.copy(sum, to: grads)
        return loss
    }
}
