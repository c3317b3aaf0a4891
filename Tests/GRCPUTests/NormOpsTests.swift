import GRCore
import GRCPU
import GRTestSupport
import XCTest

/// Gradient checks of layer norm, fused LN ⊙ U and L2 normalisation (Float64), plus Float checks.
final class NormOpsTests: XCTestCase {
    typealias K = NormKernels

    private func dotR(_ y: [Double], _ r: [Double]) -> Double { zip(y, r).reduce(0) { $0 + $1.0 * $1.1 } }

    private func checkLayerNorm(rows: Int, cols: Int, eps: Double, seed: UInt64, file: StaticString = #filePath,
                                line: UInt = #line) {
        var rng = TestRandom(seed: seed)
        let x = rng.normals(rows * cols, std: 2), r = rng.normals(rows * cols)
        let f: ([Double]) -> Double = { xs in
            let bx = HostBuffer(xs), out = HostBuffer(repeating: 0.0, count: xs.count)
            let mu = HostBuffer(repeating: 0.0, count: rows), rs = HostBuffer(repeating: 0.0, count: rows)
            K.layerNormForward(bx.pointer, out.pointer, mu.pointer, rs.pointer, rows, cols, eps)
            return self.dotR(out.array, r)
        }
        let bx = HostBuffer(x), out = HostBuffer(repeating: 0.0, count: x.count)
        let mu = HostBuffer(repeating: 0.0, count: rows), rs = HostBuffer(repeating: 0.0, count: rows)
        K.layerNormForward(bx.pointer, out.pointer, mu.pointer, rs.pointer, rows, cols, eps)
        let br = HostBuffer(r), dx = HostBuffer(repeating: 0.0, count: x.count)
        K.layerNormBackward(br.pointer, bx.pointer, mu.pointer, rs.pointer, dx.pointer, rows, cols)
        GradCheck.check(x, analytic: dx.array, "layer norm \(rows)×\(cols)", file: file, line: line, f)
    }

    func testLayerNormGradient() {
        checkLayerNorm(rows: 3, cols: 11, eps: 1e-6, seed: 1)    // SIMD body + tail
        checkLayerNorm(rows: 2, cols: 4, eps: 1e-8, seed: 2)     // SASRec eps
        checkLayerNorm(rows: 1, cols: 1, eps: 1e-6, seed: 3)     // single column: output 0, gradient 0
        checkLayerNorm(rows: 0, cols: 5, eps: 1e-6, seed: 4)     // empty
    }

    func testLayerNormForwardValues() {
        let backend = CPUBackend()
        let x = Tensor([1, 2, 3, 4, -1, -1, -1, -1], shape: [2, 4])
        let out = Tensor(zeros: [2, 4]), mu = Tensor(zeros: [2]), rs = Tensor(zeros: [2])
        backend.layerNormForward(x: x, out: out, mean: mu, rstd: rs, rows: 2, cols: 4, eps: 1e-6)
        let s = 1 / (1.25 + 1e-6).squareRoot()
        assertClose(out.toArray(), [-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s, 0, 0, 0, 0], atolScale: 0, rtol: 1e-6, "LN")
        assertClose(mu.toArray(), [2.5, -1], atolScale: 0, rtol: 0, "mean")
        assertClose(rs.toArray(), [s, 1 / 1e-6.squareRoot()], atolScale: 0, rtol: 1e-6, "rstd")
    }

    func testLayerNormMulGradient() {
        checkLayerNormMul(rows: 3, cols: 11, ldu: 15, seed: 5)   // SIMD body + tail, strided U
        checkLayerNormMul(rows: 1, cols: 2, ldu: 2, seed: 6)
        checkLayerNormMul(rows: 0, cols: 4, ldu: 8, seed: 7)
    }

    private func checkLayerNormMul(rows: Int, cols: Int, ldu: Int, seed: UInt64) {
        var rng = TestRandom(seed: seed)
        let x = rng.normals(rows * cols), u = rng.normals(rows * ldu), r = rng.normals(rows * cols)
        func loss(_ x: [Double], _ u: [Double]) -> Double {
            let bx = HostBuffer(x), bu = HostBuffer(u), out = HostBuffer(repeating: 0.0, count: rows * cols)
            let mu = HostBuffer(repeating: 0.0, count: rows), rs = HostBuffer(repeating: 0.0, count: rows)
            K.layerNormMulForward(bx.pointer, bu.pointer, ldu, out.pointer, mu.pointer, rs.pointer, rows, cols, 1e-6)
            return dotR(out.array, r)
        }
        let bx = HostBuffer(x), bu = HostBuffer(u), out = HostBuffer(repeating: 0.0, count: rows * cols)
        let mu = HostBuffer(repeating: 0.0, count: rows), rs = HostBuffer(repeating: 0.0, count: rows)
        K.layerNormMulForward(bx.pointer, bu.pointer, ldu, out.pointer, mu.pointer, rs.pointer, rows, cols, 1e-6)
        let br = HostBuffer(r), dx = HostBuffer(repeating: 0.0, count: x.count), du = HostBuffer(repeating: 0.0, count: u.count)
        K.layerNormMulBackward(br.pointer, bx.pointer, bu.pointer, ldu, mu.pointer, rs.pointer, dx.pointer, du.pointer,
                               rows, cols)
        GradCheck.check(x, analytic: dx.array, "LN⊙U dx \(rows)×\(cols)") { loss($0, u) }
        GradCheck.check(u, analytic: du.array, "LN⊙U du \(rows)×\(cols)") { loss(x, $0) }
    }

    private func checkL2(_ x: [Double], rows: Int, cols: Int, h: Double, _ what: String,
                         file: StaticString = #filePath, line: UInt = #line) {
        var rng = TestRandom(seed: 11)
        let r = rng.normals(rows * cols), eps = 1e-6
        let f: ([Double]) -> Double = { xs in
            let bx = HostBuffer(xs), out = HostBuffer(repeating: 0.0, count: xs.count)
            let nr = HostBuffer(repeating: 0.0, count: rows)
            K.l2NormalizeForward(bx.pointer, out.pointer, nr.pointer, rows, cols, eps)
            return self.dotR(out.array, r)
        }
        let bx = HostBuffer(x), out = HostBuffer(repeating: 0.0, count: x.count), nr = HostBuffer(repeating: 0.0, count: rows)
        K.l2NormalizeForward(bx.pointer, out.pointer, nr.pointer, rows, cols, eps)
        let br = HostBuffer(r), dx = HostBuffer(repeating: 0.0, count: x.count)
        K.l2NormalizeBackward(br.pointer, bx.pointer, nr.pointer, dx.pointer, rows, cols, eps)
        GradCheck.check(x, analytic: dx.array, h: h, what, file: file, line: line, f)
    }

    func testL2NormalizeGradient() {
        var rng = TestRandom(seed: 12)
        checkL2(rng.normals(3 * 9), rows: 3, cols: 9, h: 1e-5, "l2 regular")
        checkL2(rng.normals(2), rows: 1, cols: 2, h: 1e-5, "l2 single row")
        // ‖x‖ < eps: y = x / eps, the clamp branch (tiny h keeps the perturbation inside it).
        checkL2(rng.normals(5, std: 1e-8), rows: 1, cols: 5, h: 1e-12, "l2 clamped")
        checkL2([], rows: 0, cols: 4, h: 1e-5, "l2 empty")
    }

    func testL2NormalizeFloat() {
        let backend = CPUBackend()
        let x = Tensor([3, 4, 0, 0, 1e-7, 0], shape: [3, 2]), out = Tensor(zeros: [3, 2]), n = Tensor(zeros: [3])
        backend.l2NormalizeForward(x: x, out: out, norms: n, rows: 3, cols: 2, eps: 1e-6)
        assertClose(out.toArray(), [0.6, 0.8, 0, 0, 0.1, 0], atolScale: 0, rtol: 1e-6, "l2 f32")
        assertClose(n.toArray(), [5, 0, 1e-7], atolScale: 0, rtol: 1e-6, "norms")
        let dx = Tensor(zeros: [3, 2])
        backend.l2NormalizeBackward(dOut: Tensor([1, 0, 1, 1, 1, 1], shape: [3, 2]), x: x, norms: n, dx: dx,
                                    rows: 3, cols: 2, eps: 1e-6)
        // row 0: (g − y(y·g))/5 = ([1,0] − 0.6·[0.6,0.8])/5 = [0.128, −0.096]; rows 1, 2: g / eps.
        assertClose(dx.toArray(), [0.128, -0.096, 1e6, 1e6, 1e6, 1e6], atolScale: 0, rtol: 1e-5, "l2 backward f32")
    }
}
