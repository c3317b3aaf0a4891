import Foundation
import GRCore
@testable import GRCPU
import GRTestSupport
import XCTest

/// A random SASRec attention problem: q, k, v are column blocks of one (B·N, W) buffer with
/// W = 3D + 2: column 0 and column 2D + 1 are unused (q at 1, k at D + 1, v at 2D + 2).
struct SoftmaxProblem {
    var batch: Int, n: Int, dim: Int, heads: Int
    var dropout: Float
    var stream: PhiloxStream?
    var x: [Double]
    var w: Int { 3 * dim + 2 }
    var qOffset: Int { 1 }
    var kOffset: Int { 1 + dim }
    var vOffset: Int { 2 + 2 * dim }

    init(batch: Int, n: Int, dim: Int, heads: Int, dropout: Float, seed: UInt64) {
        self.batch = batch; self.n = n; self.dim = dim; self.heads = heads; self.dropout = dropout
        stream = dropout > 0 ? PhiloxStream(seed: seed, stream: RandomStreamKind.attentionDropout.stream(step: 3, slot: 1)) : nil
        var rng = AttentionReference.Rng(seed)
        x = (0..<(batch * n * (3 * dim + 2))).map { _ in rng.symmetric(1.5) }
    }

    func naive() -> (out: [Double], probs: [Double]) {
        AttentionReference.softmaxAttention(x, qOffset: qOffset, kOffset: kOffset, vOffset: vOffset, rowStride: w,
                                            batch: batch, n: n, dim: dim, heads: heads, dropout: dropout, stream: stream)
    }

    func views(_ t: Tensor) -> (q: Tensor, k: Tensor, v: Tensor) {
        let c = t.count
        return (t.view(qOffset, [c - qOffset]), t.view(kOffset, [c - kOffset]), t.view(vOffset, [c - vOffset]))
    }

    func make(_ dtype: DType) -> ([Double], [Int]) -> Tensor {
        dtype == .f64 ? AttentionReference.tensor : AttentionReference.floatTensor
    }

    func forward(_ backend: CPUBackend, _ dtype: DType) -> (out: [Double], probs: [Double]) {
        let buffer = make(dtype)(x, [batch * n, w])
        let (q, k, v) = views(buffer)
        let out = Tensor(zeros: [batch, n, dim], dtype: dtype)
        let probs = make(dtype)([Double](repeating: .nan, count: batch * heads * n * n), [batch, heads, n, n])
        backend.softmaxAttentionForward(q: q, k: k, v: v, rowStride: w, batch: batch, width: n, dim: dim, heads: heads,
                                        dropout: dropout, dropoutStream: stream, probs: probs, out: out)
        return (AttentionReference.doubles(out), AttentionReference.doubles(probs))
    }

    /// Gradient of Σ out ⊙ r with respect to the buffer (only the q, k, v blocks written).
    func backward(_ backend: CPUBackend, _ dtype: DType, r: [Double], sentinel: Double = 0) -> [Double] {
        let buffer = make(dtype)(x, [batch * n, w])
        let (q, k, v) = views(buffer)
        let out = Tensor(zeros: [batch, n, dim], dtype: dtype)
        let probs = Tensor(zeros: [batch, heads, n, n], dtype: dtype)
        backend.softmaxAttentionForward(q: q, k: k, v: v, rowStride: w, batch: batch, width: n, dim: dim, heads: heads,
                                        dropout: dropout, dropoutStream: stream, probs: probs, out: out)
        let grad = make(dtype)([Double](repeating: sentinel, count: batch * n * w), [batch * n, w])
        let (dq, dk, dv) = views(grad)
        backend.softmaxAttentionBackward(dOut: make(dtype)(r, [batch, n, dim]), q: q, k: k, v: v, rowStride: w,
                                         batch: batch, width: n, dim: dim, heads: heads, dropout: dropout,
                                         dropoutStream: stream, probs: probs, dq: dq, dk: dk, dv: dv)
        return AttentionReference.doubles(grad)
    }
}

final class SoftmaxAttentionTests: XCTestCase {
    let backend = CPUBackend()

    func testForwardMatchesNaiveInDouble() {
        for dropout: Float in [0, 0.3] {
            let p = SoftmaxProblem(batch: 2, n: 37, dim: 6, heads: 2, dropout: dropout, seed: 11)
            let (out, probs) = p.forward(backend, .f64), want = p.naive()
            AttentionReference.assertNear(out, want.out, atol: 1e-13, rtol: 1e-12, "out p=\(dropout)")
            AttentionReference.assertNear(probs, want.probs, atol: 1e-15, rtol: 1e-12, "probs p=\(dropout)")
        }
    }

    func testForwardMatchesNaiveInFloat() {
        let p = SoftmaxProblem(batch: 3, n: 45, dim: 50, heads: 1, dropout: 0.2, seed: 12)
        let (out, probs) = p.forward(backend, .f32), want = p.naive()
        AttentionReference.assertNear(out, want.out, atol: 1e-5, rtol: 1e-4, "out f32")
        AttentionReference.assertNear(probs, want.probs, atol: 1e-6, rtol: 1e-4, "probs f32")
    }

    /// Dropout keeps about 1 − p of the causal entries, and the kept ones are scaled by 1/(1 − p)
    /// (checked exactly against the naive reference above); here: the rate.
    func testDropoutRate() {
        let p = SoftmaxProblem(batch: 4, n: 40, dim: 4, heads: 1, dropout: 0.25, seed: 13)
        guard let stream = p.stream else { return XCTFail("no stream") }
        var dropped = 0, total = 0
        for b in 0..<p.batch { for i in 0..<p.n { for j in 0...i {
            total += 1
            if stream.uniform(UInt64((b * p.n + i) * p.n + j)) < p.dropout { dropped += 1 }
        } } }
        XCTAssertEqual(Double(dropped) / Double(total), 0.25, accuracy: 0.03)
    }

    func testBackwardFiniteDifferences() {
        for dropout: Float in [0, 0.3] {
            let p = SoftmaxProblem(batch: 2, n: 35, dim: 4, heads: 2, dropout: dropout, seed: 14)
            var rng = AttentionReference.Rng(144)
            let r = (0..<(p.batch * p.n * p.dim)).map { _ in rng.symmetric(1) }
            let grad = p.backward(backend, .f64, r: r)
            func loss(_ p: SoftmaxProblem) -> Double { zip(p.forward(backend, .f64).out, r).reduce(0) { $0 + $1.0 * $1.1 } }
            let eps = 1e-6
            var columns: [Int] = []
            for c in 0..<p.dim { columns += [p.qOffset + c, p.kOffset + c, p.vOffset + c] }
            for _ in 0..<45 {
                let row = rng.below(p.batch * p.n), col = columns[rng.below(columns.count)]
                var plus = p, minus = p
                plus.x[row * p.w + col] += eps
                minus.x[row * p.w + col] -= eps
                let fd = (loss(plus) - loss(minus)) / (2 * eps)
                XCTAssertEqual(grad[row * p.w + col], fd, accuracy: 1e-7 + 1e-6 * abs(fd), "p=\(dropout) [\(row), \(col)]")
            }
        }
    }

    func testBackwardContractAndFloat() {
        let p = SoftmaxProblem(batch: 2, n: 33, dim: 8, heads: 2, dropout: 0.1, seed: 15)
        var rng = AttentionReference.Rng(155)
        let r = (0..<(p.batch * p.n * p.dim)).map { _ in rng.symmetric(1) }
        let clean = p.backward(backend, .f64, r: r), dirty = p.backward(backend, .f64, r: r, sentinel: 7)
        for row in 0..<(p.batch * p.n) {
            for col in 0..<p.w {
                if col == 0 || col == 2 * p.dim + 1 {
                    XCTAssertEqual(dirty[row * p.w + col], 7)   // unused columns untouched
                } else {
                    XCTAssertEqual(dirty[row * p.w + col], clean[row * p.w + col])
                }
            }
        }
        let f = p.backward(backend, .f32, r: r)
        let scale = clean.map(abs).max()!
        AttentionReference.assertNear(f, clean, atol: 1e-5 * scale, rtol: 1e-4, "grad f32")
    }

    func testDeterministicAcrossThreadCounts() {
        let p = SoftmaxProblem(batch: 3, n: 40, dim: 8, heads: 2, dropout: 0.2, seed: 16)
        var rng = AttentionReference.Rng(166)
        let r = (0..<(p.batch * p.n * p.dim)).map { _ in rng.symmetric(1) }
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 1
        let a = p.forward(backend, .f32), ga = p.backward(backend, .f32, r: r)
        Parallel.threads = 3
        let b = p.forward(backend, .f32), gb = p.backward(backend, .f32, r: r)
        XCTAssertEqual(a.out, b.out)
        XCTAssertEqual(a.probs, b.probs)
        XCTAssertEqual(ga, gb)
    }
}
