import ArgumentParser
import Foundation
import GRCore
import GRCPU
import GRCUDA
import GRModels
import GRTrain

/// `gr bench step --config FILE [--set k=v ...] [--batch B] [--steps S] [--items V]`: wall time of
/// one training step (forward + backward + loss, no optimizer) and of one eval forward of a model
/// preset, on a synthetic batch whose B histories all have the preset's max length (the worst case:
/// T = B·maxSequenceLength; `--lengths log-uniform`: `gr bench multi-gpu`'s ML-20M-like lengths).
/// Threads: GR_THREADS. `--device cuda`: host queue time, wall and GPU time of a whole step
/// (with AdamW) eager and as a CUDA graph replay (`StepGPUBench`).
struct StepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Time a training step (forward + backward + loss) and an eval forward of a model preset.")

    @Option(help: "A training config (configs/<dataset>/<model>.yaml).")
    var config: String

    @Option(name: .customLong("set"), help: "key=value override of the config (repeatable).")
    var overrides: [String] = []

    @Option(help: "Batch size B (default: the config's).")
    var batch: Int?

    @Option(help: "Timed steps (after one warm-up step); the median is reported.")
    var steps = 5

    @Option(help: "Item vocabulary: table rows = items + 1, corpus 1...items (default 3952, ML-1M's max id).")
    var items = 3952

    @Option(help: "Ids drawn from 1...corpus (default: items).")
    var corpus: Int?

    @Option(help: "History lengths: max (all at max_sequence_length) or log-uniform (gr bench multi-gpu's ML-20M-like).")
    var lengths = "max"

    @Option(help: "cpu (forward + backward + loss, and an eval forward) or cuda (eager vs CUDA graph of the whole step).")
    var device: DeviceChoice = .cpu

    @Flag(help: "With --device cuda: the eager step only (no CUDA graph).")
    var noGraph = false

    func validate() throws {
        guard ["max", "log-uniform"].contains(lengths) else {
            throw ValidationError("--lengths: max or log-uniform, got \(lengths)")
        }
        if let corpus, corpus < 1 || corpus > items { throw ValidationError("--corpus must be in 1...\(items), got \(corpus)") }
    }

    func run() throws {
        let tc = try ConfigFile.load(path: config, overrides: overrides)
        let mc = tc.modelConfig
        try mc.validate()
        let (backend, message) = try device.makeBackend()
        let b = batch ?? tc.batchSize, n = mc.paddedWidth, l = mc.maxSequenceLength, c = corpus ?? items
        let model = makeModel(mc, maxItemId: items, corpus: (1...Int32(c)).map { $0 }, backend: backend, seed: 1)
        let input: ModelInput
        if lengths == "log-uniform" {
            input = MultiGPUCommand.syntheticBatch(step: 0, batch: b, paddedWidth: n, maxLength: l, corpus: c, seed: 7)
        } else {   // random ids, one interaction per hour, target at L_b
            let s = PhiloxStream(seed: 7, stream: RandomStreamKind.synthetic.stream(step: 0))
            var ids = [Int32](repeating: 0, count: b * n), ts = [Int64](repeating: 0, count: b * n)
            for r in 0..<b {
                for t in 0...l {
                    ids[r * n + t] = Int32(1 + s.below(c, UInt64(r * n + t)))
                    ts[r * n + t] = 978_300_000 + Int64(t * 3600 + r)
                }
            }
            input = ModelInput(layout: JaggedLayout(lengths: [Int](repeating: l, count: b)), paddedWidth: n, ids: ids, timestamps: ts)
        }
        print(message)
        print("\(backend.name), \(config): \(mc.kind.rawValue) D \(mc.itemDim) blocks \(mc.blocks) heads \(mc.heads), "
              + "B \(b), T \(input.layout.totalTokens), N \(n), R \(mc.numNegatives), params \(model.parameters.count)")
        if let cuda = backend as? CUDABackend {
            let name = (config as NSString).deletingPathExtension.split(separator: "/").suffix(2).joined(separator: "/")
            try StepGPUBench.run(backend: cuda, model: model, input: input, config: tc, steps: max(steps, 8), graph: !noGraph,
                                 label: "\(name) B\(b) T\(input.layout.totalTokens)")
            return
        }
        var times: [Double] = []
        var loss: Float = 0
        for step in 0...steps {
            model.parameters.zeroGrads()
            let t0 = DispatchTime.now().uptimeNanoseconds
            loss = model.trainStep(input, step: step, seed: 1)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            if step > 0 { times.append(dt) }
        }
        var evalTimes: [Double] = []
        for _ in 0..<max(1, steps / 2) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = model.userEmbeddings(input)
            evalTimes.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        let train = median(times), eval = median(evalTimes)
        print(String(format: "train step: median %.1f ms of %d (%.0f tokens/s), loss %.4f", train * 1e3, times.count,
                     Double(input.layout.totalTokens) / train, loss))
        print(String(format: "eval forward: median %.1f ms of %d (%.0f users/s)", eval * 1e3, evalTimes.count,
                     Double(b) / eval))
    }
}
