import ArgumentParser
import Foundation
import GRCore
import GRCPU
import GRCUDA
import GRData
import GRModels
import GRTrain

/// `gr cuda info|selftest|bench|train-parity`: the CUDA backend's checks, runnable from the one
/// static binary on the GPU machine (see scripts/device-check.sh).
public struct CUDACommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cuda",
        abstract: "CUDA backend: what loaded, CPU-vs-GPU parity of every op, GPU benchmarks.",
        subcommands: [Info.self, SelfTest.self, Bench.self, TrainParity.self, CUDAAttentionBench.self,
                      CUDARetrievalBench.self])
    public init() {}

    static func backend() throws -> CUDABackend {
        switch CUDABackend.shared {
        case .success(let b): return b
        case .failure(let e): throw CLIFailure("\(e)")
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Which CUDA libraries and device were found.")
        func run() throws {
            let b = try CUDACommand.backend()
            print(b.context.describe)
            print("kernels: \(b.context.moduleOrigin)")
        }
    }

    struct SelfTest: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "selftest",
                                                        abstract: "Every op on CPU and GPU from the same random inputs.")
        @Option(help: "Random seed of the inputs.") var seed: UInt64 = 1
        @Option(help: "Only this family of rows: elementwise, norm, fused or loss (no rank checks).") var family: String?
        func run() throws {
            let b = try CUDACommand.backend()
            print(b.context.describe)
            let results: [ParityResult]
            if let family {
                guard let rows = CUDAParity.family(family, gpu: b, seed: seed) else {
                    throw ValidationError("--family \(family): unknown (elementwise, norm, fused, loss)")
                }
                results = rows
            } else {
                results = CUDAParity.all(gpu: b, seed: seed)
            }
            var failed = 0
            print("op".padding(toLength: 48, withPad: " ", startingAt: 0) + "   rel. error  tolerance")
            for r in results {
                if !r.passed { failed += 1 }
                print(r.name.padding(toLength: 48, withPad: " ", startingAt: 0)
                      + String(format: " %12.3e %10.1e  %@", r.error, r.tolerance, r.passed ? "ok" : "FAIL"))
            }
            let ranks = family == nil ? RankParity.run(gpu: b, seed: seed) : []
            for r in ranks {
                if !r.passed { failed += 1 }
                print(r.name.padding(toLength: 48, withPad: " ", startingAt: 0)
                      + String(format: " %5d/%-5d users differ (allowed %d; %d ranked)  %@", r.mismatches, r.users,
                               r.allowed, r.ranked, r.passed ? "ok" : "FAIL"))
            }
            let total = results.count + ranks.count
            print("selftest: \(total - failed)/\(total) passed")
            if failed > 0 { throw ExitCode(1) }
        }
    }

    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "GEMM (TF32) and HSTU attention timings on the GPU.")
        @Option(help: "Timed repetitions.") var reps = 5
        @Flag(help: "Tiny sizes (checks the command itself, e.g. under the emulator).") var quick = false
        func run() throws {
            let b = try CUDACommand.backend()
            print(b.context.describe)
            func time(_ body: () -> Void) -> Double {
                body(); b.synchronize()
                let t0 = Date()
                for _ in 0..<reps { body() }
                b.synchronize()
                return Date().timeIntervalSince(t0) / Double(reps)
            }
            print("| op | size | time | rate |")
            print("|---|---|---|---|")
            for n in quick ? [64] : [1024, 4096, 8192] {
                let x = b.zeros([n * n], .f32), y = b.zeros([n * n], .f32), z = b.zeros([n * n], .f32)
                b.fill(x, 0.5); b.fill(y, 0.25)
                let s = time { b.gemm(transA: false, transB: true, m: n, n: n, k: n, alpha: 1, a: x, lda: n, b: y, ldb: n, beta: 0, c: z, ldc: n) }
                print("| gemm tf32 | \(n)³ | \(String(format: "%.3f ms", s * 1e3)) | \(String(format: "%.1f TFLOP/s", 2 * pow(Double(n), 3) / s / 1e12)) |")
            }
            for (B, N, H, D) in quick ? [(2, 64, 2, 16)] : [(32, 1024, 4, 128), (8, 4096, 4, 128)] {
                let layout = JaggedLayout(lengths: Array(repeating: N, count: B))
                let t = B * N, w = 4 * H * D
                let uvqk = b.zeros([t * w], .f32)
                b.fill(uvqk, 0.01)
                let ts = Tensor(zeros: [B, N], dtype: .i64)
                for i in 0..<(B * N) { ts.int64s[i] = Int64(i % N) * 60 }
                let pw = b.zeros([2 * N - 1], .f32), tw = b.zeros([TimeBucket.count], .f32)
                let out = b.zeros([t * H * D], .f32), g = b.zeros([t * H * D], .f32), dG = b.zeros([t * w], .f32)
                let dpw = b.zeros([2 * N - 1], .f32), dtw = b.zeros([TimeBucket.count], .f32)
                b.fill(g, 0.01)
                let q = uvqk.view(2 * H * D, [t * w - 2 * H * D]), k = uvqk.view(3 * H * D, [t * w - 3 * H * D])
                let v = uvqk.view(H * D, [t * w - H * D])
                let fwd = time {
                    b.hstuAttentionForward(q: q, k: k, v: v, rowStride: w, layout: layout, timestamps: ts, positionWeights: pw,
                                           timeWeights: tw, heads: H, dqk: D, dv: D, paddedWidth: N, out: out)
                }
                let bwd = time {
                    b.hstuAttentionBackward(dOut: g, q: q, k: k, v: v, rowStride: w, layout: layout, timestamps: ts,
                                            positionWeights: pw, timeWeights: tw, heads: H, dqk: D, dv: D, paddedWidth: N,
                                            dq: dG.view(2 * H * D, [t * w - 2 * H * D]), dk: dG.view(3 * H * D, [t * w - 3 * H * D]),
                                            dv: dG.view(H * D, [t * w - H * D]), dPositionWeights: dpw, dTimeWeights: dtw)
                }
                let flops = 2 * Double(B * H) * Double(N) * Double(N) * Double(D)   // issue #5's count (full square)
                print("| hstu attention fwd (simple kernel, f32) | B\(B) N\(N) H\(H) D\(D) | \(String(format: "%.3f ms", fwd * 1e3)) | \(String(format: "%.1f TFLOP/s", flops / fwd / 1e12)) |")
                print("| hstu attention fwd+bwd | B\(B) N\(N) H\(H) D\(D) | \(String(format: "%.3f ms", (fwd + bwd) * 1e3)) | \(String(format: "%.1f TFLOP/s", 3.5 * flops / (fwd + bwd) / 1e12)) |")
            }
            for line in HostOverheadBench.run(b, quick: quick) { print(line) }
            let mem = b.context.memoryInfo()
            print("device memory: peak in use by gr \(b.context.peakBytesInUse >> 20) MiB, reserved \(b.context.bytesReserved >> 20) MiB, "
                  + "free \(mem.free >> 20) of \(mem.total >> 20) MiB")
        }
    }

    struct TrainParity: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "train-parity",
            abstract: "N training steps on the CPU and on the GPU from the same seed; prints both losses.")
        @Option(help: "Preset file.") var config: String
        @Option(help: "Prepared store.") var data: String
        @Option(help: "Steps.") var steps = 20
        @Option(name: .customLong("set"), help: "Config override key=value (repeatable).") var overrides: [String] = []
        @Option(help: "Largest accepted relative loss difference.") var tolerance = 2e-3
        @Option(name: .customLong("cuda-graphs"), help: "on: the GPU steps replay CUDA graphs as `gr train --cuda-graphs on` does (SASRec; HSTU padded to token-capacity buckets); off (default): eager.")
        var cudaGraphs: CUDAGraphsMode = .off
        func run() throws {
            let gpu = try CUDACommand.backend()
            let cfg = try ConfigFile.load(path: config, overrides: overrides)
            let store = try SequenceStore.open(directory: data)
            let cpu = CPUBackend()
            let backends: [any Backend] = [cpu, gpu]
            let models = backends.map {
                makeModel(cfg.modelConfig, maxItemId: store.maxItemId, corpus: store.corpus, backend: $0, seed: cfg.seed)
            }
            let moments = backends.map { be in models[0].parameters.values.count }.enumerated().map { (i, n) in
                (backends[i].zeros([n], .f32), backends[i].zeros([n], .f32))
            }
            let sampler = BatchSampler(store: store, view: SampleView.train, maxLength: cfg.maxSequenceLength,
                                       batchSize: cfg.batchSize, shuffle: true, seed: cfg.seed)
            print("train-parity: \(cfg.name), \(steps) steps, batch \(cfg.batchSize), seed \(cfg.seed); \(gpu.name)")
            print("| step | cpu loss | cuda loss | rel. diff | cpu s | cuda s |")
            print("|---|---|---|---|---|---|")
            var worst = 0.0
            // The GPU model trains on device-assembled batches (checked against the host's first).
            let dense = cfg.modelConfig.kind == .sasrec
            let source = DeviceBatchSource(store: store, backend: gpu, view: SampleView.train,
                                           maxLength: cfg.maxSequenceLength, paddedWidth: cfg.paddedWidth, dense: dense)
            var batchMismatches = 0
            /// Queues model i's AdamW update of step s (the config's constant lr).
            func adamw(_ i: Int, step s: Int) {
                let p = models[i].parameters
                backends[i].adamwStep(params: p.values, grads: p.grads, m: moments[i].0, v: moments[i].1, step: s + 1,
                                      lr: Float(cfg.lr), beta1: Float(cfg.beta1), beta2: Float(cfg.beta2),
                                      eps: Float(cfg.eps), weightDecay: Float(cfg.weightDecay))
            }
            var graphs: StepGraphRunner? = nil
            if cudaGraphs != .off {
                if let why = StepGraphRunner.unsupported(model: models[1], backend: gpu, deviceBatches: source != nil,
                                                         warmupSteps: cfg.numWarmupSteps) {
                    throw CLIFailure("--cuda-graphs \(cudaGraphs.rawValue): \(why)")
                }
                graphs = StepGraphRunner(ops: gpu, model: models[1] as! any SegmentedTraining, optimizerStep: { adamw(1, step: $0) },
                                         log: { print($0) })
            }
            for step in 0..<min(steps, sampler.batchCount) {
                let batch = sampler.batch(step, epoch: 0)
                let input = ModelInput(batch: batch, paddedWidth: cfg.paddedWidth, training: true)
                var gpuInput = input
                if let source {
                    gpuInput = source.input(users: batch.users)
                    let bad = DeviceBatchParity.mismatches(device: gpuInput, host: input, dense: dense, gpu: gpu)
                    if !bad.isEmpty { batchMismatches += 1; print("step \(step): device batch differs in \(bad.joined(separator: ", "))") }
                }
                var losses: [Float] = [], times: [Double] = []
                for (i, m) in models.enumerated() {
                    let input = i == 0 ? input : gpuInput
                    let t0 = Date()
                    let loss: Float
                    if i == 1, let graphs {   // zeroing, forward, loss, backward and AdamW
                        loss = graphs.step(input, step: step, seed: cfg.seed)
                    } else {
                        m.parameters.zeroGrads()
                        loss = m.trainStep(input, step: step, seed: cfg.seed)
                        adamw(i, step: step)
                    }
                    backends[i].synchronize()
                    losses.append(loss)
                    times.append(Date().timeIntervalSince(t0))
                }
                let diff = Double(abs(losses[1] - losses[0])) / max(Double(abs(losses[0])), 1e-12)
                worst = max(worst, diff.isNaN ? .infinity : diff)
                print("| \(step) | \(losses[0]) | \(losses[1]) | \(String(format: "%.2e", diff)) | "
                      + "\(String(format: "%.3f", times[0])) | \(String(format: "%.4f", times[1])) |")
            }
            print("train-parity: device-assembled batches \(source == nil ? "unavailable" : batchMismatches == 0 ? "identical to the host's" : "DIFFER in \(batchMismatches) steps")")
            if let graphs {
                print("train-parity: cuda graphs \(graphs.captures) captures, \(graphs.replays) replays"
                      + (graphs.failure.map { "; GIVEN UP: \($0)" } ?? ""))
                if graphs.failure != nil || graphs.replays == 0 { throw ExitCode(1) }
            }
            print("train-parity: worst relative loss difference \(String(format: "%.2e", worst)) (tolerance \(tolerance))")
            if !(worst <= tolerance) || batchMismatches > 0 { throw ExitCode(1) }
        }
    }
}
