import GRCore
import GRCPU
import GRTestSupport
import XCTest

/// AdamW against a plain Float64 transcription of torch.optim.AdamW (spec §5.1).
final class OptimizerOpsTests: XCTestCase {
    /// The torch update, written out per element in Double.
    private func reference(p: inout [Double], m: inout [Double], v: inout [Double], g: [Double], step: Int,
                           lr: Double, b1: Double, b2: Double, eps: Double, wd: Double) {
        for i in 0..<p.count {
            p[i] *= 1 - lr * wd
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
            let mh = m[i] / (1 - Foundation.pow(b1, Double(step)))
            let vh = v[i] / (1 - Foundation.pow(b2, Double(step)))
            p[i] -= lr * mh / (vh.squareRoot() + eps)
        }
    }

    func testMatchesTorchFormula() {
        var rng = TestRandom(seed: 1)
        let n = 37   // SIMD body + tail
        let p0 = rng.normals(n)
        for wd in [0.0, 0.01] {
            var p = p0, m = [Double](repeating: 0, count: n), v = m
            let tp = Tensor(p.map(Float.init), shape: [n]), tm = Tensor(zeros: [n]), tv = Tensor(zeros: [n])
            let backend = CPUBackend()
            for step in 1...5 {
                let g = rng.normals(n, std: 0.1)
                reference(p: &p, m: &m, v: &v, g: g, step: step, lr: 1e-3, b1: 0.9, b2: 0.98, eps: 1e-8, wd: wd)
                backend.adamwStep(params: tp, grads: Tensor(g.map(Float.init), shape: [n]), m: tm, v: tv, step: step,
                                  lr: 1e-3, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: Float(wd))
            }
            assertClose(tp.toArray(), p, atolScale: 1e-6, rtol: 1e-6, "params wd=\(wd)")
            assertClose(tm.toArray(), m, atolScale: 1e-5, rtol: 1e-5, "m")
            assertClose(tv.toArray(), v, atolScale: 1e-5, rtol: 1e-5, "v")
        }
    }

    /// First step: m̂ = g, v̂ = g², so p moves by lr·g/(|g| + eps) ≈ lr·sign(g); zero gradient: no move.
    func testFirstStep() {
        let backend = CPUBackend()
        let p = Tensor([1, 1, 1], shape: [3]), m = Tensor(zeros: [3]), v = Tensor(zeros: [3])
        backend.adamwStep(params: p, grads: Tensor([0.5, -2, 0], shape: [3]), m: m, v: v, step: 1, lr: 0.1,
                          beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0)
        assertClose(p.toArray(), [0.9, 1.1, 1], atolScale: 0, rtol: 1e-6, "first step")
        // Double kernel gives the same to 1e-15.
        let bp = HostBuffer([1.0]), bg = HostBuffer([0.5]), bm = HostBuffer([0.0]), bv = HostBuffer([0.0])
        OptimizerKernels.adamw(bp.pointer, bg.pointer, bm.pointer, bv.pointer, 1, step: 1, lr: 0.1, beta1: 0.9,
                               beta2: 0.98, eps: 1e-8, weightDecay: 0.5)
        XCTAssertEqual(bp.array[0], 1 * (1 - 0.05) - 0.1 * 0.5 / (0.5 + 1e-8), accuracy: 1e-15)
    }
}
