import Foundation
import GRCore
import GRCPU
import GRData
import GRModels
@testable import GRTrain
import XCTest

/// W CPU ranks in W threads of one process, summing through shared memory (rank order, so every
/// rank gets bit-identical sums): stands in for NCCL to test the trainer's data-parallel path.
final class ThreadReducer {
    let worldSize: Int
    private let condition = NSCondition()
    private var slots: [[Float]]
    private var arrived = 0, generation = 0

    init(worldSize: Int) {
        self.worldSize = worldSize
        slots = Array(repeating: [], count: worldSize)
    }

    private func barrier() {
        condition.lock()
        let g = generation
        arrived += 1
        if arrived == worldSize {
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == g { condition.wait() }
        }
        condition.unlock()
    }

    func sum(rank: Int, _ t: Tensor, offset: Int, count: Int) {
        slots[rank] = Array(UnsafeBufferPointer(start: t.floats + offset, count: count))
        barrier()
        for i in 0..<count {
            var s: Float = 0
            for r in 0..<worldSize { s += slots[r][i] }
            t.floats[offset + i] = s
        }
        barrier()
    }

    final class Rank: GradientReducer {
        let shared: ThreadReducer
        let rank: Int
        var worldSize: Int { shared.worldSize }
        init(_ shared: ThreadReducer, rank: Int) { self.shared = shared; self.rank = rank }
        func allReduceSum(_ t: Tensor, offset: Int, count: Int, bucketFloats: Int) throws {
            var start = 0
            while start < count {
                let n = min(bucketFloats, count - start)
                shared.sum(rank: rank, t, offset: offset + start, count: n)
                start += n
            }
        }
        func finish() throws {}
    }
}

final class DistributedTrainerTests: XCTestCase {
    var cleanup: [String] = []
    override func tearDown() {
        for p in cleanup { try? FileManager.default.removeItem(atPath: p) }
        cleanup = []
    }

    func options(_ dir: String, _ dp: DataParallel? = nil) -> TrainOptions {
        var o = TrainOptions(outDirectory: dir)
        o.progress = false
        o.log = { _ in }
        o.dataParallel = dp
        return o
    }

    /// 2 ranks (threads) train like one process: same per-epoch losses and parameters within float
    /// tolerance; only rank 0 evaluates and writes checkpoints; the checkpoint resumes in one process.
    func testTwoRanksTrainLikeOneProcessAndResumeWithOne() throws {
        let (store, sdir) = try TinyStore.make()
        cleanup.append(sdir.path)
        let c = try TinyStore.config(["epochs=2", "lr=0.01", "block_dropout=0.2", "input_dropout=0.2"])
        let oneDir = TinyStore.tempDir("dp-one"), twoDir = TinyStore.tempDir("dp-two")
        cleanup += [oneDir, twoDir]
        let one = try Trainer(config: c, store: store, backend: CPUBackend(), options: options(oneDir))
        let expected = try one.run()

        let shared = ThreadReducer(worldSize: 2)
        // Tiny buckets: several all-reduce calls per step.
        let trainers = try (0..<2).map { r in
            try Trainer(config: c, store: store, backend: CPUBackend(),
                        options: options(twoDir, DataParallel(reducer: ThreadReducer.Rank(shared, rank: r), bucketBytes: 1000)))
        }
        var results = [TrainSummary?](repeating: nil, count: 2)
        var errors: [String] = []
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 2) { r in
            do {
                let s = try trainers[r].run()
                lock.lock(); results[r] = s; lock.unlock()
            } catch { lock.lock(); errors.append("\(error)"); lock.unlock() }
        }
        XCTAssertEqual(errors, [])
        let two = try XCTUnwrap(results[0])
        XCTAssertEqual(two.steps, expected.steps)
        for (a, b) in zip(two.history, expected.history) {
            XCTAssertEqual(a.trainLoss, b.trainLoss, accuracy: 1e-5 * abs(b.trainLoss), "epoch \(a.epoch)")
            XCTAssertEqual(a.evalUsers, b.evalUsers)
        }
        let p1 = one.model.parameters.values.toArray(), p2 = trainers[0].model.parameters.values.toArray()
        XCTAssertEqual(p2, trainers[1].model.parameters.values.toArray(), "ranks' parameters must stay identical")
        let worst = zip(p1, p2).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(worst, 1e-4, "parameters after 2 epochs: max |Δ| \(worst)")
        // Rank 1 evaluated nothing and wrote only its own logs.
        XCTAssertEqual(results[1]?.history.last?.evalUsers, 0)
        let fm = FileManager.default
        XCTAssertTrue(fm.fileExists(atPath: twoDir + "/latest.safetensors"))
        XCTAssertTrue(fm.fileExists(atPath: twoDir + "/results.json"))
        XCTAssertTrue(fm.fileExists(atPath: twoDir + "/rank-1/metrics.jsonl"))
        XCTAssertFalse(fm.fileExists(atPath: twoDir + "/rank-1/latest.safetensors"))

        // The 2-rank checkpoint resumes in one process (no rank-specific state).
        var more = c
        more.epochs = 3
        var o = options(twoDir)
        o.resume = true
        let resumed = try Trainer(config: more, store: store, backend: CPUBackend(), options: o)
        XCTAssertEqual(resumed.epoch, 2)
        XCTAssertEqual(try resumed.run().epochsCompleted, 3)
    }
}
