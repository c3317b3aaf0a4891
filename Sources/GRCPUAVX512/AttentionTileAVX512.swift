// The AVX-512 copies of the attention micro-kernels (`AttentionTile.dotRows` / `axpyRows` in
// GRCPU, see docs/attention.md), for Float. This module is compiled with
// `-target-cpu skylake-avx512`; GRCPU calls these only after `gr_cpu_supports_avx512()` said yes.
// Same contracts as the portable kernels; results may differ from them only in the order of the
// floating-point additions inside a dot product (FMA chains of 16 instead of 8 lanes are the same
// per lane: every output element is still one sequential FMA chain over the reduction index).

#if arch(x86_64)
/// AVX-512 `SIMD16<Float>` attention micro-kernels (tile width 32 = two registers).
public enum AttentionTileAVX512 {
    typealias V = SIMD16<Float>
    typealias H = SIMD8<Float>

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }
    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }
    @inline(__always) static func loadH(_ p: UnsafePointer<Float>) -> H {
        UnsafeRawPointer(p).loadUnaligned(as: H.self)
    }
    @inline(__always) static func storeH(_ v: H, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: H.self)
    }

    // MARK: dotRows

    /// out[r·outStride + 0..<32] (= or +=) Σ_{t<d} x[r·xStride + t·xColStride] · bt[t·32 + 0..<32],
    /// r < rows.
    @inline(never)
    public static func dotRows(_ x: UnsafePointer<Float>, xStride: Int, xColStride: Int, rows: Int, d: Int,
                               _ bt: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                               outStride: Int, accumulate: Bool) {
        var r = 0
        while r + 8 <= rows {
            dot8(x + r * xStride, xStride: xStride, xColStride: xColStride, d: d, bt, out + r * outStride,
                 outStride: outStride, accumulate: accumulate)
            r += 8
        }
        while r + 4 <= rows {
            dot4(x + r * xStride, xStride: xStride, xColStride: xColStride, d: d, bt, out + r * outStride,
                 outStride: outStride, accumulate: accumulate)
            r += 4
        }
        while r < rows {
            dot1(x + r * xStride, xColStride: xColStride, d: d, bt, out + r * outStride, accumulate: accumulate)
            r += 1
        }
    }

    /// Eight rows × 32 columns: 16 accumulators; per reduction step 2 loads and 8 broadcasts.
    @inline(__always)
    static func dot8(_ x: UnsafePointer<Float>, xStride: Int, xColStride: Int, d: Int, _ bt: UnsafePointer<Float>,
                     _ out: UnsafeMutablePointer<Float>, outStride: Int, accumulate: Bool) {
        let s1 = xStride, s2 = 2 * xStride, s3 = 3 * xStride, s4 = 4 * xStride, s5 = 5 * xStride
        let s6 = 6 * xStride, s7 = 7 * xStride
        let o0 = out, o1 = out + outStride, o2 = out + 2 * outStride, o3 = out + 3 * outStride
        let o4 = out + 4 * outStride, o5 = out + 5 * outStride, o6 = out + 6 * outStride, o7 = out + 7 * outStride
        var a0 = V(), b0 = V(), a1 = V(), b1 = V(), a2 = V(), b2 = V(), a3 = V(), b3 = V()
        var a4 = V(), b4 = V(), a5 = V(), b5 = V(), a6 = V(), b6 = V(), a7 = V(), b7 = V()
        if accumulate {
            a0 = load(o0); b0 = load(o0 + 16); a1 = load(o1); b1 = load(o1 + 16)
            a2 = load(o2); b2 = load(o2 + 16); a3 = load(o3); b3 = load(o3 + 16)
            a4 = load(o4); b4 = load(o4 + 16); a5 = load(o5); b5 = load(o5 + 16)
            a6 = load(o6); b6 = load(o6 + 16); a7 = load(o7); b7 = load(o7 + 16)
        }
        var p = bt, xp = x
        for _ in 0..<d {
            let k0 = load(p), k1 = load(p + 16)
            var u = V(repeating: xp[0])
            a0 = a0.addingProduct(u, k0); b0 = b0.addingProduct(u, k1)
            u = V(repeating: xp[s1])
            a1 = a1.addingProduct(u, k0); b1 = b1.addingProduct(u, k1)
            u = V(repeating: xp[s2])
            a2 = a2.addingProduct(u, k0); b2 = b2.addingProduct(u, k1)
            u = V(repeating: xp[s3])
            a3 = a3.addingProduct(u, k0); b3 = b3.addingProduct(u, k1)
            u = V(repeating: xp[s4])
            a4 = a4.addingProduct(u, k0); b4 = b4.addingProduct(u, k1)
            u = V(repeating: xp[s5])
            a5 = a5.addingProduct(u, k0); b5 = b5.addingProduct(u, k1)
            u = V(repeating: xp[s6])
            a6 = a6.addingProduct(u, k0); b6 = b6.addingProduct(u, k1)
            u = V(repeating: xp[s7])
            a7 = a7.addingProduct(u, k0); b7 = b7.addingProduct(u, k1)
            p += 32
            xp += xColStride
        }
        store(a0, o0); store(b0, o0 + 16); store(a1, o1); store(b1, o1 + 16)
        store(a2, o2); store(b2, o2 + 16); store(a3, o3); store(b3, o3 + 16)
        store(a4, o4); store(b4, o4 + 16); store(a5, o5); store(b5, o5 + 16)
        store(a6, o6); store(b6, o6 + 16); store(a7, o7); store(b7, o7 + 16)
    }

    /// Four rows × 32 columns.
    @inline(__always)
    static func dot4(_ x: UnsafePointer<Float>, xStride: Int, xColStride: Int, d: Int, _ bt: UnsafePointer<Float>,
                     _ out: UnsafeMutablePointer<Float>, outStride: Int, accumulate: Bool) {
        let s1 = xStride, s2 = 2 * xStride, s3 = 3 * xStride
        let o0 = out, o1 = out + outStride, o2 = out + 2 * outStride, o3 = out + 3 * outStride
        var a0 = V(), b0 = V(), a1 = V(), b1 = V(), a2 = V(), b2 = V(), a3 = V(), b3 = V()
        if accumulate {
            a0 = load(o0); b0 = load(o0 + 16); a1 = load(o1); b1 = load(o1 + 16)
            a2 = load(o2); b2 = load(o2 + 16); a3 = load(o3); b3 = load(o3 + 16)
        }
        var p = bt, xp = x
        for _ in 0..<d {
            let k0 = load(p), k1 = load(p + 16)
            var u = V(repeating: xp[0])
            a0 = a0.addingProduct(u, k0); b0 = b0.addingProduct(u, k1)
            u = V(repeating: xp[s1])
            a1 = a1.addingProduct(u, k0); b1 = b1.addingProduct(u, k1)
            u = V(repeating: xp[s2])
            a2 = a2.addingProduct(u, k0); b2 = b2.addingProduct(u, k1)
            u = V(repeating: xp[s3])
            a3 = a3.addingProduct(u, k0); b3 = b3.addingProduct(u, k1)
            p += 32
            xp += xColStride
        }
        store(a0, o0); store(b0, o0 + 16); store(a1, o1); store(b1, o1 + 16)
        store(a2, o2); store(b2, o2 + 16); store(a3, o3); store(b3, o3 + 16)
    }

    /// One row × 32 columns.
    @inline(__always)
    static func dot1(_ x: UnsafePointer<Float>, xColStride: Int, d: Int, _ bt: UnsafePointer<Float>,
                     _ out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        var a0 = V(), b0 = V()
        if accumulate { a0 = load(out); b0 = load(out + 16) }
        var p = bt, xp = x
        for _ in 0..<d {
            let u = V(repeating: xp[0])
            a0 = a0.addingProduct(u, load(p)); b0 = b0.addingProduct(u, load(p + 16))
            p += 32
            xp += xColStride
        }
        store(a0, out); store(b0, out + 16)
    }

    // MARK: axpyRows

    /// acc[r·accStride + 0..<dPad] += Σ_{c<count} coeff[r·coeffStride + c] · p[c·pStride + 0..<dPad],
    /// r < rows; dPad a multiple of 8. Columns go in passes of up to 64 (four registers, the last
    /// one 8 or 16 lanes wide), rows in groups of four (up to 16 accumulators).
    @inline(never)
    public static func axpyRows(_ coeff: UnsafePointer<Float>, coeffStride: Int, rows: Int, count: Int,
                                _ p: UnsafePointer<Float>, dPad: Int, pStride: Int,
                                _ acc: UnsafeMutablePointer<Float>, accStride: Int) {
        var v = 0
        while v < dPad {
            let width = min(64, dPad - v)
            var r = 0
            while r + 4 <= rows {
                axpy4(coeff + r * coeffStride, coeffStride: coeffStride, count: count, p + v, pStride: pStride,
                      width: width, acc + r * accStride + v, accStride: accStride)
                r += 4
            }
            while r < rows {
                axpy1(coeff + r * coeffStride, count: count, p + v, pStride: pStride, width: width,
                      acc + r * accStride + v)
                r += 1
            }
            v += width
        }
    }

    /// Four rows × `width` (8...64, a multiple of 8) columns. Registers past `width` are neither
    /// loaded nor stored (the branches on `width` are loop-invariant).
    @inline(__always)
    static func axpy4(_ coeff: UnsafePointer<Float>, coeffStride: Int, count: Int, _ p: UnsafePointer<Float>,
                      pStride: Int, width: Int, _ acc: UnsafeMutablePointer<Float>, accStride: Int) {
        switch width {
        case 64: axpy4Full(coeff, coeffStride: coeffStride, count: count, p, pStride: pStride, chunks: 4,
                           acc, accStride: accStride)
        case 48: axpy4Full(coeff, coeffStride: coeffStride, count: count, p, pStride: pStride, chunks: 3,
                           acc, accStride: accStride)
        case 32: axpy4Full(coeff, coeffStride: coeffStride, count: count, p, pStride: pStride, chunks: 2,
                           acc, accStride: accStride)
        case 16: axpy4Full(coeff, coeffStride: coeffStride, count: count, p, pStride: pStride, chunks: 1,
                           acc, accStride: accStride)
        case 56: axpy4Half(coeff, coeffStride: coeffStride, count: count, p, pStride: pStride, chunks: 3,
                           acc, accStride: accStride)
        case 40: axpy4Half(coeff, coeffStride: coeffStride, count: count, p, pStride: pStride, chunks: 2,
                           acc, accStride: accStride)
        case 24: axpy4Half(coeff, coeffStride: coeffStride, count: count, p, pStride: pStride, chunks: 1,
                           acc, accStride: accStride)
        default: axpy4Half(coeff, coeffStride: coeffStride, count: count, p, pStride: pStride, chunks: 0,
                           acc, accStride: accStride)
        }
    }

    /// Four rows × 16·chunks columns (chunks 1...4, a constant after inlining).
    @inline(__always)
    static func axpy4Full(_ coeff: UnsafePointer<Float>, coeffStride: Int, count: Int, _ p: UnsafePointer<Float>,
                          pStride: Int, chunks: Int, _ acc: UnsafeMutablePointer<Float>, accStride: Int) {
        let c0 = coeff, c1 = coeff + coeffStride, c2 = coeff + 2 * coeffStride, c3 = coeff + 3 * coeffStride
        let r0 = acc, r1 = acc + accStride, r2 = acc + 2 * accStride, r3 = acc + 3 * accStride
        var a00 = load(r0), a10 = load(r1), a20 = load(r2), a30 = load(r3)
        var a01 = V(), a11 = V(), a21 = V(), a31 = V(), a02 = V(), a12 = V(), a22 = V(), a32 = V()
        var a03 = V(), a13 = V(), a23 = V(), a33 = V()
        if chunks > 1 { a01 = load(r0 + 16); a11 = load(r1 + 16); a21 = load(r2 + 16); a31 = load(r3 + 16) }
        if chunks > 2 { a02 = load(r0 + 32); a12 = load(r1 + 32); a22 = load(r2 + 32); a32 = load(r3 + 32) }
        if chunks > 3 { a03 = load(r0 + 48); a13 = load(r1 + 48); a23 = load(r2 + 48); a33 = load(r3 + 48) }
        var q = p
        for c in 0..<count {
            let u0 = V(repeating: c0[c]), u1 = V(repeating: c1[c]), u2 = V(repeating: c2[c]), u3 = V(repeating: c3[c])
            let k0 = load(q)
            a00 = a00.addingProduct(u0, k0); a10 = a10.addingProduct(u1, k0)
            a20 = a20.addingProduct(u2, k0); a30 = a30.addingProduct(u3, k0)
            if chunks > 1 {
                let k1 = load(q + 16)
                a01 = a01.addingProduct(u0, k1); a11 = a11.addingProduct(u1, k1)
                a21 = a21.addingProduct(u2, k1); a31 = a31.addingProduct(u3, k1)
            }
            if chunks > 2 {
                let k2 = load(q + 32)
                a02 = a02.addingProduct(u0, k2); a12 = a12.addingProduct(u1, k2)
                a22 = a22.addingProduct(u2, k2); a32 = a32.addingProduct(u3, k2)
            }
            if chunks > 3 {
                let k3 = load(q + 48)
                a03 = a03.addingProduct(u0, k3); a13 = a13.addingProduct(u1, k3)
                a23 = a23.addingProduct(u2, k3); a33 = a33.addingProduct(u3, k3)
            }
            q += pStride
        }
        store(a00, r0); store(a10, r1); store(a20, r2); store(a30, r3)
        if chunks > 1 { store(a01, r0 + 16); store(a11, r1 + 16); store(a21, r2 + 16); store(a31, r3 + 16) }
        if chunks > 2 { store(a02, r0 + 32); store(a12, r1 + 32); store(a22, r2 + 32); store(a32, r3 + 32) }
        if chunks > 3 { store(a03, r0 + 48); store(a13, r1 + 48); store(a23, r2 + 48); store(a33, r3 + 48) }
    }

    /// Four rows × (16·chunks + 8) columns (chunks 0...3): full registers and one 8-lane tail.
    @inline(__always)
    static func axpy4Half(_ coeff: UnsafePointer<Float>, coeffStride: Int, count: Int, _ p: UnsafePointer<Float>,
                          pStride: Int, chunks: Int, _ acc: UnsafeMutablePointer<Float>, accStride: Int) {
        let c0 = coeff, c1 = coeff + coeffStride, c2 = coeff + 2 * coeffStride, c3 = coeff + 3 * coeffStride
        let r0 = acc, r1 = acc + accStride, r2 = acc + 2 * accStride, r3 = acc + 3 * accStride
        let tail = 16 * chunks
        var a00 = V(), a10 = V(), a20 = V(), a30 = V(), a01 = V(), a11 = V(), a21 = V(), a31 = V()
        var a02 = V(), a12 = V(), a22 = V(), a32 = V()
        var h0 = loadH(r0 + tail), h1 = loadH(r1 + tail), h2 = loadH(r2 + tail), h3 = loadH(r3 + tail)
        if chunks > 0 { a00 = load(r0); a10 = load(r1); a20 = load(r2); a30 = load(r3) }
        if chunks > 1 { a01 = load(r0 + 16); a11 = load(r1 + 16); a21 = load(r2 + 16); a31 = load(r3 + 16) }
        if chunks > 2 { a02 = load(r0 + 32); a12 = load(r1 + 32); a22 = load(r2 + 32); a32 = load(r3 + 32) }
        var q = p
        for c in 0..<count {
            let s0 = c0[c], s1 = c1[c], s2 = c2[c], s3 = c3[c]
            let kt = loadH(q + tail)
            h0 = h0.addingProduct(H(repeating: s0), kt); h1 = h1.addingProduct(H(repeating: s1), kt)
            h2 = h2.addingProduct(H(repeating: s2), kt); h3 = h3.addingProduct(H(repeating: s3), kt)
            if chunks > 0 {
                let u0 = V(repeating: s0), u1 = V(repeating: s1), u2 = V(repeating: s2), u3 = V(repeating: s3)
                let k0 = load(q)
                a00 = a00.addingProduct(u0, k0); a10 = a10.addingProduct(u1, k0)
                a20 = a20.addingProduct(u2, k0); a30 = a30.addingProduct(u3, k0)
                if chunks > 1 {
                    let k1 = load(q + 16)
                    a01 = a01.addingProduct(u0, k1); a11 = a11.addingProduct(u1, k1)
                    a21 = a21.addingProduct(u2, k1); a31 = a31.addingProduct(u3, k1)
                }
                if chunks > 2 {
                    let k2 = load(q + 32)
                    a02 = a02.addingProduct(u0, k2); a12 = a12.addingProduct(u1, k2)
                    a22 = a22.addingProduct(u2, k2); a32 = a32.addingProduct(u3, k2)
                }
            }
            q += pStride
        }
        storeH(h0, r0 + tail); storeH(h1, r1 + tail); storeH(h2, r2 + tail); storeH(h3, r3 + tail)
        if chunks > 0 { store(a00, r0); store(a10, r1); store(a20, r2); store(a30, r3) }
        if chunks > 1 { store(a01, r0 + 16); store(a11, r1 + 16); store(a21, r2 + 16); store(a31, r3 + 16) }
        if chunks > 2 { store(a02, r0 + 32); store(a12, r1 + 32); store(a22, r2 + 32); store(a32, r3 + 32) }
    }

    /// One row × `width` columns, 8 lanes at a time (tails of the row groups only).
    @inline(__always)
    static func axpy1(_ c0: UnsafePointer<Float>, count: Int, _ p: UnsafePointer<Float>, pStride: Int, width: Int,
                      _ acc: UnsafeMutablePointer<Float>) {
        var v = 0
        while v + 16 <= width {
            var a = load(acc + v)
            var q = p + v
            for c in 0..<count { a = a.addingProduct(V(repeating: c0[c]), load(q)); q += pStride }
            store(a, acc + v)
            v += 16
        }
        if v < width {
            var a = loadH(acc + v)
            var q = p + v
            for c in 0..<count { a = a.addingProduct(H(repeating: c0[c]), loadH(q)); q += pStride }
            storeH(a, acc + v)
        }
    }

    // MARK: elementwise tiles

    /// e^x lane-wise: the same operations, in the same order, as `Float.exp` of GRCPU's
    /// `AttentionScalar` (Cephes scheme), so both paths give identical results.
    @inline(__always)
    static func exp(_ x: V) -> V {
        let lo = V(repeating: -87.3), hi = V(repeating: 88.3)
        let x = x.replacing(with: lo, where: x .< lo).replacing(with: hi, where: x .> hi)
        let magic = V(repeating: 12_582_912)
        let shifted = x * 1.442_695_04 + magic
        let n = shifted - magic
        var r = x.addingProduct(n, V(repeating: -0.693_359_375))
        r = r.addingProduct(n, V(repeating: 2.121_944_4e-4))
        var p = V(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_6e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_1e-1
        p = (p * r) * r + r + 1
        let bits = (unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return p * unsafeBitCast(bits, to: V.self)
    }

    /// a[o] = SiLU(s[o] + bias[o])·scale for o < count (a multiple of 16).
    @inline(never)
    public static func siluForward(_ s: UnsafePointer<Float>, _ bias: UnsafePointer<Float>, count: Int, scale: Float,
                                   _ a: UnsafeMutablePointer<Float>) {
        var o = 0
        while o < count {
            let x = load(s + o) + load(bias + o)
            store(x * (1 / (1 + exp(-x))) * scale, a + o)
            o &+= 16
        }
    }

    /// With x = s + bias and σ = sigmoid(x): a = x·σ·scale and ds = dA·σ·(1 + x·(1 − σ))·scale,
    /// for o < count (a multiple of 16).
    @inline(never)
    public static func siluBackward(_ s: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
                                    _ dA: UnsafePointer<Float>, count: Int, scale: Float,
                                    _ a: UnsafeMutablePointer<Float>, _ ds: UnsafeMutablePointer<Float>) {
        var o = 0
        while o < count {
            let x = load(s + o) + load(bias + o)
            let sg = 1 / (1 + exp(-x))
            store(x * sg * scale, a + o)
            store(load(dA + o) * sg * (1 + x * (1 - sg)) * scale, ds + o)
            o &+= 16
        }
    }

    // MARK: relative bias rows

    /// Largest k ≤ maxBucket with thresholds[k] ≤ delta (branch-free binary search; thresholds[0] = 0).
    @inline(__always)
    static func bucketOf(_ delta: UInt64, maxBucket: Int, _ thresholds: UnsafePointer<UInt64>) -> Int {
        var bucket = 0, step = 128
        while step > 0 {
            let probe = bucket &+ step
            if probe <= maxBucket && thresholds[probe] <= delta { bucket = probe }
            step &>>= 1
        }
        return bucket
    }

    /// Rows c < nk (keys, times tk[c]) of a transposed bias tile over queries r < 32, for
    /// chronological timestamps whose deltas in the tile stay below 2³¹ − 1 (`tq[nq − 1] − tk[0]`):
    /// row c = biasT[c·32 ..< c·32 + 32] gets pos_c[r] + wTs[bucket(tq[r] − tk[c])] for
    /// rStart_c = clamp(keyOffset + c, 0, nq) ≤ r < nq (query i0 + r ≥ key j0 + c), 0 elsewhere;
    /// pos_c = posBase − c (the reversed position weights, readable 32 ahead). tq: 32 query times,
    /// non-decreasing for r < nq. thresholds: `TimeBucket.thresholds` (130).
    /// Per row, the first and last bucket come from binary searches; every threshold k in between
    /// is one SIMD compare of the 32 (Int32) deltas and one blend, in increasing k, so each lane
    /// ends with the weight of the largest k it reaches (no branches per element or per run).
    /// spans[2c], spans[2c + 1]: the first and last bucket of row c (first > last: no queries),
    /// for `accumulateSpans`.
    @inline(never)
    public static func biasTileSpans(tq: UnsafePointer<Int64>, nq: Int, keyTimes tk: UnsafePointer<Int64>, nk: Int,
                                     keyOffset: Int, maxBucket: Int, thresholds: UnsafePointer<UInt64>,
                                     timeWeights: UnsafePointer<Float>, posBase: UnsafePointer<Float>,
                                     _ biasT: UnsafeMutablePointer<Float>, spans: UnsafeMutablePointer<Int32>) {
        typealias I = SIMD16<Int32>
        let iota0 = V(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), iota1 = iota0 + 16
        let base = tk[0]
        var rel0 = I(), rel1 = I()   // tq − tk[0] (fits Int32 for r < nq; lanes ≥ nq are masked out)
        for r in 0..<16 { rel0[r] = Int32(truncatingIfNeeded: tq[min(r, nq &- 1)] &- base) }
        for r in 0..<16 { rel1[r] = Int32(truncatingIfNeeded: tq[min(r &+ 16, nq &- 1)] &- base) }
        let hi = V(repeating: Float(nq)), zero = V()
        let lastQuery = tq[nq &- 1]
        for c in 0..<nk {
            let row = biasT + c &* 32, key = tk[c]
            let rStart = min(max(keyOffset &+ c, 0), nq)
            if rStart >= nq {
                store(zero, row); store(zero, row + 16)
                spans[2 &* c] = 1; spans[2 &* c &+ 1] = 0
                continue
            }
            let first = bucketOf((tq[rStart] &- key).magnitude, maxBucket: maxBucket, thresholds)
            let last = bucketOf((lastQuery &- key).magnitude, maxBucket: maxBucket, thresholds)
            spans[2 &* c] = Int32(truncatingIfNeeded: first); spans[2 &* c &+ 1] = Int32(truncatingIfNeeded: last)
            let keyRel = I(repeating: Int32(truncatingIfNeeded: key &- base))
            let d0 = rel0 &- keyRel, d1 = rel1 &- keyRel
            var t0 = V(repeating: timeWeights[first]), t1 = t0
            var k = first &+ 1
            while k <= last {
                let limit = I(repeating: Int32(truncatingIfNeeded: thresholds[k])), w = V(repeating: timeWeights[k])
                t0 = t0.replacing(with: w, where: d0 .>= limit)
                t1 = t1.replacing(with: w, where: d1 .>= limit)
                k &+= 1
            }
            let lo = V(repeating: Float(rStart)), pos = posBase - c
            let r0 = load(pos) + t0, r1 = load(pos + 16) + t1
            store(r0.replacing(with: zero, where: (iota0 .< lo) .| (iota0 .>= hi)), row)
            store(r1.replacing(with: zero, where: (iota1 .< lo) .| (iota1 .>= hi)), row + 16)
        }
    }

    /// The bias-table gradient of a `biasTileSpans` tile: for row c (gradient row g_c = g + 32c,
    /// zero outside the causal part) and every bucket k of its span, acc[16k ..< 16k + 16] += the
    /// lanes of g_c whose delta has bucket k (both 16-lane halves, lane-wise partial sums).
    @inline(never)
    public static func accumulateSpans(_ g: UnsafePointer<Float>, tq: UnsafePointer<Int64>, nq: Int,
                                       keyTimes tk: UnsafePointer<Int64>, nk: Int, thresholds: UnsafePointer<UInt64>,
                                       spans: UnsafePointer<Int32>, _ acc: UnsafeMutablePointer<Float>) {
        typealias I = SIMD16<Int32>
        let base = tk[0]
        var rel0 = I(), rel1 = I()
        for r in 0..<16 { rel0[r] = Int32(truncatingIfNeeded: tq[min(r, nq &- 1)] &- base) }
        for r in 0..<16 { rel1[r] = Int32(truncatingIfNeeded: tq[min(r &+ 16, nq &- 1)] &- base) }
        let zero = V()
        for c in 0..<nk {
            let first = Int(spans[2 &* c]), last = Int(spans[2 &* c &+ 1])
            if first > last { continue }
            let row = g + c &* 32
            let g0 = load(row), g1 = load(row + 16)
            if first == last {
                let p = acc + first &* 16
                store(load(p) + g0 + g1, p)
                continue
            }
            let keyRel = I(repeating: Int32(truncatingIfNeeded: tk[c] &- base))
            let d0 = rel0 &- keyRel, d1 = rel1 &- keyRel
            // Lanes below thresholds[first + 1] (and those before the causal part, which are 0)
            // go to `first`; then each k takes the lanes in [thresholds[k], thresholds[k + 1]).
            var k = first
            while k <= last {
                let upper = k < last ? I(repeating: Int32(truncatingIfNeeded: thresholds[k &+ 1])) : I(repeating: .max)
                let lower = I(repeating: k == first ? .min : Int32(truncatingIfNeeded: thresholds[k]))
                let m0 = g0.replacing(with: zero, where: (d0 .< lower) .| (d0 .>= upper))
                let m1 = g1.replacing(with: zero, where: (d1 .< lower) .| (d1 .>= upper))
                let p = acc + k &* 16
                store(load(p) + m0 + m1, p)
                k &+= 1
            }
        }
    }
}
#endif
