import GRCore
import GRCPU

/// Benchmark rows of the attention kernels at the shape (spec §5.2 ML-1M: B = 128,
/// max length 200 so N = 211, D = 50, H = 1): `hstu_fwd`, `hstu_bwd`, `hstu_fwd+bwd` (fused jagged
/// HSTU attention) and `sasrec_fwd`, `sasrec_bwd`, `sasrec_fwd+bwd` (causal softmax attention with
/// attention dropout 0.2).
///
/// FLOPs are causal-effective and count no recomputation: per sequence-head with
/// pairs = L(L+1)/2 (query, key ≤ query) pairs,
///   forward  = 2·pairs·(Dqk + Dv)       (Q·Kᵀ and A·V)
///   backward = 2·pairs·(2·Dqk + 2·Dv)   (dA = dO·Vᵀ, dV = Aᵀ·dO, dQ = dS·K, dK = dSᵀ·Q)
/// HSTU uses the jagged lengths L_b; SASRec computes all N rows (L = N).
/// Lengths "like ML-1M": three of every four sequences are at the cap L = 200, the fourth
/// 20 + (37·b mod 180) (ML-1M users have ≥ 20 ratings); chronological timestamps.
extension KernelBenchmark {
    static func attentionBenchmarks(backend: CPUBackend) -> [KernelBenchmark] {
        let batch = 128, maxLength = 200, heads = 1, dim = 50
        let n = maxLength + 11, d = dim / heads
        let lengths = (0..<batch).map { b in b % 4 == 3 ? min(maxLength, 20 + (37 * b) % 180) : maxLength }
        let layout = JaggedLayout(lengths: lengths)
        let t = layout.totalTokens
        // HSTU operands: Q, K, V column blocks of a UVQK buffer (T, 4D).
        let w = 4 * dim
        let uvqk = Tensor(randomValues(t * w, seed: 21).map { $0 * 0.5 }, shape: [t, w])
        let q = uvqk.view(2 * dim, [t * w - 2 * dim]), k = uvqk.view(3 * dim, [t * w - 3 * dim])
        let v = uvqk.view(dim, [t * w - dim])
        let ts = Tensor(zeros: [batch, n], dtype: .i64)
        for b in 0..<batch {
            var now: Int64 = 978_300_000 + Int64(b) * 1000
            for i in 0...lengths[b] { ts.int64s[b * n + i] = now; now += Int64(i % 7) * 3_600 + 61 }
        }
        let wPos = Tensor(randomValues(2 * n - 1, seed: 22).map { $0 * 0.04 }, shape: [2 * n - 1])
        let wTs = Tensor(randomValues(TimeBucket.count, seed: 23).map { $0 * 0.04 }, shape: [TimeBucket.count])
        let out = Tensor(zeros: [t, dim])
        let dOut = Tensor(randomValues(t * dim, seed: 24), shape: [t, dim])
        let dUVQK = Tensor(zeros: [t, w])
        let dPos = Tensor(zeros: [2 * n - 1]), dTs = Tensor(zeros: [TimeBucket.count])
        let pairs = lengths.reduce(0.0) { $0 + Double($1) * Double($1 + 1) / 2 } * Double(heads)
        let hstuForward = {
            backend.hstuAttentionForward(q: q, k: k, v: v, rowStride: w, layout: layout, timestamps: ts,
                                         positionWeights: wPos, timeWeights: wTs, heads: heads, dqk: d, dv: d,
                                         paddedWidth: n, out: out)
        }
        let hstuBackward = {
            backend.hstuAttentionBackward(dOut: dOut, q: q, k: k, v: v, rowStride: w, layout: layout, timestamps: ts,
                                          positionWeights: wPos, timeWeights: wTs, heads: heads, dqk: d, dv: d,
                                          paddedWidth: n, dq: dUVQK.view(2 * dim, [t * w - 2 * dim]),
                                          dk: dUVQK.view(3 * dim, [t * w - 3 * dim]), dv: dUVQK.view(dim, [t * w - dim]),
                                          dPositionWeights: dPos, dTimeWeights: dTs)
        }
        // SASRec operands: q, k, v column blocks of a (B·N, 3D) in-projection buffer.
        let rows = batch * n, w3 = 3 * dim
        let qkv = Tensor(randomValues(rows * w3, seed: 25), shape: [rows, w3])
        let sk = qkv.view(dim, [rows * w3 - dim]), sv = qkv.view(2 * dim, [rows * w3 - 2 * dim])
        let probs = Tensor(zeros: [batch, heads, n, n])
        let sOut = Tensor(zeros: [batch, n, dim])
        let sdOut = Tensor(randomValues(rows * dim, seed: 26), shape: [batch, n, dim])
        let dqkv = Tensor(zeros: [rows, w3])
        let stream = PhiloxStream(seed: 1, stream: RandomStreamKind.attentionDropout.stream(step: 0))
        let sPairs = Double(batch * heads) * Double(n) * Double(n + 1) / 2
        let sasrecForward = {
            backend.softmaxAttentionForward(q: qkv, k: sk, v: sv, rowStride: w3, batch: batch, width: n, dim: dim,
                                            heads: heads, dropout: 0.2, dropoutStream: stream, probs: probs, out: sOut)
        }
        let sasrecBackward = {
            backend.softmaxAttentionBackward(dOut: sdOut, q: qkv, k: sk, v: sv, rowStride: w3, batch: batch, width: n,
                                             dim: dim, heads: heads, dropout: 0.2, dropoutStream: stream, probs: probs,
                                             dq: dqkv, dk: dqkv.view(dim, [rows * w3 - dim]),
                                             dv: dqkv.view(2 * dim, [rows * w3 - 2 * dim]))
        }
        let fwd = 2.0 * Double(2 * d), bwd = 2.0 * Double(4 * d)
        let meanLength = Double(t) / Double(batch)
        let hstuShape = "B=\(batch) N=\(n) meanL=\(Int(meanLength.rounded())) H=\(heads) D=\(dim)"
        let sasrecShape = "B=\(batch) N=\(n) H=\(heads) D=\(dim) p=0.2"
        return [
            KernelBenchmark(op: "hstu_fwd", shape: hstuShape, flops: pairs * fwd, run: hstuForward, reference: nil),
            KernelBenchmark(op: "hstu_bwd", shape: hstuShape, flops: pairs * bwd, run: hstuBackward, reference: nil),
            KernelBenchmark(op: "hstu_fwd+bwd", shape: hstuShape, flops: pairs * (fwd + bwd),
                            run: { hstuForward(); hstuBackward() }, reference: nil),
            KernelBenchmark(op: "sasrec_fwd", shape: sasrecShape, flops: sPairs * fwd, run: sasrecForward, reference: nil),
            KernelBenchmark(op: "sasrec_bwd", shape: sasrecShape, flops: sPairs * bwd, run: sasrecBackward, reference: nil),
            KernelBenchmark(op: "sasrec_fwd+bwd", shape: sasrecShape, flops: sPairs * (fwd + bwd),
                            run: { sasrecForward(); sasrecBackward() }, reference: nil),
        ]
    }
}
