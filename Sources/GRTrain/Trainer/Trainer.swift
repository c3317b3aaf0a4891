import Foundation
import GRCore
import GRData
import GREval
import GRModels

/// Options of one `Trainer.run()` that are not part of the config (they do not change the result).
public struct TrainOptions {
    /// Run folder: `latest.safetensors`, `epoch-<e>.safetensors`, `metrics.jsonl`, `results.json`,
    /// `config.yaml`, TensorBoard events under `tb/`.
    public var outDirectory: String
    /// Continue from `<out>/latest.safetensors` (a fresh start when there is none).
    public var resume = false
    /// Live progress line on stderr.
    public var progress = true
    /// Per-epoch and final console lines (stdout by default).
    public var log: (String) -> Void = { print($0) }
    /// Stop after this many epochs of this invocation (tests simulate an interruption).
    public var maxEpochsThisRun: Int? = nil
    /// Called before each optimiser step with the global step (tests inject NaNs here).
    public var beforeStep: ((Int, any SequentialRecommender) -> Void)? = nil
    /// Data parallelism over several processes (`gr train --gpus N`): each step's batch is split
    /// across ranks and the gradients summed (GRTrain/Distributed). Only rank 0 evaluates, writes
    /// checkpoints, `results.json`, `config.yaml` and the run's logs (other ranks log their
    /// training loss under `<out>/rank-<r>/`). nil = one process.
    public var dataParallel: DataParallel? = nil
    /// CUDA graphs of the training step (`StepGraphRunner`): auto, on or off.
    public var cudaGraphs: CUDAGraphsMode = .fromEnvironment

    public init(outDirectory: String) { self.outDirectory = outDirectory }
}

/// What a finished (or stopped) run reports: last-epoch and best-epoch metrics (spec §6.4).
public struct TrainSummary: Codable, Equatable {
    public var config: TrainConfig
    public var epochsCompleted: Int
    public var steps: Int
    /// The last epoch's record (its test metrics are the "final epoch" numbers).
    public var last: EpochRecord?
    /// The epoch selected by NDCG@10 among full evaluations: on the test target (optimistic, what
    /// the reference's tables most likely reflect), or on the validation target in validation mode.
    public var best: EpochRecord?
    /// "test ndcg@10" or "validation ndcg@10".
    public var selectedBy: String
    public var history: [EpochRecord]
}

/// The training loop (spec §4.1, §5.1, §6): AdamW over the whole parameter arena, batches of
/// `batch_size` users from a seeded shuffle, an evaluation after every epoch (full, or partial in
/// between full ones as the Books configs do), checkpoints, logs and resume.
///
/// Determinism: initial parameters come from Philox streams of `seed`; the shuffle of epoch e is a
/// function of (seed, e); dropout masks and negatives of global step s are functions of (seed, s).
/// With a fixed thread count (the CPU backend splits work into a thread-count-dependent number of
/// chunks) a run is bit-for-bit reproducible, and a resumed run equals an uninterrupted one, since
/// checkpoints hold parameters, AdamW m / v, the step, the epoch and the metric history.
///
/// Validation mode (`validation: true`, spec §6.4 (c)): training uses ignore_last_n = 2; after each
/// epoch both the validation target (ignore_last_n = 1, the 2nd-to-last item) and the test target
/// (ignore_last_n = 0) are evaluated; the reported "best" epoch is the one with the best validation
/// NDCG@10 and its test metrics are the reported numbers. (Evaluating test every epoch costs one
/// extra evaluation pass but needs no parameter snapshot; the test numbers never influence the choice.)
public final class Trainer {
    public let config: TrainConfig
    public let store: SequenceStore
    public let backend: any Backend
    public let model: any SequentialRecommender
    let options: TrainOptions
    /// AdamW first and second moments, same flat layout as the parameter arena.
    let adamM: Tensor
    let adamV: Tensor
    /// Optimiser steps done.
    public private(set) var step = 0
    /// Epochs completed.
    public private(set) var epoch = 0
    public private(set) var history: [EpochRecord] = []
    /// Per-phase wall time (`GR_PROFILE=1`; see `PhaseProfile`).
    public let profile: PhaseProfile

    public var trainView: SampleView { SampleView(ignoreLastN: config.validation ? 2 : 1) }
    public static let testView = SampleView(ignoreLastN: 0)
    public static let validationView = SampleView(ignoreLastN: 1)

    /// The background writer of the per-epoch `latest.safetensors` (device runs).
    let checkpointWriter = BackgroundWriter()
    var latestPath: String { (options.outDirectory as NSString).appendingPathComponent("latest.safetensors") }
    func path(_ name: String) -> String { (options.outDirectory as NSString).appendingPathComponent(name) }
    /// Rank 0 of a data-parallel run, or the only process.
    var isLeader: Bool { (options.dataParallel?.rank ?? 0) == 0 }

    public init(config: TrainConfig, store: SequenceStore, backend: any Backend, options: TrainOptions) throws {
        try config.validate(source: "config")
        guard store.userCount > 0 else { throw TrainError.badData("the store at \(store.path) has no users") }
        self.config = config
        self.store = store
        self.backend = backend
        self.options = options
        self.profile = PhaseProfile(backend: backend)
        self.model = makeModel(config.modelConfig, maxItemId: store.maxItemId, corpus: store.corpus, backend: backend,
                               seed: config.seed)
        if let dp = options.dataParallel, dp.itemRows == nil {
            dp.itemRows = SparseItemRows(store: store, arena: model.parameters)
        }
        let p = model.parameters.values.count
        adamM = backend.zeros([p], .f32)
        adamV = backend.zeros([p], .f32)

        let fm = FileManager.default
        try fm.createDirectory(atPath: options.outDirectory, withIntermediateDirectories: true)
        if fm.fileExists(atPath: latestPath) {
            guard options.resume else { throw TrainError.outputExists(path: options.outDirectory) }
            try restore(from: latestPath)
        }
    }

    /// Loads `latest.safetensors`: parameters, m, v, step, epoch, history. The checkpoint's config
    /// must equal this run's except for `epochs` (a finished run may be extended).
    func restore(from path: String) throws {
        let (ckpt, file) = try Checkpoint.read(path: path)
        var a = ckpt.config, b = config
        a.epochs = 0
        b.epochs = 0
        if a != b {
            let diffs = ConfigKeys.all.filter { $0.value(in: a) != $0.value(in: b) }
                .map { "\($0.qualifiedName): checkpoint \($0.value(in: a)), now \($0.value(in: b))" }
            throw TrainError.resumeMismatch(path: path, message: "config differs (\(diffs.joined(separator: "; ")))")
        }
        guard ckpt.maxItemId == store.maxItemId else {
            throw TrainError.resumeMismatch(path: path, message: "max item id \(ckpt.maxItemId) ≠ the data's \(store.maxItemId)")
        }
        if backend.device == .cpu {
            try Checkpoint.load(file, entries: model.parameters.entries, values: model.parameters.values, adamM: adamM, adamV: adamV)
        } else {   // a device backend: load into host tensors, then copy up
            let hv = Tensor(zeros: model.parameters.values.shape), hm = Tensor(zeros: adamM.shape), hs = Tensor(zeros: adamV.shape)
            try Checkpoint.load(file, entries: model.parameters.entries, values: hv, adamM: hm, adamV: hs)
            backend.copy(hv, to: model.parameters.values)
            backend.copy(hm, to: adamM)
            backend.copy(hs, to: adamV)
        }
        step = ckpt.step
        epoch = ckpt.epoch
        history = ckpt.history
    }

    /// Trains until `config.epochs` epochs are done (or `maxEpochsThisRun`), then writes results.
    @discardableResult
    public func run() throws -> TrainSummary {
        let logDirectory = isLeader ? options.outDirectory : path("rank-\(options.dataParallel!.rank)")
        let runLog = try RunLog(directory: logDirectory, history: history, fullEvalEveryN: config.fullEvalEveryN)
        defer { runLog.close() }
        if isLeader { try writeConfigCopy() }
        if epoch > 0 { options.log("resumed at epoch \(epoch) (step \(step)) from \(latestPath)") }
        var epochsThisRun = 0
        let runStart = Date()
        defer { try? checkpointWriter.wait() }   // after an error: let a background write finish
        while epoch < config.epochs {
            if let cap = options.maxEpochsThisRun, epochsThisRun >= cap { break }
            let record = try runEpoch(epoch, runLog: runLog,
                                      secondsPerEpoch: epochsThisRun > 0 ? Date().timeIntervalSince(runStart) / Double(epochsThisRun) : nil)
            history.append(record)
            epoch += 1
            epochsThisRun += 1
            runLog.epoch(record)
            options.log(consoleLine(record))
            guard isLeader else { continue }
            try profile.measure("checkpoint") { try saveCheckpoint(latestPath, background: true) }
            let isLast = epoch == config.epochs
            if isLast || (record.epoch > 0 && record.epoch % config.saveCkptEveryN == 0) {
                try saveCheckpoint(path("epoch-\(record.epoch).safetensors"))
            }
        }
        try checkpointWriter.wait()
        let s = summary()
        if epoch == config.epochs && isLeader { try writeResults(s) }
        runLog.flush()
        return s
    }

    public func summary() -> TrainSummary {
        TrainSummary(config: config, epochsCompleted: epoch, steps: step, last: history.last,
                     best: EpochRecord.best(of: history),
                     selectedBy: (config.validation ? "validation " : "test ") + EpochRecord.selectionMetric,
                     history: history)
    }

    /// One epoch: every training batch, then the evaluation.
    func runEpoch(_ e: Int, runLog: RunLog, secondsPerEpoch: Double? = nil) throws -> EpochRecord {
        let sampler = BatchSampler(store: store, view: trainView, maxLength: config.maxSequenceLength,
                                   batchSize: config.batchSize, shuffle: true, seed: config.seed)
        let batches = sampler.batchCount
        var progress = Progress(enabled: options.progress)
        progress.secondsPerEpoch = secondsPerEpoch
        let t0 = Date()
        var lossSum = 0.0, examples = 0, lossCount = 0
        var windowLoss = 0.0, windowCount = 0
        let arena = model.parameters
        // Deferred losses (device backends with DeferredLossOps, unless GR_SYNC_LOSS=1): steps are
        // queued without waiting for their loss; the losses are read back (one host wait) before
        // each in-loop monitor and at the end of the epoch — so before every evaluation and
        // checkpoint — and only then checked for NaN/Inf, logged and summed, in step order. A
        // non-finite loss is therefore reported with its own step and batch, but the steps queued
        // after it (at most eval_interval, or the rest of the epoch) have already been applied.
        // (Not with data parallelism: its step combines the replicas' returned losses.)
        let deferred: DeferredLossOps? = Self.deferLosses && options.dataParallel == nil ? backend as? DeferredLossOps : nil
        deferred?.deferringLosses = true
        defer {   // after an error: drop what is still pending, so the device list starts empty
            if let deferred { _ = deferred.takeDeferredLosses(); deferred.deferringLosses = false }
        }
        var pending: [(step: Int, batch: Int)] = []
        func account(_ loss: Float, step s: Int, batch i: Int) throws {
            guard loss.isFinite else {
                runLog.flush()
                throw TrainError.nonFiniteLoss(epoch: e, step: s, batch: i, loss: loss)
            }
            runLog.scalar(LogTags.arLoss, Double(loss), step: s)
            lossSum += Double(loss)
            windowLoss += Double(loss)
            windowCount += 1
            lossCount += 1
        }
        func settle() throws {
            guard let deferred, !pending.isEmpty else { return }
            let losses = profile.measure("train: read deferred losses") { deferred.takeDeferredLosses() }
            precondition(losses.count == pending.count, "deferred losses: \(losses.count) for \(pending.count) steps")
            let steps = pending
            pending.removeAll()
            for (k, p) in steps.enumerated() { try account(losses[k], step: p.step, batch: p.batch) }
        }
        let source = deviceBatchSource
        for i in 0..<batches {
            // Device-assembled batches need only the users; the host batch is built when needed.
            let batch: SequenceBatch? = source != nil ? nil : profile.measure("train: batch (host)") { sampler.batch(i, epoch: e) }
            let users = batch?.users ?? sampler.users(i, epoch: e)
            if config.evalInterval > 0 && step % config.evalInterval == 0 && isLeader {
                try settle()
                profile.measure("train: in-loop monitor") {
                    monitor(batch ?? sampler.batch(i, epoch: e), runLog: runLog,
                            windowLoss: windowCount > 0 ? windowLoss / Double(windowCount) : nil)
                }
                windowLoss = 0
                windowCount = 0
            }
            options.beforeStep?(step, model)
            let input = profile.measure("train: model input") {
                source?.input(users: users) ?? ModelInput(batch: batch!, paddedWidth: config.paddedWidth, training: true)
            }
            let loss = try profile.measure("train: forward + backward + loss") { () throws -> Float in
                if let dp = options.dataParallel {
                    return try dp.trainStep(model: model, global: input, step: step, seed: config.seed)
                }
                if let graphs = stepGraphs { return graphs.step(input, step: step, seed: config.seed) }
                arena.zeroGrads()
                return model.trainStep(input, step: step, seed: config.seed)
            }
            if deferred != nil {
                pending.append((step, i))
            } else {
                try account(loss, step: step, batch: i)
            }
            if stepGraphs == nil {   // a graph step includes AdamW
                profile.measure("train: AdamW") { adamw(step: step) }
            }
            step += 1
            examples += users.count
            progress.update(epoch: e, epochs: config.epochs, batch: i + 1, batches: batches,
                            loss: lossSum / Double(max(lossCount, 1)), examples: examples,
                            elapsed: Date().timeIntervalSince(t0))
        }
        try settle()
        let trainSeconds = Date().timeIntervalSince(t0)

        let t1 = Date()
        let full = e % config.fullEvalEveryN == 0 || e == config.epochs - 1
        // Ranks other than 0 do not evaluate (an empty record; they never write it).
        let limit = !isLeader ? 0 : full ? nil : config.partialEvalNumIters
        let test = evaluateRanking(model: model, store: store, view: Self.testView, config: config, epoch: e,
                                   maxBatches: limit, backend: backend, profile: profile)
        var validation: EvaluationResult? = nil
        if config.validation && isLeader {
            validation = evaluateRanking(model: model, store: store, view: Self.validationView, config: config, epoch: e,
                                         maxBatches: limit, backend: backend, profile: profile)
        }
        return EpochRecord(epoch: e, step: step, trainLoss: batches > 0 ? lossSum / Double(batches) : 0, fullEval: full,
                           test: test.means, validation: validation?.means, evalUsers: test.users,
                           trainSeconds: trainSeconds, evalSeconds: Date().timeIntervalSince(t1))
    }

    /// Batches assembled on the device (nil: built on the host), made once per trainer.
    lazy var deviceBatchSource: DeviceBatchSource? = {
        guard DeviceBatchSource.enabledByEnvironment, options.dataParallel == nil else { return nil }
        return DeviceBatchSource(store: store, backend: backend, view: trainView, maxLength: config.maxSequenceLength,
                                 paddedWidth: config.paddedWidth, dense: config.modelConfig.kind == .sasrec)
    }()

    /// Queues the AdamW update of step `s` over the whole arena.
    func adamw(step s: Int) {
        backend.adamwStep(params: model.parameters.values, grads: model.parameters.grads, m: adamM, v: adamV, step: s + 1,
                          lr: Float(learningRate(step: s)), beta1: Float(config.beta1), beta2: Float(config.beta2),
                          eps: Float(config.eps), weightDecay: Float(config.weightDecay))
    }

    /// Training steps as replayed CUDA graphs (`--cuda-graphs`), or nil (eager steps). `on` says
    /// why when they cannot be used; `auto` is on only for `StepGraphRunner.autoModels`.
    lazy var stepGraphs: StepGraphRunner? = {
        let mode = options.cudaGraphs
        guard mode != .off else { return nil }
        if mode == .auto && !StepGraphRunner.autoModels.contains(config.modelConfig.kind) { return nil }
        if options.dataParallel != nil {
            if mode == .on { options.log("cuda graphs: not with data parallelism; eager steps") }
            return nil
        }
        if let why = StepGraphRunner.unsupported(model: model, backend: backend, deviceBatches: deviceBatchSource != nil,
                                                 warmupSteps: config.numWarmupSteps) {
            if mode == .on || backend.device != .cpu { options.log("cuda graphs: \(why); eager steps") }
            return nil
        }
        let runner = StepGraphRunner(ops: backend as! StepGraphOps, model: model as! any SegmentedTraining,
                                     optimizerStep: { [unowned self] s in self.adamw(step: s) }, log: options.log)
        options.log(runner.jagged
            ? "cuda graphs: on (forward and backward + AdamW replayed per batch size and token capacity; loss eager)"
            : "cuda graphs: on (forward and backward + AdamW replayed per batch size; loss eager)")
        return runner
    }()

    /// "cuda graphs: …" captures and replays of the run (nil: eager steps).
    public var stepGraphSummary: String? {
        guard step > 0, let g = stepGraphs else { return nil }
        return "cuda graphs: \(g.captures) captures, \(g.replays) replays" + (g.failure.map { "; given up: \($0)" } ?? "")
    }

    /// False when the environment sets `GR_SYNC_LOSS=1`: every step's loss is then read (and
    /// checked) right after the step on every backend.
    static let deferLosses = !EnvironmentSwitch.value("GR_SYNC_LOSS", default: false)

    /// lr with the optional linear warm-up (spec §5.1; 0 warm-up steps in every reference config).
    func learningRate(step: Int) -> Double {
        guard config.numWarmupSteps > 0 else { return config.lr }
        return config.lr * min(1, Double(step + 1) / Double(config.numWarmupSteps))
    }

    /// The reference's in-loop monitor (spec §5.1): full-corpus metrics of the current training
    /// batch (history only, eval forward) logged as `eval/<metric>`, with `loss/train` and `lr`.
    func monitor(_ batch: SequenceBatch, runLog: RunLog, windowLoss: Double?) {
        let evaluator = RankingEvaluator(corpus: store.corpus, maxRank: config.maxRank)
        let ranks = rankBatch(batch, model: model, store: store, view: trainView, config: config, evaluator: evaluator,
                              itemVectors: model.itemEmbeddings(), backend: backend)
        var m = RankingMetrics()
        m.add(ranks: ranks, ratings: store.hasRatings ? batch.targetRatings : [])
        for (name, value) in m.means() { runLog.scalar(LogTags.metric(LogTags.evalInLoop, name), value, step: step) }
        if let windowLoss { runLog.scalar(LogTags.trainLoss, windowLoss, step: step) }
        runLog.scalar(LogTags.learningRate, learningRate(step: step), step: step)
    }

    /// Writes a checkpoint (atomically). `background`: where the tensors live on a device, their
    /// host copies are serialised and written by `checkpointWriter` while training goes on (the
    /// run waits for it before the next checkpoint and at its end); CPU tensors are written here.
    func saveCheckpoint(_ path: String, background: Bool = false) throws {
        let ckpt = Checkpoint(config: config, step: step, epoch: epoch, history: history, maxItemId: store.maxItemId)
        backend.synchronize()
        // A device backend's tensors are copied to the host first (the writer reads host floats).
        let onHost: (Tensor) -> Tensor = { t in t.device == .cpu ? t : Tensor(self.backend.download(t), shape: t.shape) }
        let (values, m, v) = (onHost(model.parameters.values), onHost(adamM), onHost(adamV))
        let entries = model.parameters.entries
        let write = { try ckpt.write(to: path, entries: entries, values: values, adamM: m, adamV: v) }
        if background && model.parameters.values.device != .cpu {
            try checkpointWriter.submit(write)
        } else {
            try checkpointWriter.wait()
            try write()
        }
    }

    func writeConfigCopy() throws {
        try SafeTensorsWriter.atomicWrite(Data(ConfigFile.render(config).utf8), to: path("config.yaml"))
    }

    func writeResults(_ s: TrainSummary) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try SafeTensorsWriter.atomicWrite(try enc.encode(s), to: path("results.json"))
        if let last = s.last {
            options.log("final epoch \(last.epoch):\n" + metricsTable(last.test, label: "test"))
        }
        if let best = s.best {
            var text = "best epoch \(best.epoch) by \(s.selectedBy):\n" + metricsTable(best.test, label: "test")
            if let v = best.validation { text += "\n" + metricsTable(v, label: "valid").split(separator: "\n").last! }
            options.log(text)
        }
    }

    func consoleLine(_ r: EpochRecord) -> String {
        func f(_ m: [String: Double], _ k: String) -> String { m[k].map(formatMetric) ?? "-" }
        var s = String(format: "epoch %d  loss %.4f  ", r.epoch, r.trainLoss)
        s += "\(r.fullEval ? "full" : "partial") eval (\(r.evalUsers) users): "
        s += ["ndcg@10", "ndcg@50", "hr@10", "hr@50", "mrr"].map { "\($0) \(f(r.test, $0))" }.joined(separator: " ")
        if let v = r.validation { s += "  | valid ndcg@10 \(f(v, "ndcg@10")) hr@10 \(f(v, "hr@10"))" }
        s += String(format: "  | train %.1fs eval %.1fs", r.trainSeconds, r.evalSeconds)
        return s
    }
}
