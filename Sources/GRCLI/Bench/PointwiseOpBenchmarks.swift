import GRCore
import GRCPU

extension KernelBenchmark {
    /// Rows for the pointwise / fused-norm / L2 / embedding / sampling / optimizer ops at the ML-1M
    /// training sizes (layer norm and the loss have their rows in `OpBenchmarks.swift`) (spec §5.1 / §2.6: batch 128 × up to 200 tokens → T = 25600 jagged rows, D = 50,
    /// UVQK width 4D = 200, R = 128 negatives, V = 3707 table rows).
    /// "flops" counts the arithmetic the op needs (e.g. 2·P·(R+1)·D for the loss's dot products),
    /// so the GFLOP/s column of these mostly memory-bound ops is indicative only.
    static func pointwiseOpBenchmarks(backend be: CPUBackend) -> [KernelBenchmark] {
        let t = 25_600, d = 50, v = 3707, r = 128
        let n = Double(t * d)
        let uvqk = Tensor(randomValues(t * 4 * d, seed: 11), shape: [t, 4 * d])
        let uvqkOut = Tensor(zeros: [t, 4 * d]), uvqkGrad = Tensor(randomValues(t * 4 * d, seed: 12), shape: [t, 4 * d])
        let x = Tensor(randomValues(t * d, seed: 13), shape: [t, d]), y = Tensor(zeros: [t, d])
        let g = Tensor(randomValues(t * d, seed: 14), shape: [t, d]), dx = Tensor(zeros: [t, d])
        let mean = Tensor(zeros: [t]), rstd = Tensor(zeros: [t])
        let stream = PhiloxStream(seed: 1, stream: RandomStreamKind.layerDropout.stream(step: 0))
        let table = Tensor(randomValues(v * d, seed: 15), shape: [v, d]), dTable = Tensor(zeros: [v, d])
        let ids = be.upload((0..<t).map { Int32(1 + $0 * 7 % (v - 1)) }, shape: [t])
        let corpus = be.upload((1..<v).map { Int32($0) }, shape: [v - 1])
        let negatives = Tensor(zeros: [t, r], dtype: .i32)
        be.sampleNegatives(corpus: corpus, stream: stream, out: negatives, positions: t, negatives: r)
        let params = 400_000
        let p = Tensor(randomValues(params, seed: 16), shape: [params]), pg = Tensor(randomValues(params, seed: 17), shape: [params])
        let m = Tensor(zeros: [params]), vv = Tensor(zeros: [params])
        var step = 0
        let td = "T=\(t) D=\(d)"
        return [
            KernelBenchmark(op: "silu_fwd", shape: "T=\(t) 4D=\(4 * d)", flops: 4 * Double(t * 4 * d),
                            run: { be.siluForward(x: uvqk, out: uvqkOut, count: t * 4 * d) }, reference: nil),
            KernelBenchmark(op: "silu_bwd", shape: "T=\(t) 4D=\(4 * d)", flops: 7 * Double(t * 4 * d),
                            run: { be.siluBackward(dOut: uvqkGrad, x: uvqk, dx: uvqkOut, count: t * 4 * d) }, reference: nil),
            KernelBenchmark(op: "ln_mul_fwd", shape: td, flops: 6 * n,
                            run: { be.layerNormMulForward(x: x, u: uvqk, ldu: 4 * d, out: y, mean: mean, rstd: rstd,
                                                          rows: t, cols: d, eps: 1e-6) }, reference: nil),
            KernelBenchmark(op: "ln_mul_bwd", shape: td, flops: 12 * n,
                            run: { be.layerNormMulBackward(dOut: g, x: x, u: uvqk, ldu: 4 * d, mean: mean, rstd: rstd,
                                                           dx: dx, du: uvqkOut, rows: t, cols: d) }, reference: nil),
            KernelBenchmark(op: "l2norm_fwd", shape: td, flops: 3 * n,
                            run: { be.l2NormalizeForward(x: x, out: y, norms: mean, rows: t, cols: d, eps: 1e-6) },
                            reference: nil),
            KernelBenchmark(op: "l2norm_bwd", shape: td, flops: 5 * n,
                            run: { be.l2NormalizeBackward(dOut: g, x: x, norms: mean, dx: dx, rows: t, cols: d, eps: 1e-6) },
                            reference: nil),
            KernelBenchmark(op: "dropout_fwd", shape: td + " p=0.2", flops: n,
                            run: { be.dropoutForward(x: x, out: y, count: t * d, p: 0.2, stream: stream) }, reference: nil),
            KernelBenchmark(op: "dropout_bwd", shape: td + " p=0.2", flops: 2 * n,
                            run: { be.dropoutBackward(dOut: g, dx: dx, count: t * d, p: 0.2, stream: stream) }, reference: nil),
            KernelBenchmark(op: "bias_bwd", shape: td, flops: n,
                            run: { be.biasBackward(dOut: g, dBias: mean, rows: t, cols: d) }, reference: nil),
            KernelBenchmark(op: "embed_fwd", shape: td + " V=\(v)", flops: n,
                            run: { be.embeddingForward(table: table, ids: ids, scale: 7, out: y, rows: t, dim: d,
                                                       accumulate: false) }, reference: nil),
            KernelBenchmark(op: "embed_bwd", shape: td + " V=\(v)", flops: 2 * n,
                            run: { be.embeddingBackward(dOut: g, ids: ids, scale: 7, dTable: dTable, rows: t, dim: d,
                                                        paddingId: 0) }, reference: nil),
            KernelBenchmark(op: "negatives", shape: "P=\(t) R=\(r)", flops: Double(t * r),
                            run: { be.sampleNegatives(corpus: corpus, stream: stream, out: negatives, positions: t,
                                                      negatives: r) }, reference: nil),
            KernelBenchmark(op: "adamw", shape: "n=\(params)", flops: 12 * Double(params),
                            run: { step += 1
                                   be.adamwStep(params: p, grads: pg, m: m, v: vv, step: step, lr: 1e-3, beta1: 0.9,
                                                beta2: 0.98, eps: 1e-8, weightDecay: 0) }, reference: nil),
        ]
    }
}
