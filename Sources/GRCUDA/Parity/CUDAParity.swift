import Foundation
import GRCore
import GRCPU

/// CPU-vs-CUDA parity checks of every `Backend` op on fresh random inputs with ragged lengths.
/// Outputs that an op overwrites are poisoned with NaN on both sides first; gradients that an op
/// accumulates start from the same random values. Error = ‖gpu − cpu‖ / ‖cpu‖ over all elements
/// (NaN anywhere fails). Used by `Tests/GRCUDATests` and `gr cuda selftest`.
public struct ParityResult: Sendable {
    public let name: String
    public let error: Double
    public let tolerance: Double
    public var passed: Bool { error.isFinite && error <= tolerance }
}

public enum CUDAParity {
    /// TF32 GEMM inputs keep 10 mantissa bits: relative error ≈ 2⁻¹¹ per product, less on norms.
    public static let tf32Tolerance = 1e-3
    /// f32 kernels (different summation order, atomics, expf): ~1e-5 relative.
    public static let f32Tolerance = 2e-5

    /// Every family, in order.
    public static func all(gpu: CUDABackend, seed: UInt64 = 1) -> [ParityResult] {
        var h = Harness(gpu: gpu, seed: seed)
        return h.gemm() + h.elementwise() + h.norm() + h.fusedBackward() + h.fusedNormDropout() + h.fusedGEMM()
            + h.embedding() + h.loss() + h.lossScatter() + h.optimizer() + h.retrieval()
            + h.hstu() + h.hstu(heads: 1, dqk: 50, dv: 50, label: " (dims 50)")
            + h.hstu(heads: 1, dqk: 20, dv: 72, label: " (dv 72: simple kernels)")
            + h.softmaxAttentionRows()
            + h.hstuTensorCore(long: gpu.context.deviceName != "host emulator") + graph(gpu: gpu, seed: seed)
    }

    /// One family by name (`gr cuda selftest --family`, for short emulator runs); nil: unknown name.
    public static func family(_ name: String, gpu: CUDABackend, seed: UInt64 = 1) -> [ParityResult]? {
        var h = Harness(gpu: gpu, seed: seed)
        switch name {
        case "elementwise": return h.elementwise()
        case "norm": return h.norm()
        case "fused": return h.fusedBackward() + h.fusedNormDropout() + h.fusedGEMM()
        case "loss": return h.loss() + h.lossScatter()
        case "softmax": return h.softmaxAttentionRows()
        default: return nil
        }
    }

    public static func relativeError(_ cpu: [Float], _ gpu: [Float]) -> Double {
        precondition(cpu.count == gpu.count, "parity: \(cpu.count) vs \(gpu.count) elements")
        var num = 0.0, den = 0.0
        for i in 0..<cpu.count {
            if cpu[i].isNaN || gpu[i].isNaN { return .nan }
            let d = Double(gpu[i]) - Double(cpu[i])
            num += d * d
            den += Double(cpu[i]) * Double(cpu[i])
        }
        if den == 0 { return num == 0 ? 0 : .infinity }
        return (num / den).squareRoot()
    }
}

/// A CPU tensor and its device copy.
struct Pair {
    let cpu: Tensor
    let gpu: Tensor
}

struct Harness {
    let cpuBackend = CPUBackend()
    let gpu: CUDABackend
    var counter: UInt64 = 0
    let seed: UInt64

    init(gpu: CUDABackend, seed: UInt64) { self.gpu = gpu; self.seed = seed }

    mutating func stream() -> PhiloxStream { counter += 1; return PhiloxStream(seed: seed, stream: 0xC0DA_0000 + counter) }

    /// Uniform in [-scale, scale).
    mutating func random(_ count: Int, scale: Float = 1) -> [Float] {
        let s = stream()
        return (0..<count).map { (s.uniform(UInt64($0)) * 2 - 1) * scale }
    }
    mutating func pair(_ shape: [Int], scale: Float = 1) -> Pair { pair(random(shape.reduce(1, *), scale: scale), shape) }
    func pair(_ values: [Float], _ shape: [Int]) -> Pair {
        Pair(cpu: Tensor(values, shape: shape), gpu: gpu.upload(values, shape: shape))
    }
    func pairIds(_ values: [Int32], _ shape: [Int]) -> Pair {
        Pair(cpu: cpuBackend.upload(values, shape: shape), gpu: gpu.upload(values, shape: shape))
    }
    func poisoned(_ shape: [Int]) -> Pair { pair([Float](repeating: .nan, count: shape.reduce(1, *)), shape) }
    mutating func ids(_ count: Int, below n: Int, from low: Int = 0) -> [Int32] {
        let s = stream()
        return (0..<count).map { Int32(low + s.below(n - low, UInt64($0))) }
    }

    func check(_ name: String, _ p: Pair, tol: Double = CUDAParity.f32Tolerance) -> ParityResult {
        let c = p.cpu.toArray(), g = gpu.download(p.gpu)
        return ParityResult(name: name, error: CUDAParity.relativeError(c, g), tolerance: tol)
    }
    func checkScalar(_ name: String, _ c: Float, _ g: Float, tol: Double = CUDAParity.f32Tolerance) -> ParityResult {
        ParityResult(name: name, error: CUDAParity.relativeError([c], [g]), tolerance: tol)
    }
    func checkIds(_ name: String, _ p: Pair) -> ParityResult {
        let c = Array(UnsafeBufferPointer(start: p.cpu.int32s, count: p.cpu.count)), g = gpu.downloadInt32(p.gpu)
        return ParityResult(name: name, error: c == g ? 0 : 1, tolerance: 0)
    }

    // MARK: families

    mutating func gemm() -> [ParityResult] {
        var out: [ParityResult] = []
        let (m, n, k) = (67, 45, 131)
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            for beta: Float in [0, 0.5] {
                let lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5
                let a = pair([(ta ? k : m) * lda]), b = pair([(tb ? n : k) * ldb])
                let c = beta == 0 ? poisonedStrided(m, n, ldc) : pair([m * ldc])
                cpuBackend.gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1.5, a: a.cpu, lda: lda, b: b.cpu, ldb: ldb,
                                beta: beta, c: c.cpu, ldc: ldc)
                gpu.gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1.5, a: a.gpu, lda: lda, b: b.gpu, ldb: ldb,
                         beta: beta, c: c.gpu, ldc: ldc)
                out.append(checkStrided("gemm tA=\(ta) tB=\(tb) β=\(beta)", c, m, n, ldc, tol: CUDAParity.tf32Tolerance))
            }
        }
        return out
    }

    /// NaN in the (m, n) block with stride ld, zeros in the gaps (which must stay untouched).
    func poisonedStrided(_ m: Int, _ n: Int, _ ld: Int) -> Pair {
        var v = [Float](repeating: 0, count: m * ld)
        for r in 0..<m { for c in 0..<n { v[r * ld + c] = .nan } }
        return pair(v, [m * ld])
    }
    func checkStrided(_ name: String, _ p: Pair, _ m: Int, _ n: Int, _ ld: Int, tol: Double) -> ParityResult {
        check(name, p, tol: tol)   // the gaps are compared too (both must be unchanged)
    }

    mutating func elementwise() -> [ParityResult] {
        var r: [ParityResult] = []
        let n = 10_007
        let x = pair([n], scale: 4), g = pair([n])
        var o = poisoned([n]); cpuBackend.siluForward(x: x.cpu, out: o.cpu, count: n); gpu.siluForward(x: x.gpu, out: o.gpu, count: n)
        r.append(check("silu forward", o))
        o = pair([n]); cpuBackend.siluBackward(dOut: g.cpu, x: x.cpu, dx: o.cpu, count: n); gpu.siluBackward(dOut: g.gpu, x: x.gpu, dx: o.gpu, count: n)
        r.append(check("silu backward", o))
        o = poisoned([n]); cpuBackend.reluForward(x: x.cpu, out: o.cpu, count: n); gpu.reluForward(x: x.gpu, out: o.gpu, count: n)
        r.append(check("relu forward", o))
        o = pair([n]); cpuBackend.reluBackward(dOut: g.cpu, y: x.cpu, dx: o.cpu, count: n); gpu.reluBackward(dOut: g.gpu, y: x.gpu, dx: o.gpu, count: n)
        r.append(check("relu backward", o))
        let (rows, cols, ld) = (97, 33, 40)
        let a = pair([rows * ld]), b = pair([rows * ld]), go = pair([rows * cols])
        let mo = poisonedStrided(rows, cols, cols)
        cpuBackend.mulForward(a: a.cpu, lda: ld, b: b.cpu, ldb: ld, out: mo.cpu, ldo: cols, rows: rows, cols: cols)
        gpu.mulForward(a: a.gpu, lda: ld, b: b.gpu, ldb: ld, out: mo.gpu, ldo: cols, rows: rows, cols: cols)
        r.append(check("mul forward", mo))
        let da = pair([rows * ld]), db = pair([rows * ld])
        cpuBackend.mulBackward(dOut: go.cpu, ldo: cols, a: a.cpu, lda: ld, b: b.cpu, ldb: ld, da: da.cpu, db: db.cpu, rows: rows, cols: cols)
        gpu.mulBackward(dOut: go.gpu, ldo: cols, a: a.gpu, lda: ld, b: b.gpu, ldb: ld, da: da.gpu, db: db.gpu, rows: rows, cols: cols)
        r.append(check("mul backward da", da)); r.append(check("mul backward db", db))
        o = poisoned([n]); cpuBackend.add(a: x.cpu, b: g.cpu, out: o.cpu, count: n); gpu.add(a: x.gpu, b: g.gpu, out: o.gpu, count: n)
        r.append(check("add", o))
        o = pair([n]); cpuBackend.axpy(alpha: 0.3, x: x.cpu, y: o.cpu, count: n); gpu.axpy(alpha: 0.3, x: x.gpu, y: o.gpu, count: n)
        r.append(check("axpy", o))
        o = poisoned([n]); cpuBackend.scale(x: x.cpu, alpha: -1.7, out: o.cpu, count: n); gpu.scale(x: x.gpu, alpha: -1.7, out: o.gpu, count: n)
        r.append(check("scale", o))
        let bias = pair([cols]), xb = pair([rows * cols])
        cpuBackend.addBias(x: xb.cpu, bias: bias.cpu, rows: rows, cols: cols); gpu.addBias(x: xb.gpu, bias: bias.gpu, rows: rows, cols: cols)
        r.append(check("add bias", xb))
        let dBias = pair([cols])
        cpuBackend.biasBackward(dOut: go.cpu, dBias: dBias.cpu, rows: rows, cols: cols); gpu.biasBackward(dOut: go.gpu, dBias: dBias.gpu, rows: rows, cols: cols)
        r.append(check("bias backward", dBias))
        let s = stream()
        o = poisoned([n]); cpuBackend.dropoutForward(x: x.cpu, out: o.cpu, count: n, p: 0.2, stream: s)
        gpu.dropoutForward(x: x.gpu, out: o.gpu, count: n, p: 0.2, stream: s)
        r.append(check("dropout forward (same Philox mask)", o))
        o = pair([n]); cpuBackend.dropoutBackward(dOut: g.cpu, dx: o.cpu, count: n, p: 0.2, stream: s)
        gpu.dropoutBackward(dOut: g.gpu, dx: o.gpu, count: n, p: 0.2, stream: s)
        r.append(check("dropout backward", o))
        var idv = ids(rows, below: 5); idv[0] = 0
        let idp = pairIds(idv, [rows])
        let mr = poisoned([rows * cols])
        cpuBackend.maskRows(x: go.cpu, ids: idp.cpu, out: mr.cpu, rows: rows, cols: cols)
        gpu.maskRows(x: go.gpu, ids: idp.gpu, out: mr.gpu, rows: rows, cols: cols)
        r.append(check("mask rows", mr))
        let mb = pair([rows * cols])
        cpuBackend.maskRowsBackward(dOut: go.cpu, ids: idp.cpu, dx: mb.cpu, rows: rows, cols: cols)
        gpu.maskRowsBackward(dOut: go.gpu, ids: idp.gpu, dx: mb.gpu, rows: rows, cols: cols)
        r.append(check("mask rows backward", mb))
        return r
    }

    mutating func norm() -> [ParityResult] {
        var r: [ParityResult] = []
        let (rows, cols, ldu) = (211, 72, 100)
        let x = pair([rows * cols], scale: 3), u = pair([rows * ldu]), g = pair([rows * cols])
        let out = poisoned([rows * cols]), mean = poisoned([rows]), rstd = poisoned([rows])
        cpuBackend.layerNormForward(x: x.cpu, out: out.cpu, mean: mean.cpu, rstd: rstd.cpu, rows: rows, cols: cols, eps: 1e-6)
        gpu.layerNormForward(x: x.gpu, out: out.gpu, mean: mean.gpu, rstd: rstd.gpu, rows: rows, cols: cols, eps: 1e-6)
        r += [check("layer norm forward", out), check("layer norm mean", mean), check("layer norm rstd", rstd)]
        let dx = pair([rows * cols])
        cpuBackend.layerNormBackward(dOut: g.cpu, x: x.cpu, mean: mean.cpu, rstd: rstd.cpu, dx: dx.cpu, rows: rows, cols: cols)
        gpu.layerNormBackward(dOut: g.gpu, x: x.gpu, mean: mean.gpu, rstd: rstd.gpu, dx: dx.gpu, rows: rows, cols: cols)
        r.append(check("layer norm backward", dx))
        let out2 = poisoned([rows * cols])
        cpuBackend.layerNormMulForward(x: x.cpu, u: u.cpu, ldu: ldu, out: out2.cpu, mean: mean.cpu, rstd: rstd.cpu, rows: rows, cols: cols, eps: 1e-6)
        gpu.layerNormMulForward(x: x.gpu, u: u.gpu, ldu: ldu, out: out2.gpu, mean: mean.gpu, rstd: rstd.gpu, rows: rows, cols: cols, eps: 1e-6)
        r.append(check("layer norm ⊙ u forward", out2))
        let dx2 = pair([rows * cols]), du = pair([rows * ldu])
        cpuBackend.layerNormMulBackward(dOut: g.cpu, x: x.cpu, u: u.cpu, ldu: ldu, mean: mean.cpu, rstd: rstd.cpu, dx: dx2.cpu, du: du.cpu, rows: rows, cols: cols)
        gpu.layerNormMulBackward(dOut: g.gpu, x: x.gpu, u: u.gpu, ldu: ldu, mean: mean.gpu, rstd: rstd.gpu, dx: dx2.gpu, du: du.gpu, rows: rows, cols: cols)
        r += [check("layer norm ⊙ u backward dx", dx2), check("layer norm ⊙ u backward du", du)]
        var xv = random(rows * cols)
        for c in 0..<cols { xv[c] = 1e-8 }   // row 0 below eps: the clamp branch
        let xl = pair(xv, [rows * cols])
        let y = poisoned([rows * cols]), norms = poisoned([rows])
        cpuBackend.l2NormalizeForward(x: xl.cpu, out: y.cpu, norms: norms.cpu, rows: rows, cols: cols, eps: 1e-6)
        gpu.l2NormalizeForward(x: xl.gpu, out: y.gpu, norms: norms.gpu, rows: rows, cols: cols, eps: 1e-6)
        r += [check("l2 normalize forward", y), check("l2 norms", norms)]
        let dl = pair([rows * cols])
        cpuBackend.l2NormalizeBackward(dOut: g.cpu, x: xl.cpu, norms: norms.cpu, dx: dl.cpu, rows: rows, cols: cols, eps: 1e-6)
        gpu.l2NormalizeBackward(dOut: g.gpu, x: xl.gpu, norms: norms.gpu, dx: dl.gpu, rows: rows, cols: cols, eps: 1e-6)
        r.append(check("l2 normalize backward", dl))
        return r
    }

    mutating func embedding() -> [ParityResult] {
        let (vocab, dim, rows) = (53, 24, 301)
        let table = pair([vocab * dim]), idv = ids(rows, below: vocab)
        let idp = pairIds(idv, [rows])
        let out = poisoned([rows * dim])
        cpuBackend.embeddingForward(table: table.cpu, ids: idp.cpu, scale: 2.5, out: out.cpu, rows: rows, dim: dim, accumulate: false)
        gpu.embeddingForward(table: table.gpu, ids: idp.gpu, scale: 2.5, out: out.gpu, rows: rows, dim: dim, accumulate: false)
        let acc = pair([rows * dim])
        cpuBackend.embeddingForward(table: table.cpu, ids: idp.cpu, scale: 1, out: acc.cpu, rows: rows, dim: dim, accumulate: true)
        gpu.embeddingForward(table: table.gpu, ids: idp.gpu, scale: 1, out: acc.gpu, rows: rows, dim: dim, accumulate: true)
        let g = pair([rows * dim]), dt = pair([vocab * dim])
        cpuBackend.embeddingBackward(dOut: g.cpu, ids: idp.cpu, scale: 1.5, dTable: dt.cpu, rows: rows, dim: dim, paddingId: 0)
        gpu.embeddingBackward(dOut: g.gpu, ids: idp.gpu, scale: 1.5, dTable: dt.gpu, rows: rows, dim: dim, paddingId: 0)
        return [check("embedding forward", out), check("embedding forward accumulate", acc), check("embedding backward", dt)]
    }

    mutating func loss() -> [ParityResult] {
        var r: [ParityResult] = []
        let (vocab, dim, P, R) = (401, 32, 157, 37)
        let corpusV = (1..<vocab).map { Int32($0) }
        let corpus = pairIds(corpusV, [corpusV.count])
        let s = stream()
        let negs = pairIds([Int32](repeating: -1, count: P * R), [P * R])
        cpuBackend.sampleNegatives(corpus: corpus.cpu, stream: s, out: negs.cpu, positions: P, negatives: R)
        gpu.sampleNegatives(corpus: corpus.gpu, stream: s, out: negs.gpu, positions: P, negatives: R)
        r.append(checkIds("sample negatives (same Philox ids)", negs))
        let (q, table) = lossOperands(positions: P, vocab: vocab, dim: dim, zeroRow: 5)
        var posV = ids(P, below: vocab, from: 1)
        posV[0] = 5
        let pos = pairIds(posV, [P])
        // a collision: negative equal to the positive
        var negHost = Array(UnsafeBufferPointer(start: negs.cpu.int32s, count: P * R))
        negHost[3] = posV[0]
        let neg = pairIds(negHost, [P * R])
        let dq = pair([P * dim]), dE = pair([vocab * dim]), cos = poisoned([P * (R + 1)])
        let lc = cpuBackend.sampledSoftmaxLoss(queries: q.cpu, positiveIds: pos.cpu, negativeIds: neg.cpu, itemTable: table.cpu,
                                               positions: P, negatives: R, dim: dim, temperature: 0.05, l2Eps: 1e-6,
                                               dQueries: dq.cpu, dItemTable: dE.cpu, cosines: cos.cpu)
        let lg = gpu.sampledSoftmaxLoss(queries: q.gpu, positiveIds: pos.gpu, negativeIds: neg.gpu, itemTable: table.gpu,
                                        positions: P, negatives: R, dim: dim, temperature: 0.05, l2Eps: 1e-6,
                                        dQueries: dq.gpu, dItemTable: dE.gpu, cosines: cos.gpu)
        r += [checkScalar("sampled softmax loss", lc, lg), check("sampled softmax dq", dq), check("sampled softmax dE", dE),
              check("sampled softmax cosines", cos)]
        var bneg = ids(P, below: vocab, from: 1)
        bneg[1] = posV[1]
        let bn = pairIds(bneg, [P])
        let dq2 = pair([P * dim]), dE2 = pair([vocab * dim])
        let bc = cpuBackend.bceLoss(queries: q.cpu, positiveIds: pos.cpu, negativeIds: bn.cpu, itemTable: table.cpu, positions: P,
                                    dim: dim, temperature: 1, l2Eps: 1e-6, dQueries: dq2.cpu, dItemTable: dE2.cpu)
        let bg = gpu.bceLoss(queries: q.gpu, positiveIds: pos.gpu, negativeIds: bn.gpu, itemTable: table.gpu, positions: P,
                             dim: dim, temperature: 1, l2Eps: 1e-6, dQueries: dq2.gpu, dItemTable: dE2.gpu)
        r += [checkScalar("bce loss", bc, bg), check("bce dq", dq2), check("bce dE", dE2)]
        return r
    }

    /// Loss inputs: queries (P, dim) with unit rows, as the model passes them, and an item table
    /// (vocab, dim) whose row `zeroRow` is zero (the clamped branch).
    mutating func lossOperands(positions P: Int, vocab: Int, dim: Int, zeroRow: Int) -> (Pair, Pair) {
        var qv = random(P * dim)
        for p in 0..<P {
            var n: Float = 0
            for c in 0..<dim { n += qv[p * dim + c] * qv[p * dim + c] }
            for c in 0..<dim { qv[p * dim + c] /= n.squareRoot() }
        }
        var tv = random(vocab * dim)
        for c in 0..<dim { tv[zeroRow * dim + c] = 0 }
        return (pair(qv, [P, dim]), pair(tv, [vocab, dim]))
    }

    mutating func optimizer() -> [ParityResult] {
        let n = 5003
        let p = pair([n]), g = pair([n]), m = pair([n], scale: 0.1)
        let v = pair(random(n).map { $0 * $0 * 0.01 }, [n])
        for step in 1...3 {
            cpuBackend.adamwStep(params: p.cpu, grads: g.cpu, m: m.cpu, v: v.cpu, step: step, lr: 1e-3, beta1: 0.9, beta2: 0.98,
                                 eps: 1e-8, weightDecay: 0.01)
            gpu.adamwStep(params: p.gpu, grads: g.gpu, m: m.gpu, v: v.gpu, step: step, lr: 1e-3, beta1: 0.9, beta2: 0.98,
                          eps: 1e-8, weightDecay: 0.01)
        }
        return [check("adamw params (3 steps)", p), check("adamw m", m), check("adamw v", v)]
    }

    mutating func retrieval() -> [ParityResult] {
        let (rows, cols, ld, k) = (7, 3001, 3010, 257)
        var sv = random(rows * ld)
        sv[5] = .nan
        for c in 100..<140 { sv[2 * ld + c] = 0.25 }   // ties
        let s = pair(sv, [rows * ld])
        let vals = poisoned([rows * k]), idx = pairIds([Int32](repeating: -1, count: rows * k), [rows * k])
        cpuBackend.topK(scores: s.cpu, rows: rows, columns: cols, ldScores: ld, k: k, values: vals.cpu, indices: idx.cpu)
        gpu.topK(scores: s.gpu, rows: rows, columns: cols, ldScores: ld, k: k, values: vals.gpu, indices: idx.gpu)
        return [check("top-k values", vals, tol: 0), checkIds("top-k indices (ties to lower index)", idx)]
    }

    /// Head dims up to 64 run the tiled kernels (AttentionTiled.cu), larger ones the simple ones.
    mutating func hstu(heads H: Int = 2, dqk: Int = 16, dv: Int = 24, label: String = "") -> [ParityResult] {
        let lengths = [1, 37, 0, 64, 129, 5]
        let layout = JaggedLayout(lengths: lengths)
        let n = 140, t = layout.totalTokens
        let w = 2 * H * dv + 2 * H * dqk
        let uvqk = pair([t * w], scale: 0.5)
        // column blocks: U, V, Q, K
        let vOff = H * dv, qOff = 2 * H * dv, kOff = 2 * H * dv + H * dqk
        func views(_ p: Tensor) -> (Tensor, Tensor, Tensor) {
            (p.view(qOff, [t * w - qOff]), p.view(kOff, [t * w - kOff]), p.view(vOff, [t * w - vOff]))
        }
        let st = stream()
        var tsv = [Int64](repeating: 0, count: lengths.count * n)
        for b in 0..<lengths.count {
            var clock: Int64 = 1_000_000_000
            for i in 0...min(lengths[b], n - 1) {
                clock += Int64(st.below(200_000, UInt64(b * n + i)))
                tsv[b * n + i] = clock
            }
        }
        let ts = Tensor(zeros: [lengths.count, n], dtype: .i64)
        tsv.withUnsafeBufferPointer { ts.int64s.update(from: $0.baseAddress!, count: $0.count) }
        let pw = pair([2 * n - 1], scale: 0.3), tw = pair([TimeBucket.count], scale: 0.3)
        let out = poisoned([t * H * dv])
        let (qc, kc, vc) = views(uvqk.cpu), (qg, kg, vg) = views(uvqk.gpu)
        cpuBackend.hstuAttentionForward(q: qc, k: kc, v: vc, rowStride: w, layout: layout, timestamps: ts, positionWeights: pw.cpu,
                                        timeWeights: tw.cpu, heads: H, dqk: dqk, dv: dv, paddedWidth: n, out: out.cpu)
        gpu.hstuAttentionForward(q: qg, k: kg, v: vg, rowStride: w, layout: layout, timestamps: ts, positionWeights: pw.gpu,
                                 timeWeights: tw.gpu, heads: H, dqk: dqk, dv: dv, paddedWidth: n, out: out.gpu)
        let g = pair([t * H * dv])
        // dq, dk, dv blocks are overwritten (poisoned here); the U block must stay untouched (zeros,
        // so that the error norm is the gradients')
        var gv = [Float](repeating: 0, count: t * w)
        for r in 0..<t { for c in vOff..<w { gv[r * w + c] = .nan } }
        let dG = pair(gv, [t * w])
        let dpw = pair([2 * n - 1]), dtw = pair([TimeBucket.count])
        let (dqc, dkc, dvc) = views(dG.cpu), (dqg, dkg, dvg) = views(dG.gpu)
        cpuBackend.hstuAttentionBackward(dOut: g.cpu, q: qc, k: kc, v: vc, rowStride: w, layout: layout, timestamps: ts,
                                         positionWeights: pw.cpu, timeWeights: tw.cpu, heads: H, dqk: dqk, dv: dv, paddedWidth: n,
                                         dq: dqc, dk: dkc, dv: dvc, dPositionWeights: dpw.cpu, dTimeWeights: dtw.cpu)
        gpu.hstuAttentionBackward(dOut: g.gpu, q: qg, k: kg, v: vg, rowStride: w, layout: layout, timestamps: ts,
                                  positionWeights: pw.gpu, timeWeights: tw.gpu, heads: H, dqk: dqk, dv: dv, paddedWidth: n,
                                  dq: dqg, dk: dkg, dv: dvg, dPositionWeights: dpw.gpu, dTimeWeights: dtw.gpu)
        return [check("hstu attention forward" + label, out), check("hstu attention backward dq/dk/dv" + label, dG),
                check("hstu attention backward dPositionWeights" + label, dpw),
                check("hstu attention backward dTimeWeights" + label, dtw)]
    }

    /// Head dims up to 64 run the TF32 mma kernels (SoftmaxAttentionMMA.cu: TF32 tolerance, the
    /// reference's attention precision) or, switched off, the tiled f32 ones (AttentionTiled.cu);
    /// larger head dims the simple ones.
    mutating func softmaxAttentionRows() -> [ParityResult] {
        let mma = gpu.softmaxAttentionMMA
        gpu.softmaxAttentionMMA = true
        var r = softmaxAttention() + softmaxAttention(batch: 2, width: 70, dim: 50, heads: 1, label: " (N 70, dh 50)")
            + softmaxAttention(batch: 1, width: 300, dim: 50, heads: 1, label: " (N 300: five 64-row tiles)")
            + softmaxAttention(batch: 2, width: 131, dim: 42, heads: 2, label: " (N 131, dh 21)")
            + softmaxAttention(batch: 1, width: 65, dim: 61, heads: 1, label: " (N 65, dh 61)")
            + softmaxAttention(batch: 2, width: 9, dim: 80, heads: 1, label: " (dh 80: simple kernels)")
        gpu.softmaxAttentionMMA = false
        r += softmaxAttention(batch: 2, width: 70, dim: 50, heads: 1, label: " (tiled f32, N 70, dh 50)")
            + softmaxAttention(batch: 1, width: 300, dim: 50, heads: 1, label: " (tiled f32, N 300: two-pass forward)")
        gpu.softmaxAttentionMMA = mma
        return r
    }

    mutating func softmaxAttention(batch B: Int = 3, width N: Int = 23, dim D: Int = 32, heads H: Int = 2,
                                   label: String = "") -> [ParityResult] {
        let tol = gpu.softmaxMMASteps(dh: D / H) != nil ? CUDAParity.tf32Tolerance : CUDAParity.f32Tolerance
        let ld = 3 * D
        let qkv = pair([B * N * ld])
        func views(_ p: Tensor) -> (Tensor, Tensor, Tensor) {
            (p.view(0, [B * N * ld]), p.view(D, [B * N * ld - D]), p.view(2 * D, [B * N * ld - 2 * D]))
        }
        var r: [ParityResult] = []
        for dropout: Float in [0, 0.2] {
            let s = stream()
            let probs = poisoned([B * H * N * N]), out = poisoned([B * N * D])
            let (qc, kc, vc) = views(qkv.cpu), (qg, kg, vg) = views(qkv.gpu)
            cpuBackend.softmaxAttentionForward(q: qc, k: kc, v: vc, rowStride: ld, batch: B, width: N, dim: D, heads: H,
                                               dropout: dropout, dropoutStream: s, probs: probs.cpu, out: out.cpu)
            gpu.softmaxAttentionForward(q: qg, k: kg, v: vg, rowStride: ld, batch: B, width: N, dim: D, heads: H,
                                        dropout: dropout, dropoutStream: s, probs: probs.gpu, out: out.gpu)
            let g = pair([B * N * D])
            let dG = poisoned([B * N * ld])
            let (dqc, dkc, dvc) = views(dG.cpu), (dqg, dkg, dvg) = views(dG.gpu)
            cpuBackend.softmaxAttentionBackward(dOut: g.cpu, q: qc, k: kc, v: vc, rowStride: ld, batch: B, width: N, dim: D,
                                                heads: H, dropout: dropout, dropoutStream: s, probs: probs.cpu,
                                                dq: dqc, dk: dkc, dv: dvc)
            gpu.softmaxAttentionBackward(dOut: g.gpu, q: qg, k: kg, v: vg, rowStride: ld, batch: B, width: N, dim: D,
                                         heads: H, dropout: dropout, dropoutStream: s, probs: probs.gpu,
                                         dq: dqg, dk: dkg, dv: dvg)
            r += [check("softmax attention forward p=\(dropout)" + label, out, tol: tol),
                  check("softmax attention probs p=\(dropout)" + label, probs, tol: tol),
                  check("softmax attention backward p=\(dropout)" + label, dG, tol: tol)]
        }
        return r
    }
}
