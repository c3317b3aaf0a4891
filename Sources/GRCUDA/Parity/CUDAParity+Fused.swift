import GRCore

extension Harness {
    /// `FusedBackwardOps` (docs/cuda.md "Fusions (session 6)"): CPU vs CUDA on poisoned outputs
    /// (the fused ops overwrite), and on the GPU the fused op against the unfused pair it replaces
    /// (fill/copy + accumulating op), which must agree exactly.
    mutating func fusedBackward() -> [ParityResult] {
        var r: [ParityResult] = []
        let n = 10_007
        let x = pair([n], scale: 4), g = pair([n])
        let o = poisoned([n])
        cpuBackend.siluBackwardOverwrite(dOut: g.cpu, x: x.cpu, dx: o.cpu, count: n)
        gpu.siluBackwardOverwrite(dOut: g.gpu, x: x.gpu, dx: o.gpu, count: n)
        r.append(check("fused silu bwd (overwrite)", o))
        let ref = gpu.upload([Float](repeating: 7, count: n), shape: [n])
        gpu.fill(ref, 0); gpu.siluBackward(dOut: g.gpu, x: x.gpu, dx: ref, count: n)
        r.append(same("fused silu bwd = fill + silu bwd (GPU)", o.gpu, ref))

        let (rows, cols, ldu) = (211, 72, 100)
        let xn = pair([rows * cols], scale: 3), u = pair([rows * ldu]), go = pair([rows * cols])
        let mean = poisoned([rows]), rstd = poisoned([rows]), tmp = poisoned([rows * cols])
        cpuBackend.layerNormForward(x: xn.cpu, out: tmp.cpu, mean: mean.cpu, rstd: rstd.cpu, rows: rows, cols: cols, eps: 1e-6)
        gpu.layerNormForward(x: xn.gpu, out: tmp.gpu, mean: mean.gpu, rstd: rstd.gpu, rows: rows, cols: cols, eps: 1e-6)
        let dx = poisoned([rows * cols]), du = poisonedStrided(rows, cols, ldu)
        cpuBackend.layerNormMulBackwardOverwrite(dOut: go.cpu, x: xn.cpu, u: u.cpu, ldu: ldu, mean: mean.cpu, rstd: rstd.cpu,
                                                 dx: dx.cpu, du: du.cpu, rows: rows, cols: cols)
        gpu.layerNormMulBackwardOverwrite(dOut: go.gpu, x: xn.gpu, u: u.gpu, ldu: ldu, mean: mean.gpu, rstd: rstd.gpu,
                                          dx: dx.gpu, du: du.gpu, rows: rows, cols: cols)
        r += [check("fused LN⊙u bwd (overwrite) dx", dx),
              check("fused LN⊙u bwd (overwrite) du", du)]
        let rdx = gpu.zeros([rows * cols], .f32), rdu = gpu.zeros([rows * ldu], .f32)
        gpu.layerNormMulBackward(dOut: go.gpu, x: xn.gpu, u: u.gpu, ldu: ldu, mean: mean.gpu, rstd: rstd.gpu,
                                 dx: rdx, du: rdu, rows: rows, cols: cols)
        r += [same("fused LN⊙u bwd dx = fills + accumulate (GPU)", dx.gpu, rdx),
              same("fused LN⊙u bwd du = fills + accumulate (GPU)", du.gpu, rdu)]

        let res = pair([rows * cols]), dr = poisoned([rows * cols])
        cpuBackend.layerNormBackwardResidual(dOut: go.cpu, x: xn.cpu, mean: mean.cpu, rstd: rstd.cpu, residual: res.cpu,
                                             dx: dr.cpu, rows: rows, cols: cols)
        gpu.layerNormBackwardResidual(dOut: go.gpu, x: xn.gpu, mean: mean.gpu, rstd: rstd.gpu, residual: res.gpu,
                                      dx: dr.gpu, rows: rows, cols: cols)
        r.append(check("fused LN bwd + residual", dr))
        let rr = gpu.zeros([rows * cols], .f32)
        gpu.copy(res.gpu, to: rr)
        gpu.layerNormBackward(dOut: go.gpu, x: xn.gpu, mean: mean.gpu, rstd: rstd.gpu, dx: rr, rows: rows, cols: cols)
        r.append(same("fused LN bwd + residual = copy + acc. (GPU)", dr.gpu, rr))
        return r
    }

    /// `FusedNormDropoutOps`: dropout(u ⊙ LN(x)) and its backward in one kernel, CPU vs CUDA on
    /// poisoned outputs (the dropout masks compared exactly), and the fused kernel against the
    /// unfused pair on the GPU (`layerNormMulForward` + `dropoutForward`; dropout of dOut in place +
    /// `layerNormMulBackwardOverwrite`), exactly.
    mutating func fusedNormDropout() -> [ParityResult] {
        var r: [ParityResult] = []
        let (rows, cols, ldu, p) = (211, 72, 100, Float(0.2))
        let x = pair([rows * cols], scale: 3), u = pair([rows * ldu]), s = stream()
        let out = poisoned([rows * cols]), mean = poisoned([rows]), rstd = poisoned([rows])
        cpuBackend.layerNormMulDropoutForward(x: x.cpu, u: u.cpu, ldu: ldu, out: out.cpu, mean: mean.cpu, rstd: rstd.cpu,
                                              rows: rows, cols: cols, eps: 1e-6, p: p, stream: s)
        gpu.layerNormMulDropoutForward(x: x.gpu, u: u.gpu, ldu: ldu, out: out.gpu, mean: mean.gpu, rstd: rstd.gpu,
                                       rows: rows, cols: cols, eps: 1e-6, p: p, stream: s)
        r += [check("fused LN⊙u+dropout fwd", out), check("fused LN⊙u+dropout fwd mean", mean),
              check("fused LN⊙u+dropout fwd rstd", rstd)]
        let cm = out.cpu.toArray().map { $0 == 0 }, gm = gpu.download(out.gpu).map { $0 == 0 }
        r.append(ParityResult(name: "fused LN⊙u+dropout fwd mask (CPU = GPU)", error: cm == gm ? 0 : 1, tolerance: 0))
        let ref = gpu.zeros([rows * cols], .f32), rm = gpu.zeros([rows], .f32), rr = gpu.zeros([rows], .f32)
        gpu.layerNormMulForward(x: x.gpu, u: u.gpu, ldu: ldu, out: ref, mean: rm, rstd: rr, rows: rows, cols: cols, eps: 1e-6)
        gpu.dropoutForward(x: ref, out: ref, count: rows * cols, p: p, stream: s)
        r.append(same("fused LN⊙u+dropout fwd = unfused pair (GPU)", out.gpu, ref))

        let g = pair([rows * cols]), gref = gpu.zeros([rows * cols], .f32)
        gpu.copy(g.gpu, to: gref)
        let dx = poisoned([rows * cols]), du = poisonedStrided(rows, cols, ldu)
        cpuBackend.layerNormMulDropoutBackwardOverwrite(dOut: g.cpu, x: x.cpu, u: u.cpu, ldu: ldu, mean: mean.cpu,
                                                        rstd: rstd.cpu, dx: dx.cpu, du: du.cpu, rows: rows, cols: cols,
                                                        p: p, stream: s)
        gpu.layerNormMulDropoutBackwardOverwrite(dOut: g.gpu, x: x.gpu, u: u.gpu, ldu: ldu, mean: mean.gpu, rstd: rstd.gpu,
                                                 dx: dx.gpu, du: du.gpu, rows: rows, cols: cols, p: p, stream: s)
        r += [check("fused LN⊙u+dropout bwd dx", dx), check("fused LN⊙u+dropout bwd du", du)]
        let rdx = gpu.zeros([rows * cols], .f32), rdu = gpu.zeros([rows * ldu], .f32)
        gpu.dropoutForward(x: gref, out: gref, count: rows * cols, p: p, stream: s)
        gpu.layerNormMulBackwardOverwrite(dOut: gref, x: x.gpu, u: u.gpu, ldu: ldu, mean: mean.gpu, rstd: rstd.gpu,
                                          dx: rdx, du: rdu, rows: rows, cols: cols)
        let duAll = gpu.download(du.gpu), rduAll = gpu.download(rdu)
        var duSame = true
        for row in 0..<rows { for c in 0..<cols where duAll[row * ldu + c] != rduAll[row * ldu + c] { duSame = false } }
        r += [same("fused LN⊙u+dropout bwd dx = unfused (GPU)", dx.gpu, rdx),
              ParityResult(name: "fused LN⊙u+dropout bwd du = unfused (GPU)", error: duSame ? 0 : 1, tolerance: 0)]
        return r
    }

    /// `FusedGEMMOps`: D = op(A)·op(B) + bias + C in one cuBLASLt call (BIAS epilogue, C ≠ D), CPU
    /// vs CUDA (D poisoned; TF32 tolerance), and against the unfused sequence on the GPU.
    mutating func fusedGEMM() -> [ParityResult] {
        var r: [ParityResult] = []
        let (m, n, k) = (37, 23, 19)   // ragged
        for (ta, tb) in [(false, true), (true, false)] {
            let lda = ta ? m : k, ldb = tb ? k : n
            let a = pair([m * k]), b = pair([k * n]), bias = pair([n]), c = pair([m * n]), d = poisoned([m * n])
            cpuBackend.gemmBiasResidual(transA: ta, transB: tb, m: m, n: n, k: k, a: a.cpu, lda: lda, b: b.cpu, ldb: ldb,
                                        bias: bias.cpu, c: c.cpu, d: d.cpu)
            gpu.gemmBiasResidual(transA: ta, transB: tb, m: m, n: n, k: k, a: a.gpu, lda: lda, b: b.gpu, ldb: ldb,
                                 bias: bias.gpu, c: c.gpu, d: d.gpu)
            r.append(check("fused gemm+bias+C tA=\(ta) tB=\(tb)", d, tol: CUDAParity.tf32Tolerance))
            let ref = gpu.upload([Float](repeating: .nan, count: m * n), shape: [m * n])
            gpu.gemmBiasResidualUnfused(transA: ta, transB: tb, m: m, n: n, k: k, a: a.gpu, lda: lda, b: b.gpu, ldb: ldb,
                                        bias: bias.gpu, c: c.gpu, d: ref)
            let e = CUDAParity.relativeError(gpu.download(ref), gpu.download(d.gpu))
            r.append(ParityResult(name: "fused gemm+bias+C tA=\(ta) = unfused (GPU)", error: e,
                                  tolerance: CUDAParity.f32Tolerance))
        }
        return r
    }

    /// Exact equality of two device tensors (0 or 1; NaN fails).
    func same(_ name: String, _ a: Tensor, _ b: Tensor) -> ParityResult {
        let x = gpu.download(a), y = gpu.download(b)
        let equal = x.count == y.count && zip(x, y).allSatisfy { $0 == $1 }
        return ParityResult(name: name, error: equal ? 0 : 1, tolerance: 0)
    }
}
