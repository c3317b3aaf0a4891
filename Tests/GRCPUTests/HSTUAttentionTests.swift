import Foundation
import GRCore
@testable import GRCPU
import GRTestSupport
import XCTest

/// A random jagged HSTU attention problem whose q, k, v are the Q, K, V column blocks of one
/// UVQK buffer (T, W = 2·H·Dv + 2·H·Dqk), as the model passes them.
struct HSTUProblem {
    var lengths: [Int]
    var n: Int, heads: Int, dqk: Int, dv: Int
    var x: [Double]          // (T, W) UVQK
    var ts: [Int64]          // (B, N)
    var wPos: [Double]       // (2N − 1)
    var wTs: [Double]        // (129)

    var t: Int { lengths.reduce(0, +) }
    var w: Int { 2 * heads * dv + 2 * heads * dqk }
    var vOffset: Int { heads * dv }
    var qOffset: Int { 2 * heads * dv }
    var kOffset: Int { 2 * heads * dv + heads * dqk }
    var layout: JaggedLayout { JaggedLayout(lengths: lengths) }

    init(lengths: [Int], n: Int, heads: Int, dqk: Int, dv: Int, seed: UInt64, scale: Double = 1) {
        self.lengths = lengths
        self.n = n; self.heads = heads; self.dqk = dqk; self.dv = dv
        var rng = AttentionReference.Rng(seed)
        let t = lengths.reduce(0, +), w = 2 * heads * dv + 2 * heads * dqk
        x = (0..<(t * w)).map { _ in rng.symmetric(scale) }
        // Chronological timestamps with gaps from equal to months, incl. the 417,901 s edge case
        // (spec §2.3); target at index L, zeros after.
        let gaps: [Int64] = [0, 1, 59, 3600, 86_400, 417_901, 604_800, 2_592_000]
        ts = [Int64](repeating: 0, count: lengths.count * n)
        for (b, l) in lengths.enumerated() {
            var now: Int64 = 978_300_760 + Int64(rng.below(1_000_000))
            for i in 0...min(l, n - 1) {
                ts[b * n + i] = now
                now += rng.below(3) == 0 ? Int64(rng.below(10_000_000)) : gaps[rng.below(gaps.count)]
            }
        }
        wPos = (0..<(2 * n - 1)).map { _ in rng.symmetric(0.5) }
        wTs = (0..<TimeBucket.count).map { _ in rng.symmetric(0.5) }
    }

    /// The timestamps with each sequence's history and target reversed (so not chronological).
    func unordered() -> [Int64] {
        var ts = self.ts
        for (b, l) in lengths.enumerated() where l > 0 {
            let top = min(l, n - 1)
            for x in 0...(top / 2) { ts.swapAt(b * n + x, b * n + top - x) }
        }
        return ts
    }

    func naive() -> [Double] {
        AttentionReference.hstu(x, qOffset: qOffset, kOffset: kOffset, vOffset: vOffset, rowStride: w,
                                lengths: lengths, ts: ts, wPos: wPos, wTs: wTs, heads: heads, dqk: dqk, dv: dv, n: n)
    }

    /// Tensors in f64 or f32.
    struct Tensors {
        var uvqk: Tensor, q: Tensor, k: Tensor, v: Tensor, ts: Tensor, wPos: Tensor, wTs: Tensor
    }

    func tensors(_ dtype: DType) -> Tensors {
        let make: ([Double], [Int]) -> Tensor = dtype == .f64 ? AttentionReference.tensor : AttentionReference.floatTensor
        let uvqk = make(x, [t, w])
        let count = t * w
        return Tensors(uvqk: uvqk, q: uvqk.view(qOffset, [count - qOffset]), k: uvqk.view(kOffset, [count - kOffset]),
                       v: uvqk.view(vOffset, [count - vOffset]), ts: AttentionReference.tensor(ts, [lengths.count, n]),
                       wPos: make(wPos, [2 * n - 1]), wTs: make(wTs, [TimeBucket.count]))
    }

    func forward(_ backend: CPUBackend, _ dtype: DType) -> [Double] {
        let x = tensors(dtype)
        let out = Tensor(zeros: [t, heads * dv], dtype: dtype)
        backend.hstuAttentionForward(q: x.q, k: x.k, v: x.v, rowStride: w, layout: layout, timestamps: x.ts,
                                     positionWeights: x.wPos, timeWeights: x.wTs, heads: heads, dqk: dqk, dv: dv,
                                     paddedWidth: n, out: out)
        return AttentionReference.doubles(out)
    }

    /// Gradients of Σ out ⊙ r: (dUVQK with only the V, Q, K blocks written, dPos, dTs).
    func backward(_ backend: CPUBackend, _ dtype: DType, r: [Double], sentinel: Double = 0,
                  initialBias: Double = 0) -> (dx: [Double], dPos: [Double], dTs: [Double]) {
        let x = tensors(dtype)
        let make: ([Double], [Int]) -> Tensor = dtype == .f64 ? AttentionReference.tensor : AttentionReference.floatTensor
        let dx = make([Double](repeating: sentinel, count: t * w), [t, w])
        let count = t * w
        let dPos = make([Double](repeating: initialBias, count: 2 * n - 1), [2 * n - 1])
        let dTs = make([Double](repeating: initialBias, count: TimeBucket.count), [TimeBucket.count])
        backend.hstuAttentionBackward(dOut: make(r, [t, heads * dv]), q: x.q, k: x.k, v: x.v, rowStride: w,
                                      layout: layout, timestamps: x.ts, positionWeights: x.wPos, timeWeights: x.wTs,
                                      heads: heads, dqk: dqk, dv: dv, paddedWidth: n,
                                      dq: dx.view(qOffset, [count - qOffset]), dk: dx.view(kOffset, [count - kOffset]),
                                      dv: dx.view(vOffset, [count - vOffset]), dPositionWeights: dPos, dTimeWeights: dTs)
        return (AttentionReference.doubles(dx), AttentionReference.doubles(dPos), AttentionReference.doubles(dTs))
    }
}

final class HSTUAttentionTests: XCTestCase {
    let backend = CPUBackend()

    // MARK: time bucket

    func testTimeBucketFixtureProbes() throws {
        let f = try Shared.fixture("hstu_layer")
        let deltas = try f.int64s("input.bucket_probe_delta")
        let expected = try f.int64s("output.bucket_probe_bucket")
        XCTAssertEqual(deltas.count, 28)
        let table = TimeBucket.table
        for (delta, want) in zip(deltas, expected) {
            XCTAssertEqual(TimeBucket.bucket(delta), Int(want), "bucket(\(delta))")
            XCTAssertEqual(table.withUnsafeBufferPointer { TimeBucket.fastBucket(delta, $0.baseAddress!) }, Int(want),
                           "fastBucket(\(delta))")
        }
        // The 4 "hard" deltas depend on the last ulp of PyTorch's vectorised float32 log: informational.
        let hard = try f.int64s("input.bucket_hard_delta"), hardWant = try f.int64s("output.bucket_hard_bucket")
        let matched = zip(hard, hardWant).filter { TimeBucket.bucket($0.0) == Int($0.1) }.count
        print("time bucket: \(matched)/\(hard.count) informational hard deltas match the reference")
    }

    func testFastBucketEqualsDefinition() {
        var rng = AttentionReference.Rng(7)
        let table = TimeBucket.table
        table.withUnsafeBufferPointer { tp in
            let t = tp.baseAddress!
            // Every threshold and its neighbours, plus log-uniform random deltas of both signs.
            var probes: [Int64] = [0, 1, -1, 2, .max, .min, .min + 1]
            for e in 0..<63 { let p = Int64(1) << Int64(e); probes += [p - 1, p, p + 1] }
            for entry in table { for x in [entry.t1, entry.t2, entry.t3] where x < UInt64(Int64.max) { probes += [Int64(x) - 1, Int64(x), Int64(x) + 1] } }
            for _ in 0..<5000 {
                let bits = rng.below(63)
                let m = Int64(rng.next() >> UInt64(64 - max(bits, 1)))
                probes.append(rng.below(2) == 0 ? m : -m)
            }
            TimeBucket.thresholds.withUnsafeBufferPointer { thr in
                var previous = 0
                for d in probes {
                    let want = TimeBucket.bucket(d)
                    XCTAssertEqual(TimeBucket.fastBucket(d, t), want, "delta \(d)")
                    XCTAssertEqual(TimeBucket.bucket(d, from: previous, thr.baseAddress!), want, "walk to \(d) from \(previous)")
                    XCTAssertEqual(TimeBucket.bucket(d, from: TimeBucket.maxBucket, thr.baseAddress!), want, "walk down to \(d)")
                    previous = want
                }
            }
        }
        XCTAssertEqual(TimeBucket.bucket(86_400), 37)     // spec §2.3 example: 1 day
        XCTAssertEqual(TimeBucket.bucket(31_536_000), 57) // 1 year
        XCTAssertEqual(TimeBucket.bucket(417_901), 43)    // fixture quirk 1 (exact maths: 42)
    }

    // MARK: forward

    func testForwardMatchesNaiveInDouble() {
        var p = HSTUProblem(lengths: [5, 0, 1, 37, 70], n: 72, heads: 2, dqk: 3, dv: 5, seed: 1)
        AttentionReference.assertNear(p.forward(backend, .f64), p.naive(), atol: 1e-13, rtol: 1e-12, "out f64")
        // Timestamps out of order (and negative gaps) take the per-element bucket path.
        p.ts = p.unordered()
        AttentionReference.assertNear(p.forward(backend, .f64), p.naive(), atol: 1e-13, rtol: 1e-12, "out f64 unordered")
    }

    func testForwardMatchesNaiveInFloat() {
        let p = HSTUProblem(lengths: [33, 2, 64, 0, 9], n: 75, heads: 1, dqk: 50, dv: 50, seed: 2)
        let want = p.naive()
        let scale = want.map(abs).max()!
        AttentionReference.assertNear(p.forward(backend, .f32), want, atol: 2e-6 * scale, rtol: 1e-4, "out f32")
    }

    // MARK: backward

    func testBackwardFiniteDifferences() {
        let p = HSTUProblem(lengths: [3, 0, 1, 34], n: 36, heads: 2, dqk: 3, dv: 2, seed: 3)
        var rng = AttentionReference.Rng(33)
        let r = (0..<(p.t * p.heads * p.dv)).map { _ in rng.symmetric(1) }
        let grads = p.backward(backend, .f64, r: r)
        // The per-element bucket path (unordered timestamps) gives the same gradients as a
        // chronological problem would through the run-by-run path; check it against itself too.
        var shuffled = p
        shuffled.ts = p.unordered()
        let shuffledGrads = shuffled.backward(backend, .f64, r: r)
        func loss(_ p: HSTUProblem) -> Double { zip(p.forward(backend, .f64), r).reduce(0) { $0 + $1.0 * $1.1 } }
        for (row, col) in [(0, p.w - 1), (p.t - 1, p.qOffset), (p.t - 5, p.kOffset + 1), (3, p.vOffset)] {
            var plus = shuffled, minus = shuffled
            plus.x[row * p.w + col] += 1e-6
            minus.x[row * p.w + col] -= 1e-6
            let fd = (loss(plus) - loss(minus)) / 2e-6
            XCTAssertEqual(shuffledGrads.dx[row * p.w + col], fd, accuracy: 1e-7 + 1e-6 * abs(fd), "unordered [\(row), \(col)]")
        }
        for x in 0..<TimeBucket.count where shuffledGrads.dTs[x] != 0 {
            var plus = shuffled, minus = shuffled
            plus.wTs[x] += 1e-6
            minus.wTs[x] -= 1e-6
            let fd = (loss(plus) - loss(minus)) / 2e-6
            XCTAssertEqual(shuffledGrads.dTs[x], fd, accuracy: 1e-7 + 1e-6 * abs(fd), "unordered dTs[\(x)]")
        }
        let eps = 1e-6
        func check(_ name: String, _ analytic: Double, _ perturb: (inout HSTUProblem, Double) -> Void) {
            var plus = p, minus = p
            perturb(&plus, eps); perturb(&minus, -eps)
            let fd = (loss(plus) - loss(minus)) / (2 * eps)
            XCTAssertEqual(analytic, fd, accuracy: 1e-7 + 1e-6 * abs(fd), name)
        }
        // V, Q, K columns of random rows (all sequences), every position weight in reach, used buckets.
        for _ in 0..<40 {
            let row = rng.below(p.t), col = p.vOffset + rng.below(p.w - p.vOffset)
            check("dUVQK[\(row), \(col)]", grads.dx[row * p.w + col]) { $0.x[row * p.w + col] += $1 }
        }
        for x in (p.n - 34)..<p.n { check("dPos[\(x)]", grads.dPos[x]) { $0.wPos[x] += $1 } }
        for x in 0..<TimeBucket.count where grads.dTs[x] != 0 { check("dTs[\(x)]", grads.dTs[x]) { $0.wTs[x] += $1 } }
        XCTAssertGreaterThan(grads.dTs.filter { $0 != 0 }.count, 3)
        // Position weights out of reach (j > i or gaps ≥ max L) get no gradient.
        for x in 0..<(p.n - 34) { XCTAssertEqual(grads.dPos[x], 0) }
        for x in p.n..<(2 * p.n - 1) { XCTAssertEqual(grads.dPos[x], 0) }
    }

    func testBackwardContract() {
        // Overwrites only the V, Q, K blocks of dUVQK; accumulates into the bias gradients.
        let p = HSTUProblem(lengths: [4, 0, 7], n: 9, heads: 1, dqk: 2, dv: 3, seed: 4)
        var rng = AttentionReference.Rng(44)
        let r = (0..<(p.t * p.heads * p.dv)).map { _ in rng.symmetric(1) }
        let clean = p.backward(backend, .f64, r: r)
        let dirty = p.backward(backend, .f64, r: r, sentinel: 123, initialBias: 1)
        for row in 0..<p.t {
            for col in 0..<p.w {
                let i = row * p.w + col
                if col < p.vOffset { XCTAssertEqual(dirty.dx[i], 123) } else { XCTAssertEqual(dirty.dx[i], clean.dx[i]) }
            }
        }
        for x in 0..<clean.dPos.count { XCTAssertEqual(dirty.dPos[x], clean.dPos[x] + 1, accuracy: 1e-12) }
        for x in 0..<clean.dTs.count { XCTAssertEqual(dirty.dTs[x], clean.dTs[x] + 1, accuracy: 1e-12) }
    }

    func testBackwardFloatMatchesDouble() {
        let p = HSTUProblem(lengths: [40, 1, 0, 17], n: 45, heads: 2, dqk: 8, dv: 12, seed: 5)
        var rng = AttentionReference.Rng(55)
        let r = (0..<(p.t * p.heads * p.dv)).map { _ in rng.symmetric(1) }
        let d = p.backward(backend, .f64, r: r), f = p.backward(backend, .f32, r: r)
        for (name, a, e) in [("dUVQK", f.dx, d.dx), ("dPos", f.dPos, d.dPos), ("dTs", f.dTs, d.dTs)] {
            let scale = e.map(abs).max()!
            AttentionReference.assertNear(a, e, atol: 1e-5 * scale, rtol: 1e-4, name)
        }
    }

    func testDeterministicAcrossThreadCounts() {
        let p = HSTUProblem(lengths: [70, 3, 0, 35, 64, 1], n: 72, heads: 2, dqk: 16, dv: 8, seed: 6)
        var rng = AttentionReference.Rng(66)
        let r = (0..<(p.t * p.heads * p.dv)).map { _ in rng.symmetric(1) }
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 1
        let out1 = p.forward(backend, .f32), grad1 = p.backward(backend, .f32, r: r)
        Parallel.threads = 3
        let out3 = p.forward(backend, .f32), grad3 = p.backward(backend, .f32, r: r)
        XCTAssertEqual(out1, out3)
        XCTAssertEqual(grad1.dx, grad3.dx)
        XCTAssertEqual(grad1.dPos, grad3.dPos)
        XCTAssertEqual(grad1.dTs, grad3.dTs)
    }

    /// f32: the AVX-512 kernels (`AttentionTileAVX512`, used when the CPU has AVX-512) against the
    /// portable SIMD8 path on the same inputs: out, dq, dk, dv and dwPos bit-identical (every element
    /// is the same chain of operations), dwTs equal up to the order of its sums. Chronological
    /// timestamps (seconds and, for time deltas beyond 2³¹, milliseconds) and unordered ones; ragged
    /// lengths with tile tails, two heads, Dv not a multiple of 16. On a CPU without AVX-512 both
    /// runs take the portable path.
    func testAVX512MatchesPortable() {
        let saved = AttentionTile.useAVX512
        defer { AttentionTile.useAVX512 = saved }
        var p = HSTUProblem(lengths: [70, 3, 0, 33, 64, 1, 45], n: 72, heads: 2, dqk: 20, dv: 12, seed: 9)
        var rng = AttentionReference.Rng(99)
        let r = (0..<(p.t * p.heads * p.dv)).map { _ in rng.symmetric(1) }
        let seconds = p.ts
        for variant in 0..<3 {
            p.ts = variant == 0 ? seconds : variant == 1 ? seconds.map { $0 &* 1000 } : p.unordered()
            AttentionTile.useAVX512 = false
            let out0 = p.forward(backend, .f32), grad0 = p.backward(backend, .f32, r: r)
            AttentionTile.useAVX512 = saved
            let out1 = p.forward(backend, .f32), grad1 = p.backward(backend, .f32, r: r)
            XCTAssertEqual(out0, out1, "out, variant \(variant)")
            XCTAssertEqual(grad0.dx, grad1.dx, "dq, dk, dv, variant \(variant)")
            XCTAssertEqual(grad0.dPos, grad1.dPos, "dwPos, variant \(variant)")
            let scale = grad0.dTs.map(abs).max()!
            AttentionReference.assertNear(grad1.dTs, grad0.dTs, atol: 1e-5 * scale, rtol: 1e-5, "dwTs, variant \(variant)")
        }
    }

    // MARK: fixture

    /// `intermediate.rab` (B, N, N) from the timestamps and the layer's bias parameters: every
    /// entry with the spec formula, and the causal part (j ≤ i < L_b) as the kernel's bias tiles.
    func testFixtureRelativeBias() throws {
        let f = try Shared.fixture("hstu_layer")
        let rab = try f.doubles("intermediate.rab")
        let ts = try f.int64s("input.all_timestamps")
        let wPos = try f.doubles("param._rel_attn_bias._pos_w"), wTs = try f.doubles("param._rel_attn_bias._ts_w")
        let lengths = try f.int64s("input.lengths").map { Int($0) }
        let n = try f.shape("input.all_timestamps")[1], batch = lengths.count
        XCTAssertEqual(n, 13)
        var mine = [Double](repeating: 0, count: batch * n * n)
        for b in 0..<batch { for i in 0..<n { for j in 0..<n {
            mine[(b * n + i) * n + j] = AttentionReference.rab(ts, b: b, i: i, j: j, n: n, wPos: wPos, wTs: wTs)
        } } }
        AttentionReference.assertNear(mine, rab, atol: 1e-15, rtol: 0, "rab (formula)")

        let x = HSTUProblem(lengths: lengths, n: n, heads: 1, dqk: 1, dv: 1, seed: 0)
        let tsT = AttentionReference.tensor(ts, [batch, n])
        let wPosT = AttentionReference.tensor(wPos, [2 * n - 1]), wTsT = AttentionReference.tensor(wTs, [129])
        let table = TimeBucket.table, thresholds = TimeBucket.thresholds
        table.withUnsafeBufferPointer { tp in thresholds.withUnsafeBufferPointer { thr in
            let kernel = HSTUAttentionKernel<Double>(
                q: wPosT.doubles, k: wPosT.doubles, v: wPosT.doubles, rowStride: 1,
                offsets: x.layout.offsets.map { Int($0) }, timestamps: tsT.int64s, n: n,
                positionWeights: wPosT.doubles, timeWeights: wTsT.doubles, heads: 1, dqk: 1, dv: 1,
                table: tp.baseAddress!, thresholds: thr.baseAddress!)
            let tile = UnsafeMutablePointer<Double>.allocate(capacity: 32 * 32)
            defer { tile.deallocate() }
            let runMemory = UnsafeMutableRawPointer.allocate(byteCount: BiasRuns.size * 4, alignment: 64)
            defer { runMemory.deallocate() }
            let lanes = AttentionTile.laneMasks(Double.self), reversed = kernel.reversedPositions(wPosT.doubles)
            let tq = UnsafeMutablePointer<Int64>.allocate(capacity: 32)
            defer { lanes.deallocate(); reversed.deallocate(); tq.deallocate() }
            for b in 0..<batch where lengths[b] > 0 {
                XCTAssertTrue(kernel.chronological(b))
                for chronological in [true, false] {   // run-by-run fill and per-element walk
                    let l = lengths[b]
                    kernel.queryTimes(b, i0: 0, nq: l, tq)
                    tile.update(repeating: .nan, count: 32 * 32)
                    kernel.biasTileTransposed(b, i0: 0, nq: l, j0: 0, nk: l, chronological: chronological,
                                              positionsReversed: reversed, tq: tq, lanes: lanes, tile,
                                              runs: BiasRuns(runMemory))
                    for c in 0..<l { for r in 0..<32 where r < c || r >= l {
                        XCTAssertEqual(tile[c * 32 + r], 0, "bias tileᵀ outside the causal part b\(b) c\(c) r\(r)")
                    } }
                    for i in 0..<l { for j in 0...i {
                        XCTAssertEqual(tile[j * 32 + i], rab[(b * n + i) * n + j], accuracy: 1e-15, "bias tileᵀ b\(b) i\(i) j\(j)")
                    } }
                }
            }
        } }
    }

    /// The whole `hstu_layer` fixture with this attention inside: the layer around it (LayerNorm,
    /// UVQK projection, SiLU, U ⊙ LN(O), f2, residual) is written out here in plain Double loops
    /// (the model's version belongs to GRModels). Checks V, padded Q/K, output.y and the gradients
    /// of W_uvqk (through dq, dk, dv) and of both bias tables.
    func testFixtureLayerForwardAndBackward() throws {
        let f = try Shared.fixture("hstu_layer")
        let x = try f.doubles("input.x"), r = try f.doubles("input.R")
        let lengths = try f.int64s("input.lengths").map { Int($0) }
        let ts = try f.int64s("input.all_timestamps")
        let wUVQK = try f.doubles("param._uvqk"), wO = try f.doubles("param._o.weight"), bO = try f.doubles("param._o.bias")
        let wPos = try f.doubles("param._rel_attn_bias._pos_w"), wTs = try f.doubles("param._rel_attn_bias._ts_w")
        let (d, heads, dqk, dv, n) = (8, 2, 4, 4, 13)
        let t = lengths.reduce(0, +), w = 2 * heads * dv + 2 * heads * dqk, hdv = heads * dv
        let eps = 1e-6   // spec §2.2 LayerNorm eps

        func layerNorm(_ a: [Double], _ width: Int) -> (y: [Double], rstd: [Double]) {
            var y = a, rstd = [Double](repeating: 0, count: a.count / width)
            for row in 0..<(a.count / width) {
                let s = a[(row * width)..<((row + 1) * width)]
                let mean = s.reduce(0, +) / Double(width)
                let variance = s.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(width)
                rstd[row] = 1 / (variance + eps).squareRoot()
                for c in 0..<width { y[row * width + c] = (a[row * width + c] - mean) * rstd[row] }
            }
            return (y, rstd)
        }
        let (xHat, _) = layerNorm(x, d)
        var pre = [Double](repeating: 0, count: t * w)
        for row in 0..<t { for c in 0..<w { for e in 0..<d { pre[row * w + c] += xHat[row * d + e] * wUVQK[e * w + c] } } }
        let uvqk = pre.map(AttentionReference.silu)
        // V (jagged) and Q, K (padded) against the reference's cached intermediates.
        let vRef = try f.doubles("intermediate.v"), qRef = try f.doubles("intermediate.padded_q"), kRef = try f.doubles("intermediate.padded_k")
        var base = 0
        for (b, l) in lengths.enumerated() {
            for i in 0..<l { for c in 0..<hdv {
                XCTAssertEqual(uvqk[(base + i) * w + hdv + c], vRef[(base + i) * hdv + c], accuracy: 1e-12)
                XCTAssertEqual(uvqk[(base + i) * w + 2 * hdv + c], qRef[(b * n + i) * hdv + c], accuracy: 1e-12)
                XCTAssertEqual(uvqk[(base + i) * w + 2 * hdv + heads * dqk + c], kRef[(b * n + i) * hdv + c], accuracy: 1e-12)
            } }
            base += l
        }

        // Attention (the op under test), in f64.
        var p = HSTUProblem(lengths: lengths, n: n, heads: heads, dqk: dqk, dv: dv, seed: 0)
        p.x = uvqk; p.ts = ts; p.wPos = wPos; p.wTs = wTs
        let o = p.forward(backend, .f64)
        let (oHat, oRstd) = layerNorm(o, hdv)
        var y = x
        for row in 0..<t { for c in 0..<d {
            var s = bO[c]
            for e in 0..<hdv { s += uvqk[row * w + e] * oHat[row * hdv + e] * wO[c * hdv + e] }
            y[row * d + c] += s
        } }
        assertClose(y, try f.doubles("output.y"), atolScale: 1e-12, rtol: 1e-10, "output.y")

        // Backward of Σ y ⊙ R down to dO, through the attention backward, then to dW_uvqk.
        var dUVQK = [Double](repeating: 0, count: t * w), dO = [Double](repeating: 0, count: t * hdv)
        for row in 0..<t {
            var dOHat = [Double](repeating: 0, count: hdv)
            for e in 0..<hdv {
                var g = 0.0
                for c in 0..<d { g += r[row * d + c] * wO[c * hdv + e] }
                dUVQK[row * w + e] = g * oHat[row * hdv + e]         // dU
                dOHat[e] = g * uvqk[row * w + e]
            }
            let mean = dOHat.reduce(0, +) / Double(hdv)
            var meanDot = 0.0
            for e in 0..<hdv { meanDot += dOHat[e] * oHat[row * hdv + e] }
            meanDot /= Double(hdv)
            for e in 0..<hdv { dO[row * hdv + e] = (dOHat[e] - mean - oHat[row * hdv + e] * meanDot) * oRstd[row] }
        }
        let g = p.backward(backend, .f64, r: dO)
        for row in 0..<t { for c in hdv..<w { dUVQK[row * w + c] = g.dx[row * w + c] } }
        var dW = [Double](repeating: 0, count: d * w)
        for row in 0..<t { for c in 0..<w {
            let z = pre[row * w + c], s = 1 / (1 + exp(-z))
            let dz = dUVQK[row * w + c] * s * (1 + z * (1 - s))
            for e in 0..<d { dW[e * w + c] += xHat[row * d + e] * dz }
        } }
        assertClose(dW, try f.doubles("grad._uvqk"), atolScale: 1e-12, rtol: 1e-10, "grad._uvqk")
        assertClose(g.dPos, try f.doubles("grad._rel_attn_bias._pos_w"), atolScale: 1e-12, rtol: 1e-10, "grad._pos_w")
        assertClose(g.dTs, try f.doubles("grad._rel_attn_bias._ts_w"), atolScale: 1e-12, rtol: 1e-10, "grad._ts_w")

        // The f32 path on the same layer: within the fixture's float32 tolerance.
        let o32 = p.forward(backend, .f32)
        assertClose(o32, o, "attention output f32")
        let g32 = p.backward(backend, .f32, r: dO)
        assertClose(g32.dPos, g.dPos, "grad._pos_w f32")
        assertClose(g32.dTs, g.dTs, "grad._ts_w f32")
    }
}
