import ArgumentParser
import Foundation
import GRCore
import GRCPU
import GRCUDA
import GRData
import GRTrain

/// `gr train`: trains a preset on a prepared store, evaluating after every epoch.
public struct TrainCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train HSTU or SASRec on a prepared dataset (spec §4-§6).",
        discussion: """
            Writes to --out: latest.safetensors (each epoch, for --resume), epoch-<e>.safetensors \
            (every save_ckpt_every_n epochs and at the end), metrics.jsonl, results.json (last and \
            best epoch), config.yaml and TensorBoard events under tb/.
            Example: gr train --config configs/ml-1m/hstu-large.yaml --data data/ml-1m --out runs/x --set epochs=10
            """)

    @Option(name: .long, help: "Preset file, e.g. configs/ml-1m/hstu-large.yaml.")
    var config: String

    @Option(name: .long, help: "A store written by `gr data prepare --out DIR`.")
    var data: String

    @Option(name: .long, help: "Run folder (checkpoints, logs, results).")
    var out: String

    @Option(name: .customLong("set"), help: "Override a config key: key=value or section.key=value (repeatable).")
    var overrides: [String] = []

    @Flag(name: .long, help: "Continue from <out>/latest.safetensors.")
    var resume = false

    @Option(name: .long, help: "Random seed (overrides the config's training.seed).")
    var seed: UInt64?

    @Option(name: .long, help: "CPU threads (default: GR_THREADS or every core). Results are deterministic per thread count.")
    var threads: Int?

    @Option(name: .long, help: "auto (CUDA when it loads, else CPU), cpu or cuda.")
    var device: DeviceChoice = .auto

    @Option(name: .customLong("cuda-graphs"),
            help: "Training steps as replayed CUDA graphs: auto (on where measured faster: SASRec), on or off (default: GR_CUDA_GRAPHS or auto). SASRec, and HSTU padded to token-capacity buckets (on only), with a constant lr; docs/cuda.md.")
    var cudaGraphs: CUDAGraphsMode?

    @Flag(name: .long, help: "No live progress line on stderr.")
    var quiet = false

    @OptionGroup(title: "Multi-GPU (data parallel over NCCL; docs/multi-gpu.md)")
    var distributed: DistributedOptions

    public init() {}

    public func run() throws {
        setvbuf(stdout, nil, _IOLBF, 0)  // per-epoch lines appear as they happen, in order with stderr
        try distributed.validate()
        if distributed.isLauncher {
            let status = try MultiGPULauncher.run(distributed, arguments: Array(CommandLine.arguments.dropFirst()))
            if status != 0 { throw ExitCode(status) }
            return
        }
        if let threads {
            guard threads > 0 else { throw ValidationError("--threads must be positive") }
            Parallel.threads = threads
        }
        var sets = overrides
        if let seed { sets.append("seed=\(seed)") }
        let cfg: TrainConfig
        let store: SequenceStore
        do {
            cfg = try ConfigFile.load(path: config, overrides: sets)
            store = try SequenceStore.open(directory: data)
        } catch {
            throw CLIFailure("\(error)")
        }
        var options = TrainOptions(outDirectory: out)
        options.resume = resume
        options.progress = !quiet && distributed.gpus == nil
        if let cudaGraphs { options.cudaGraphs = cudaGraphs }
        let (backend, deviceMessage) = try (distributed.gpus != nil && device == .auto ? DeviceChoice.cuda : device).makeBackend()
        print(deviceMessage)
        print("gr train: \(cfg.name.isEmpty ? config : cfg.name) on \(data) (\(store.userCount) users, "
              + "max item id \(store.maxItemId), corpus \(store.corpus.count)), \(backend.name), seed \(cfg.seed)")
        if resume && !FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent("latest.safetensors")) {
            print("--resume: no latest.safetensors in \(out) yet; starting from scratch")
        }
        if distributed.gpus != nil {
            options.dataParallel = try distributed.joinProcessGroup(backend: backend, log: { print($0) })
            if distributed.rank != 0 { options.log = { _ in } }
        }
        do {
            let trainer = try Trainer(config: cfg, store: store, backend: backend, options: options)
            print("parameters: \(trainer.model.parameters.entries.reduce(0) { $0 + $1.shape.reduce(1, *) })")
            try trainer.run()
            if trainer.profile.enabled { print("profile (GR_PROFILE, synchronised phases):\n" + trainer.profile.report()) }
            if let g = trainer.stepGraphSummary { print(g) }
            if let cuda = backend as? CUDABackend { print(cudaRunReport(cuda)) }
        } catch {
            throw CLIFailure("\(error)")
        }
    }
}

extension CUDAGraphsMode: ExpressibleByArgument {}

/// An error message printed as is by ArgumentParser ("Error: ...") with exit code 1.
struct CLIFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
