import Foundation
import GRCore
@testable import GRCPU
import XCTest

/// Naive (dense, materialised) references for the attention ops and helpers shared by the
/// attention tests. Everything here is plain Double loops written straight from the spec.
enum AttentionReference {
    /// A deterministic generator for test inputs (SplitMix64).
    struct Rng {
        var state: UInt64
        init(_ seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        /// Uniform in [-scale, scale).
        mutating func symmetric(_ scale: Double) -> Double { (Double(next() >> 11) / 9_007_199_254_740_992.0 * 2 - 1) * scale }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    static func tensor(_ values: [Double], _ shape: [Int]) -> Tensor {
        let t = Tensor(zeros: shape, dtype: .f64)
        for i in 0..<values.count { t.doubles[i] = values[i] }
        return t
    }

    static func tensor(_ values: [Int64], _ shape: [Int]) -> Tensor {
        let t = Tensor(zeros: shape, dtype: .i64)
        for i in 0..<values.count { t.int64s[i] = values[i] }
        return t
    }

    static func floatTensor(_ values: [Double], _ shape: [Int]) -> Tensor { Tensor(values.map { Float($0) }, shape: shape) }

    static func doubles(_ t: Tensor) -> [Double] {
        t.dtype == .f64 ? Array(UnsafeBufferPointer(start: t.doubles, count: t.count)) : t.toArray().map(Double.init)
    }

    static func silu(_ x: Double) -> Double { x / (1 + exp(-x)) }

    /// Spec §2.3 bias for query i, key j of sequence b: wPos[N−1+j−i] + wTs[bucket(T'[b,i+1] − T[b,j])].
    static func rab(_ ts: [Int64], b: Int, i: Int, j: Int, n: Int, wPos: [Double], wTs: [Double]) -> Double {
        let tq = ts[b * n + min(i + 1, n - 1)]
        return wPos[n - 1 + j - i] + wTs[TimeBucket.bucket(tq - ts[b * n + j])]
    }

    /// Spec §2.2 steps 3-4 on padded, materialised scores. q/k/v rows `rowStride` apart, starting
    /// at qOffset/kOffset/vOffset of `x`. Returns out (T, H·Dv).
    static func hstu(_ x: [Double], qOffset: Int, kOffset: Int, vOffset: Int, rowStride: Int, lengths: [Int],
                     ts: [Int64], wPos: [Double], wTs: [Double], heads: Int, dqk: Int, dv: Int, n: Int) -> [Double] {
        let t = lengths.reduce(0, +)
        var out = [Double](repeating: 0, count: t * heads * dv)
        var base = 0
        for (b, l) in lengths.enumerated() {
            for h in 0..<heads {
                // dense padded (N × N) scores, keys beyond L have v = 0 (spec §2.2 step 3)
                for i in 0..<l {
                    for j in 0..<n where j <= i && j < l {
                        var s = 0.0
                        for d in 0..<dqk {
                            s += x[qOffset + (base + i) * rowStride + h * dqk + d] * x[kOffset + (base + j) * rowStride + h * dqk + d]
                        }
                        s += rab(ts, b: b, i: i, j: j, n: n, wPos: wPos, wTs: wTs)
                        let a = silu(s) / Double(n)
                        for d in 0..<dv { out[(base + i) * heads * dv + h * dv + d] += a * x[vOffset + (base + j) * rowStride + h * dv + d] }
                    }
                }
            }
            base += l
        }
        return out
    }

    /// PyTorch MHA core: causal softmax(q kᵀ/√Dh) with dropout mask `keep(b,h,i,j)`, times v.
    static func softmaxAttention(_ x: [Double], qOffset: Int, kOffset: Int, vOffset: Int, rowStride: Int,
                                 batch: Int, n: Int, dim: Int, heads: Int, dropout: Float, stream: PhiloxStream?)
        -> (out: [Double], probs: [Double]) {
        let dh = dim / heads
        var out = [Double](repeating: 0, count: batch * n * dim)
        var probs = [Double](repeating: 0, count: batch * heads * n * n)
        for b in 0..<batch {
            for h in 0..<heads {
                for i in 0..<n {
                    var z = [Double](repeating: 0, count: i + 1)
                    for j in 0...i {
                        var s = 0.0
                        for d in 0..<dh { s += x[qOffset + (b * n + i) * rowStride + h * dh + d] * x[kOffset + (b * n + j) * rowStride + h * dh + d] }
                        z[j] = s / Double(dh).squareRoot()
                    }
                    let m = z.max()!
                    let e = z.map { exp($0 - m) }
                    let sum = e.reduce(0, +)
                    for j in 0...i {
                        let p = e[j] / sum
                        probs[((b * heads + h) * n + i) * n + j] = p
                        var mult = 1.0
                        if let stream, dropout > 0 {
                            let u = stream.uniform(UInt64(((b * heads + h) * n + i) * n + j))
                            mult = u >= dropout ? 1 / (1 - Double(dropout)) : 0
                        }
                        for d in 0..<dh { out[(b * n + i) * dim + h * dh + d] += p * mult * x[vOffset + (b * n + j) * rowStride + h * dh + d] }
                    }
                }
            }
        }
        return (out, probs)
    }

    /// Asserts |a − e| ≤ atol + rtol·|e| elementwise.
    static func assertNear(_ a: [Double], _ e: [Double], atol: Double, rtol: Double, _ what: String,
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, e.count, "\(what): count", file: file, line: line)
        guard a.count == e.count else { return }
        for i in 0..<a.count where !(abs(a[i] - e[i]) <= atol + rtol * abs(e[i])) {
            XCTFail("\(what)[\(i)]: \(a[i]) vs \(e[i])", file: file, line: line)
            return
        }
    }
}

final class AttentionReferenceTests: XCTestCase {
    /// The naive reference itself: one hand-computed value (1 sequence, length 2, 1 head, d = 1).
    func testNaiveHSTUHandComputed() {
        // q = k = v = [1, 2] (one column), N = 3, all weights zero → s_ij = q_i k_j.
        let x: [Double] = [1, 2]
        let out = AttentionReference.hstu(x, qOffset: 0, kOffset: 0, vOffset: 0, rowStride: 1, lengths: [2],
                                          ts: [0, 0, 0], wPos: [0, 0, 0, 0, 0], wTs: [Double](repeating: 0, count: 129),
                                          heads: 1, dqk: 1, dv: 1, n: 3)
        let silu = AttentionReference.silu
        XCTAssertEqual(out[0], silu(1) / 3 * 1, accuracy: 1e-15)
        XCTAssertEqual(out[1], (silu(2) * 1 + silu(4) * 2) / 3, accuracy: 1e-15)
    }
}
