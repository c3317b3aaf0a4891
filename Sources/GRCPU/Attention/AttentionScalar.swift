import Foundation

/// The element types the attention kernels run in: Float (the fast path) and Double (the same
/// code, used by finite-difference gradient checks). The kernels are generic over this protocol
/// and get specialised per type in optimised builds.
public protocol AttentionScalar: BinaryFloatingPoint, SIMDScalar, Codable {
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

    /// Vectorised e^x (Cephes `expf` scheme: x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial,
    /// 2^n by exponent arithmetic). Relative error ≈ 1 ulp; inputs are clamped to [−87.3, 88.3]
    /// so the result stays finite and normal (e^−87.3 ≈ 1.2e−38).
    @inlinable @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        // (compare + replacing on the concrete type compiles to vcmpps/vblendvps; `clamped` would not inline)
        let lo = SIMD8<Float>(repeating: -87.3), hi = SIMD8<Float>(repeating: 88.3)
        let x = x.replacing(with: lo, where: x .< lo).replacing(with: hi, where: x .> hi)
        // n = round(x·log2 e) with the 1.5·2²³ trick: the sum's low mantissa bits hold n.
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let shifted = x * 1.442_695_04 + magic
        let n = shifted - magic
        var r = x.addingProduct(n, SIMD8(repeating: -0.693_359_375))
        r = r.addingProduct(n, SIMD8(repeating: 2.121_944_4e-4))
        var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_6e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_1e-1
        p = (p * r) * r + r + 1
        let bits = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return p * unsafeBitCast(bits, to: SIMD8<Float>.self)
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
