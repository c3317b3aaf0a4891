import Foundation
import GRCore
import GRModels

/// `gr train --cuda-graphs`: whether training steps replay CUDA graphs (`StepGraphRunner`).
public enum CUDAGraphsMode: String, CaseIterable, Sendable {
    /// On where measured to help (`StepGraphRunner.autoModels`: SASRec), else off.
    case auto
    /// On wherever supported (SASRec; HSTU padded to capacity buckets; on the CUDA backend, device
    /// batches, constant lr); elsewhere
    /// a message says why the steps stay eager.
    case on
    case off

    /// `GR_CUDA_GRAPHS` (auto, on or off), default auto; a bad value stops with a message.
    public static var fromEnvironment: CUDAGraphsMode {
        guard let s = ProcessInfo.processInfo.environment["GR_CUDA_GRAPHS"], !s.isEmpty else { return .auto }
        guard let m = CUDAGraphsMode(rawValue: s.lowercased()) else {
            FileHandle.standardError.write(Data("error: GR_CUDA_GRAPHS=\(s): expected auto, on or off\n".utf8))
            exit(2)
        }
        return m
    }
}

/// Training steps as replayed CUDA graphs (issue #5 item 5): per bucket, the encoder forward (with
/// the gradients' zeroing) and the encoder backward with AdamW are captured once
/// (`StepGraphOps.captureStepSegment`) and replayed at every later step of that bucket; the loss
/// between them runs eagerly, since its shape (P = Σ L_b supervised positions) changes with every
/// batch, and so keeps the deferred-loss slots and the negatives' streams as they are.
///
/// Buckets: SASRec, per batch size B (its encoder runs on all B·N rows). HSTU, per (B, T_cap): its
/// encoder runs on the T = Σ L_b jagged rows, so the batch is padded to the capacity
/// `tokenCapacity(T)` (T rounded up to a multiple of ⌈B·N / 32⌉) with inert rows (`HSTUPadding`:
/// id 0, in no sequence, zero gradients) and attention reads the real offsets from the bucket's
/// device buffer (`StepGraphOps.bindJaggedOffsets`).
///
/// Per step: the batch's ids, positions and timestamps (device-assembled, `DeviceBatchSource`)
/// are copied into the buffers the graphs of its bucket were captured with (SASRec: the first
/// batch of that size lends its own; HSTU: the bucket's T_cap-row buffers, the padding zeroed, and
/// its offsets), the device step counter is set to the step (dropout streams and AdamW's bias
/// corrections follow it), then forward replay, eager loss, backward replay.
/// Frozen at capture: lr and weight decay (constant schedule only: the trainer keeps eager steps
/// for a warm-up), B, N and T_cap. Workspace and backend scratch buffers that grow later (the
/// evaluation's batches, a larger bucket) keep their old blocks alive, since the graphs address them.
public final class StepGraphRunner: StepSegments {
    /// The model kinds `auto` turns graphs on for: SASRec (H100, session 8, BENCHMARKS.md `## CUDA`:
    /// 101 epochs 9.96 / 10.07 s against eager 10.33 / 10.31 s, the same metrics within run-to-run
    /// spread, 20 steps within 7.9e-6 of eager). HSTU runs them with `on` only (session 9).
    public static let autoModels: Set<ModelKind> = [.sasrec]

    /// HSTU capacity buckets per batch size (default): T_cap is T rounded up to a multiple of
    /// ⌈B·N / 32⌉ (at most 32 buckets of a batch size; < B·N / 32 padding rows per step).
    public static let defaultBucketsPerBatch = 32

    /// A bucket's key: the batch size and, for HSTU, the row capacity T_cap (SASRec: 0).
    struct Key: Hashable, Comparable {
        let batch: Int, tokens: Int
        static func < (a: Key, b: Key) -> Bool { (a.batch, a.tokens) < (b.batch, b.tokens) }
    }

    struct Bucket {
        var forward: AnyObject? = nil
        var backward: AnyObject? = nil
        /// The batch buffers the graphs read (i32 R, i32 R, i64 (B, N); R = B·N or T_cap) and HSTU's
        /// offsets (i32 B + 1).
        let ids: Tensor, positions: Tensor, timestamps: Tensor, offsets: Tensor?
        /// HSTU: i32 (T_cap) zeros, copied over the padding rows (`fill` is f32-only on the CPU).
        var zeros: Tensor? = nil
    }

    let ops: StepGraphOps
    let model: any SegmentedTraining
    /// HSTU: padded jagged batches (else SASRec's dense ones).
    let jagged: Bool
    /// HSTU: capacity buckets per batch size (`tokenCapacity`).
    let bucketsPerBatch: Int
    /// Queues AdamW for step s (its update number s + 1).
    let optimizerStep: (Int) -> Void
    let log: (String) -> Void
    private(set) var buckets: [Key: Bucket] = [:]
    /// Graphs captured and replays queued.
    public private(set) var captures = 0, replays = 0
    /// Why graphs were given up during the run (later steps eager), or nil.
    public private(set) var failure: String? = nil
    private var current: (key: Key, step: Int)? = nil

    public init(ops: StepGraphOps, model: any SegmentedTraining, bucketsPerBatch: Int = defaultBucketsPerBatch,
                optimizerStep: @escaping (Int) -> Void, log: @escaping (String) -> Void) {
        precondition(bucketsPerBatch >= 1, "StepGraphRunner: bucketsPerBatch \(bucketsPerBatch)")
        self.ops = ops
        self.bucketsPerBatch = bucketsPerBatch
        self.model = model
        self.jagged = model.config.kind == .hstu
        self.optimizerStep = optimizerStep
        self.log = log
        ops.retainReplacedScratch()
        model.retainReplacedBuffers()
    }

    /// Why `model` on `backend` with this schedule cannot use step graphs, or nil.
    public static func unsupported(model: any SequentialRecommender, backend: any Backend, deviceBatches: Bool,
                                   warmupSteps: Int) -> String? {
        guard let ops = backend as? StepGraphOps else { return "the \(backend.device) backend has no graphs" }
        if let why = ops.stepGraphsUnavailable { return why }
        guard model is SegmentedTraining else { return "\(model.config.kind) steps are not segmented" }
        guard deviceBatches else { return "needs device-assembled batches (GR_DEVICE_BATCHES)" }
        guard warmupSteps == 0 else { return "lr is frozen in a graph: a warm-up schedule (\(warmupSteps) steps) runs eagerly" }
        let c = model.config
        if c.kind == .hstu, let why = ops.jaggedStepsUnavailable(heads: c.heads, dqk: c.dqk, dv: c.dv, paddedWidth: c.paddedWidth) {
            return why
        }
        return nil
    }

    /// T_cap of a batch of B sequences of width N with T tokens: T rounded up to a multiple of
    /// ⌈B·N / bucketsPerBatch⌉, at most B·N.
    public static func tokenCapacity(_ t: Int, batch: Int, width: Int, bucketsPerBatch: Int = defaultBucketsPerBatch) -> Int {
        let full = batch * width, g = (full + bucketsPerBatch - 1) / bucketsPerBatch
        return min(full, (t + g - 1) / g * g)
    }

    /// One training step (gradients zeroed, forward, loss, backward, AdamW) of a device-assembled
    /// batch at step `s`; returns the loss (a deferred one where the backend defers).
    public func step(_ input: ModelInput, step s: Int, seed: UInt64) -> Float {
        guard let d = input.device else { preconditionFailure("StepGraphRunner: needs a device-assembled batch") }
        let r = StepRandomness(seed: seed, step: s)
        if jagged && d.rowCount == 0 {   // nothing to replay: an eager (empty) step
            model.parameters.zeroGrads()
            let loss = model.trainStep(input, negatives: .sampled(r.stream(.negatives)), randomness: r, segments: nil)
            optimizerStep(s)
            return loss
        }
        let bound = jagged ? padded(input, d) : dense(input, d)
        current = (bound.key, s)
        defer { current = nil }
        return model.trainStep(bound.input, negatives: .sampled(r.stream(.negatives)), randomness: r, segments: self)
    }

    /// SASRec: the batch in its size's buffers.
    private func dense(_ input: ModelInput, _ d: DeviceBatch) -> (key: Key, input: ModelInput) {
        let key = Key(batch: input.batchSize, tokens: 0)
        let bucket: Bucket
        if let have = buckets[key] {
            bucket = have
            let backend = model.backend
            backend.copy(d.ids, to: bucket.ids)
            backend.copy(d.positions, to: bucket.positions)
            backend.copy(d.timestamps, to: bucket.timestamps)
        } else {
            bucket = Bucket(ids: d.ids, positions: d.positions, timestamps: d.timestamps, offsets: nil)
            buckets[key] = bucket
        }
        return (key, ModelInput(layout: input.layout, paddedWidth: input.paddedWidth,
                                device: DeviceBatch(ids: bucket.ids, positions: bucket.positions, timestamps: bucket.timestamps,
                                                    positives: d.positives, rows: d.rows, rowCount: d.rowCount)))
    }

    /// HSTU: the batch's T rows in its bucket's T_cap-row buffers, padding rows id 0 and position 0,
    /// and its offsets.
    private func padded(_ input: ModelInput, _ d: DeviceBatch) -> (key: Key, input: ModelInput) {
        let b = input.batchSize, t = d.rowCount, backend = model.backend
        precondition(t == input.layout.totalTokens, "StepGraphRunner: \(t) device rows for T = \(input.layout.totalTokens)")
        let cap = Self.tokenCapacity(t, batch: b, width: input.paddedWidth, bucketsPerBatch: bucketsPerBatch)
        let key = Key(batch: b, tokens: cap)
        let bucket = buckets[key] ?? Bucket(ids: backend.zeros([cap], .i32), positions: backend.zeros([cap], .i32),
                                            timestamps: backend.zeros(d.timestamps.shape, .i64),
                                            offsets: backend.zeros([b + 1], .i32), zeros: backend.zeros([cap], .i32))
        buckets[key] = bucket
        backend.copy(d.ids.view(0, [t]), to: bucket.ids.view(0, [t]))
        backend.copy(d.positions.view(0, [t]), to: bucket.positions.view(0, [t]))
        if cap > t {
            let zeros = bucket.zeros!.view(0, [cap - t])
            backend.copy(zeros, to: bucket.ids.view(t, [cap - t]))
            backend.copy(zeros, to: bucket.positions.view(t, [cap - t]))
        }
        backend.copy(d.timestamps, to: bucket.timestamps)
        backend.copy(backend.upload(input.layout.offsets, shape: [b + 1]), to: bucket.offsets!)
        return (key, ModelInput(layout: input.layout, paddedWidth: input.paddedWidth,
                                device: DeviceBatch(ids: bucket.ids, positions: bucket.positions, timestamps: bucket.timestamps,
                                                    positives: d.positives, rows: d.rows, rowCount: cap,
                                                    offsets: bucket.offsets)))
    }

    public func forward(_ body: @escaping () -> Void) {
        let s = current!.step
        ops.setDeviceStep(s)
        let params = model.parameters
        run(\.forward, "forward") {
            params.zeroGrads()
            body()
        }
    }

    public func backward(_ body: @escaping () -> Void) {
        let s = current!.step
        let optimizerStep = optimizerStep
        run(\.backward, "backward") {
            body()
            optimizerStep(s)
        }
    }

    /// Replays the segment's graph for the current bucket (capturing it first), or runs
    /// `body` eagerly once graphs were given up.
    private func run(_ slot: WritableKeyPath<Bucket, AnyObject?>, _ name: String, _ body: @escaping () -> Void) {
        let (b, s) = current!
        guard failure == nil else { return body() }
        if buckets[b]![keyPath: slot] == nil {
            do {
                buckets[b]![keyPath: slot] = try ops.captureStepSegment(step: s, body)
                captures += 1
            } catch {   // nothing of `body` ran during the failed capture
                failure = "\(error)"
                log("cuda graphs: the \(name) capture at step \(s) failed (\(error)); eager steps from here")
                return body()
            }
        }
        ops.replayStepSegment(buckets[b]![keyPath: slot]!)
        replays += 1
    }
}
