import Foundation
import GRCore
import GRCPU

/// Parity of the tensor-core HSTU attention (`AttentionMMA.cu`, bf16 operands, f32 accumulation)
/// against the CPU: the CPU kernel (`HSTUAttentionKernel`, f32) for the model's causal mask, and a
/// naive Float64 reference (`HSTUMaskedReference`) for the target/contextual masks, which the CPU
/// kernel does not have (the reference itself is checked against the CPU kernel on the causal
/// mask first). Fresh random ragged inputs, outputs poisoned with NaN, bias gradients accumulate
/// onto random values; error ‖gpu − cpu‖ / ‖cpu‖ per output, NaN never passes.
extension CUDAParity {
    /// bf16 operands (8 mantissa bits: 2⁻⁹ relative rounding on q, k, v, dO and on the bf16
    /// a and ds tiles) over dot products of length D: measured 2e-3 – 5e-3; tolerance 1e-2.
    public static let bf16Tolerance = 1e-2

    /// The tensor-core attention checks alone (`gr cuda bench-attention --check`), for kernel work.
    public static func tensorCore(gpu: CUDABackend, seed: UInt64 = 1) -> [ParityResult] {
        var h = Harness(gpu: gpu, seed: seed)
        return h.hstuTensorCore(long: gpu.context.deviceName != "host emulator")
    }
}

/// One random HSTU attention problem: the fused UVQK tensor (T, 2·H·dv + 2·H·dqk) of which the
/// kernels read the V, Q, K column blocks, timestamps (B, N), bias tables, dOut.
struct HSTUProblem {
    let lengths: [Int]
    let layout: JaggedLayout
    let heads: Int, dqk: Int, dv: Int, n: Int
    let uvqk: Pair, timestamps: Tensor, pw: Pair, tw: Pair, dOut: Pair
    var t: Int { layout.totalTokens }
    var width: Int { 2 * heads * dv + 2 * heads * dqk }
    var vOff: Int { heads * dv }
    var qOff: Int { 2 * heads * dv }
    var kOff: Int { 2 * heads * dv + heads * dqk }
    /// (q, k, v) views of a tensor laid out like uvqk.
    func views(_ p: Tensor) -> (q: Tensor, k: Tensor, v: Tensor) {
        let c = t * width
        return (p.view(qOff, [c - qOff]), p.view(kOff, [c - kOff]), p.view(vOff, [c - vOff]))
    }
}

extension Harness {
    /// Random problem; timestamps non-decreasing with gaps up to ~2·10⁵ s and, at one key in 16, a
    /// jump of up to ~2·10⁸ s (so buckets vary across a tile); every third sequence jumps up to
    /// ~2·10¹⁴ s instead, so that its span exceeds 2³¹ and the kernels take the 64-bit bucket path.
    mutating func hstuProblem(lengths: [Int], heads: Int, dqk: Int, dv: Int, n: Int) -> HSTUProblem {
        let layout = JaggedLayout(lengths: lengths)
        let t = layout.totalTokens, w = 2 * heads * dv + 2 * heads * dqk
        let uvqk = pair([t * w], scale: 0.5)
        let st = stream()
        let ts = Tensor(zeros: [lengths.count, n], dtype: .i64)
        for b in 0..<lengths.count where lengths[b] > 0 {
            var clock: Int64 = 1_000_000_000
            for i in 0...min(lengths[b], n - 1) {
                let r = UInt64(b * n + i)
                let jump: Int64 = b % 3 == 2 ? 1_000_000_000 : 1000
                clock += Int64(st.below(200_000, 2 * r)) * (st.below(16, 2 * r + 1) == 0 ? jump : 1)
                ts.int64s[b * n + i] = clock
            }
        }
        return HSTUProblem(lengths: lengths, layout: layout, heads: heads, dqk: dqk, dv: dv, n: n, uvqk: uvqk,
                           timestamps: ts, pw: pair([2 * n - 1], scale: 0.3), tw: pair([TimeBucket.count], scale: 0.3),
                           dOut: pair([t * heads * dv]))
    }

    /// Host values of columns [off, off + count) of every row of a (rows, stride) tensor.
    func columns(_ values: [Float], rows: Int, stride: Int, off: Int, count: Int) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(rows * count)
        for r in 0..<rows { out += values[(r * stride + off)..<(r * stride + off + count)] }
        return out
    }

    /// GPU (bf16 tensor cores) vs `reference` outputs: out, dq, dk, dv, dPos, dTs.
    func tensorCoreResults(_ label: String, _ p: HSTUProblem, options: HSTUMaskOptions, tol: Double,
                           reference: (out: [Float], dq: [Float], dk: [Float], dv: [Float], dpw: [Float], dtw: [Float]))
        -> [ParityResult] {
        let (t, w) = (p.t, p.width)
        let out = gpu.upload([Float](repeating: .nan, count: t * p.heads * p.dv), shape: [t * p.heads * p.dv])
        let g = p.uvqk.gpu, (qg, kg, vg) = p.views(g)
        gpu.hstuAttentionForwardBF16(q: qg, k: kg, v: vg, rowStride: w, layout: p.layout, timestamps: p.timestamps,
                                     positionWeights: p.pw.gpu, timeWeights: p.tw.gpu, heads: p.heads, dqk: p.dqk,
                                     dv: p.dv, paddedWidth: p.n, options: options, out: out)
        var gv = [Float](repeating: 0, count: t * w)
        for r in 0..<t { for c in p.vOff..<w { gv[r * w + c] = .nan } }
        let dG = gpu.upload(gv, shape: [t * w])
        let dpw = gpu.upload(p.pw.cpu.toArray().map { $0 * 0.5 }, shape: [2 * p.n - 1])
        let dtw = gpu.upload(p.tw.cpu.toArray().map { $0 * 0.5 }, shape: [TimeBucket.count])
        let (dq, dk, dv) = p.views(dG)
        gpu.hstuAttentionBackwardBF16(dOut: p.dOut.gpu, q: qg, k: kg, v: vg, rowStride: w, layout: p.layout,
                                      timestamps: p.timestamps, positionWeights: p.pw.gpu, timeWeights: p.tw.gpu,
                                      heads: p.heads, dqk: p.dqk, dv: p.dv, paddedWidth: p.n, options: options,
                                      dq: dq, dk: dk, dv: dv, dPositionWeights: dpw, dTimeWeights: dtw)
        let all = gpu.download(dG)
        let hq = p.heads * p.dqk, hv = p.heads * p.dv
        // the U block must still be zeros
        let u = columns(all, rows: t, stride: w, off: 0, count: hv)
        func r(_ name: String, _ c: [Float], _ g: [Float]) -> ParityResult {
            ParityResult(name: "hstu bf16 \(label) \(name)", error: CUDAParity.relativeError(c, g), tolerance: tol)
        }
        return [r("forward", reference.out, gpu.download(out)),
                r("dq", reference.dq, columns(all, rows: t, stride: w, off: p.qOff, count: hq)),
                r("dk", reference.dk, columns(all, rows: t, stride: w, off: p.kOff, count: hq)),
                r("dv", reference.dv, columns(all, rows: t, stride: w, off: p.vOff, count: hv)),
                r("dPositionWeights", reference.dpw, gpu.download(dpw)),
                r("dTimeWeights", reference.dtw, gpu.download(dtw)),
                ParityResult(name: "hstu bf16 \(label) U block untouched", error: u.allSatisfy { $0 == 0 } ? 0 : 1, tolerance: 0)]
    }

    /// The CPU kernel's outputs (causal mask) for problem p, bias gradients from 0.5 × the tables.
    func cpuKernelReference(_ p: HSTUProblem) -> (out: [Float], dq: [Float], dk: [Float], dv: [Float], dpw: [Float], dtw: [Float]) {
        let (t, w) = (p.t, p.width)
        let (qc, kc, vc) = p.views(p.uvqk.cpu)
        let out = Tensor(zeros: [t * p.heads * p.dv], dtype: .f32)
        cpuBackend.hstuAttentionForward(q: qc, k: kc, v: vc, rowStride: w, layout: p.layout, timestamps: p.timestamps,
                                        positionWeights: p.pw.cpu, timeWeights: p.tw.cpu, heads: p.heads, dqk: p.dqk,
                                        dv: p.dv, paddedWidth: p.n, out: out)
        let dG = Tensor(zeros: [t * w], dtype: .f32)
        let dpw = Tensor(p.pw.cpu.toArray().map { $0 * 0.5 }, shape: [2 * p.n - 1])
        let dtw = Tensor(p.tw.cpu.toArray().map { $0 * 0.5 }, shape: [TimeBucket.count])
        let (dq, dk, dv) = p.views(dG)
        cpuBackend.hstuAttentionBackward(dOut: p.dOut.cpu, q: qc, k: kc, v: vc, rowStride: w, layout: p.layout,
                                         timestamps: p.timestamps, positionWeights: p.pw.cpu, timeWeights: p.tw.cpu,
                                         heads: p.heads, dqk: p.dqk, dv: p.dv, paddedWidth: p.n,
                                         dq: dq, dk: dk, dv: dv, dPositionWeights: dpw, dTimeWeights: dtw)
        let all = dG.toArray(), hq = p.heads * p.dqk, hv = p.heads * p.dv
        return (out.toArray(), columns(all, rows: t, stride: w, off: p.qOff, count: hq),
                columns(all, rows: t, stride: w, off: p.kOff, count: hq),
                columns(all, rows: t, stride: w, off: p.vOff, count: hv), dpw.toArray(), dtw.toArray())
    }

    /// The naive Float64 reference with the mask options, same layout of results.
    func maskedReference(_ p: HSTUProblem, _ options: HSTUMaskOptions)
        -> (out: [Float], dq: [Float], dk: [Float], dv: [Float], dpw: [Float], dtw: [Float]) {
        let ref = HSTUMaskedReference(problem: p, options: options)
        let r = ref.run(dPositionWeights: p.pw.cpu.toArray().map { Double($0) * 0.5 },
                        dTimeWeights: p.tw.cpu.toArray().map { Double($0) * 0.5 })
        let f = { (x: [Double]) in x.map { Float($0) } }
        return (f(r.out), f(r.dq), f(r.dk), f(r.dv), f(r.dpw), f(r.dtw))
    }

    /// Every tensor-core check; `long` adds one sequence of 8200 tokens (skipped under the host
    /// emulator, where it would take hours).
    mutating func hstuTensorCore(long: Bool) -> [ParityResult] {
        var results: [ParityResult] = []
        let tol = CUDAParity.bf16Tolerance
        // the model's shapes: D = 50 (padded to 64), D = 25 (padded to 32), D = 128
        for (lengths, heads, d, n) in [([1, 37, 0, 64, 129, 200, 65], 2, 50, 211), ([70, 3, 128], 2, 25, 140),
                                       ([130, 1, 64], 1, 128, 130)] {
            let p = hstuProblem(lengths: lengths, heads: heads, dqk: d, dv: d, n: n)
            results += tensorCoreResults("H\(heads) D\(d)", p, options: .causal, tol: tol, reference: cpuKernelReference(p))
        }
        // the naive reference agrees with the CPU kernel on the causal mask (f32 vs f64)
        let p = hstuProblem(lengths: [66, 0, 130, 5], heads: 2, dqk: 24, dv: 40, n: 140)
        let kernel = cpuKernelReference(p), naive = maskedReference(p, .causal)
        for (name, a, b) in [("forward", kernel.out, naive.out), ("dq", kernel.dq, naive.dq), ("dk", kernel.dk, naive.dk),
                             ("dv", kernel.dv, naive.dv), ("dPositionWeights", kernel.dpw, naive.dpw),
                             ("dTimeWeights", kernel.dtw, naive.dtw)] {
            results.append(ParityResult(name: "hstu naive f64 reference vs CPU kernel \(name)",
                                        error: CUDAParity.relativeError(b, a), tolerance: CUDAParity.f32Tolerance))
        }
        results += tensorCoreResults("dqk24 dv40", p, options: .causal, tol: tol, reference: kernel)
        // targets and contextual prefix
        for options in [HSTUMaskOptions(targetCount: 5), HSTUMaskOptions(contextualLength: 7),
                        HSTUMaskOptions(targetCount: 70, contextualLength: 3)] {
            let q = hstuProblem(lengths: [150, 9, 0, 66, 2], heads: 2, dqk: 32, dv: 32, n: 160)
            results += tensorCoreResults("targets \(options.targetCount) contextual \(options.contextualLength)", q,
                                         options: options, tol: tol, reference: maskedReference(q, options))
            // D = 128 (the wgmma forward on sm_90, GR_CUDA_ATTENTION_FWD): several key tiles, sequence 2 on
            // the 64-bit timestamp path
            let w = hstuProblem(lengths: [200, 9, 130, 0, 66], heads: 2, dqk: 128, dv: 128, n: 200)
            results += tensorCoreResults("D128 targets \(options.targetCount) contextual \(options.contextualLength)", w,
                                         options: options, tol: tol, reference: maskedReference(w, options))
        }
        if long {
            let q = hstuProblem(lengths: [8200], heads: 1, dqk: 64, dv: 64, n: 8200)
            results += tensorCoreResults("L8200 D64", q, options: .causal, tol: tol, reference: cpuKernelReference(q))
            let w = hstuProblem(lengths: [1000, 1, 2100], heads: 2, dqk: 128, dv: 100, n: 2100)
            results += tensorCoreResults("L2100 H2 dqk128 dv100", w, options: .causal, tol: tol, reference: cpuKernelReference(w))
        }
        return results
    }
}

/// Naive HSTU attention with the mask options in Float64 (spec §2.2–2.3; the mask of
/// `AttentionMMA.cu`), for parity only: O(Σ_b L_b² · H · D).
struct HSTUMaskedReference {
    let problem: HSTUProblem
    let options: HSTUMaskOptions

    /// The mask of HEAD's `_get_valid_attn_mask` (causal), as documented in `AttentionMMA.cu`.
    static func allowed(_ i: Int, _ j: Int, length: Int, _ options: HSTUMaskOptions) -> Bool {
        if i == j { return true }
        let hist = length - min(options.targetCount, length), c = options.contextualLength
        if c == 0 { return min(i, hist) > min(j, hist) }
        let maxId = hist - c + 1
        let ii = min(max(i - c + 1, 0), maxId), jj = min(max(j - c + 1, 0), maxId)
        return ii > jj || (ii == 0 && jj < maxId)
    }

    func run(dPositionWeights: [Double], dTimeWeights: [Double])
        -> (out: [Double], dq: [Double], dk: [Double], dv: [Double], dpw: [Double], dtw: [Double]) {
        let p = problem, w = p.width, n = p.n, H = p.heads, dqk = p.dqk, dv = p.dv
        let x = p.uvqk.cpu.toArray().map { Double($0) }, g = p.dOut.cpu.toArray().map { Double($0) }
        let pw = p.pw.cpu.toArray().map { Double($0) }, tw = p.tw.cpu.toArray().map { Double($0) }
        let ts = p.timestamps.int64s
        var out = [Double](repeating: 0, count: p.t * H * dv)
        var dq = [Double](repeating: 0, count: p.t * H * dqk), dk = dq, dV = [Double](repeating: 0, count: p.t * H * dv)
        var dpw = dPositionWeights, dtw = dTimeWeights
        let invN = 1 / Double(n)
        for b in 0..<p.lengths.count {
            let base = Int(p.layout.offsets[b]), L = p.lengths[b]
            for h in 0..<H {
                for i in 0..<L {
                    let tq = ts[b * n + min(i + 1, n - 1)]
                    let qi = (base + i) * w + p.qOff + h * dqk, gi = (base + i) * H * dv + h * dv
                    for j in 0..<L where Self.allowed(i, j, length: L, options) {
                        let kj = (base + j) * w + p.kOff + h * dqk, vj = (base + j) * w + p.vOff + h * dv
                        var s = 0.0, dA = 0.0
                        for d in 0..<dqk { s += x[qi + d] * x[kj + d] }
                        for d in 0..<dv { dA += g[gi + d] * x[vj + d] }
                        let bucket = TimeBucket.bucket(tq - ts[b * n + j])
                        s += pw[n - 1 + j - i] + tw[bucket]
                        let sg = 1 / (1 + Foundation.exp(-s))
                        let a = s * sg * invN, ds = dA * sg * (1 + s * (1 - sg)) * invN
                        for d in 0..<dv {
                            out[gi + d] += a * x[vj + d]
                            dV[(base + j) * H * dv + h * dv + d] += a * g[gi + d]
                        }
                        for d in 0..<dqk {
                            dq[(base + i) * H * dqk + h * dqk + d] += ds * x[kj + d]
                            dk[(base + j) * H * dqk + h * dqk + d] += ds * x[qi + d]
                        }
                        dpw[n - 1 + j - i] += ds
                        dtw[bucket] += ds
                    }
                }
            }
        }
        return (out, dq, dk, dV, dpw, dtw)
    }
}
