import Foundation
import GRCore
import GRModels

/// `gr train --cuda-graphs`: whether training steps replay CUDA graphs (`StepGraphRunner`).
public enum CUDAGraphsMode: String, CaseIterable, Sendable {
    /// On where measured to help (`StepGraphRunner.autoModels`: SASRec), else off.
    case auto
    /// On wherever supported (SASRec on the CUDA backend, device batches, constant lr); elsewhere
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

/// SASRec training steps as replayed CUDA graphs (issue #5 item 5): per batch size B, the encoder
/// forward (with the gradients' zeroing) and the encoder backward with AdamW are captured once
/// (`StepGraphOps.captureStepSegment`) and replayed at every later step of that size; the loss
/// between them runs eagerly, since its shape (P = Σ L_b supervised positions) changes with
/// every batch, and so keeps the deferred-loss slots and the negatives' streams as they are.
///
/// Per step: the batch's ids, positions and timestamps (device-assembled, `DeviceBatchSource`)
/// are copied into the buffers the graphs of its size were captured with (the first batch of
/// that size lends its own), the device step counter is set to the step (dropout streams and
/// AdamW's bias corrections follow it), then forward replay, eager loss, backward replay.
/// Frozen at capture: lr and weight decay (constant schedule only: the trainer keeps eager steps
/// for a warm-up), B and N. Workspace and backend scratch buffers that grow later (the
/// evaluation's batches) keep their old blocks alive, since the graphs address them.
public final class StepGraphRunner: StepSegments {
    /// The model kinds `auto` turns graphs on for: SASRec (H100, session 8, BENCHMARKS.md `## CUDA`:
    /// 101 epochs 9.96 / 10.07 s against eager 10.33 / 10.31 s, the same metrics within run-to-run
    /// spread, 20 steps within 7.9e-6 of eager).
    public static let autoModels: Set<ModelKind> = [.sasrec]

    struct Bucket {
        var forward: AnyObject? = nil
        var backward: AnyObject? = nil
        /// The batch buffers the graphs read (i32 B·N, i32 B·N, i64 (B, N)).
        let ids: Tensor, positions: Tensor, timestamps: Tensor
    }

    let ops: StepGraphOps
    let model: SASRecModel
    /// Queues AdamW for step s (its update number s + 1).
    let optimizerStep: (Int) -> Void
    let log: (String) -> Void
    private(set) var buckets: [Int: Bucket] = [:]
    /// Graphs captured and replays queued.
    public private(set) var captures = 0, replays = 0
    /// Why graphs were given up during the run (later steps eager), or nil.
    public private(set) var failure: String? = nil
    private var current: (batch: Int, step: Int)? = nil

    public init(ops: StepGraphOps, model: SASRecModel, optimizerStep: @escaping (Int) -> Void,
                log: @escaping (String) -> Void) {
        self.ops = ops
        self.model = model
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
        guard model is SASRecModel else { return "only SASRec steps are captured so far (HSTU's token count changes per batch)" }
        guard deviceBatches else { return "needs device-assembled batches (GR_DEVICE_BATCHES)" }
        guard warmupSteps == 0 else { return "lr is frozen in a graph: a warm-up schedule (\(warmupSteps) steps) runs eagerly" }
        return nil
    }

    /// One training step (gradients zeroed, forward, loss, backward, AdamW) of a device-assembled
    /// batch at step `s`; returns the loss (a deferred one where the backend defers).
    public func step(_ input: ModelInput, step s: Int, seed: UInt64) -> Float {
        guard let d = input.device else { preconditionFailure("StepGraphRunner: needs a device-assembled batch") }
        let b = input.batchSize
        let bucket: Bucket
        if let have = buckets[b] {
            bucket = have
            let backend = model.backend
            backend.copy(d.ids, to: bucket.ids)
            backend.copy(d.positions, to: bucket.positions)
            backend.copy(d.timestamps, to: bucket.timestamps)
        } else {
            bucket = Bucket(ids: d.ids, positions: d.positions, timestamps: d.timestamps)
            buckets[b] = bucket
        }
        let bound = ModelInput(layout: input.layout, paddedWidth: input.paddedWidth,
                               device: DeviceBatch(ids: bucket.ids, positions: bucket.positions, timestamps: bucket.timestamps,
                                                   positives: d.positives, rows: d.rows, rowCount: d.rowCount))
        current = (b, s)
        defer { current = nil }
        let r = StepRandomness(seed: seed, step: s)
        return model.trainStep(bound, negatives: .sampled(r.stream(.negatives)), randomness: r, segments: self)
    }

    public func forward(_ body: @escaping () -> Void) {
        let (_, s) = current!
        ops.setDeviceStep(s)
        let params = model.parameters
        run(\.forward, "forward") {
            params.zeroGrads()
            body()
        }
    }

    public func backward(_ body: @escaping () -> Void) {
        let (_, s) = current!
        let optimizerStep = optimizerStep
        run(\.backward, "backward") {
            body()
            optimizerStep(s)
        }
    }

    /// Replays the segment's graph for the current batch size (capturing it first), or runs
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
