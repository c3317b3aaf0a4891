import Foundation
import GRCore
import GRCPU
import GRModels
@testable import GRTrain
import XCTest

/// The host-side bookkeeping of `StepGraphRunner` (CUDA graphs in `gr train`), no GPU: a mock
/// `StepGraphOps` whose "graph" is the captured closure. Replaying it re-runs the capture step's
/// work on the capture step's tensors — frozen arguments, fixed addresses, as a CUDA graph — and
/// its AdamW reads the mock's device step counter. So the runner's steps equal eager steps bit for
/// bit only if every batch is copied into the captured buffers and the counter is set per step.
final class StepGraphRunnerTests: XCTestCase {
    final class MockGraphs: StepGraphOps {
        final class Graph { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }
        var failCapture = false
        var captures = 0, replays = 0, retained = false
        var deviceStep = -1
        var stepGraphsUnavailable: String? { nil }
        func captureStepSegment(step: Int, _ body: @escaping () -> Void) throws -> AnyObject {
            if failCapture { throw TrainError.badData("mock capture refused") }
            captures += 1
            return Graph(body)
        }
        func replayStepSegment(_ graph: AnyObject) { replays += 1; (graph as! Graph).body() }
        func setDeviceStep(_ step: Int) { deviceStep = step }
        func retainReplacedScratch() { retained = true }
        func bindJaggedOffsets(_ offsets: Tensor?) {}
        func jaggedStepsUnavailable(heads: Int, dqk: Int, dv: Int, paddedWidth: Int) -> String? { nil }
    }

    /// AdamW (lr 0.01, wd 0.01) with two moment pairs of `like`'s size: `adamw(m, k, s)`
    /// updates model m with pair k / 2 (0: the eager model, 2: the graphed one).
    static func adamw(_ like: any SequentialRecommender) -> (any SequentialRecommender, Int, Int) -> Void {
        let count = like.parameters.values.count
        let moments = (0..<4).map { _ in like.backend.zeros([count], .f32) }
        return { m, k, s in
            m.backend.adamwStep(params: m.parameters.values, grads: m.parameters.grads, m: moments[k], v: moments[k + 1],
                                step: s + 1, lr: 0.01, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.01)
        }
    }

    /// The host batch as the device path has it (`DeviceBatch`: every position supervised).
    static func deviceInput(_ x: ModelInput, backend: any Backend) -> ModelInput {
        let n = x.paddedWidth, b = x.batchSize
        var positions: [Int32] = [], positives: [Int32] = [], rows: [Int32] = []
        for s in 0..<b {
            positions += (0..<n).map { Int32($0) }
            for t in 0..<x.layout.length(s) { positives.append(x.ids[s * n + t + 1]); rows.append(Int32(s * n + t)) }
        }
        let ts = Tensor(zeros: [b, n], dtype: .i64)
        x.timestamps.withUnsafeBufferPointer { ts.int64s.update(from: $0.baseAddress!, count: $0.count) }
        let d = DeviceBatch(ids: backend.upload(x.ids, shape: [b * n]), positions: backend.upload(positions, shape: [b * n]),
                            timestamps: ts, positives: backend.upload(positives, shape: [positives.count]),
                            rows: backend.upload(rows, shape: [rows.count]), rowCount: b * n)
        return ModelInput(layout: x.layout, paddedWidth: n, device: d)
    }

    /// 7 steps over batches of sizes 5, 5, 3, 5, 3, 5, 5: losses and parameters equal the eager ones;
    /// two captures (forward, backward) per batch size, replays for every other segment.
    func testReplayedStepsEqualEagerSteps() throws {
        for failing in [false, true] {
            let eager = try DistributedFixtures.model("sasrec") as! SASRecModel
            let graphed = try DistributedFixtures.model("sasrec") as! SASRecModel
            let cpu = eager.backend, n = eager.config.paddedWidth, maxLength = eager.config.maxSequenceLength
            let adamw = Self.adamw(eager)
            let mock = MockGraphs()
            mock.failCapture = failing
            var logged: [String] = []
            // The mock's graphs freeze their closures' arguments: AdamW reads the device step as a graph's does.
            let runner = StepGraphRunner(ops: mock, model: graphed, optimizerStep: { _ in adamw(graphed, 2, mock.deviceStep) },
                                         log: { logged.append($0) })
            XCTAssertTrue(mock.retained)
            for (s, b) in [5, 5, 3, 5, 3, 5, 5].enumerated() {
                let host = DistributedFixtures.batch(b, items: 40, n: n, maxLength: maxLength, seed: UInt64(20 + s))
                eager.parameters.zeroGrads()
                let l1 = eager.trainStep(Self.deviceInput(host, backend: cpu), step: s, seed: 9)
                adamw(eager, 0, s)
                let l2 = runner.step(Self.deviceInput(host, backend: cpu), step: s, seed: 9)
                XCTAssertEqual(l2, l1, "step \(s), failing captures \(failing)")
                XCTAssertEqual(mock.deviceStep, s)
            }
            XCTAssertEqual(graphed.parameters.values.toArray(), eager.parameters.values.toArray())
            if failing {
                XCTAssertEqual([mock.captures, mock.replays, runner.replays], [0, 0, 0])
                XCTAssertNotNil(runner.failure)
                XCTAssertEqual(logged.count, 1)
            } else {
                XCTAssertEqual([mock.captures, runner.captures], [4, 4])
                XCTAssertEqual([mock.replays, runner.replays], [14, 14])
                XCTAssertEqual(runner.buckets.keys.sorted().map(\.batch), [3, 5])
                XCTAssertNil(runner.failure)
            }
        }
    }

    /// HSTU's device batch: the T jagged rows (history ids, positions), every position supervised.
    static func jaggedDeviceInput(_ x: ModelInput, backend: any Backend) -> ModelInput {
        let n = x.paddedWidth
        var ids: [Int32] = [], positions: [Int32] = [], positives: [Int32] = []
        for s in 0..<x.batchSize {
            for t in 0..<x.layout.length(s) {
                ids.append(x.ids[s * n + t]); positions.append(Int32(t)); positives.append(x.ids[s * n + t + 1])
            }
        }
        let ts = Tensor(zeros: [x.batchSize, n], dtype: .i64)
        x.timestamps.withUnsafeBufferPointer { ts.int64s.update(from: $0.baseAddress!, count: $0.count) }
        let t = ids.count
        let d = DeviceBatch(ids: backend.upload(ids, shape: [t]), positions: backend.upload(positions, shape: [t]),
                            timestamps: ts, positives: backend.upload(positives, shape: [t]),
                            rows: backend.upload((0..<t).map { Int32($0) }, shape: [t]), rowCount: t)
        return ModelInput(layout: x.layout, paddedWidth: n, device: d)
    }

    /// A tiny CPU HSTU (2 blocks, 2 heads) with dropout `p` on input and blocks.
    static func hstu(dropout p: Float) throws -> HSTUModel {
        var c = TrainConfig()
        try ConfigFile.applyOverrides(TinyStore.shrink + ["kind=hstu", "blocks=2", "heads=2", "input_dropout=\(p)",
                                                          "block_dropout=\(p)"], to: &c)
        return makeModel(c.modelConfig, maxItemId: 40, corpus: (1...40).map { $0 }, backend: CPUBackend(), seed: 11) as! HSTUModel
    }

    /// HSTU padded to capacity buckets (4 per batch size, so batches share them), 8 steps: the
    /// losses and parameters of eager unpadded steps, within 1e-5 (sums over T_cap instead of T
    /// rows). Replayed mock graphs (dropout off: the mock cannot move a captured closure's Philox
    /// streams to the replayed step, as the device counter does), two captures per bucket and
    /// every later segment replayed; and refused captures, which run the padded steps eagerly
    /// (dropout on: padding rows keep the real rows' masks and get no gradient).
    func testPaddedHSTUStepsEqualEagerSteps() throws {
        for failing in [false, true] {
            let p: Float = failing ? 0.25 : 0
            let eager = try Self.hstu(dropout: p), graphed = try Self.hstu(dropout: p)
            let cpu = eager.backend, n = eager.config.paddedWidth, maxLength = eager.config.maxSequenceLength
            let adamw = Self.adamw(eager)
            let mock = MockGraphs()
            mock.failCapture = failing
            var logged: [String] = []
            // Graph AdamW reads the device step (the mock's counter); eager AdamW gets its step.
            let runner = StepGraphRunner(ops: mock, model: graphed, bucketsPerBatch: 4,
                                         optimizerStep: { s in adamw(graphed, 2, failing ? s : mock.deviceStep) },
                                         log: { logged.append($0) })
            var padded = 0
            for (s, b) in [5, 5, 5, 3, 5, 5, 3, 5].enumerated() {
                let host = DistributedFixtures.batch(b, items: 40, n: n, maxLength: maxLength, seed: UInt64(40 + s))
                let t = host.layout.totalTokens
                if StepGraphRunner.tokenCapacity(t, batch: b, width: n, bucketsPerBatch: 4) > t { padded += 1 }
                eager.parameters.zeroGrads()
                let l1 = eager.trainStep(Self.jaggedDeviceInput(host, backend: cpu), step: s, seed: 9)
                adamw(eager, 0, s)
                let l2 = runner.step(Self.jaggedDeviceInput(host, backend: cpu), step: s, seed: 9)
                XCTAssertEqual(l2, l1, accuracy: 1e-5 * abs(l1), "step \(s), failing captures \(failing)")
                XCTAssertFalse(l2.isNaN)
            }
            XCTAssertGreaterThan(padded, 4)
            let a = graphed.parameters.values.toArray(), e = eager.parameters.values.toArray()
            XCTAssertLessThan(zip(a, e).map { abs($0 - $1) }.max()!, 1e-5, "failing captures \(failing)")
            XCTAssertFalse(a.contains { $0.isNaN })
            if failing {
                XCTAssertEqual([mock.captures, mock.replays], [0, 0])
                XCTAssertEqual(logged.count, 1)
            } else {
                XCTAssertEqual(runner.captures, 2 * runner.buckets.count)
                XCTAssertLessThan(runner.buckets.count, 8)
                XCTAssertEqual([mock.replays, runner.replays], [16, 16])
                XCTAssertNil(runner.failure)
                XCTAssertEqual(logged, [])
            }
        }
    }

    func testUnsupportedSaysWhy() throws {
        let m = try DistributedFixtures.model("sasrec")
        XCTAssertEqual(StepGraphRunner.unsupported(model: m, backend: m.backend, deviceBatches: true, warmupSteps: 0),
                       "the cpu backend has no graphs")
    }
}
