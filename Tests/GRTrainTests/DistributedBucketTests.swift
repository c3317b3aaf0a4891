import Foundation
import GRCore
import GRCPU
import GRData
import GRModels
@testable import GRTrain
import XCTest

/// Inputs shared by the data-parallel tests.
enum DistributedFixtures {
    /// A global batch of `b` sequences with ragged lengths (target at L_b).
    static func batch(_ b: Int, items: Int, n: Int, maxLength: Int, seed: UInt64) -> ModelInput {
        let s = PhiloxStream(seed: seed, stream: 1)
        let lengths = (0..<b).map { 1 + s.below(maxLength, UInt64($0)) }
        var ids = [Int32](repeating: 0, count: b * n), ts = [Int64](repeating: 0, count: b * n)
        for r in 0..<b {
            for t in 0...lengths[r] {
                ids[r * n + t] = Int32(1 + s.below(items, UInt64(1000 + r * n + t)))
                ts[r * n + t] = 1_000_000 + Int64(t * 3600 + r * 7)
            }
        }
        return ModelInput(layout: JaggedLayout(lengths: lengths), paddedWidth: n, ids: ids, timestamps: ts)
    }

    /// A tiny CPU model of `kind` (HSTU with dropout; SASRec without, its attention dropout being
    /// rank-local) over items 1...40 (table rows 0...maxItemId).
    static func model(_ kind: String, blocks: Int = 2, seed: UInt64 = 11, maxItemId: Int = 40) throws -> any SequentialRecommender {
        var c = TrainConfig()
        let dropout = kind == "hstu" ? ["input_dropout=0.2", "block_dropout=0.3"] : ["input_dropout=0", "block_dropout=0"]
        try ConfigFile.applyOverrides(TinyStore.shrink + ["kind=\(kind)", "blocks=\(blocks)", "heads=2"] + dropout, to: &c)
        return makeModel(c.modelConfig, maxItemId: maxItemId, corpus: (1...40).map { $0 }, backend: CPUBackend(), seed: seed)
    }

    /// One `trainStep` (step 1, seed 9) of `dps[r]` on `models[r]` per rank, each on a thread of its
    /// own (a pool the size of the CPU count could leave a rank unscheduled while the others wait for
    /// it in the reducer); returns the ranks' losses (NaN for a rank that threw).
    static func trainOnThreads(_ dps: [DataParallel], models: [any SequentialRecommender], global: ModelInput) -> [Float] {
        final class Losses: @unchecked Sendable { var values: [Float] = [] }
        let losses = Losses()
        losses.values = [Float](repeating: .nan, count: dps.count)
        let lock = NSLock(), done = DispatchGroup()
        for r in dps.indices {
            done.enter()
            Thread.detachNewThread {
                let l = try? dps[r].trainStep(model: models[r], global: global, step: 1, seed: 9)
                lock.lock(); losses.values[r] = l ?? .nan; lock.unlock()
                done.leave()
            }
        }
        done.wait()
        return losses.values
    }

    static func batch(for model: any SequentialRecommender, _ b: Int = 7) -> ModelInput {
        batch(b, items: 40, n: model.config.paddedWidth, maxLength: model.config.maxSequenceLength, seed: 4)
    }
}

/// The overlapped all-reduce: the bucket plan (reverse layer order, coverage, limits), the
/// models' backward-stage reports, and the sums with overlap on against one process.
final class DistributedBucketTests: XCTestCase {
    /// Checks the plan rules of `GradientBucketPlan` on `arena`; returns the plan.
    @discardableResult
    func checkPlan(_ arena: ParameterArena, bucketFloats: Int, _ what: String) -> GradientBucketPlan {
        let plan = GradientBucketPlan(arena: arena, bucketFloats: bucketFloats)
        let limit = plan.bucketFloats
        XCTAssertEqual(limit % ParameterArena.alignment, 0)
        XCTAssertLessThanOrEqual(limit, max(bucketFloats, ParameterArena.alignment))
        // Every float in exactly one bucket; sizes within the limit; 64-byte aligned ranges.
        var owner = [Int](repeating: -1, count: arena.count)
        for (b, bucket) in plan.buckets.enumerated() {
            XCTAssertGreaterThan(bucket.count, 0, what)
            XCTAssertLessThanOrEqual(bucket.count, limit, "\(what): bucket \(b)")
            XCTAssertEqual(bucket.ranges, bucket.ranges.sorted { $0.lowerBound < $1.lowerBound }, what)
            for r in bucket.ranges {
                XCTAssertEqual(r.lowerBound % ParameterArena.alignment, 0, what)
                for i in r {
                    XCTAssertEqual(owner[i], -1, "\(what): float \(i) in buckets \(owner[i]) and \(b)")
                    owner[i] = b
                }
            }
        }
        XCTAssertFalse(owner.contains(-1), "\(what): a float in no bucket")
        // Readiness never decreases along the plan.
        let ready = plan.buckets.map(\.readyAfterStage)
        XCTAssertEqual(ready, ready.sorted(), what)
        // Each parameter: within one bucket when it fits the limit, else in consecutive buckets of
        // its own chunks; the bucket is ready after the parameter's stage.
        let stageOf: [String: Int] = Dictionary(uniqueKeysWithValues: arena.backwardStages.enumerated().flatMap { k, names in
            names.map { ($0, k) }
        })
        for e in arena.entries {
            let n = e.shape.reduce(1, *)
            let holders = Set(owner[e.offset..<(e.offset + n)])
            if n <= limit {
                XCTAssertEqual(holders.count, 1, "\(what): \(e.name) (\(n) floats) split over buckets \(holders.sorted())")
            } else {
                XCTAssertEqual(holders.sorted(), Array(holders.min()!...holders.max()!), "\(what): \(e.name) chunks not consecutive")
            }
            for b in holders {   // a bucket holds one stage's parameters: ready right after that stage
                XCTAssertEqual(plan.buckets[b].readyAfterStage, stageOf[e.name] ?? arena.backwardStages.count,
                               "\(what): \(e.name) in bucket \(b) of another stage")
            }
        }
        return plan
    }

    /// HSTU and SASRec arenas with bucket limits from one alignment unit to more than the arena:
    /// the rules hold, buckets never mix layers, the last layer's gradients come first and the item
    /// table's last.
    func testBucketsFollowReverseLayerOrderAndCoverTheArenaOnce() throws {
        for kind in ["hstu", "sasrec"] {
            let model = try DistributedFixtures.model(kind, blocks: 3)
            let arena = model.parameters
            XCTAssertEqual(arena.backwardStages.count, 4, kind)
            XCTAssertEqual(Set(arena.backwardStages.flatMap { $0 }), Set(arena.entries.map(\.name)), "\(kind): every parameter in a stage")
            XCTAssertEqual(arena.backwardStages.last!, [ParameterNames.itemEmbedding, ParameterNames.positionalEmbedding])
            let table = arena.entries.first { $0.name == ParameterNames.itemEmbedding }!
            let tableFloats = table.shape.reduce(1, *)
            for floats in [1, 16, 100, tableFloats - 5, tableFloats + 40, arena.count / 3, arena.count + 7] {
                let what = "\(kind), limit \(floats)"
                let plan = checkPlan(arena, bucketFloats: floats, what)
                let first = plan.buckets.first!, last = plan.buckets.last!
                // First bucket: the last layer's parameters (stage 0); last: the item table's start.
                let lastLayerTop = arena.entries.filter { arena.backwardStages[0].contains($0.name) }.map(\.offset).max()!
                XCTAssertTrue(first.ranges.contains { $0.contains(lastLayerTop) }, what)
                XCTAssertEqual(last.readyAfterStage, 3, what)
                XCTAssertEqual(last.ranges.first!.lowerBound, table.offset, what)
                if kind == "hstu" {
                    // One downward sweep of the arena: contiguous buckets, each below the previous.
                    for (a, b) in zip(plan.buckets, plan.buckets.dropFirst()) {
                        XCTAssertEqual(a.ranges.count, 1, what)
                        XCTAssertEqual(b.ranges.last!.upperBound, a.ranges.first!.lowerBound, what)
                    }
                    XCTAssertEqual(first.ranges.last!.upperBound, arena.count, what)
                }
            }
            // A limit above the arena: one bucket per stage (per layer, then the input embedding).
            XCTAssertEqual(GradientBucketPlan(arena: arena, bucketFloats: arena.count + 16).buckets.map(\.readyAfterStage), [0, 1, 2, 3])
        }
    }

    /// The stages a model reports are final: each `backwardStageDone(k)` comes in order, and the
    /// gradients of stages ≤ k do not change afterwards (the check a bucket launched too early fails).
    func testModelsReportStagesWhoseGradientsAreFinal() throws {
        for kind in ["hstu", "sasrec"] {
            let model = try DistributedFixtures.model(kind, blocks: 3)
            let arena = model.parameters
            let global = DistributedFixtures.batch(for: model)
            var reported: [Int] = []
            var snapshots: [String: [Float]] = [:]
            arena.zeroGrads()
            arena.backwardStageObserver = { k in
                reported.append(k)
                for name in arena.backwardStages[k] { snapshots[name] = arena.grad(name).toArray() }
            }
            _ = model.trainStep(global, step: 2, seed: 9)
            arena.backwardStageObserver = nil
            XCTAssertEqual(reported, Array(0..<arena.backwardStages.count), kind)
            for (name, early) in snapshots {
                XCTAssertEqual(early, arena.grad(name).toArray(), "\(kind): \(name) changed after its stage was reported")
                XCTAssertTrue(early.contains { $0 != 0 }, "\(kind): \(name) has no gradient (the check would be empty)")
            }
        }
    }

    /// 2 and 3 simulated ranks with overlap on (tiny buckets: many launches during the backward)
    /// give exactly the sums of the unoverlapped path, which equal one process's gradient.
    func testSimulatedRanksWithOverlapEqualOneProcess() throws {
        for kind in ["hstu", "sasrec"] {
            let model = try DistributedFixtures.model(kind)
            let global = DistributedFixtures.batch(for: model)
            model.parameters.zeroGrads()
            let loss1 = model.trainStep(global, step: 3, seed: 9)
            let g1 = model.parameters.grads.toArray()
            let norm = g1.map { abs(Double($0)) }.max() ?? 0
            for ranks in [2, 3] {
                let plain = SimulatedDataParallel.trainStep(model: model, global: global, step: 3, seed: 9, ranks: ranks)
                let gPlain = model.parameters.grads.toArray()
                let lossO = SimulatedDataParallel.trainStep(model: model, global: global, step: 3, seed: 9, ranks: ranks,
                                                            overlap: true, bucketBytes: 200)
                let gO = model.parameters.grads.toArray()
                XCTAssertEqual(gO, gPlain, "\(kind), \(ranks) ranks: overlapped sums differ from the unoverlapped ones")
                XCTAssertEqual(lossO, plain)
                let diff = zip(gO, g1).map { abs(Double($0 - $1)) }.max() ?? 0
                XCTAssertLessThanOrEqual(diff, 1e-5 * max(norm, 1), "\(kind), \(ranks) ranks: max |Δgrad| \(diff)")
                XCTAssertEqual(Double(lossO), Double(loss1), accuracy: 1e-5 * Double(abs(loss1)), "\(kind), \(ranks) ranks")
            }
        }
    }

    /// `DataParallel` with overlap on and off over 3 thread ranks (one of them without sequences:
    /// it launches every bucket after its empty backward, in the same order as the others) gives
    /// one process's gradient and loss on every rank.
    func testThreadRanksWithAndWithoutOverlapEqualOneProcess() throws {
        let one = try DistributedFixtures.model("hstu")
        let global = DistributedFixtures.batch(for: one, 2)
        one.parameters.zeroGrads()
        let loss1 = one.trainStep(global, step: 1, seed: 9)
        let g1 = one.parameters.grads.toArray()
        let norm = g1.map { abs(Double($0)) }.max() ?? 0
        for overlap in [true, false] {
            let world = 3
            let shared = ThreadReducer(worldSize: world)
            let models = try (0..<world).map { _ in try DistributedFixtures.model("hstu") }
            let dps = (0..<world).map { DataParallel(reducer: ThreadReducer.Rank(shared, rank: $0), bucketBytes: 300, overlap: overlap) }
            let losses = DistributedFixtures.trainOnThreads(dps, models: models, global: global)
            XCTAssertEqual(DataParallelShard(global: global, rank: 2, worldSize: world).input == nil, true, "rank 2 has no sequences")
            XCTAssertGreaterThan(dps[0].bucketPlan(models[0].parameters).buckets.count, 4)
            for r in 0..<world {
                let g = models[r].parameters.grads.toArray()
                let diff = zip(g, g1).map { abs(Double($0 - $1)) }.max() ?? 0
                XCTAssertLessThanOrEqual(diff, 1e-5 * max(norm, 1), "overlap \(overlap), rank \(r): max |Δgrad| \(diff)")
                XCTAssertEqual(Double(losses[r]), Double(loss1), accuracy: 1e-5 * Double(abs(loss1)), "overlap \(overlap), rank \(r)")
            }
        }
    }
}
