import GRCore
import GRCPU
import GRTestSupport
import XCTest

/// `FusedBackwardOps` on the CPU: each fused op equals the unfused pair it replaces in the HSTU
/// backward (fill/copy + accumulating op) bit for bit, whatever the output held before (NaN).
final class FusedBackwardOpsTests: XCTestCase {
    private func tensor(_ rng: inout TestRandom, _ n: Int, std: Double = 1) -> Tensor {
        Tensor(rng.normals(n, std: std).map(Float.init), shape: [n])
    }
    private func nan(_ n: Int) -> Tensor { Tensor([Float](repeating: .nan, count: n), shape: [n]) }

    func testFusedEqualsUnfused() {
        var rng = TestRandom(seed: 11)
        let b = CPUBackend()
        let n = 1003
        let x = tensor(&rng, n, std: 4), g = tensor(&rng, n)
        let fused = nan(n), ref = Tensor(zeros: [n])
        b.siluBackwardOverwrite(dOut: g, x: x, dx: fused, count: n)
        b.siluBackward(dOut: g, x: x, dx: ref, count: n)
        XCTAssertEqual(fused.toArray(), ref.toArray(), "silu")

        let (rows, cols, ldu) = (37, 19, 23)   // ragged: SIMD8 body + tail
        let xn = tensor(&rng, rows * cols, std: 3), u = tensor(&rng, rows * ldu), dOut = tensor(&rng, rows * cols)
        let mean = Tensor(zeros: [rows]), rstd = Tensor(zeros: [rows]), tmp = Tensor(zeros: [rows * cols])
        b.layerNormForward(x: xn, out: tmp, mean: mean, rstd: rstd, rows: rows, cols: cols, eps: 1e-6)
        // du: NaN in the block, 5 in the gap columns (which must stay 5).
        var duv = [Float](repeating: 5, count: rows * ldu)
        for r in 0..<rows { for c in 0..<cols { duv[r * ldu + c] = .nan } }
        let dx = nan(rows * cols), du = Tensor(duv, shape: [rows * ldu])
        b.layerNormMulBackwardOverwrite(dOut: dOut, x: xn, u: u, ldu: ldu, mean: mean, rstd: rstd, dx: dx, du: du,
                                        rows: rows, cols: cols)
        var rduv = [Float](repeating: 5, count: rows * ldu)
        for r in 0..<rows { for c in 0..<cols { rduv[r * ldu + c] = 0 } }
        let rdx = Tensor(zeros: [rows * cols]), rdu = Tensor(rduv, shape: [rows * ldu])
        b.layerNormMulBackward(dOut: dOut, x: xn, u: u, ldu: ldu, mean: mean, rstd: rstd, dx: rdx, du: rdu,
                               rows: rows, cols: cols)
        XCTAssertEqual(dx.toArray(), rdx.toArray(), "LN⊙u dx")
        XCTAssertEqual(du.toArray(), rdu.toArray(), "LN⊙u du")

        let res = tensor(&rng, rows * cols), dr = nan(rows * cols), rr = Tensor(zeros: [rows * cols])
        b.layerNormBackwardResidual(dOut: dOut, x: xn, mean: mean, rstd: rstd, residual: res, dx: dr, rows: rows, cols: cols)
        b.copy(res, to: rr)
        b.layerNormBackward(dOut: dOut, x: xn, mean: mean, rstd: rstd, dx: rr, rows: rows, cols: cols)
        XCTAssertEqual(dr.toArray(), rr.toArray(), "LN + residual")
    }
}
