import Foundation

/// The element types the attention kernels run in: Float (the fast path) and Double (the same
/// code, used by finite-difference gradient checks). The kernels are generic over this protocol
/// and get specialised per type in optimised builds.
public protocol AttentionScalar: BinaryFloatingPoint, SIMDScalar {
    /// Lane-wise logistic sigmoid 1 / (1 + e^(−x)).
    static func sigmoid(_ x: SIMD8<Self>) -> SIMD8<Self>
    /// Lane-wise e^x.
    static func exp(_ x: SIMD8<Self>) -> SIMD8<Self>
}

extension Float: AttentionScalar {
    @inlinable @inline(__always)
    public static func sigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> {
        1 / (1 + exp(-x))
    }

    /// Vectorised e^x: `FastMath.exp` (Sources/GRCPU/Ops/KernelFloat.swift; Cephes `expf` scheme,
    /// ≤ 4e-7 relative on [−87.3, 88.7], 0 below, +inf above). It avoids the stdlib's generic SIMD
    /// `rounded` / `SIMD8<Int32>(floats)` / `clamped`, which run lane by lane (they took ~17% of an
    /// ML-1M HSTU-large training step).
    @inlinable @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        FastMath.exp(x)
    }
}

extension Double: AttentionScalar {
    @inlinable
    public static func sigmoid(_ x: SIMD8<Double>) -> SIMD8<Double> {
        var r = SIMD8<Double>()
        for i in 0..<8 { r[i] = 1 / (1 + Foundation.exp(-x[i])) }
        return r
    }

    @inlinable
    public static func exp(_ x: SIMD8<Double>) -> SIMD8<Double> {
        var r = SIMD8<Double>()
        for i in 0..<8 { r[i] = Foundation.exp(x[i]) }
        return r
    }
}
