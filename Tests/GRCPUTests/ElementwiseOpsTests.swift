import GRCore
import GRCPU
import GRTestSupport
import XCTest

/// Gradient checks (Float64, same generic kernels) and Float backend checks of `ElementwiseOps`.
final class ElementwiseOpsTests: XCTestCase {
    typealias K = ElementwiseKernels

    /// L(x) = Σ op(x) ⊙ R for a unary op given as (forward, backward).
    private func checkUnary(_ x: [Double], _ what: String,
                            forward: (UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>, Int) -> Void,
                            backward: (UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>,
                                       UnsafeMutablePointer<Double>, Int) -> Void,
                            file: StaticString = #filePath, line: UInt = #line) {
        var rng = TestRandom(seed: 7)
        let r = rng.normals(x.count)
        let f: ([Double]) -> Double = { xs in
            let bx = HostBuffer(xs), out = HostBuffer(repeating: 0.0, count: xs.count)
            forward(bx.pointer, out.pointer, xs.count)
            return zip(out.array, r).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let bx = HostBuffer(x), br = HostBuffer(r), dx = HostBuffer(repeating: 0.0, count: x.count)
        backward(br.pointer, bx.pointer, dx.pointer, x.count)
        GradCheck.check(x, analytic: dx.array, what, file: file, line: line, f)
    }

    func testSiLUGradient() {
        var rng = TestRandom(seed: 1)
        // 21 elements: the SIMD8 body and the scalar tail; includes large |x|.
        let x = rng.normals(19, std: 3) + [12, -12]
        checkUnary(x, "silu", forward: { K.siluForward($0, $1, $2) }, backward: { K.siluBackward($0, $1, $2, $3) })
        checkUnary([], "silu empty", forward: { K.siluForward($0, $1, $2) }, backward: { K.siluBackward($0, $1, $2, $3) })
    }

    func testSiLUFloatMatchesDouble() {
        var rng = TestRandom(seed: 2)
        let x = rng.normals(1001, std: 6) + [-100, 100, -88, 89, 0]
        let backend = CPUBackend()
        let tx = Tensor(x.map(Float.init), shape: [x.count]), out = Tensor(zeros: [x.count])
        backend.siluForward(x: tx, out: out, count: x.count)
        let expected = x.map { Float($0) }.map { Double($0) / (1 + Foundation.exp(-Double($0))) }
        assertClose(out.toArray(), expected, atolScale: 1e-9, rtol: 2e-6, "silu f32")   // denormals may flush
        let dx = Tensor(zeros: [x.count]), ones = Tensor([Float](repeating: 1, count: x.count), shape: [x.count])
        backend.siluBackward(dOut: ones, x: tx, dx: dx, count: x.count)
        let expectedD = x.map { Double(Float($0)) }.map { v -> Double in
            let s = 1 / (1 + Foundation.exp(-v)); return s * (1 + v * (1 - s))
        }
        assertClose(dx.toArray(), expectedD, atolScale: 1e-7, rtol: 2e-6, "silu' f32")
    }

    func testFastExpAccuracy() {
        var worst = 0.0
        var x: Float = -87
        while x < 88.5 {
            let v = SIMD8<Float>(repeating: x) + SIMD8(0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07)
            let e = FastMath.exp(v)
            for i in 0..<8 {
                let ref = Foundation.exp(Double(v[i]))
                worst = max(worst, abs(Double(e[i]) - ref) / ref)
            }
            x += 0.0731
        }
        XCTAssertLessThan(worst, 4e-7)
        let edge = FastMath.exp(SIMD8(-200, 200, -.infinity, .infinity, 0, 1, -1, .nan))
        XCTAssertEqual(edge[0], 0); XCTAssertEqual(edge[1], .infinity); XCTAssertEqual(edge[2], 0)
        XCTAssertEqual(edge[3], .infinity); XCTAssertEqual(edge[4], 1); XCTAssertTrue(edge[7].isNaN)
    }

    func testReLUGradient() {
        var rng = TestRandom(seed: 3)
        let x = rng.normals(13).map { $0 + ($0 >= 0 ? 0.01 : -0.01) }   // away from the kink
        checkUnary(x, "relu", forward: { K.reluForward($0, $1, $2) }, backward: { K.reluBackward($0, $1, $2, $3) })
        checkUnary([], "relu empty", forward: { K.reluForward($0, $1, $2) }, backward: { K.reluBackward($0, $1, $2, $3) })
    }

    func testScaleAddAxpy() {
        var rng = TestRandom(seed: 4)
        let a = rng.normals(11), b = rng.normals(11)
        checkUnary(a, "scale", forward: { K.scale($0, 2.5, $1, $2) }, backward: { g, _, dx, n in K.axpy(2.5, g, dx, n) })
        let backend = CPUBackend()
        let ta = Tensor(a.map(Float.init), shape: [11]), tb = Tensor(b.map(Float.init), shape: [11])
        let out = Tensor(zeros: [11])
        backend.add(a: ta, b: tb, out: out, count: 11)
        assertClose(out.toArray(), zip(a, b).map { Double(Float($0)) + Double(Float($1)) }, atolScale: 0, rtol: 1e-7, "add")
        backend.axpy(alpha: -2, x: ta, y: out, count: 11)   // a + b − 2a = b − a
        assertClose(out.toArray(), zip(a, b).map { $1 - $0 }, atolScale: 1e-6, rtol: 1e-6, "axpy")
        backend.scale(x: out, alpha: 0.5, out: out, count: 11)
        assertClose(out.toArray(), zip(a, b).map { ($1 - $0) / 2 }, atolScale: 1e-6, rtol: 1e-6, "scale in place")
    }

    /// out = a ⊙ b with strided a (a column block of a wider matrix) — the HSTU gating U ⊙ y.
    func testMulGradientStrided() {
        var rng = TestRandom(seed: 5)
        let rows = 3, cols = 5, lda = 9, ldb = 5
        let a = rng.normals(rows * lda), b = rng.normals(rows * ldb), r = rng.normals(rows * cols)
        func loss(_ a: [Double], _ b: [Double]) -> Double {
            let ba = HostBuffer(a), bb = HostBuffer(b), out = HostBuffer(repeating: 0.0, count: rows * cols)
            K.mulForward(ba.pointer, lda, bb.pointer, ldb, out.pointer, cols, rows, cols)
            return zip(out.array, r).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let ba = HostBuffer(a), bb = HostBuffer(b), br = HostBuffer(r)
        let da = HostBuffer(repeating: 0.0, count: a.count), db = HostBuffer(repeating: 0.0, count: b.count)
        K.mulBackward(br.pointer, cols, ba.pointer, lda, bb.pointer, ldb, da.pointer, db.pointer, rows, cols)
        GradCheck.check(a, analytic: da.array, "mul da") { loss($0, b) }
        GradCheck.check(b, analytic: db.array, "mul db") { loss(a, $0) }
        // Columns outside the block get no gradient.
        for row in 0..<rows { for c in cols..<lda { XCTAssertEqual(da.array[row * lda + c], 0) } }
    }

    func testBiasGradientAndDeterminism() {
        var rng = TestRandom(seed: 6)
        let rows = 4, cols = 3
        let x = rng.normals(rows * cols), bias = rng.normals(cols), r = rng.normals(rows * cols)
        let f: ([Double]) -> Double = { bs in
            let bx = HostBuffer(x), bb = HostBuffer(bs)
            K.addBias(bx.pointer, bb.pointer, rows, cols)
            return zip(bx.array, r).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let br = HostBuffer(r), db = HostBuffer(repeating: 0.0, count: cols)
        K.biasBackward(br.pointer, db.pointer, rows, cols)
        GradCheck.check(bias, analytic: db.array, "bias", f)
        // Many rows (several fixed row blocks): same bits with 1 and 3 threads.
        let big = rng.normals(2000 * 7).map(Float.init)
        func sums(threads: Int) -> [Float] {
            let saved = Parallel.threads
            Parallel.threads = threads
            defer { Parallel.threads = saved }
            let g = Tensor(big, shape: [2000, 7]), d = Tensor(zeros: [7])
            CPUBackend().biasBackward(dOut: g, dBias: d, rows: 2000, cols: 7)
            return d.toArray()
        }
        XCTAssertEqual(sums(threads: 1), sums(threads: 3))
        K.biasBackward(br.pointer, db.pointer, 0, cols)   // empty: no change, no crash
    }

    func testDropoutMaskStatisticsAndGradient() {
        let n = 4099, p: Float = 0.3
        let stream = PhiloxStream(seed: 42, stream: RandomStreamKind.layerDropout.stream(step: 3, slot: 1))
        let backend = CPUBackend()
        let x = Tensor([Float](repeating: 1, count: n), shape: [n]), out = Tensor(zeros: [n])
        backend.dropoutForward(x: x, out: out, count: n, p: p, stream: stream)
        let y = out.toArray()
        var kept = 0
        for i in 0..<n {
            let keep = stream.uniform(UInt64(i)) >= p
            XCTAssertEqual(y[i], keep ? 1 / (1 - p) : 0, accuracy: 1e-6, "element \(i)")
            if keep { kept += 1 }
        }
        XCTAssertEqual(Double(kept) / Double(n), 0.7, accuracy: 0.03)
        // Backward regenerates the same mask: dx = out for dOut = 1, accumulated on top of 1.
        let dx = Tensor([Float](repeating: 1, count: n), shape: [n])
        backend.dropoutBackward(dOut: x, dx: dx, count: n, p: p, stream: stream)
        XCTAssertEqual(dx.toArray(), y.map { $0 + 1 })
        // Gradient check in Float64 (small, odd size: a partial Philox block).
        var rng = TestRandom(seed: 8)
        let xs = rng.normals(10)
        checkUnary(xs, "dropout", forward: { K.dropoutForward($0, $1, $2, p, stream) },
                   backward: { g, _, dx, n in K.dropoutBackward(g, dx, n, p, stream) })
        // p = 0 is the identity.
        backend.dropoutForward(x: x, out: out, count: n, p: 0, stream: stream)
        XCTAssertEqual(out.toArray(), [Float](repeating: 1, count: n))
    }

    func testMaskRows() {
        var rng = TestRandom(seed: 9)
        let rows = 4, cols = 3
        let ids: [Int32] = [5, 0, 2, 0]
        let x = rng.normals(rows * cols)
        let bid = HostBuffer(ids)
        checkUnary(x, "maskRows", forward: { x, o, _ in K.maskRows(x, bid.pointer, o, rows, cols) },
                   backward: { g, _, dx, _ in K.maskRowsBackward(g, bid.pointer, dx, rows, cols) })
        let backend = CPUBackend()
        let t = Tensor(x.map(Float.init), shape: [rows, cols])
        backend.maskRows(x: t, ids: backend.upload(ids, shape: [rows]), out: t, rows: rows, cols: cols)
        let y = t.toArray()
        for r in 0..<rows { for c in 0..<cols {
            XCTAssertEqual(y[r * cols + c], ids[r] == 0 ? 0 : Float(x[r * cols + c]))
        } }
    }
}
