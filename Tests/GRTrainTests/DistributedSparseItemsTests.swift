import Foundation
import GRCore
import GRCPU
import GRModels
@testable import GRTrain
import XCTest

/// The item-table all-reduce restricted to the rows that can be non-zero (`SparseItemRows`): the
/// same sums as the dense all-reduce, bit for bit, and a row outside the set is caught.
/// Models have 201 table rows (max id 200), batches and negatives use ids 1...40.
final class DistributedSparseItemsTests: XCTestCase {
    static let maxItemId = 200

    func testRowSetIsSortedWithPaddingAndSkippedWhenLarge() throws {
        let model = try DistributedFixtures.model("hstu", maxItemId: Self.maxItemId)
        let rows = try XCTUnwrap(SparseItemRows(ids: [7, 3, 3, 40, 1], arena: model.parameters))
        XCTAssertEqual(rows.rows, [0, 1, 3, 7, 40])
        XCTAssertEqual(rows.tableRows, Self.maxItemId + 1)
        XCTAssertEqual(rows.summedFloats(arenaCount: model.parameters.count),
                       model.parameters.count - (Self.maxItemId - 4) * rows.dim)
        XCTAssertEqual(rows.excludingTable([0..<model.parameters.count]).reduce(0) { $0 + $1.count },
                       model.parameters.count - rows.denseFloats)
        XCTAssertNil(SparseItemRows(ids: 1...150, arena: model.parameters), "> 70% of the rows: no compaction")
    }

    /// 2 and 3 simulated ranks, with and without overlap (200-byte buckets): the compacted sums equal
    /// the dense sums exactly, for HSTU (dropout on) and SASRec.
    func testSimulatedRanksWithCompactionEqualDense() throws {
        for kind in ["hstu", "sasrec"] {
            let model = try DistributedFixtures.model(kind, maxItemId: Self.maxItemId)
            let global = DistributedFixtures.batch(for: model)
            let rows = try XCTUnwrap(SparseItemRows(ids: 1...40, arena: model.parameters))
            XCTAssertEqual(rows.rows.count, 41)
            for ranks in [2, 3] {
                for overlap in [false, true] {
                    let what = "\(kind), \(ranks) ranks, overlap \(overlap)"
                    let lossD = SimulatedDataParallel.trainStep(model: model, global: global, step: 2, seed: 9, ranks: ranks,
                                                                overlap: overlap, bucketBytes: 200)
                    let dense = model.parameters.grads.toArray()
                    model.parameters.grads.floats.update(repeating: .nan, count: dense.count)
                    let lossS = SimulatedDataParallel.trainStep(model: model, global: global, step: 2, seed: 9, ranks: ranks,
                                                                overlap: overlap, bucketBytes: 200, itemRows: rows)
                    let sparse = model.parameters.grads.toArray()
                    XCTAssertEqual(sparse, dense, what)
                    XCTAssertEqual(lossS, lossD, what)
                    let table = dense[rows.tableRange]
                    XCTAssertTrue(table.contains { $0 != 0 }, "\(what): the table has a gradient")
                }
            }
        }
    }

    /// A set missing ids the batch uses is caught: those rows are reported as uncovered (the debug
    /// check in the data-parallel step stops on them); the full set reports none.
    func testRowOutsideTheSetIsCaught() throws {
        let model = try DistributedFixtures.model("hstu", maxItemId: Self.maxItemId)
        let global = DistributedFixtures.batch(for: model)
        model.parameters.zeroGrads()
        _ = model.trainStep(global, step: 1, seed: 9)
        let backend = model.backend, grads = model.parameters.grads
        let full = try XCTUnwrap(SparseItemRows(ids: 1...40, arena: model.parameters))
        XCTAssertEqual(full.uncoveredRows(grads, backend: backend), [])
        let half = try XCTUnwrap(SparseItemRows(ids: 1...20, arena: model.parameters))
        let bad = half.uncoveredRows(grads, backend: backend)
        XCTAssertFalse(bad.isEmpty)
        XCTAssertTrue(bad.allSatisfy { (21...40).contains($0) }, "\(bad)")
    }

    /// `DataParallel` over 3 thread ranks (one without sequences), overlap on and off: with the
    /// compaction every rank ends with exactly the dense path's gradients and loss.
    func testThreadRanksWithCompactionEqualDense() throws {
        let world = 3
        let global = DistributedFixtures.batch(for: try DistributedFixtures.model("hstu"), 2)
        for overlap in [true, false] {
            var results: [[[Float]]] = []
            var lossesBy: [[Float]] = []
            for sparse in [false, true] {
                let shared = ThreadReducer(worldSize: world)
                let models = try (0..<world).map { _ in try DistributedFixtures.model("hstu", maxItemId: Self.maxItemId) }
                let dps = (0..<world).map { r -> DataParallel in
                    let dp = DataParallel(reducer: ThreadReducer.Rank(shared, rank: r), bucketBytes: 300, overlap: overlap)
                    dp.itemRows = sparse ? SparseItemRows(ids: 1...40, arena: models[r].parameters) : nil
                    dp.sparseItems = true
                    return dp
                }
                let losses = DistributedFixtures.trainOnThreads(dps, models: models, global: global)
                results.append(models.map { $0.parameters.grads.toArray() })
                lossesBy.append(losses)
            }
            for r in 0..<world {
                XCTAssertEqual(results[1][r], results[0][r], "overlap \(overlap), rank \(r)")
                XCTAssertEqual(lossesBy[1][r], lossesBy[0][r], "overlap \(overlap), rank \(r)")
            }
        }
    }
}
