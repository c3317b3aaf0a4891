import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRCore
import GRCPU

/// `gr bench attention`: effective GFLOP/s of the fused HSTU attention (forward, backward) and of
/// SASRec's causal softmax attention, on CPU, release builds only being meaningful.
///
/// FLOP count ("causal-effective", no recomputation counted): per sequence and head with
/// `pairs` = L(L+1)/2 (query, key ≤ query) pairs,
///   forward  = 2·pairs·(Dqk + Dv)     (QKᵀ and A·V)
///   backward = 2·pairs·(2·Dqk + 2·Dv) (dA = dO·Vᵀ, dV = Aᵀ·dO, dQ = dS·K, dK = dSᵀ·Q)
/// HSTU uses the jagged lengths L_b; SASRec computes all N rows, so L = N there.
/// Lengths "like ML-1M": three of every four sequences have L = 200 (the cap), the fourth
/// 20 + (37·b mod 180) (ML-1M users have ≥ 20 ratings).
struct AttentionBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "GFLOP/s of the HSTU and SASRec attention kernels (threads: GR_THREADS).")

    @Option(help: "Batch size B.") var batch = 128
    @Option(help: "Maximum history length (N = this + 11).") var maxLength = 200
    @Option(help: "Heads H.") var heads = 1
    @Option(help: "Model width D = H·Dqk = H·Dv.") var dim = 50
    @Option(name: .customLong("repeat"), help: "Timed runs (the median is reported).") var repeats = 7
    @Option(help: "Only rows whose name contains this text.") var filter: String?
    @Flag(help: "Time the calling thread's CPU time (robust on a busy machine; use with GR_THREADS=1).")
    var cpuTime = false

    func run() throws {
        let backend = CPUBackend()
        let n = maxLength + 11, d = dim / heads
        let lengths = (0..<batch).map { b in b % 4 == 3 ? min(maxLength, 20 + (37 * b) % 180) : maxLength }
        let layout = JaggedLayout(lengths: lengths)
        let t = layout.totalTokens
        var state: UInt64 = 12345
        func random() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 2000
        }
        // HSTU operands: Q, K, V column blocks of a UVQK buffer (T, 4D).
        let w = 4 * dim
        let uvqk = Tensor((0..<(t * w)).map { _ in random() }, shape: [t, w])
        let q = uvqk.view(2 * dim, [t * w - 2 * dim]), k = uvqk.view(3 * dim, [t * w - 3 * dim])
        let v = uvqk.view(dim, [t * w - dim])
        let ts = Tensor(zeros: [batch, n], dtype: .i64)
        for b in 0..<batch {
            var now: Int64 = 978_300_000 + Int64(b) * 1000
            for i in 0...lengths[b] { ts.int64s[b * n + i] = now; now += Int64(i % 7) * 3_600 + 61 }
        }
        let wPos = Tensor((0..<(2 * n - 1)).map { _ in random() * 0.04 }, shape: [2 * n - 1])
        let wTs = Tensor((0..<TimeBucket.count).map { _ in random() * 0.04 }, shape: [TimeBucket.count])
        let out = Tensor(zeros: [t, dim], dtype: .f32)
        let dOut = Tensor((0..<(t * dim)).map { _ in random() }, shape: [t, dim])
        let dUVQK = Tensor(zeros: [t, w], dtype: .f32)
        let dPos = Tensor(zeros: [2 * n - 1], dtype: .f32), dTs = Tensor(zeros: [TimeBucket.count], dtype: .f32)
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
        let qkv = Tensor((0..<(rows * w3)).map { _ in random() }, shape: [rows, w3])
        let sq = qkv, sk = qkv.view(dim, [rows * w3 - dim]), sv = qkv.view(2 * dim, [rows * w3 - 2 * dim])
        let probs = Tensor(zeros: [batch, heads, n, n], dtype: .f32)
        let sOut = Tensor(zeros: [batch, n, dim], dtype: .f32)
        let sdOut = Tensor((0..<(rows * dim)).map { _ in random() }, shape: [batch, n, dim])
        let dqkv = Tensor(zeros: [rows, w3], dtype: .f32)
        let stream = PhiloxStream(seed: 1, stream: RandomStreamKind.attentionDropout.stream(step: 0))
        let sPairs = Double(batch * heads) * Double(n) * Double(n + 1) / 2
        let sasrecForward = {
            backend.softmaxAttentionForward(q: sq, k: sk, v: sv, rowStride: w3, batch: batch, width: n, dim: dim,
                                            heads: heads, dropout: 0.2, dropoutStream: stream, probs: probs, out: sOut)
        }
        let sasrecBackward = {
            backend.softmaxAttentionBackward(dOut: sdOut, q: sq, k: sk, v: sv, rowStride: w3, batch: batch, width: n,
                                             dim: dim, heads: heads, dropout: 0.2, dropoutStream: stream, probs: probs,
                                             dq: dqkv, dk: dqkv.view(dim, [rows * w3 - dim]),
                                             dv: dqkv.view(2 * dim, [rows * w3 - 2 * dim]))
        }
        let fwd = 2.0 * Double(2 * d), bwd = 2.0 * Double(4 * d)
        let table: [(String, Double, () -> Void)] = [
            ("hstu_fwd", pairs * fwd, hstuForward),
            ("hstu_bwd", pairs * bwd, hstuBackward),
            ("hstu_fwd+bwd", pairs * (fwd + bwd), { hstuForward(); hstuBackward() }),
            ("sasrec_fwd", sPairs * fwd, sasrecForward),
            ("sasrec_bwd", sPairs * bwd, sasrecBackward),
            ("sasrec_fwd+bwd", sPairs * (fwd + bwd), { sasrecForward(); sasrecBackward() }),
        ]
        print("backend: \(backend.name); B=\(batch) N=\(n) H=\(heads) D=\(dim) (Dqk=Dv=\(d)), "
              + "mean L=\(String(format: "%.1f", Double(t) / Double(batch))), median of \(repeats)"
              + (cpuTime ? ", thread CPU time" : ", wall time"))
        for (name, flops, body) in table where filter.map({ name.contains($0) }) ?? true {
            body()   // warm-up
            var times: [Double] = []
            let clock = cpuTime ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC
            for _ in 0..<max(1, repeats) {
                var t0 = timespec(), t1 = timespec()
                clock_gettime(clock, &t0)
                body()
                clock_gettime(clock, &t1)
                times.append(Double(t1.tv_sec - t0.tv_sec) + Double(t1.tv_nsec - t0.tv_nsec) * 1e-9)
            }
            let median = times.sorted()[times.count / 2]
            print(name.padding(toLength: 16, withPad: " ", startingAt: 0)
                  + String(format: "%9.3f ms %8.1f GFLOP/s", median * 1e3, flops / median * 1e-9))
        }
    }
}
