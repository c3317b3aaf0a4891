import XCTest
import GRCore
import GRData
import GRTestSupport
@testable import GRModels

/// The GRData batch path: the fixture's dataset rows → SequenceBatch → ModelInput reproduce the
/// reference batch builder's `past_ids` / `timestamps` and the reference loss.
final class SequenceBatchInputTests: XCTestCase {
    func testFixtureRowsThroughSequenceBatchGiveTheReferenceInputAndLoss() throws {
        for kind in [ModelKind.hstu, .sasrec] {
            let (f, model, reference, negatives) = try ModelFixture.load(kind)
            let lengths = try f.int64s("row.history_lengths").map { Int($0) }
            let ids = try f.int64s("row.historical_ids"), ts = try f.int64s("row.historical_timestamps")
            var historyIds: [Int32] = [], historyTs: [Int64] = []
            for (b, l) in lengths.enumerated() {
                for t in 0..<l { historyIds.append(Int32(ids[b * 10 + t])); historyTs.append(ts[b * 10 + t]) }
            }
            let batch = SequenceBatch(
                users: [0, 1, 2], layout: JaggedLayout(lengths: lengths), historyIds: historyIds,
                historyTimestamps: historyTs, historyRatings: [Float](repeating: 0, count: historyIds.count),
                targetIds: try f.int64s("row.target_ids").map { Int32($0) },
                targetTimestamps: try f.int64s("row.target_timestamps"), targetRatings: [0, 0, 0], maxLength: 10)
            let input = ModelInput(batch: batch, training: true)
            XCTAssertEqual(input.ids, reference.ids)
            XCTAssertEqual(input.timestamps, reference.timestamps)
            XCTAssertEqual(input.layout, reference.layout)
            let loss = model.trainStep(input, negatives: .explicit(negatives), randomness: nil)
            let refLoss = try f.doubles("output.loss")[0]
            XCTAssertEqual(Double(loss), refLoss, accuracy: 1e-5 * refLoss, "\(kind)")
            // The eval input has no target id but keeps the target timestamp.
            let eval = ModelInput(batch: batch, training: false)
            XCTAssertEqual(eval.timestamps, reference.timestamps)
            XCTAssertEqual(eval.ids.filter { $0 != 0 }.count, historyIds.count)
            XCTAssertEqual(model.userEmbeddings(batch).shape, [3, 8])
        }
    }
}
