import Foundation
import GRCore

/// TEMPORARY host versions of the two attention ops, with the exact signatures of
/// `AttentionOps` (helper `attn`); removed as soon as the backend's attention is on main.
enum K {
    static func silu(_ x: Float) -> Float { x / (1 + Foundation.exp(-x)) }
    static func siluGrad(_ x: Float) -> Float {
        let s = 1 / (1 + Foundation.exp(-x)); return s * (1 + x * (1 - s))
    }

    /// Time bucket (spec §2.3 + fixture quirk 1).
    static func timeBucket(_ delta: Int64) -> Int {
        let a = max(delta.magnitude, 1)
        let v = Float(Foundation.log(Double(a))) / Float(0.301)
        return min(max(Int(v), 0), 128)
    }

    static func hstuAttentionForward(q: Tensor, k: Tensor, v: Tensor, rowStride: Int, layout: JaggedLayout,
                                     timestamps: Tensor, positionWeights: Tensor, timeWeights: Tensor,
                                     heads: Int, dqk: Int, dv: Int, paddedWidth n: Int, out: Tensor) {
        let qp = q.floats, kp = k.floats, vp = v.floats, op = out.floats, ts = timestamps.int64s
        let wp = positionWeights.floats, wt = timeWeights.floats
        let hdv = heads * dv
        for b in 0..<layout.batchSize {
            let s0 = layout.start(b), l = layout.length(b)
            for i in 0..<l {
                let tq = ts[b * n + min(i + 1, n - 1)]
                for h in 0..<heads {
                    var acc = [Float](repeating: 0, count: dv)
                    for j in 0...i {
                        var s: Float = 0
                        for c in 0..<dqk { s += qp[(s0 + i) * rowStride + h * dqk + c] * kp[(s0 + j) * rowStride + h * dqk + c] }
                        s += wp[n - 1 + j - i] + wt[timeBucket(tq - ts[b * n + j])]
                        let a = silu(s) / Float(n)
                        for c in 0..<dv { acc[c] += a * vp[(s0 + j) * rowStride + h * dv + c] }
                    }
                    for c in 0..<dv { op[(s0 + i) * hdv + h * dv + c] = acc[c] }
                }
            }
        }
    }

    static func hstuAttentionBackward(dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, rowStride: Int, layout: JaggedLayout,
                                      timestamps: Tensor, positionWeights: Tensor, timeWeights: Tensor,
                                      heads: Int, dqk: Int, dv: Int, paddedWidth n: Int,
                                      dq: Tensor, dk: Tensor, dv dV: Tensor, dPositionWeights: Tensor, dTimeWeights: Tensor) {
        let qp = q.floats, kp = k.floats, vp = v.floats, dop = dOut.floats, ts = timestamps.int64s
        let wp = positionWeights.floats, wt = timeWeights.floats
        let dqp = dq.floats, dkp = dk.floats, dvp = dV.floats, dwp = dPositionWeights.floats, dwt = dTimeWeights.floats
        let hdv = heads * dv
        for row in 0..<layout.totalTokens {
            for c in 0..<(heads * dqk) { dqp[row * rowStride + c] = 0; dkp[row * rowStride + c] = 0 }
            for c in 0..<hdv { dvp[row * rowStride + c] = 0 }
        }
        for b in 0..<layout.batchSize {
            let s0 = layout.start(b), l = layout.length(b)
            for i in 0..<l {
                let tq = ts[b * n + min(i + 1, n - 1)]
                for h in 0..<heads {
                    for j in 0...i {
                        var s: Float = 0
                        for c in 0..<dqk { s += qp[(s0 + i) * rowStride + h * dqk + c] * kp[(s0 + j) * rowStride + h * dqk + c] }
                        let bucket = timeBucket(tq - ts[b * n + j])
                        s += wp[n - 1 + j - i] + wt[bucket]
                        let a = silu(s) / Float(n)
                        var da: Float = 0
                        for c in 0..<dv {
                            da += dop[(s0 + i) * hdv + h * dv + c] * vp[(s0 + j) * rowStride + h * dv + c]
                            dvp[(s0 + j) * rowStride + h * dv + c] += a * dop[(s0 + i) * hdv + h * dv + c]
                        }
                        let ds = da * siluGrad(s) / Float(n)
                        for c in 0..<dqk {
                            dqp[(s0 + i) * rowStride + h * dqk + c] += ds * kp[(s0 + j) * rowStride + h * dqk + c]
                            dkp[(s0 + j) * rowStride + h * dqk + c] += ds * qp[(s0 + i) * rowStride + h * dqk + c]
                        }
                        dwp[n - 1 + j - i] += ds
                        dwt[bucket] += ds
                    }
                }
            }
        }
    }

    static func softmaxAttentionForward(q: Tensor, k: Tensor, v: Tensor, rowStride rs: Int, batch: Int, width n: Int,
                                        dim: Int, heads: Int, dropout p: Float, dropoutStream stream: PhiloxStream?,
                                        probs: Tensor, out: Tensor) {
        let qp = q.floats, kp = k.floats, vp = v.floats, pp = probs.floats, op = out.floats
        let dh = dim / heads, scale = 1 / Float(dh).squareRoot()
        for b in 0..<batch {
            for h in 0..<heads {
                for i in 0..<n {
                    let prow = pp + ((b * heads + h) * n + i) * n
                    var mx = -Float.infinity
                    for j in 0..<n {
                        if j > i { prow[j] = 0; continue }
                        var s: Float = 0
                        for c in 0..<dh { s += qp[(b * n + i) * rs + h * dh + c] * kp[(b * n + j) * rs + h * dh + c] }
                        prow[j] = s * scale; mx = max(mx, prow[j])
                    }
                    var z: Float = 0
                    for j in 0...i { prow[j] = Foundation.exp(prow[j] - mx); z += prow[j] }
                    for j in 0...i { prow[j] /= z }
                    for c in 0..<dh {
                        var acc: Float = 0
                        for j in 0...i {
                            var a = prow[j]
                            if let st = stream, p > 0 {
                                a = st.uniform(UInt64(((b * heads + h) * n + i) * n + j)) >= p ? a / (1 - p) : 0
                            }
                            acc += a * vp[(b * n + j) * rs + h * dh + c]
                        }
                        op[(b * n + i) * dim + h * dh + c] = acc
                    }
                }
            }
        }
    }

    static func softmaxAttentionBackward(dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, rowStride rs: Int, batch: Int,
                                         width n: Int, dim: Int, heads: Int, dropout p: Float,
                                         dropoutStream stream: PhiloxStream?, probs: Tensor,
                                         dq: Tensor, dk: Tensor, dv dV: Tensor) {
        let qp = q.floats, kp = k.floats, vp = v.floats, pp = probs.floats, dop = dOut.floats
        let dqp = dq.floats, dkp = dk.floats, dvp = dV.floats
        let dh = dim / heads, scale = 1 / Float(dh).squareRoot()
        for r in 0..<(batch * n) { for c in 0..<dim { dqp[r * rs + c] = 0; dkp[r * rs + c] = 0; dvp[r * rs + c] = 0 } }
        var dp = [Float](repeating: 0, count: n)
        for b in 0..<batch {
            for h in 0..<heads {
                for i in 0..<n {
                    let prow = pp + ((b * heads + h) * n + i) * n
                    var sum: Float = 0
                    for j in 0...i {
                        var keep: Float = 1
                        if let st = stream, p > 0 {
                            keep = st.uniform(UInt64(((b * heads + h) * n + i) * n + j)) >= p ? 1 / (1 - p) : 0
                        }
                        var d: Float = 0
                        for c in 0..<dh {
                            d += dop[(b * n + i) * dim + h * dh + c] * vp[(b * n + j) * rs + h * dh + c]
                            dvp[(b * n + j) * rs + h * dh + c] += prow[j] * keep * dop[(b * n + i) * dim + h * dh + c]
                        }
                        dp[j] = d * keep
                        sum += prow[j] * dp[j]
                    }
                    for j in 0...i {
                        let ds = prow[j] * (dp[j] - sum) * scale
                        for c in 0..<dh {
                            dqp[(b * n + i) * rs + h * dh + c] += ds * kp[(b * n + j) * rs + h * dh + c]
                            dkp[(b * n + j) * rs + h * dh + c] += ds * qp[(b * n + i) * rs + h * dh + c]
                        }
                    }
                }
            }
        }
    }
}
