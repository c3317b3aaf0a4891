import Foundation

/// The scalar types the CPU kernels are generic over: `Float` in the backend, `Double` in the
/// gradient checks (the standard asks for finite differences in Float64 through the same code path).
/// Kernels are generic internal-or-public functions; the Float instantiations used by `CPUBackend`
/// are specialised by whole-module optimisation in release builds.
public protocol KernelFloat: BinaryFloatingPoint, SIMDScalar, Codable {
    static func kexp(_ x: Self) -> Self
    static func klog(_ x: Self) -> Self
    static func klog1p(_ x: Self) -> Self
    /// Lane-wise e^x (Float: a vectorised polynomial; Double: scalar libm).
    static func vexp(_ x: SIMD8<Self>) -> SIMD8<Self>
}

extension Float: KernelFloat {
    @inlinable public static func kexp(_ x: Float) -> Float { Foundation.exp(x) }
    @inlinable public static func klog(_ x: Float) -> Float { Foundation.log(x) }
    @inlinable public static func klog1p(_ x: Float) -> Float { Foundation.log1p(x) }
    @inlinable @inline(__always) public static func vexp(_ x: SIMD8<Float>) -> SIMD8<Float> { FastMath.exp(x) }
}

extension Double: KernelFloat {
    @inlinable public static func kexp(_ x: Double) -> Double { Foundation.exp(x) }
    @inlinable public static func klog(_ x: Double) -> Double { Foundation.log(x) }
    @inlinable public static func klog1p(_ x: Double) -> Double { Foundation.log1p(x) }
    @inlinable public static func vexp(_ x: SIMD8<Double>) -> SIMD8<Double> {
        var r = x
        for i in 0..<8 { r[i] = Foundation.exp(x[i]) }
        return r
    }
}

/// Vectorised transcendental helpers for Float lanes.
public enum FastMath {
    /// e^x for 8 Float lanes: range reduction x = k·ln2 + r (Cody–Waite split of ln 2), a degree-6
    /// polynomial for e^r on |r| ≤ ln2/2, and 2^k assembled in the exponent bits. Max relative
    /// error ≈ 2 ulp on [−87.3, 88.7]; below that returns 0, above +inf; NaN propagates.
    @inlinable @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        // Only lane-wise arithmetic, comparisons/`replace` and bit casts: the stdlib's generic SIMD
        // conversions (e.g. SIMD8<Int32>(floats)) and `rounded` run lane by lane, ~50× slower.
        let hi: Float = 88.72283, lo: Float = -87.33654
        var xc = x
        xc.replace(with: hi, where: x .> hi)
        xc.replace(with: lo, where: x .< lo)
        // k = round(x / ln 2) with the 1.5·2²³ trick: the sum's low mantissa bits hold k.
        let magic: Float = 12_582_912
        let kb = xc * 1.442_695_04 + magic
        let kf = kb - magic
        let ki = unsafeBitCast(kb, to: SIMD8<Int32>.self) &- 0x4B40_0000
        var r = xc - kf * 0.693_359_375          // ln2 high part (exact in float)
        r = r - kf * (-2.121_944_4e-4)           // ln2 low part
        // e^r on |r| ≤ ln2/2 (Cephes expf polynomial)
        var p = SIMD8<Float>(repeating: 1.987_569_1e-4)
        p = p * r + 1.398_199_9e-3
        p = p * r + 8.333_452e-3
        p = p * r + 4.166_579_6e-2
        p = p * r + 1.666_666_6e-1
        p = p * r + 5.000_000_1e-1
        let r2 = r * r
        p = p * r2 + r + 1
        // 2^k via exponent bits; k ∈ [−126, 128]: split in two factors to stay in range at the edges.
        let k1 = ki &>> 1, k2 = ki &- k1
        let s1 = unsafeBitCast((k1 &+ 127) &<< 23, to: SIMD8<Float>.self)
        let s2 = unsafeBitCast((k2 &+ 127) &<< 23, to: SIMD8<Float>.self)
        var out = p * s1 * s2
        out.replace(with: 0, where: x .< lo)
        out.replace(with: .infinity, where: x .> hi)
        out.replace(with: x, where: x .!= x)
        return out
    }
}

/// Small pointer helpers shared by the kernels (SIMD8 main loop + scalar tail).
@usableFromInline
enum Vec {
    @inlinable @inline(__always)
    static func load<T: KernelFloat>(_ p: UnsafeMutablePointer<T>, _ i: Int) -> SIMD8<T> {
        UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<T>.self)
    }
    @inlinable @inline(__always)
    static func store<T: KernelFloat>(_ v: SIMD8<T>, _ p: UnsafeMutablePointer<T>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: SIMD8<T>.self)
    }
    /// Σ a[i]·b[i], i < n.
    @inlinable @inline(__always)
    static func dot<T: KernelFloat>(_ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>, _ n: Int) -> T {
        var acc = SIMD8<T>(repeating: 0)
        var i = 0
        while i + 8 <= n {
            acc = acc + load(a, i) * load(b, i)
            i += 8
        }
        var s = acc.sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }
    /// (Σ a·b, Σ b·b) in one pass over b.
    @inlinable @inline(__always)
    static func dotAndSquares<T: KernelFloat>(_ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>,
                                              _ n: Int) -> (T, T) {
        var acc = SIMD8<T>(repeating: 0), sq = SIMD8<T>(repeating: 0)
        var i = 0
        while i + 8 <= n {
            let vb = load(b, i)
            acc = acc + load(a, i) * vb
            sq = sq + vb * vb
            i += 8
        }
        var s = acc.sum(), q = sq.sum()
        while i < n { s += a[i] * b[i]; q += b[i] * b[i]; i += 1 }
        return (s, q)
    }
    /// y[i] += alpha · x[i], i < n.
    @inlinable @inline(__always)
    static func axpy<T: KernelFloat>(_ alpha: T, _ x: UnsafeMutablePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int) {
        let va = SIMD8<T>(repeating: alpha)
        var i = 0
        while i + 8 <= n {
            store(load(y, i) + va * load(x, i), y, i)
            i += 8
        }
        while i < n { y[i] += alpha * x[i]; i += 1 }
    }

    /// (q·r0, q·r1, q·r2, q·r3): four dot products sharing q, interleaved for instruction-level
    /// parallelism (the loss's inner loop: one user vector against its negatives).
    @inlinable @inline(__always)
    static func dot4<T: KernelFloat>(_ q: UnsafeMutablePointer<T>, _ r0: UnsafeMutablePointer<T>,
                                     _ r1: UnsafeMutablePointer<T>, _ r2: UnsafeMutablePointer<T>,
                                     _ r3: UnsafeMutablePointer<T>, _ n: Int) -> (T, T, T, T) {
        var a0 = SIMD8<T>(repeating: 0), a1 = a0, a2 = a0, a3 = a0
        var i = 0
        while i + 8 <= n {
            let vq = load(q, i)
            a0 = a0 + vq * load(r0, i)
            a1 = a1 + vq * load(r1, i)
            a2 = a2 + vq * load(r2, i)
            a3 = a3 + vq * load(r3, i)
            i += 8
        }
        var s0 = a0.sum(), s1 = a1.sum(), s2 = a2.sum(), s3 = a3.sum()
        while i < n {
            let qi = q[i]
            s0 += qi * r0[i]; s1 += qi * r1[i]; s2 += qi * r2[i]; s3 += qi * r3[i]
            i += 1
        }
        return (s0, s1, s2, s3)
    }

    /// y += c0·r0 + c1·r1 + c2·r2 + c3·r3 (one pass over y).
    @inlinable @inline(__always)
    static func axpy4<T: KernelFloat>(_ c0: T, _ r0: UnsafeMutablePointer<T>, _ c1: T, _ r1: UnsafeMutablePointer<T>,
                                      _ c2: T, _ r2: UnsafeMutablePointer<T>, _ c3: T, _ r3: UnsafeMutablePointer<T>,
                                      _ y: UnsafeMutablePointer<T>, _ n: Int) {
        let v0 = SIMD8<T>(repeating: c0), v1 = SIMD8<T>(repeating: c1)
        let v2 = SIMD8<T>(repeating: c2), v3 = SIMD8<T>(repeating: c3)
        var i = 0
        while i + 8 <= n {
            store(load(y, i) + ((v0 * load(r0, i) + v1 * load(r1, i)) + (v2 * load(r2, i) + v3 * load(r3, i))), y, i)
            i += 8
        }
        while i < n { y[i] += (c0 * r0[i] + c1 * r1[i]) + (c2 * r2[i] + c3 * r3[i]); i += 1 }
    }
}
