import ArgumentParser
import Foundation
import GRCore
import GRCUDA

/// `gr cuda bench-attention`: GPU time of the tensor-core HSTU attention (bf16, causal, with the
/// relative bias) at issue #5's shapes and the ML-1M shapes. Times are medians over `--rounds`
/// event-timed rounds of `--reps` back-to-back calls on packed bf16 operands (the kernels alone,
/// as the reference's Triton numbers are); "+pack" adds the f32 → bf16 packing the backend does
/// (q, k, v, and dO for the backward). FLOPs as the issue counts them: 2·B·H·N²·D forward
/// (the full square, although causal work is half), 2.5× that backward.
struct CUDAAttentionBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-attention",
                                                    abstract: "HSTU attention on the tensor cores (bf16): GPU time and TFLOP/s.")
    @Option(help: "Calls per timed round.") var reps = 20
    @Option(help: "Timed rounds (the median is reported).") var rounds = 5
    @Flag(help: "Tiny sizes (checks the command itself, e.g. under the emulator).") var quick = false
    @Option(help: "Run only the shape with this index (0-based, in the table's order).") var shape: Int? = nil
    @Flag(help: "First run the tensor-core parity checks of `gr cuda selftest` (fails on a mismatch).") var check = false

    /// (label, lengths, N, H, D) of issue #5's table and the ML-1M presets.
    static func shapes(quick: Bool) -> [(String, [Int], Int, Int, Int)] {
        if quick { return [("quick", [70, 5, 128], 128, 2, 50)] }
        // lengths uniform in [1024, 2048] from a fixed LCG, so runs are comparable
        var x: UInt64 = 12345
        let ragged = (0..<16).map { _ -> Int in
            x = x &* 6364136223846793005 &+ 1442695040888963407
            return 1024 + Int((x >> 33) % 1025)
        }
        return [("B32 N1024 H4 D128", Array(repeating: 1024, count: 32), 1024, 4, 128),
                ("B8 N4096 H4 D128", Array(repeating: 4096, count: 8), 4096, 4, 128),
                ("B4 N8192 H4 D128", Array(repeating: 8192, count: 4), 8192, 4, 128),
                ("B16 N2048 L~U[1024,2048] H4 D128", ragged, 2048, 4, 128),
                ("ML-1M B128 N211 H1 D50", Array(repeating: 211, count: 128), 211, 1, 50),
                ("ML-1M B128 N211 H2 D25", Array(repeating: 211, count: 128), 211, 2, 25)]
    }

    func run() throws {
        let b = try CUDACommand.backend()
        print(b.context.describe)
        print("forward kernel at head dim 128: \(b.hstuForwardKernel(paddedDim: 128).name) (GR_CUDA_ATTENTION_FWD=\(b.hstuForwardKernel.rawValue), module \(b.context.compileArch))")
        for k in ["gr_hstu_wg_fwd_d128", "gr_hstu_tc_fwd_d128", "gr_hstu_tc_bwd_d128", "gr_hstu_tc_bwd_dq_d128", "gr_hstu_tc_fwd_d64", "gr_hstu_tc_bwd_d64", "gr_hstu_tc_bwd_dq_d64"] {
            if let r = b.kernelResources(k) { print("\(k): \(r.registers) registers, \(r.localBytes) local bytes") }
        }
        if check {
            let results = CUDAParity.tensorCore(gpu: b)
            for r in results {
                print(r.name.padding(toLength: 48, withPad: " ", startingAt: 0)
                      + String(format: " %12.3e %10.1e  %@", r.error, r.tolerance, r.passed ? "ok" : "FAIL"))
            }
            let failed = results.filter { !$0.passed }.count
            print("tensor-core checks: \(results.count - failed)/\(results.count) passed")
            if failed > 0 { throw ExitCode(1) }
        }
        /// Median GPU milliseconds of one call of `body`.
        func time(_ body: () -> Void) -> Double {
            body()
            b.synchronize()
            var samples: [Double] = []
            for _ in 0..<rounds {
                let ms = b.gpuMilliseconds { for _ in 0..<reps { body() } } ?? {
                    let t0 = Date()
                    for _ in 0..<reps { body() }
                    b.synchronize()
                    return Date().timeIntervalSince(t0) * 1e3
                }()
                samples.append(ms / Double(reps))
            }
            return samples.sorted()[samples.count / 2]
        }
        print("| shape | fwd | fwd TFLOP/s | fwd+bwd | fwd+bwd TFLOP/s | fwd +pack | fwd+bwd +pack |")
        print("|---|---|---|---|---|---|---|")
        for (index, (label, lengths, n, heads, d)) in Self.shapes(quick: quick).enumerated() where shape == nil || shape == index {
            let layout = JaggedLayout(lengths: lengths)
            let t = layout.totalTokens, w = 4 * heads * d
            // random inputs (not zeros): uniform in ±0.5, from one Philox stream
            let s = PhiloxStream(seed: 7, stream: 0xA77E)
            func random(_ count: Int, _ scale: Float, _ offset: UInt64) -> Tensor {
                b.upload((0..<count).map { (s.uniform(offset + UInt64($0)) * 2 - 1) * scale }, shape: [count])
            }
            let uvqk = random(t * w, 0.5, 0), g = random(t * heads * d, 0.5, 1 << 40)
            let pw = random(2 * n - 1, 0.3, 2 << 40), tw = random(TimeBucket.count, 0.3, 3 << 40)
            let ts = Tensor(zeros: [lengths.count, n], dtype: .i64)
            for x in 0..<(lengths.count * n) { ts.int64s[x] = 1_000_000_000 + Int64(x % n) * 3_600 + Int64(x % 7) * 13 }
            let out = b.zeros([t * heads * d], .f32), dG = b.zeros([t * w], .f32)
            let dpw = b.zeros([2 * n - 1], .f32), dtw = b.zeros([TimeBucket.count], .f32)
            let q = uvqk.view(2 * heads * d, [t * w - 2 * heads * d]), k = uvqk.view(3 * heads * d, [t * w - 3 * heads * d])
            let v = uvqk.view(heads * d, [t * w - heads * d])
            let dq = dG.view(2 * heads * d, [t * w - 2 * heads * d]), dk = dG.view(3 * heads * d, [t * w - 3 * heads * d])
            let dv = dG.view(heads * d, [t * w - heads * d])
            let plan = b.makeHSTUPlan(layout: layout, timestamps: ts, paddedWidth: n, dqk: d, dv: d)
            let dp = plan.paddedDim
            let qb = b.packHSTUOperand(q, rowStride: w, tokens: t, heads: heads, dim: d, paddedDim: dp)
            let kb = b.packHSTUOperand(k, rowStride: w, tokens: t, heads: heads, dim: d, paddedDim: dp)
            let vb = b.packHSTUOperand(v, rowStride: w, tokens: t, heads: heads, dim: d, paddedDim: dp)
            let gb = b.packHSTUOperand(g, rowStride: heads * d, tokens: t, heads: heads, dim: d, paddedDim: dp)
            let fwd = time {
                b.hstuTensorCoreForward(plan: plan, q: qb, k: kb, v: vb, positionWeights: pw, timeWeights: tw, heads: heads,
                                        dv: d, out: out)
            }
            let both = time {
                b.hstuTensorCoreForward(plan: plan, q: qb, k: kb, v: vb, positionWeights: pw, timeWeights: tw, heads: heads,
                                        dv: d, out: out)
                b.hstuTensorCoreBackward(plan: plan, q: qb, k: kb, v: vb, dOut: gb, positionWeights: pw, timeWeights: tw,
                                         heads: heads, dqk: d, dv: d, rowStride: w, dq: dq, dk: dk, dV: dv,
                                         dPositionWeights: dpw, dTimeWeights: dtw)
            }
            let fwdPack = time {
                b.hstuAttentionForwardBF16(q: q, k: k, v: v, rowStride: w, layout: layout, timestamps: ts, positionWeights: pw,
                                           timeWeights: tw, heads: heads, dqk: d, dv: d, paddedWidth: n, out: out)
            }
            let bothPack = time {
                b.hstuAttentionForwardBF16(q: q, k: k, v: v, rowStride: w, layout: layout, timestamps: ts, positionWeights: pw,
                                           timeWeights: tw, heads: heads, dqk: d, dv: d, paddedWidth: n, out: out)
                b.hstuAttentionBackwardBF16(dOut: g, q: q, k: k, v: v, rowStride: w, layout: layout, timestamps: ts,
                                            positionWeights: pw, timeWeights: tw, heads: heads, dqk: d, dv: d, paddedWidth: n,
                                            dq: dq, dk: dk, dv: dv, dPositionWeights: dpw, dTimeWeights: dtw)
            }
            let flops = 2 * Double(lengths.count * heads) * Double(n) * Double(n) * Double(d)
            func us(_ ms: Double) -> String { ms >= 1 ? String(format: "%.3f ms", ms) : String(format: "%.1f µs", ms * 1e3) }
            func rate(_ f: Double, _ ms: Double) -> String { String(format: "%.0f", f / (ms * 1e-3) / 1e12) }
            print("| \(label) | \(us(fwd)) | \(rate(flops, fwd)) | \(us(both)) | \(rate(3.5 * flops, both)) | "
                  + "\(us(fwdPack)) | \(us(bothPack)) |")
        }
    }
}
