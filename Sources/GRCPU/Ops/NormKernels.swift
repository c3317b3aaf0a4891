import GRCore

/// Generic bodies of `NormOps` (Float in the backend, Double in the gradient checks).
/// All matrices (rows, cols) contiguous unless a stride is given; backwards accumulate (+=).
public enum NormKernels {
    @usableFromInline static let minRows = 64

    /// x̂ = (x − μ)·rstd per row, rstd = 1/√(var + eps), var biased (two-pass). Writes out, mean, rstd.
    @_specialize(where T == Float)
    public static func layerNormForward<T: KernelFloat>(_ x: UnsafeMutablePointer<T>, _ out: UnsafeMutablePointer<T>,
                                                        _ mean: UnsafeMutablePointer<T>, _ rstd: UnsafeMutablePointer<T>,
                                                        _ rows: Int, _ cols: Int, _ eps: T) {
        layerNormMulForward(x, nil, 0, out, mean, rstd, rows, cols, eps)
    }

    /// out = u ⊙ LN(x) (u == nil: out = LN(x)); u has row stride ldu.
    @_specialize(where T == Float)
    public static func layerNormMulForward<T: KernelFloat>(_ x: UnsafeMutablePointer<T>, _ u: UnsafeMutablePointer<T>?,
                                                           _ ldu: Int, _ out: UnsafeMutablePointer<T>,
                                                           _ mean: UnsafeMutablePointer<T>, _ rstd: UnsafeMutablePointer<T>,
                                                           _ rows: Int, _ cols: Int, _ eps: T) {
        if cols == 0 { return }
        let invC = 1 / T(cols)
        Parallel.forRanges(rows, minChunk: minRows) { rr in
            for r in rr {
                let px = x + r * cols, po = out + r * cols
                var s = SIMD8<T>(repeating: 0)
                var c = 0
                while c + 8 <= cols { s += Vec.load(px, c); c += 8 }
                var sum = s.sum()
                while c < cols { sum += px[c]; c += 1 }
                let mu = sum * invC
                var q = SIMD8<T>(repeating: 0)
                let vmu = SIMD8<T>(repeating: mu)
                c = 0
                while c + 8 <= cols { let d = Vec.load(px, c) - vmu; q += d * d; c += 8 }
                var sq = q.sum()
                while c < cols { let d = px[c] - mu; sq += d * d; c += 1 }
                let rs = 1 / (sq * invC + eps).squareRoot()
                mean[r] = mu
                rstd[r] = rs
                let vrs = SIMD8<T>(repeating: rs)
                c = 0
                if let u {
                    let pu = u + r * ldu
                    while c + 8 <= cols { Vec.store(Vec.load(pu, c) * ((Vec.load(px, c) - vmu) * vrs), po, c); c += 8 }
                    while c < cols { po[c] = pu[c] * ((px[c] - mu) * rs); c += 1 }
                } else {
                    while c + 8 <= cols { Vec.store((Vec.load(px, c) - vmu) * vrs, po, c); c += 8 }
                    while c < cols { po[c] = (px[c] - mu) * rs; c += 1 }
                }
            }
        }
    }

    /// dx += rstd·(g − mean(g) − x̂·mean(g ⊙ x̂)) with g = dOut.
    @_specialize(where T == Float)
    public static func layerNormBackward<T: KernelFloat>(_ dOut: UnsafeMutablePointer<T>, _ x: UnsafeMutablePointer<T>,
                                                         _ mean: UnsafeMutablePointer<T>, _ rstd: UnsafeMutablePointer<T>,
                                                         _ dx: UnsafeMutablePointer<T>, _ rows: Int, _ cols: Int) {
        layerNormMulBackward(dOut, x, nil, 0, mean, rstd, dx, nil, rows, cols)
    }

    /// For out = u ⊙ x̂: du += dOut ⊙ x̂; g = dOut ⊙ u; dx += rstd·(g − mean(g) − x̂·mean(g ⊙ x̂)).
    /// u == nil means u ≡ 1 (plain layer norm). `accumulate` false OVERWRITES du and dx instead,
    /// dx = residual + rstd·(…) (residual nil: 0; it may not alias dx).
    @_specialize(where T == Float)
    public static func layerNormMulBackward<T: KernelFloat>(_ dOut: UnsafeMutablePointer<T>, _ x: UnsafeMutablePointer<T>,
                                                            _ u: UnsafeMutablePointer<T>?, _ ldu: Int,
                                                            _ mean: UnsafeMutablePointer<T>, _ rstd: UnsafeMutablePointer<T>,
                                                            _ dx: UnsafeMutablePointer<T>?, _ du: UnsafeMutablePointer<T>?,
                                                            _ rows: Int, _ cols: Int, accumulate: Bool = true,
                                                            residual: UnsafeMutablePointer<T>? = nil) {
        // The addend of dx: dx itself (+=), the residual, or nothing (overwrite).
        let base = accumulate ? dx : residual
        if cols == 0 { return }
        let invC = 1 / T(cols)
        Parallel.forRanges(rows, minChunk: minRows) { rr in
            // Per row: x̂ and g = dOut ⊙ u (dOut itself when u is nil) into per-thread buffers, du and
            // the two sums in the same pass, then dx. SIMD8 body, scalar tail.
            let xh = UnsafeMutablePointer<T>.allocate(capacity: cols)
            let gbuf = UnsafeMutablePointer<T>.allocate(capacity: cols)
            defer { xh.deallocate(); gbuf.deallocate() }
            for r in rr {
                let px = x + r * cols, po = dOut + r * cols
                let mu = mean[r], rs = rstd[r]
                let vmu = SIMD8<T>(repeating: mu), vrs = SIMD8<T>(repeating: rs)
                let g = u == nil ? po : gbuf
                var vsg = SIMD8<T>(repeating: 0), vsgx = SIMD8<T>(repeating: 0)
                var c = 0
                while c + 8 <= cols {
                    let h = (Vec.load(px, c) - vmu) * vrs
                    Vec.store(h, xh, c)
                    let go = Vec.load(po, c)
                    var gg = go
                    if let u {
                        gg = go * Vec.load(u + r * ldu, c)
                        Vec.store(gg, gbuf, c)
                        if let du {
                            let pdu = du + r * ldu
                            Vec.store(accumulate ? Vec.load(pdu, c) + go * h : go * h, pdu, c)
                        }
                    }
                    vsg += gg
                    vsgx += gg * h
                    c += 8
                }
                var sg = vsg.sum(), sgx = vsgx.sum()
                while c < cols {
                    let h = (px[c] - mu) * rs
                    xh[c] = h
                    var gg = po[c]
                    if let u {
                        gg = po[c] * u[r * ldu + c]
                        gbuf[c] = gg
                        if let du { du[r * ldu + c] = accumulate ? du[r * ldu + c] + po[c] * h : po[c] * h }
                    }
                    sg += gg
                    sgx += gg * h
                    c += 1
                }
                guard let dx else { continue }
                let mg = sg * invC, mgx = sgx * invC
                let vmg = SIMD8<T>(repeating: mg), vmgx = SIMD8<T>(repeating: mgx)
                let pdx = dx + r * cols
                c = 0
                if let base {
                    let pb = base + r * cols
                    while c + 8 <= cols {
                        Vec.store(Vec.load(pb, c) + vrs * (Vec.load(g, c) - vmg - Vec.load(xh, c) * vmgx), pdx, c)
                        c += 8
                    }
                    while c < cols { pdx[c] = pb[c] + rs * (g[c] - mg - xh[c] * mgx); c += 1 }
                } else {
                    while c + 8 <= cols {
                        Vec.store(vrs * (Vec.load(g, c) - vmg - Vec.load(xh, c) * vmgx), pdx, c)
                        c += 8
                    }
                    while c < cols { pdx[c] = rs * (g[c] - mg - xh[c] * mgx); c += 1 }
                }
            }
        }
    }

    /// out = x / max(‖x‖, eps) per row; norms[r] = ‖x_r‖ (unclamped).
    @_specialize(where T == Float)
    public static func l2NormalizeForward<T: KernelFloat>(_ x: UnsafeMutablePointer<T>, _ out: UnsafeMutablePointer<T>,
                                                          _ norms: UnsafeMutablePointer<T>, _ rows: Int, _ cols: Int,
                                                          _ eps: T) {
        Parallel.forRanges(rows, minChunk: minRows) { rr in
            for r in rr {
                let px = x + r * cols, po = out + r * cols
                let n = Vec.dot(px, px, cols).squareRoot()
                norms[r] = n
                let inv = 1 / max(n, eps)
                for c in 0..<cols { po[c] = px[c] * inv }
            }
        }
    }

    /// dx += (g − y(y·g))/‖x‖ if ‖x‖ ≥ eps else g/eps, y = x/‖x‖ (PyTorch clamp_min passes the
    /// gradient at equality).
    @_specialize(where T == Float)
    public static func l2NormalizeBackward<T: KernelFloat>(_ dOut: UnsafeMutablePointer<T>, _ x: UnsafeMutablePointer<T>,
                                                           _ norms: UnsafeMutablePointer<T>, _ dx: UnsafeMutablePointer<T>,
                                                           _ rows: Int, _ cols: Int, _ eps: T) {
        Parallel.forRanges(rows, minChunk: minRows) { rr in
            for r in rr {
                let px = x + r * cols, pg = dOut + r * cols, pdx = dx + r * cols
                let n = norms[r]
                if n >= eps {
                    let inv = 1 / n
                    let xg = Vec.dot(px, pg, cols)              // x·g
                    let k = xg * inv * inv * inv                // (y·g)/n · (1/n) applied to x
                    for c in 0..<cols { pdx[c] += pg[c] * inv - px[c] * k }
                } else {
                    Vec.axpy(1 / eps, pg, pdx, cols)
                }
            }
        }
    }
}
