import Foundation
import GRCore
import GRCPU
import GRData
import GRModels
@testable import GRTrain
import XCTest

/// The CPU-testable parts of data parallelism: the FLOP-balanced split, the placement of random
/// draws, and the equivalence of N simulated ranks with one process.
final class DistributedSplitTests: XCTestCase {
    func testBalancedSplitIsGreedyLongestFirstAndDeterministic() {
        // L² costs 100, 64, 49, 36, 25, 9, 4 → LPT over 2 ranks:
        // 10→r0 (100), 8→r1 (64), 7→r1 (113), 6→r0 (136), 5→r1 (138), 3→r0 (145), 2→r1 (142).
        let lengths = [3, 10, 5, 8, 2, 7, 6]
        let parts = BatchSplit.balanced(lengths: lengths, ranks: 2)
        XCTAssertEqual(parts, [[0, 1, 6], [2, 3, 4, 5]])
        XCTAssertEqual(BatchSplit.balanced(lengths: lengths, ranks: 2), parts)
        // Ties in length go to the lower index first, ties in load to the lower rank.
        XCTAssertEqual(BatchSplit.balanced(lengths: [4, 4, 4, 4], ranks: 2), [[0, 2], [1, 3]])
        // More ranks than sequences: some ranks get none.
        XCTAssertEqual(BatchSplit.balanced(lengths: [5, 1], ranks: 3), [[0], [1], []])
    }

    func testBalancedSplitCoversEveryRowAndBalancesSquaredLengths() {
        let s = PhiloxStream(seed: 3, stream: 99)
        let lengths = (0..<128).map { 1 + s.below(200, UInt64($0)) }
        for ranks in [2, 3, 8] {
            let parts = BatchSplit.balanced(lengths: lengths, ranks: ranks)
            XCTAssertEqual(parts.flatMap { $0 }.sorted(), Array(0..<128))
            for p in parts { XCTAssertEqual(p, p.sorted()) }
            // LPT's bound: max load ≤ mean + the largest single cost; here far tighter.
            XCTAssertLessThan(BatchSplit.imbalance(lengths: lengths, parts: parts), 1.02, "\(ranks) ranks")
        }
    }

    func testPlacementMapsLocalRowsToGlobalRows() {
        let p = BatchPlacement(members: [1, 3], globalLengths: [2, 3, 1, 2], globalSupervised: [2, 2, 1, 2])
        XCTAssertEqual(p.jaggedRowMap(), [2, 3, 4, 6, 7])
        XCTAssertEqual(p.globalTokens, 8)
        XCTAssertEqual(p.globalPositions, 7)
        XCTAssertEqual(p.supervisedRuns().map { [$0.local, $0.global, $0.count] }, [[0, 2, 2], [2, 5, 2]])
        let q = BatchPlacement(members: [1, 2], globalLengths: [2, 3, 1], globalSupervised: [2, 3, 1])
        XCTAssertEqual(q.supervisedRuns().map { [$0.local, $0.global, $0.count] }, [[0, 2, 4]])  // merged
    }

    func batch(_ b: Int, items: Int, n: Int, maxLength: Int, seed: UInt64) -> ModelInput {
        DistributedFixtures.batch(b, items: items, n: n, maxLength: maxLength, seed: seed)
    }

    /// 2 and 3 simulated ranks (split, placed negatives and dropout, P_r/P scaling, summed
    /// gradients) give the one-process gradient and loss of the whole batch, with dropout on.
    func testSimulatedRanksEqualOneProcessGradient() throws {
        for kind in ["hstu", "sasrec"] {
            var c = TrainConfig()
            // SASRec: no dropout (its attention dropout is rank-local; see BatchPlacement).
            let dropout = kind == "hstu" ? ["input_dropout=0.2", "block_dropout=0.3"] : ["input_dropout=0", "block_dropout=0"]
            try ConfigFile.applyOverrides(TinyStore.shrink + ["kind=\(kind)", "blocks=2", "heads=2"] + dropout, to: &c)
            let mc = c.modelConfig
            let items = 40
            let model = makeModel(mc, maxItemId: items, corpus: (1...Int32(items)).map { $0 }, backend: CPUBackend(), seed: 11)
            let global = batch(7, items: items, n: mc.paddedWidth, maxLength: mc.maxSequenceLength, seed: 4)

            model.parameters.zeroGrads()
            let loss1 = model.trainStep(global, step: 3, seed: 9)
            let g1 = model.parameters.grads.toArray()
            for ranks in [2, 3] {
                let lossN = SimulatedDataParallel.trainStep(model: model, global: global, step: 3, seed: 9, ranks: ranks)
                let gN = model.parameters.grads.toArray()
                var diff = 0.0, norm = 0.0
                for i in 0..<g1.count {
                    diff = max(diff, Double(abs(gN[i] - g1[i])))
                    norm = max(norm, Double(abs(g1[i])))
                }
                XCTAssertLessThanOrEqual(diff, 1e-5 * max(norm, 1), "\(kind), \(ranks) ranks: max |Δgrad| \(diff), max |grad| \(norm)")
                XCTAssertEqual(Double(lossN), Double(loss1), accuracy: 1e-5 * Double(abs(loss1)), "\(kind), \(ranks) ranks")
            }
        }
    }

    /// Without the placement a rank would draw the first rows' numbers: the equivalence above is
    /// not an accident of the data (dropout and negatives really differ per row).
    func testUnplacedShardsWouldDrawOtherNumbers() throws {
        var c = TrainConfig()
        try ConfigFile.applyOverrides(TinyStore.shrink + ["blocks=1", "heads=2", "block_dropout=0.3"], to: &c)
        let mc = c.modelConfig
        let model = makeModel(mc, maxItemId: 40, corpus: (1...40).map { $0 }, backend: CPUBackend(), seed: 11)
        let global = batch(6, items: 40, n: mc.paddedWidth, maxLength: mc.maxSequenceLength, seed: 4)
        let shard = DataParallelShard(global: global, rank: 1, worldSize: 2)
        let input = try XCTUnwrap(shard.input)
        model.parameters.zeroGrads()
        let placed = model.trainStep(input, step: 0, seed: 9, placement: shard.placement)
        model.parameters.zeroGrads()
        let local = model.trainStep(input, step: 0, seed: 9)
        XCTAssertNotEqual(placed, local)
    }
}
