import Foundation
import GRCore

/// Generic body of `OptimizerOps.adamwStep`.
public enum OptimizerKernels {
    /// torch.optim.AdamW (single-tensor, non-amsgrad, non-capturable): the scalar factors are
    /// computed in Double as Python does, then applied elementwise in T:
    /// denom = √v / √(1−β2^t) + eps, p ← p − (lr/(1−β1^t))·(m/denom).
    @_specialize(where T == Float)
    public static func adamw<T: KernelFloat>(_ p: UnsafeMutablePointer<T>, _ g: UnsafeMutablePointer<T>,
                                             _ m: UnsafeMutablePointer<T>, _ v: UnsafeMutablePointer<T>, _ n: Int,
                                             step: Int, lr: Double, beta1: Double, beta2: Double, eps: Double,
                                             weightDecay: Double) {
        precondition(step >= 1, "AdamW step counts from 1, got \(step)")
        let decay = T(1 - lr * weightDecay)
        let bc1 = 1 - Foundation.pow(beta1, Double(step))
        let bc2 = 1 - Foundation.pow(beta2, Double(step))
        let stepSize = T(lr / bc1)
        let bc2Sqrt = T(bc2.squareRoot())
        let b1 = T(beta1), b2 = T(beta2), e = T(eps)
        let vb1 = SIMD8<T>(repeating: b1), vb2 = SIMD8<T>(repeating: b2)
        let vd = SIMD8<T>(repeating: decay), vs = SIMD8<T>(repeating: stepSize)
        let vc = SIMD8<T>(repeating: bc2Sqrt), ve = SIMD8<T>(repeating: e)
        Parallel.forRanges(n, minChunk: 1 << 15) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let gi = Vec.load(g, i)
                let pi = Vec.load(p, i) * vd
                // exp_avg.lerp_(grad, 1 − β1) = m + (1 − β1)(g − m)
                let mi = Vec.load(m, i) + (1 - vb1) * (gi - Vec.load(m, i))
                let vi2 = Vec.load(v, i) * vb2 + (1 - vb2) * gi * gi
                Vec.store(mi, m, i)
                Vec.store(vi2, v, i)
                Vec.store(pi - vs * (mi / (vi2.squareRoot() / vc + ve)), p, i)
                i += 8
            }
            while i < r.upperBound {
                let gi = g[i]
                let pi = p[i] * decay
                let mi = m[i] + (1 - b1) * (gi - m[i])
                let vv = v[i] * b2 + (1 - b2) * gi * gi
                m[i] = mi
                v[i] = vv
                p[i] = pi - stepSize * (mi / (vv.squareRoot() / bc2Sqrt + e))
                i += 1
            }
        }
    }
}
