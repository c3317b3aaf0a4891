import Foundation
import GRCore
import GRCUDA

/// Host cost of queueing work on the GPU (`gr cuda bench` rows "host overhead"): how long the
/// host takes to queue `count` tiny kernels / cuBLASLt GEMMs of the ML-1M HSTU-large shapes,
/// against the GPU's time to run them (queue time, then the wait for the stream). When the
/// queue time per op exceeds the GPU time per op, a step is bound by the host (launch overhead),
/// which CUDA graphs would remove.
enum HostOverheadBench {
    static func run(_ b: CUDABackend, quick: Bool) -> [String] {
        let count = quick ? 20 : 2000
        let t = quick ? 64 : 14_635, w = 200, d = 50
        let x = b.zeros([t * d], .f32), wt = b.zeros([d * w], .f32), y = b.zeros([t * w], .f32)
        b.fill(x, 0.01); b.fill(wt, 0.02)
        func measure(_ name: String, _ body: () -> Void) -> String {
            body(); b.synchronize()
            let t0 = Date()
            for _ in 0..<count { body() }
            let queued = Date().timeIntervalSince(t0)
            b.synchronize()
            let total = Date().timeIntervalSince(t0)
            return String(format: "| host overhead: %@ | %d calls | queue %.1f µs/call | queue + run %.1f µs/call |",
                          name, count, queued / Double(count) * 1e6, total / Double(count) * 1e6)
        }
        return [
            measure("silu kernel (T×200)") { b.siluForward(x: y, out: y, count: t * w) },
            measure("gemm T×50·50×200 (tf32)") {
                b.gemm(transA: false, transB: false, m: t, n: w, k: d, alpha: 1, a: x, lda: d, b: wt, ldb: w, beta: 0, c: y, ldc: w)
            },
            measure("layer norm (T×50)") {
                b.layerNormForward(x: x, out: x, mean: y.view(0, [t]), rstd: y.view(t, [t]), rows: t, cols: d, eps: 1e-6)
            },
        ]
    }
}
