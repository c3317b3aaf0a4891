import GRCore
import XCTest
@testable import GRData

final class BatchTests: XCTestCase {
    /// Users: 0 has 6 events (items 11...16, timestamps 100...105), 1 has 2, 2 has 1, 3 has 4.
    private func store() throws -> SequenceStore {
        let dir = TestFiles.folder("batch")
        let seqs: [[Int32]] = [[11, 12, 13, 14, 15, 16], [21, 22], [31], [41, 42, 43, 44]]
        let w = try SequenceStoreWriter(path: dir + "/" + StoreFormat.fileName, name: "b", userCount: 4,
                                        eventCount: 13, corpus: [1], titles: nil, hasRatings: true)
        for (u, s) in seqs.enumerated() {
            try w.append(userId: Int64(u), items: s, timestamps: s.indices.map { Int64(100 * (u + 1) + $0) },
                         ratings: s.map { Float($0 % 5) })
        }
        try w.finish()
        return try SequenceStore.open(directory: dir)
    }

    func testEvalViewTruncatesToNewest() throws {
        let s = try store()
        let b = BatchSampler.makeBatch(store: s, users: [0, 3], view: .eval, maxLength: 3)
        XCTAssertEqual(b.layout.lengths, [3, 3])
        XCTAssertEqual(b.historyIds, [13, 14, 15, 41, 42, 43])  // newest 3 before the target
        XCTAssertEqual(b.targetIds, [16, 44])
        XCTAssertEqual(b.targetTimestamps, [105, 403])
        XCTAssertEqual(b.historyTimestamps, [102, 103, 104, 400, 401, 402])
        XCTAssertEqual(b.targetRatings, [1, 4])
        XCTAssertEqual(Array(b.history(1)), [41, 42, 43])
    }

    func testTrainViewAndPaddedViews() throws {
        let s = try store()
        let b = BatchSampler.makeBatch(store: s, users: [0, 3], view: .train, maxLength: 4)
        XCTAssertEqual(b.layout.lengths, [4, 2])  // user 0: 11...14 → 15; user 3: 41, 42 → 43
        XCTAssertEqual(b.targetIds, [15, 43])
        XCTAssertEqual(b.targetTimestamps, [104, 402])
        XCTAssertEqual(b.paddedWidth, 4 + 11)
        let n = b.paddedWidth
        let ids = b.paddedIds(includeTarget: false), idsT = b.paddedIds(includeTarget: true)
        XCTAssertEqual(ids.count, 2 * n)
        XCTAssertEqual(Array(ids[0..<6]), [11, 12, 13, 14, 0, 0])
        XCTAssertEqual(Array(idsT[0..<6]), [11, 12, 13, 14, 15, 0])  // target at index L_b
        XCTAssertEqual(Array(ids[n..<n + 4]), [41, 42, 0, 0])
        XCTAssertEqual(Array(idsT[n..<n + 4]), [41, 42, 43, 0])
        let ts = b.paddedTimestamps()
        XCTAssertEqual(ts.count, 2 * n)
        XCTAssertEqual(Array(ts[0..<6]), [100, 101, 102, 103, 104, 0])  // target ts at L_b
        XCTAssertEqual(Array(ts[n..<n + 4]), [400, 401, 402, 0])
        XCTAssertTrue(ids[6..<n].allSatisfy { $0 == 0 } && ts[6..<n].allSatisfy { $0 == 0 })
        XCTAssertTrue(idsT[n + 3..<2 * n].allSatisfy { $0 == 0 })
        // A one-item history.
        let one = BatchSampler.makeBatch(store: s, users: [1], view: .eval, maxLength: 4)
        XCTAssertEqual(one.layout.lengths, [1])
        XCTAssertEqual(one.paddedIds(includeTarget: true).prefix(3), [21, 22, 0])
        XCTAssertEqual(one.paddedTimestamps().prefix(3), [200, 201, 0])
    }

    func testSamplerSkipsShortUsersAndIsDeterministic() throws {
        let s = try store()
        let train = BatchSampler(store: s, view: .train, maxLength: 200, batchSize: 2, shuffle: false, seed: 1)
        XCTAssertEqual(train.eligibleUsers, [0, 3])  // user 1 (2 events) and 2 (1 event) give no history
        let eval = BatchSampler(store: s, view: .eval, maxLength: 200, batchSize: 2, shuffle: false, seed: 1)
        XCTAssertEqual(eval.eligibleUsers, [0, 1, 3])
        XCTAssertEqual(eval.batchCount, 2)
        XCTAssertEqual(eval.batch(1, epoch: 0).users, [3])  // last batch partial
        XCTAssertEqual(SampleView.validationTrain.ignoreLastN, 2)
        XCTAssertEqual(BatchSampler(store: s, view: .validationTrain, maxLength: 9, batchSize: 1, shuffle: false, seed: 0).eligibleUsers, [0, 3])
    }

    /// Shuffling: a permutation, reproducible for (seed, epoch), different across epochs and seeds,
    /// and equal to an explicit Fisher–Yates with the documented Philox stream.
    func testShuffleDeterminism() throws {
        let (ml, _) = try PreparedShared.ml100k.get()
        let a = BatchSampler(store: ml, view: .train, maxLength: 200, batchSize: 128, shuffle: true, seed: 42)
        let b = BatchSampler(store: ml, view: .train, maxLength: 200, batchSize: 128, shuffle: true, seed: 42)
        let c = BatchSampler(store: ml, view: .train, maxLength: 200, batchSize: 128, shuffle: true, seed: 43)
        XCTAssertEqual(a.batchCount, 8)  // 943 users / 128
        XCTAssertEqual(a.order(epoch: 3), b.order(epoch: 3))
        XCTAssertEqual(a.batch(2, epoch: 3).users, b.batch(2, epoch: 3).users)
        XCTAssertNotEqual(a.order(epoch: 3), a.order(epoch: 4))
        XCTAssertNotEqual(a.order(epoch: 3), c.order(epoch: 3))
        XCTAssertEqual(a.order(epoch: 5).sorted(), a.eligibleUsers)
        var expected = a.eligibleUsers
        let stream = PhiloxStream(seed: 42, stream: RandomStreamKind.shuffle.stream(step: 5))
        for i in stride(from: expected.count - 1, through: 1, by: -1) {
            expected.swapAt(i, stream.below(i + 1, UInt64(expected.count - 1 - i)))
        }
        XCTAssertEqual(a.order(epoch: 5), expected)
        // Batches of an epoch cover every eligible user once.
        let all = (0..<a.batchCount).flatMap { a.batch($0, epoch: 5).users }
        XCTAssertEqual(all, expected)
        let last = a.batch(a.batchCount - 1, epoch: 5)
        XCTAssertEqual(last.batchSize, 943 - 7 * 128)
        XCTAssertTrue(last.layout.lengths.allSatisfy { $0 <= 200 })
    }
}
