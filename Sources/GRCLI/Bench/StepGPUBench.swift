import Foundation
import GRCore
import GRCUDA
import GRModels
import GRTrain

/// `gr bench step --device cuda`: where a training step on the GPU spends its time, and what a
/// CUDA graph of it gives. One fixed batch; a step is zero-grads + forward + backward + loss
/// (deferred on the device) + AdamW, always with the same step index (same negatives and dropout
/// masks), so that the eager step and the graph replay do the same work:
/// - eager queue: host time to queue one step (no host wait inside: deferred loss);
/// - eager wall: steps queued back to back, wall time per step (max of host and GPU, roughly);
/// - eager GPU: events around one step queued behind a busy kernel (`gr_spin`), so the GPU never
///   waits for the host: the step's GPU time alone;
/// - graph: the same step captured once (`CUDAGraph`), then launch (host), wall and GPU time of
///   the replays; parity: K eager steps and K replays from the same parameters and AdamW state
///   give the same losses (up to the atomics' summation order).
enum StepGPUBench {
    struct Row {
        var queueMs = 0.0, wallMs = 0.0, gpuMs = 0.0
    }

    static func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

    static func run(backend b: CUDABackend, model: any SequentialRecommender, input: ModelInput, config tc: TrainConfig,
                    steps: Int, graph useGraph: Bool, label: String) throws {
        let arena = model.parameters
        let m = b.zeros([arena.count], .f32), v = b.zeros([arena.count], .f32)
        let s0 = 5   // the step index every timed step uses
        func step() {
            arena.zeroGrads()
            _ = model.trainStep(input, step: s0, seed: tc.seed)
            b.adamwStep(params: arena.values, grads: arena.grads, m: m, v: v, step: s0 + 1, lr: Float(tc.lr),
                        beta1: Float(tc.beta1), beta2: Float(tc.beta2), eps: Float(tc.eps), weightDecay: Float(tc.weightDecay))
        }
        b.deferringLosses = true
        defer { _ = b.takeDeferredLosses(); b.deferringLosses = false }
        for _ in 0..<3 { step() }
        b.synchronize()
        _ = b.takeDeferredLosses()

        // Busy-loop calibration: iterations per GPU millisecond.
        let probe = 1 << 20
        let probeMs = b.gpuMilliseconds { b.spin(iterations: probe) } ?? 1
        let perMs = Double(probe) / max(probeMs, 1e-3)

        /// (host queue ms, wall ms) per call of `body` over `steps` back-to-back calls, and the
        /// median GPU ms of one call queued behind a busy kernel (with the check that the host had
        /// queued it before the busy kernel ended).
        func measure(_ body: () -> Void) -> (Row, Bool) {
            var r = Row()
            b.synchronize()
            let t0 = now()
            for _ in 0..<steps { body() }
            let t1 = now()
            b.synchronize()
            let t2 = now()
            r.queueMs = (t1 - t0) / Double(steps) * 1e3
            r.wallMs = (t2 - t0) / Double(steps) * 1e3
            var gpu: [Double] = [], covered = true
            let spinMs = max(20, 4 * r.queueMs)
            for _ in 0..<max(3, steps / 4) {
                b.spin(iterations: Int(spinMs * perMs))
                var q = 0.0
                let ms = b.gpuMilliseconds {
                    let a = now(); body(); q = (now() - a) * 1e3
                } ?? .nan
                if q > spinMs * 0.8 { covered = false }
                gpu.append(ms)
            }
            r.gpuMs = median(gpu)
            return (r, covered)
        }
        let (eager, eagerCovered) = measure(step)
        _ = b.takeDeferredLosses()
        let stats0 = b.context.stats
        step()
        let perStep = b.context.stats.since(stats0)
        b.synchronize()
        _ = b.takeDeferredLosses()
        print(String(format: "%@ eager: queue %.3f ms/step (%d launches + %d GEMMs, %.1f µs each), wall %.3f ms/step, GPU %.3f ms/step%@",
                     label, eager.queueMs, perStep.launches, perStep.gemms,
                     eager.queueMs * 1e3 / Double(max(perStep.launches + perStep.gemms, 1)), eager.wallMs, eager.gpuMs,
                     eagerCovered ? "" : " (GPU time includes host waits: the busy kernel ended first)"))
        var line = String(format: "| %@ | %.3f | %.3f | %.3f |", label, eager.queueMs, eager.wallMs, eager.gpuMs)
        guard useGraph else {
            print("| step | eager queue ms | eager wall ms | eager GPU ms |\n|---|---|---|---|\n" + line)
            return
        }
        if let why = b.graphsUnavailable { print("graph: unavailable (\(why))"); return }

        // Parity: K eager steps, then K replays, from the same parameters and moments.
        let k = 5
        let snap = [arena.values, m, v].map { t -> Tensor in
            let c = b.zeros(t.shape, .f32); b.copy(t, to: c); return c
        }
        func restore() { for (s, t) in zip(snap, [arena.values, m, v]) { b.copy(s, to: t) } }
        for _ in 0..<k { step() }
        let eagerLosses = b.takeDeferredLosses()
        restore()
        let t0 = now()
        let graph = try b.captureGraph { step() }
        let captureMs = (now() - t0) * 1e3
        let lossSlot = b.deferredLossSlot(0)   // the slot the captured loss reduction writes
        var replayLosses: [Float] = []
        for _ in 0..<k {
            graph.launch()
            replayLosses.append(b.download(lossSlot)[0])
        }
        var worst = 0.0
        for (e, r) in zip(eagerLosses, replayLosses) {
            let d = !e.isFinite || !r.isFinite ? Double.infinity : Double(abs(e - r)) / max(Double(abs(e)), 1e-12)
            worst = max(worst, d)
        }
        print("\(label) parity: eager losses \(eagerLosses), replayed \(replayLosses), worst relative difference \(worst)")
        let (replay, replayCovered) = measure { graph.launch() }
        print(String(format: "%@ graph: %d nodes from %d launches, captured in %.1f ms; launch %.1f µs, wall %.3f ms/step, GPU %.3f ms/step%@",
                     label, graph.nodeCount, graph.capturedLaunches, captureMs, replay.queueMs * 1e3, replay.wallMs, replay.gpuMs,
                     replayCovered ? "" : " (GPU time includes host waits)"))
        line += String(format: " %.1f | %.3f | %.3f | %.2f× | %.1e |", replay.queueMs * 1e3, replay.wallMs, replay.gpuMs,
                       eager.wallMs / replay.wallMs, worst)
        print("| step | eager queue ms | eager wall ms | eager GPU ms | graph launch µs | graph wall ms | graph GPU ms | wall eager/graph | loss parity |\n"
              + "|---|---|---|---|---|---|---|---|---|\n" + line)
        restore()
    }
}
