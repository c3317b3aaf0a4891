import GRCore
import GRCPU

/// Benchmark rows for the model's other CPU ops at the ML-1M HSTU training shapes (spec §5.2:
/// batch B = 128, max length 200, D = 50, H = 2, Dqk = Dv = 25, R = 128 negatives), every sequence
/// at full length so T = B · 200 = 25600. GFLOP/s use the nominal flop counts given per row
/// (multiply-add = 2; exp, rsqrt and divisions count 1), which makes rows comparable over time,
/// not across ops.
extension KernelBenchmark {
    static let opBatch = 128, opLength = 200, opDim = 50, opNegatives = 128

    static func opBenchmarks(backend: CPUBackend) -> [KernelBenchmark] {
        // (The attention rows live in AttentionBenchmarks.swift, with their owner.)
        layerNormBenchmarks(backend: backend) + lossBenchmarks(backend: backend)
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
