import Foundation
import GRCore

/// TEMPORARY host implementations of the ops the models compose, used until the backend ops of
/// helpers `ops` / `attn` are on main; each is replaced by its `backend.<op>` call then.
/// Shapes use the project's letters; backward functions accumulate (+=) unless said otherwise.
enum K {
    // MARK: layer norm (affine-free)

    /// y (R, C) = (x − mean)·rstd, rstd = 1/√(var + eps) (biased var). Saves mean, rstd (R).
    static func layerNormForward(_ x: Tensor, _ y: Tensor, mean: Tensor, rstd: Tensor, rows: Int, cols: Int, eps: Float) {
        let xp = x.floats, yp = y.floats, mp = mean.floats, rp = rstd.floats
        Parallel.forRanges(rows, minChunk: 64) { r in
            for i in r {
                let row = xp + i * cols
                var s = 0.0
                for c in 0..<cols { s += Double(row[c]) }
                let mu = s / Double(cols)
                var v = 0.0
                for c in 0..<cols { let d = Double(row[c]) - mu; v += d * d }
                let rs = 1 / (v / Double(cols) + Double(eps)).squareRoot()
                for c in 0..<cols { yp[i * cols + c] = Float((Double(row[c]) - mu) * rs) }
                mp[i] = Float(mu); rp[i] = Float(rs)
            }
        }
    }

    /// dx += rstd·(dy − mean(dy) − ŷ·mean(dy·ŷ)) with ŷ the forward output.
    static func layerNormBackward(dy: Tensor, y: Tensor, rstd: Tensor, dx: Tensor, rows: Int, cols: Int) {
        let dyp = dy.floats, yp = y.floats, rp = rstd.floats, dxp = dx.floats
        Parallel.forRanges(rows, minChunk: 64) { r in
            for i in r {
                var a = 0.0, b = 0.0
                for c in 0..<cols {
                    a += Double(dyp[i * cols + c]); b += Double(dyp[i * cols + c] * yp[i * cols + c])
                }
                let ma = Float(a / Double(cols)), mb = Float(b / Double(cols))
                for c in 0..<cols {
                    dxp[i * cols + c] += rp[i] * (dyp[i * cols + c] - ma - yp[i * cols + c] * mb)
                }
            }
        }
    }

    // MARK: pointwise

    static func silu(_ x: Float) -> Float { x / (1 + Foundation.exp(-x)) }
    static func siluGrad(_ x: Float) -> Float {
        let s = 1 / (1 + Foundation.exp(-x)); return s * (1 + x * (1 - s))
    }

    /// y = SiLU(x) over `count` elements.
    static func siluForward(_ x: Tensor, _ y: Tensor, count: Int) {
        let xp = x.floats, yp = y.floats
        for i in 0..<count { yp[i] = silu(xp[i]) }
    }

    /// dx = dy·SiLU'(x) (OVERWRITES dx; dx may alias dy).
    static func siluBackward(dy: Tensor, x: Tensor, dx: Tensor, count: Int) {
        let dyp = dy.floats, xp = x.floats, dxp = dx.floats
        for i in 0..<count { dxp[i] = dyp[i] * siluGrad(xp[i]) }
    }

    static func reluForward(_ x: Tensor, _ y: Tensor, count: Int) {
        let xp = x.floats, yp = y.floats
        for i in 0..<count { yp[i] = max(xp[i], 0) }
    }

    /// dx = dy·[x > 0] (overwrites; may alias).
    static func reluBackward(dy: Tensor, x: Tensor, dx: Tensor, count: Int) {
        let dyp = dy.floats, xp = x.floats, dxp = dx.floats
        for i in 0..<count { dxp[i] = xp[i] > 0 ? dyp[i] : 0 }
    }

    /// In place: x[i] = uniform(i) ≥ p ? x[i]/(1−p) : 0. Backward is the same map on the gradient.
    static func dropout(_ x: Tensor, count: Int, p: Float, stream: PhiloxStream) {
        if p == 0 { return }
        let xp = x.floats, scale = 1 / (1 - p)
        for i in 0..<count { xp[i] = stream.uniform(UInt64(i)) >= p ? xp[i] * scale : 0 }
    }

    /// out = a ⊙ b.
    static func mul(_ a: Tensor, _ b: Tensor, _ out: Tensor, count: Int) {
        let ap = a.floats, bp = b.floats, op = out.floats
        for i in 0..<count { op[i] = ap[i] * bp[i] }
    }

    /// y (R, C) += bias (C) per row.
    static func addBias(_ y: Tensor, _ bias: Tensor, rows: Int, cols: Int) {
        let yp = y.floats, bp = bias.floats
        for i in 0..<rows { for c in 0..<cols { yp[i * cols + c] += bp[c] } }
    }

    /// dBias (C) += column sums of dy (R, C).
    static func biasGrad(_ dy: Tensor, _ dBias: Tensor, rows: Int, cols: Int) {
        let dp = dy.floats, bp = dBias.floats
        for c in 0..<cols {
            var s: Float = 0
            for i in 0..<rows { s += dp[i * cols + c] }
            bp[c] += s
        }
    }

    // MARK: L2 norm

    /// y = x / max(‖x‖, eps) per row; saves the norm (R).
    static func l2NormForward(_ x: Tensor, _ y: Tensor, norm: Tensor, rows: Int, cols: Int, eps: Float) {
        let xp = x.floats, yp = y.floats, np = norm.floats
        for i in 0..<rows {
            var s: Float = 0
            for c in 0..<cols { s += xp[i * cols + c] * xp[i * cols + c] }
            let n = s.squareRoot(); np[i] = n
            let d = max(n, eps)
            for c in 0..<cols { yp[i * cols + c] = xp[i * cols + c] / d }
        }
    }

    /// dx (overwrites) = (dy − y(y·dy))/‖x‖ when ‖x‖ ≥ eps, else dy/eps.
    static func l2NormBackward(dy: Tensor, y: Tensor, norm: Tensor, dx: Tensor, rows: Int, cols: Int, eps: Float) {
        let dyp = dy.floats, yp = y.floats, np = norm.floats, dxp = dx.floats
        for i in 0..<rows {
            if np[i] < eps {
                for c in 0..<cols { dxp[i * cols + c] = dyp[i * cols + c] / eps }
                continue
            }
            var dot: Float = 0
            for c in 0..<cols { dot += yp[i * cols + c] * dyp[i * cols + c] }
            for c in 0..<cols { dxp[i * cols + c] = (dyp[i * cols + c] - yp[i * cols + c] * dot) / np[i] }
        }
    }

    // MARK: sampled softmax (spec §4.2)

    /// Positive/negative logit of a colliding negative, set after the division by τ (spec §4.2).
    static let collisionLogit: Float = -5e4

    /// Mean over P positions of −log softmax([u·ê_pos, u·ê_neg…]/τ)[0]; dQueries (P, D) OVERWRITTEN
    /// with d(mean)/du, dTable += through positives and negatives (L2 normalisation included).
    static func sampledSoftmax(queries: Tensor, positives: [Int32], negatives: [Int32], r: Int, table: Tensor,
                               dim: Int, temperature: Float, eps: Float, dQueries: Tensor, dTable: Tensor) -> Float {
        let p = positives.count
        let up = queries.floats, ep = table.floats, dup = dQueries.floats, dep = dTable.floats
        var total = 0.0
        var ids = [Int32](repeating: 0, count: r + 1)
        var logits = [Float](repeating: 0, count: r + 1)
        var e = [Float](repeating: 0, count: (r + 1) * dim)
        var norms = [Float](repeating: 0, count: r + 1)
        for i in 0..<p {
            ids[0] = positives[i]
            for j in 0..<r { ids[j + 1] = negatives[i * r + j] }
            for j in 0...r {
                let row = ep + Int(ids[j]) * dim
                var s: Float = 0
                for c in 0..<dim { s += row[c] * row[c] }
                norms[j] = s.squareRoot()
                let d = max(norms[j], eps)
                var dot: Float = 0
                for c in 0..<dim { e[j * dim + c] = row[c] / d; dot += up[i * dim + c] * e[j * dim + c] }
                logits[j] = dot / temperature
                if j > 0 && ids[j] == ids[0] { logits[j] = collisionLogit }
            }
            let mx = logits.max()!
            var z: Float = 0
            for j in 0...r { z += Foundation.exp(logits[j] - mx) }
            total += Double(mx + Foundation.log(z) - logits[0])
            for c in 0..<dim { dup[i * dim + c] = 0 }
            for j in 0...r {
                if j > 0 && ids[j] == ids[0] { continue }
                var g = Foundation.exp(logits[j] - mx) / z
                if j == 0 { g -= 1 }
                g /= Float(p) * temperature
                // d/du and d/dê of g·(u·ê)
                var dot: Float = 0
                for c in 0..<dim {
                    dup[i * dim + c] += g * e[j * dim + c]
                    dot += e[j * dim + c] * up[i * dim + c]
                }
                if ids[j] == 0 { continue }  // padding row gets no gradient
                let drow = dep + Int(ids[j]) * dim
                if norms[j] < eps {
                    for c in 0..<dim { drow[c] += g * up[i * dim + c] / eps }
                } else {
                    for c in 0..<dim { drow[c] += g * (up[i * dim + c] - e[j * dim + c] * dot) / norms[j] }
                }
            }
        }
        return Float(total / Double(max(p, 1)))
    }

    // MARK: HSTU attention (spec §2.2 steps 3-4, §2.3)

    /// Time bucket (spec §2.3 + fixture quirk 1): trunc(Float(ln(Double(max(|Δ|,1)))) / Float(0.301)), clamped to [0, 128].
    static func timeBucket(_ delta: Int64) -> Int {
        let a = max(delta.magnitude, 1)
        let v = Float(Foundation.log(Double(a))) / Float(0.301)
        return min(max(Int(v), 0), 128)
    }

    static func hstuAttentionForward(q: Tensor, k: Tensor, v: Tensor, rowStride: Int, layout: JaggedLayout,
                                     timestamps: [Int64], positionWeights: Tensor, timeWeights: Tensor,
                                     heads: Int, dqk: Int, dv: Int, paddedWidth n: Int, out: Tensor) {
        let qp = q.floats, kp = k.floats, vp = v.floats, op = out.floats
        let wp = positionWeights.floats, wt = timeWeights.floats
        let hdv = heads * dv
        for b in 0..<layout.batchSize {
            let s0 = layout.start(b), l = layout.length(b)
            for i in 0..<l {
                let tq = timestamps[b * n + min(i + 1, n - 1)]
                for h in 0..<heads {
                    var acc = [Float](repeating: 0, count: dv)
                    for j in 0...i {
                        var s: Float = 0
                        for c in 0..<dqk { s += qp[(s0 + i) * rowStride + h * dqk + c] * kp[(s0 + j) * rowStride + h * dqk + c] }
                        s += wp[n - 1 + j - i] + wt[timeBucket(tq - timestamps[b * n + j])]
                        let a = silu(s) / Float(n)
                        for c in 0..<dv { acc[c] += a * vp[(s0 + j) * rowStride + h * dv + c] }
                    }
                    for c in 0..<dv { op[(s0 + i) * hdv + h * dv + c] = acc[c] }
                }
            }
        }
    }

    /// dq, dk, dv OVERWRITTEN (strided like q, k, v); dPositionWeights, dTimeWeights +=.
    static func hstuAttentionBackward(dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, rowStride: Int, layout: JaggedLayout,
                                      timestamps: [Int64], positionWeights: Tensor, timeWeights: Tensor,
                                      heads: Int, dqk: Int, dv: Int, paddedWidth n: Int,
                                      dq: Tensor, dk: Tensor, dV: Tensor, dPositionWeights: Tensor, dTimeWeights: Tensor) {
        let qp = q.floats, kp = k.floats, vp = v.floats, dop = dOut.floats
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
                let tq = timestamps[b * n + min(i + 1, n - 1)]
                for h in 0..<heads {
                    for j in 0...i {
                        var s: Float = 0
                        for c in 0..<dqk { s += qp[(s0 + i) * rowStride + h * dqk + c] * kp[(s0 + j) * rowStride + h * dqk + c] }
                        let bucket = timeBucket(tq - timestamps[b * n + j])
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

    // MARK: SASRec softmax attention (spec §3 step 2 core)

    /// q, k, v, out (B, N, D) with H heads of D/H; probs (B, H, N, N) saved (before dropout).
    static func softmaxAttentionForward(q: Tensor, k: Tensor, v: Tensor, batch: Int, n: Int, dim: Int, heads: Int,
                                        dropout p: Float, stream: PhiloxStream?, probs: Tensor, out: Tensor) {
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
                        for c in 0..<dh { s += qp[(b * n + i) * dim + h * dh + c] * kp[(b * n + j) * dim + h * dh + c] }
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
                            acc += a * vp[(b * n + j) * dim + h * dh + c]
                        }
                        op[(b * n + i) * dim + h * dh + c] = acc
                    }
                }
            }
        }
    }

    /// dq, dk, dv OVERWRITTEN.
    static func softmaxAttentionBackward(dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, probs: Tensor, batch: Int, n: Int,
                                         dim: Int, heads: Int, dropout p: Float, stream: PhiloxStream?,
                                         dq: Tensor, dk: Tensor, dV: Tensor) {
        let qp = q.floats, kp = k.floats, vp = v.floats, pp = probs.floats, dop = dOut.floats
        let dqp = dq.floats, dkp = dk.floats, dvp = dV.floats
        let dh = dim / heads, scale = 1 / Float(dh).squareRoot()
        for i in 0..<(batch * n * dim) { dqp[i] = 0; dkp[i] = 0; dvp[i] = 0 }
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
                            d += dop[(b * n + i) * dim + h * dh + c] * vp[(b * n + j) * dim + h * dh + c]
                            dvp[(b * n + j) * dim + h * dh + c] += prow[j] * keep * dop[(b * n + i) * dim + h * dh + c]
                        }
                        dp[j] = d * keep
                        sum += prow[j] * dp[j]
                    }
                    for j in 0...i {
                        let ds = prow[j] * (dp[j] - sum) * scale
                        for c in 0..<dh {
                            dqp[(b * n + i) * dim + h * dh + c] += ds * kp[(b * n + j) * dim + h * dh + c]
                            dkp[(b * n + j) * dim + h * dh + c] += ds * qp[(b * n + i) * dim + h * dh + c]
                        }
                    }
                }
            }
        }
    }
}

extension K {
    /// BCE variant (spec §4.3), temperature 1: ℓ = ½[BCE(u·E[pos], 1) + BCE(u·ê_neg, 0)] with the
    /// positive NOT normalised and the negative L2-normalised; positions whose negative equals the
    /// positive get weight 0; mean over Σw. dQueries OVERWRITTEN, dTable +=.
    static func bce(queries: Tensor, positives: [Int32], negatives: [Int32], table: Tensor, dim: Int, eps: Float,
                    dQueries: Tensor, dTable: Tensor) -> Float {
        let p = positives.count
        let up = queries.floats, ep = table.floats, dup = dQueries.floats, dep = dTable.floats
        var weight = 0
        for i in 0..<p where negatives[i] != positives[i] { weight += 1 }
        var total = 0.0
        func softplus(_ x: Float) -> Float { max(x, 0) + Foundation.log1p(Foundation.exp(-abs(x))) }
        func sigmoid(_ x: Float) -> Float { 1 / (1 + Foundation.exp(-x)) }
        for i in 0..<p {
            for c in 0..<dim { dup[i * dim + c] = 0 }
            if negatives[i] == positives[i] { continue }
            let pos = ep + Int(positives[i]) * dim, neg = ep + Int(negatives[i]) * dim
            var sp: Float = 0, nn: Float = 0
            for c in 0..<dim { sp += up[i * dim + c] * pos[c]; nn += neg[c] * neg[c] }
            let norm = nn.squareRoot(), d = max(norm, eps)
            var sn: Float = 0
            for c in 0..<dim { sn += up[i * dim + c] * neg[c] / d }
            total += Double(0.5 * (softplus(-sp) + softplus(sn)))
            let gp = 0.5 * (sigmoid(sp) - 1) / Float(weight), gn = 0.5 * sigmoid(sn) / Float(weight)
            let dpos = dep + Int(positives[i]) * dim, dneg = dep + Int(negatives[i]) * dim
            for c in 0..<dim {
                dup[i * dim + c] += gp * pos[c] + gn * neg[c] / d
                if positives[i] != 0 { dpos[c] += gp * up[i * dim + c] }
            }
            if negatives[i] == 0 { continue }
            if norm < eps {
                for c in 0..<dim { dneg[c] += gn * up[i * dim + c] / eps }
            } else {
                var dot: Float = 0
                for c in 0..<dim { dot += neg[c] / d * up[i * dim + c] }
                for c in 0..<dim { dneg[c] += gn * (up[i * dim + c] - neg[c] / d * dot) / norm }
            }
        }
        return weight == 0 ? 0 : Float(total / Double(weight))
    }
}
