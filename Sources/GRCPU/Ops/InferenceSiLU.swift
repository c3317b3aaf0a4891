import GRCore
import _GRCPUShims

/// In-place SiLU for the serving forward, on the calling thread: x[i] ← x[i]·σ(x[i]). AVX-512
/// (`gr_silu_avx512`, 16 lanes, `vscalefps`) when the CPU has it, else AVX2 + FMA (`gr_silu_avx2`,
/// 8 lanes, reciprocal by `vrcpps` + one Newton step instead of a division), else 8-lane `FastMath.exp`.
/// Same values as `ElementwiseKernels.siluForward` to float rounding (≈ 1 ulp of e^x).
public enum InferenceSiLU {
    static let avx512 = gr_cpu_supports_avx512() == 1
    static let avx2 = gr_cpu_supports_avx2_fma() == 1

    public static func apply(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        if n <= 0 { return }
        if avx512 {
            gr_silu_avx512(x, n)
            return
        }
        if avx2 {
            gr_silu_avx2(x, n)
            return
        }
        var i = 0
        let raw = UnsafeMutableRawPointer(x)
        while i + 8 <= n {
            let v = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            raw.storeBytes(of: v / (1 + FastMath.exp(-v)), toByteOffset: 4 * i, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n {
            var lanes = SIMD8<Float>(repeating: 0)
            lanes[0] = -x[i]
            x[i] = x[i] / (1 + FastMath.exp(lanes)[0])
            i += 1
        }
    }
}
