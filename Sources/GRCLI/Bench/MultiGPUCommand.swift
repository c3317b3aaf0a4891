import ArgumentParser
import Foundation
import GRCore
import GRCPU
import GRModels
import GRTrain

/// `gr bench multi-gpu --gpus N`: data-parallel scaling and equality of a model preset (default
/// HSTU-large at ML-20M shape) on synthetic ML-20M-like batches generated in memory.
///
/// The launcher runs phases one after the other, each in its own processes, with the same seed,
/// the same global batches and the same initial parameters:
/// - `plain`: 1 GPU, the ordinary single-process step (no NCCL) — the reference;
/// - `nccl-1`: 1 GPU through the NCCL path (a 1-rank communicator);
/// - `nccl-N`: N GPUs, global batch B split by `BatchSplit` (strong scaling);
/// - `weak-N` (`--weak`): N GPUs, global batch N·B (per-GPU batch B, weak scaling);
/// - `simulated-N` (`--simulate`): N ranks simulated one after the other on ONE GPU (no NCCL,
///   since NCCL refuses two ranks on one GPU);
/// - `shared-gpu` (`--try-shared-gpu`): N NCCL ranks all on GPU 0, to record NCCL's answer;
/// - `<phase>-no-overlap` (`--overlap-ab`): after each NCCL phase (nccl-1, nccl-N, weak-N) the
///   same phase with the all-reduce after the backward instead of overlapped with it (the
///   others use `--overlap` / `--no-overlap`, default off: pass `--overlap` with `--overlap-ab`).
/// It then prints per phase: median step time, steps/s, sequences/s, speed-up and efficiency
/// against `plain`, and the largest relative loss difference from `plain` over all steps
/// (identical batches; equal up to float rounding when the path is right).
///
/// Data: per step B histories with lengths log-uniform in [21, 1020) capped at max_sequence_length
/// (≈ 25% at the cap, median ≈ 52: a long tail like ML-20M's), ids uniform over a corpus of
/// `--corpus` ids, item table of `--items` + 1 rows (ML-20M: 26,744 rated movies, max id 131,262).
struct MultiGPUCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multi-gpu",
        abstract: "Data-parallel scaling 1 → N GPUs and 1-vs-N loss equality (HSTU-large, ML-20M shape).")

    @Option(help: "Model preset.")
    var config = "configs/ml-20m/hstu-large.yaml"

    @Option(name: .customLong("set"), help: "key=value override of the config (repeatable).")
    var overrides: [String] = []

    @Option(help: "Timed steps per phase (after --warmup steps); their median is reported.")
    var steps = 20

    @Option(help: "Untimed first steps per phase (their losses are still compared).")
    var warmup = 3

    @Option(help: "Global batch size (default: the config's).")
    var batch: Int?

    @Option(help: "Max item id: the item table has items + 1 rows (ML-20M: 131262).")
    var items = 131_262

    @Option(help: "Corpus size: ids 1...corpus are drawn (ML-20M: 26744).")
    var corpus = 26_744

    @Option(help: "Folder for the phases' result files.")
    var out = "/tmp/gr-bench-multi-gpu"

    @Flag(help: "Also N simulated ranks on one GPU (no NCCL).")
    var simulate = false

    @Flag(help: "Also weak scaling: N GPUs with a global batch of N·B.")
    var weak = false

    @Flag(help: "Also try N NCCL ranks on GPU 0 (NCCL is expected to refuse: 'Duplicate GPU').")
    var trySharedGpu = false

    @Flag(help: "Also each NCCL phase with --no-overlap (all-reduce after the backward): the overlap A/B.")
    var overlapAb = false

    @Option(help: "auto, cpu or cuda (cpu: for checking the bench itself; NCCL phases need cuda).")
    var device: DeviceChoice = .auto

    @Option(help: ArgumentHelp("Set by the launcher: the phase this process runs.", visibility: .hidden))
    var phase: String?

    @OptionGroup(title: "Multi-GPU")
    var distributed: DistributedOptions

    func validate() throws {
        try distributed.validate()
        guard steps > 0, warmup >= 0, items >= corpus, corpus > 0 else {
            throw ValidationError("need steps > 0, warmup ≥ 0, items ≥ corpus > 0")
        }
    }

    func run() throws {
        setvbuf(stdout, nil, _IOLBF, 0)
        if let phase { return try runPhase(phase) }
        try launchPhases()
    }

    // MARK: launcher

    /// The child command line of one phase.
    func arguments(phase: String, gpus: Int?, batch b: Int?, gpuIds: String? = nil) -> [String] {
        var a = ["bench", "multi-gpu", "--config", config, "--steps", "\(steps)", "--warmup", "\(warmup)",
                 "--items", "\(items)", "--corpus", "\(corpus)", "--out", out, "--device", device.rawValue, "--phase", phase,
                 "--master-addr", distributed.masterAddr, "--master-port", "\(distributed.masterPort)",
                 "--rendezvous-timeout", "\(distributed.rendezvousTimeout)", "--bucket-mib", "\(distributed.bucketMib)",
                 phase.hasSuffix(Self.noOverlapSuffix) || !distributed.overlap ? "--no-overlap" : "--overlap"]
        for o in overrides { a += ["--set", o] }
        if let b { a += ["--batch", "\(b)"] }
        if let g = gpus { a += ["--gpus", "\(g)"] }
        if let ids = gpuIds { a += ["--gpu-ids", ids] }
        return a
    }

    func launchPhases() throws {
        let n = distributed.gpus ?? 1
        let cfg = try ConfigFile.load(path: config, overrides: overrides)
        let b = batch ?? cfg.batchSize
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var phases: [(name: String, gpus: Int, batch: Int, ids: String?)] = [("plain", 1, b, nil), ("nccl-1", 1, b, nil)]
        if n > 1 { phases.append(("nccl-\(n)", n, b, nil)) }
        if weak && n > 1 { phases.append(("weak-\(n)", n, b * n, nil)) }
        if overlapAb {   // each NCCL phase followed by its twin without overlap
            phases = phases.flatMap { p in
                p.name == "plain" ? [p] : [p, (p.name + Self.noOverlapSuffix, p.gpus, p.batch, p.ids)]
            }
        }
        if simulate { phases.append(("simulated-\(max(n, 2))", 1, b, nil)) }
        if trySharedGpu { phases.append(("shared-gpu", max(n, 2), b, Array(repeating: "0", count: max(n, 2)).joined(separator: ","))) }
        var status: [String: Int32] = [:]
        for p in phases {
            try? FileManager.default.removeItem(atPath: resultPath(p.name))
            print("== phase \(p.name): \(p.gpus) process(es), global batch \(p.batch)")
            var opts = distributed
            opts.gpus = p.gpus
            opts.gpuIds = p.ids
            opts.masterPort = distributed.masterPort + status.count   // a fresh port per phase
            var args = arguments(phase: p.name, gpus: p.gpus, batch: p.batch, gpuIds: p.ids)
            if let i = args.firstIndex(of: "--master-port") { args[i + 1] = "\(opts.masterPort)" }
            status[p.name] = try MultiGPULauncher.run(opts, arguments: args, label: p.name)
        }
        try report(phases.map { ($0.name, $0.gpus, $0.batch) }, status: status)
    }

    /// Suffix of the phases run with `--no-overlap` by `--overlap-ab`.
    static let noOverlapSuffix = "-no-overlap"

    func resultPath(_ phase: String) -> String { (out as NSString).appendingPathComponent("\(phase).json") }

    func report(_ phases: [(name: String, gpus: Int, batch: Int)], status: [String: Int32]) throws {
        let results = phases.compactMap { p -> PhaseResult? in
            guard let d = FileManager.default.contents(atPath: resultPath(p.name)) else { return nil }
            return try? JSONDecoder().decode(PhaseResult.self, from: d)
        }
        let base = results.first { $0.phase == "plain" }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        print("\n## gr bench multi-gpu (\(config), \(steps) timed steps after \(warmup), items \(items), corpus \(corpus))")
        print("| phase | GPUs | global B | overlap | tokens/step | median step ms | steps/s | seqs/s | speed-up | efficiency | max rel. loss diff vs plain | status |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for p in phases {
            guard let r = results.first(where: { $0.phase == p.name }) else {
                print("| \(p.name) | \(p.gpus) | \(p.batch) | - | - | - | - | - | - | - | - | exit \(status[p.name] ?? -1) |")
                continue
            }
            let overlapText = r.overlap.map { $0 ? "on" : "off" } ?? "-"
            let t = median(r.stepSeconds)
            let seqs = Double(r.batch) / t
            var speed = "-", eff = "-", diff = "-"
            if let base {
                if r.batch == base.batch {
                    let d = zip(r.losses, base.losses).map { abs(Double($0) - Double($1)) / max(abs(Double($1)), 1e-12) }.max() ?? 0
                    diff = String(format: "%.2e", d)
                } else { diff = "(other batches)" }
                if !r.phase.hasPrefix("simulated") {   // simulated ranks: equality only
                    let s = seqs / (Double(base.batch) / median(base.stepSeconds))
                    speed = String(format: "%.2f×", s)
                    eff = String(format: "%.0f%%", 100 * s / Double(r.gpus))
                }
            }
            print(String(format: "| %@ | %d | %d | %@ | %d | %.1f | %.2f | %.0f | %@ | %@ | %@ | ok |", r.phase, r.gpus, r.batch,
                         overlapText, r.tokensPerStep, t * 1e3, 1 / t, seqs, speed, eff, diff))
        }
        // The overlap A/B: each phase against its --no-overlap twin (same batches, same processes' shape).
        for r in results where r.overlap == true {
            guard let off = results.first(where: { $0.phase == r.phase + Self.noOverlapSuffix }) else { continue }
            let on = median(r.stepSeconds), without = median(off.stepSeconds)
            let same = zip(r.losses, off.losses).map { abs(Double($0) - Double($1)) / max(abs(Double($1)), 1e-12) }.max() ?? 0
            print(String(format: "overlap A/B %@: %.1f ms with, %.1f ms without (%+.1f ms, %+.1f%%); max rel. loss diff %.2e",
                         r.phase, on * 1e3, without * 1e3, (on - without) * 1e3, 100 * (on - without) / without, same))
        }
        if let base {
            print("plain losses: " + base.losses.map { String(format: "%.5f", $0) }.joined(separator: " "))
            for r in results where r.phase != "plain" && r.batch == base.batch {
                print("\(r.phase) losses: " + r.losses.map { String(format: "%.5f", $0) }.joined(separator: " "))
            }
        }
    }

    // MARK: one phase

    struct PhaseResult: Codable {
        var phase: String
        var gpus: Int
        var batch: Int
        var tokensPerStep: Int
        var losses: [Float]
        var stepSeconds: [Double]
        /// All-reduce overlapped with the backward (nil: a phase without one, plain).
        var overlap: Bool?
    }

    func runPhase(_ phase: String) throws {
        let cfg = try ConfigFile.load(path: config, overrides: overrides)
        let mc = cfg.modelConfig
        try mc.validate()
        let (backend, message) = try (device == .auto && phase != "plain" && !phase.hasPrefix("simulated") ? DeviceChoice.cuda : device)
            .makeBackend()
        let b = batch ?? cfg.batchSize
        let isNCCL = phase.hasPrefix("nccl") || phase.hasPrefix("weak") || phase == "shared-gpu"
        let rank = isNCCL ? distributed.rank : 0
        if rank == 0 { print(message) }
        let dp = isNCCL ? try distributed.joinProcessGroup(backend: backend, log: { print($0) }) : nil
        let simulatedRanks = phase.hasPrefix("simulated-") ? Int(phase.dropFirst("simulated-".count)) ?? 2 : 1
        let model = makeModel(mc, maxItemId: items, corpus: (1...Int32(corpus)).map { $0 }, backend: backend, seed: cfg.seed)
        let arena = model.parameters
        let m = backend.zeros([arena.count], .f32), v = backend.zeros([arena.count], .f32)
        // The synthetic batches draw ids 1...corpus, the negatives the same corpus.
        let itemRows = SparseItemRows.enabledByEnvironment
            ? SparseItemRows(ids: 1...Int32(corpus), arena: arena) : nil
        dp?.itemRows = itemRows
        if rank == 0 {
            print("\(phase): \(mc.kind.rawValue) D \(mc.itemDim) blocks \(mc.blocks) heads \(mc.heads), params \(arena.count) "
                  + "(\((arena.count * 4) >> 20) MiB of gradients per all-reduce), global B \(b), \(backend.name)"
                  + (dp.map { ", \($0.overlap ? "overlapped" : "unoverlapped") all-reduce in \($0.bucketPlan(arena).buckets.count) buckets" } ?? ""))
            if dp != nil || simulatedRanks > 1 {
                let dense = arena.count * 4
                let compacted = 4 * (itemRows?.summedFloats(arenaCount: arena.count) ?? arena.count)
                print(String(format: "all-reduce bytes per step: dense %.1f MiB, compacted %.1f MiB", Double(dense) / 1048576,
                             Double(compacted) / 1048576)
                      + (itemRows.map { " (item table: \($0.rows.count) of \($0.tableRows) rows)" }
                         ?? " (item-row compaction off: GR_NCCL_SPARSE_ITEMS=0 or the rows cover > 70% of the table)"))
            }
        }
        var losses: [Float] = [], times: [Double] = [], tokens = 0
        for s in 0..<(warmup + steps) {
            let global = Self.syntheticBatch(step: s, batch: b, paddedWidth: mc.paddedWidth, maxLength: mc.maxSequenceLength,
                                             corpus: corpus, seed: cfg.seed)
            tokens = global.layout.totalTokens
            backend.synchronize()
            let t0 = DispatchTime.now().uptimeNanoseconds
            let loss: Float
            if let dp {
                loss = try dp.trainStep(model: model, global: global, step: s, seed: cfg.seed)
            } else if simulatedRanks > 1 {
                loss = SimulatedDataParallel.trainStep(model: model, global: global, step: s, seed: cfg.seed, ranks: simulatedRanks,
                                                       overlap: distributed.overlap, bucketBytes: distributed.bucketMib << 20,
                                                       itemRows: itemRows)
            } else {
                arena.zeroGrads()
                loss = model.trainStep(global, step: s, seed: cfg.seed)
            }
            backend.adamwStep(params: arena.values, grads: arena.grads, m: m, v: v, step: s + 1, lr: Float(cfg.lr),
                              beta1: Float(cfg.beta1), beta2: Float(cfg.beta2), eps: Float(cfg.eps),
                              weightDecay: Float(cfg.weightDecay))
            backend.synchronize()
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            losses.append(loss)
            if s >= warmup { times.append(dt) }
            if rank == 0 { print(String(format: "step %d loss %.6f %.1f ms", s, loss, dt * 1e3)) }
        }
        guard rank == 0 else { return }
        let r = PhaseResult(phase: phase, gpus: isNCCL ? distributed.worldSize : 1, batch: b, tokensPerStep: tokens,
                            losses: losses, stepSeconds: times,
                            overlap: dp?.overlap ?? (simulatedRanks > 1 ? distributed.overlap : nil))
        try SafeTensorsWriter.atomicWrite(try JSONEncoder().encode(r), to: resultPath(phase))
    }

    /// Step `step`'s global batch (B, N): a pure function of (seed, step), whatever the phase.
    static func syntheticBatch(step: Int, batch b: Int, paddedWidth n: Int, maxLength: Int, corpus: Int,
                               seed: UInt64) -> ModelInput {
        let s = PhiloxStream(seed: seed, stream: RandomStreamKind.synthetic.stream(step: step, slot: 1))
        let lengths = (0..<b).map { r in
            min(maxLength, 20 + Int(exp(Double(s.uniform(UInt64(r))) * log(1000.0))))
        }
        var ids = [Int32](repeating: 0, count: b * n), ts = [Int64](repeating: 0, count: b * n)
        for r in 0..<b {
            for t in 0...lengths[r] {
                ids[r * n + t] = Int32(1 + s.below(corpus, UInt64(b + r * n + t)))
                ts[r * n + t] = 1_000_000_000 + Int64(t * 3_600 + r * 60)
            }
        }
        return ModelInput(layout: JaggedLayout(lengths: lengths), paddedWidth: n, ids: ids, timestamps: ts)
    }
}
