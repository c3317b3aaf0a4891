import GRCore
import GRCPU

/// Benchmark rows for the model's other CPU ops at the ML-1M HSTU training shapes (spec §5.2:
/// batch B = 128, max length 200, D = 50, H = 2, Dqk = Dv = 25, R = 128 negatives), every sequence
/// at full length so T = B · 200 = 25600. GFLOP/s use the nominal flop counts given per row
/// (multiply-add = 2; exp, rsqrt and divisions count 1), which makes rows comparable over time,
/// not across ops.
extension KernelBenchmark {
    static let opBatch = 128, opLength = 200, opDim = 50, opHeads = 2, opHeadDim = 25, opNegatives = 128

    static func opBenchmarks(backend: CPUBackend) -> [KernelBenchmark] {
        layerNormBenchmarks(backend: backend) + hstuAttentionBenchmarks(backend: backend)
            + lossBenchmarks(backend: backend)
    }

    /// Layer norm over (T, D) rows: forward ≈ 7 flops per element, backward ≈ 9.
    static func layerNormBenchmarks(backend: CPUBackend) -> [KernelBenchmark] {
        let rows = opBatch * opLength, cols = opDim
        let x = Tensor(randomValues(rows * cols, seed: 3), shape: [rows, cols])
        let out = Tensor(zeros: [rows, cols]), dOut = Tensor(randomValues(rows * cols, seed: 4), shape: [rows, cols])
        let dx = Tensor(zeros: [rows, cols])
        let mean = Tensor(zeros: [rows]), rstd = Tensor(zeros: [rows])
        let eps: Float = 1e-6
        backend.layerNormForward(x: x, out: out, mean: mean, rstd: rstd, rows: rows, cols: cols, eps: eps)
        let shape = "T=\(rows) D=\(cols)"
        return [
            KernelBenchmark(op: "layernorm_fwd", shape: shape, flops: 7 * Double(rows * cols), run: {
                backend.layerNormForward(x: x, out: out, mean: mean, rstd: rstd, rows: rows, cols: cols, eps: eps)
            }, reference: nil),
            KernelBenchmark(op: "layernorm_bwd", shape: shape, flops: 9 * Double(rows * cols), run: {
                backend.layerNormBackward(dOut: dOut, x: x, mean: mean, rstd: rstd, dx: dx, rows: rows, cols: cols)
            }, reference: nil),
        ]
    }

    /// Jagged HSTU attention (spec §2.2 steps 3-4) on the UVQK projection layout; flops count the
    /// causal pairs: forward 2·(Dqk + Dv) per (query, key ≤ query, head), backward twice that.
    static func hstuAttentionBenchmarks(backend: CPUBackend) -> [KernelBenchmark] {
        let b = opBatch, l = opLength, h = opHeads, d = opHeadDim
        let n = l + 11  // padded width N = max length + gr_output_length 10 + 1 (spec §1.4)
        let t = b * l
        let width = 4 * h * d  // U, V, Q, K blocks of the UVQK output
        let layout = JaggedLayout(lengths: [Int](repeating: l, count: b))
        let uvqk = Tensor(randomValues(t * width, seed: 5).map { $0 * 0.5 }, shape: [t, width])
        let v = uvqk.view(h * d, [t * width - h * d])
        let q = uvqk.view(2 * h * d, [t * width - 2 * h * d])
        let k = uvqk.view(3 * h * d, [t * width - 3 * h * d])
        let grads = Tensor(zeros: [t, width])
        let dV = grads.view(h * d, [t * width - h * d])
        let dq = grads.view(2 * h * d, [t * width - 2 * h * d])
        let dk = grads.view(3 * h * d, [t * width - 3 * h * d])
        let ts = Tensor(zeros: [b, n], dtype: .i64)
        for row in 0..<b { for j in 0..<n { ts.int64s[row * n + j] = Int64(1_000_000 + 3600 * j * (row % 7 + 1)) } }
        let pos = Tensor(randomValues(2 * n - 1, seed: 6).map { $0 * 0.1 }, shape: [2 * n - 1])
        let time = Tensor(randomValues(TimeBucket.count, seed: 7).map { $0 * 0.1 }, shape: [TimeBucket.count])
        let dPos = Tensor(zeros: [2 * n - 1]), dTime = Tensor(zeros: [TimeBucket.count])
        let out = Tensor(zeros: [t, h * d]), dOut = Tensor(randomValues(t * h * d, seed: 8), shape: [t, h * d])
        let pairs = Double(b) * Double(l * (l + 1) / 2) * Double(h)
        let shape = "B=\(b) L=\(l) H=\(h) D=\(d)"
        return [
            KernelBenchmark(op: "hstu_attn_fwd", shape: shape, flops: pairs * 2 * Double(2 * d), run: {
                backend.hstuAttentionForward(q: q, k: k, v: v, rowStride: width, layout: layout, timestamps: ts,
                                             positionWeights: pos, timeWeights: time, heads: h, dqk: d, dv: d,
                                             paddedWidth: n, out: out)
            }, reference: nil),
            KernelBenchmark(op: "hstu_attn_bwd", shape: shape, flops: pairs * 4 * Double(2 * d), run: {
                backend.hstuAttentionBackward(dOut: dOut, q: q, k: k, v: v, rowStride: width, layout: layout,
                                              timestamps: ts, positionWeights: pos, timeWeights: time, heads: h,
                                              dqk: d, dv: d, paddedWidth: n, dq: dq, dk: dk, dv: dV,
                                              dPositionWeights: dPos, dTimeWeights: dTime)
            }, reference: nil),
        ]
    }

    /// Sampled softmax (spec §4.2) over P = T positions and R negatives from a 3706-item table
    /// (ML-1M); flops count the (R + 1)·D dot products: 2·P·(R+1)·D forward, 3× that with the backward.
    static func lossBenchmarks(backend: CPUBackend) -> [KernelBenchmark] {
        let p = opBatch * opLength, r = opNegatives, d = opDim, items = 3706
        let queries = Tensor(randomValues(p * d, seed: 9), shape: [p, d])
        let table = Tensor(randomValues((items + 1) * d, seed: 10), shape: [items + 1, d])
        let posIds = Tensor(zeros: [p], dtype: .i32), negIds = Tensor(zeros: [p, r], dtype: .i32)
        var s: UInt64 = 11
        func nextId() -> Int32 {
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int32(1 + (s >> 33) % UInt64(items))
        }
        for i in 0..<p { posIds.int32s[i] = nextId() }
        for i in 0..<p * r { negIds.int32s[i] = nextId() }
        let dQueries = Tensor(zeros: [p, d]), dTable = Tensor(zeros: [items + 1, d])
        let dots = 2 * Double(p) * Double(r + 1) * Double(d)
        let shape = "P=\(p) R=\(r) D=\(d)"
        return [
            KernelBenchmark(op: "ssm_loss_fwd", shape: shape, flops: dots, run: {
                _ = backend.sampledSoftmaxLoss(queries: queries, positiveIds: posIds, negativeIds: negIds,
                                               itemTable: table, positions: p, negatives: r, dim: d,
                                               temperature: 0.05, l2Eps: 1e-6, dQueries: nil, dItemTable: nil,
                                               cosines: nil)
            }, reference: nil),
            KernelBenchmark(op: "ssm_loss_fwdbwd", shape: shape, flops: 3 * dots, run: {
                _ = backend.sampledSoftmaxLoss(queries: queries, positiveIds: posIds, negativeIds: negIds,
                                               itemTable: table, positions: p, negatives: r, dim: d,
                                               temperature: 0.05, l2Eps: 1e-6, dQueries: dQueries,
                                               dItemTable: dTable, cosines: nil)
            }, reference: nil),
        ]
    }
}
