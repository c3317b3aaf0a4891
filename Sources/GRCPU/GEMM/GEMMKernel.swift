import Foundation
import GRCore
import _GRCPUShims
#if arch(x86_64)
import GRCPUAVX512
#endif

/// Which register-tile kernel `CPUGEMM` runs, with its cache blocking.
///
/// `.avx512` is the 6 × 32 `SIMD16<Float>` kernel of module GRCPUAVX512 (compiled for
/// skylake-avx512), chosen at run time when `gr_cpu_supports_avx512()`; `.avx2` is the 6 × 16
/// `SIMD8<Float>` kernel compiled with the package's Haswell floor (and for arm64).
/// `GR_GEMM_KERNEL=avx2` forces the portable kernel (for tests and benchmarks).
public enum GEMMKernel: String, Sendable, CaseIterable {
    case avx2
    case avx512

    /// The best kernel this CPU supports (honouring `GR_GEMM_KERNEL`).
    public static let best: GEMMKernel = {
        let supported = GEMMKernel.allCases.filter(\.isSupported)
        if let forced = ProcessInfo.processInfo.environment["GR_GEMM_KERNEL"],
           let k = GEMMKernel(rawValue: forced), k.isSupported {
            return k
        }
        return supported.contains(.avx512) ? .avx512 : .avx2
    }()

    /// Whether this machine can run the kernel.
    public var isSupported: Bool {
        switch self {
        case .avx2: return true
        case .avx512:
            #if arch(x86_64)
            return gr_cpu_supports_avx512() != 0
            #else
            return false
            #endif
        }
    }

    /// Register tile rows (MR) of the kernel that reads A in place.
    var directMR: Int { 6 }
    /// Register tile rows (MR) of the kernel that reads packed Â.
    var packedMR: Int {
        #if arch(x86_64)
        return self == .avx512 ? GEMMKernelAVX512.packedMR : 6
        #else
        return 6
        #endif
    }
    /// Register tile columns (NR).
    var nr: Int { self == .avx512 ? 32 : 16 }
    /// K block (KC). AVX2 (B̂ panel in L1 across Â tiles): one kc × 16 panel of B̂ is 16 KiB.
    /// AVX-512 (Â tile in L1 across B̂ panels, see `GEMMKernelAVX512.macroKernelPacked`): a 12 × kc
    /// tile of Â is 18 KiB, and the larger K block halves the passes over C against KC = 256.
    var kc: Int { GEMMTuningOverrides.kc ?? (self == .avx512 ? 384 : 256) }
    /// M block (MC, a multiple of MR): an MC × KC block of Â stays in L2.
    var mc: Int { GEMMTuningOverrides.mc ?? 72 }
    /// N block (NC, a multiple of NR): the packed B̂ block (KC × NC). AVX-512: 384 × 512 floats
    /// (768 KiB) stay in the 2 MiB L2 while every Â tile streams over them (NC = 2048 left B̂ in
    /// L3 and ran ≈ 15 % slower at 2048³, docs/cpu-gemm.md).
    var nc: Int { GEMMTuningOverrides.nc ?? (self == .avx512 ? 512 : 2048) }

    /// Runs the macro-kernel on packed Â (`packedMR`-row tiles; see
    /// `GEMMKernelAVX512.macroKernelPacked` for the contract).
    @inline(__always)
    func macroKernelPacked(mc: Int, nc: Int, kc: Int, a: UnsafePointer<Float>,
                           b: UnsafePointer<Float>, bRowStride: Int, bPanelStride: Int,
                           c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
        switch self {
        case .avx2:
            GEMMKernelAVX2.macroKernel(mc: mc, nc: nc, kc: kc, a: a, tileStrideA: 6 * kc,
                                       rowStrideA: 1, colStrideA: 6,
                                       b: b, bRowStride: bRowStride, bPanelStride: bPanelStride,
                                       c: c, ldc: ldc, alpha: alpha, beta: beta)
        case .avx512:
            #if arch(x86_64)
            GEMMKernelAVX512.macroKernelPacked(mc: mc, nc: nc, kc: kc, a: a,
                                               b: b, bRowStride: bRowStride, bPanelStride: bPanelStride,
                                               c: c, ldc: ldc, alpha: alpha, beta: beta)
            #else
            preconditionFailure("the AVX-512 GEMM kernel exists only on x86-64")
            #endif
        }
    }

    /// Runs the macro-kernel reading A through strides (`directMR`-row tiles; see
    /// `GEMMKernelAVX512.macroKernel` for the contract).
    @inline(__always)
    func macroKernelDirect(mc: Int, nc: Int, kc: Int,
                           a: UnsafePointer<Float>, tileStrideA: Int, rowStrideA: Int, colStrideA: Int,
                           b: UnsafePointer<Float>, bRowStride: Int, bPanelStride: Int,
                           c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
        switch self {
        case .avx2:
            GEMMKernelAVX2.macroKernel(mc: mc, nc: nc, kc: kc, a: a, tileStrideA: tileStrideA,
                                       rowStrideA: rowStrideA, colStrideA: colStrideA,
                                       b: b, bRowStride: bRowStride, bPanelStride: bPanelStride,
                                       c: c, ldc: ldc, alpha: alpha, beta: beta)
        case .avx512:
            #if arch(x86_64)
            GEMMKernelAVX512.macroKernel(mc: mc, nc: nc, kc: kc, a: a, tileStrideA: tileStrideA,
                                         rowStrideA: rowStrideA, colStrideA: colStrideA,
                                         b: b, bRowStride: bRowStride, bPanelStride: bPanelStride,
                                         c: c, ldc: ldc, alpha: alpha, beta: beta)
            #else
            preconditionFailure("the AVX-512 GEMM kernel exists only on x86-64")
            #endif
        }
    }
}

/// Tuning knobs read once from the environment, for blocking experiments with `gr bench kernels`:
/// `GR_GEMM_KC`, `GR_GEMM_MC` (a multiple of 12), `GR_GEMM_NC` (a multiple of 32) override the cache
/// blocks; `GR_GEMM_DIRECT` = 0 always packs A, 1 reads row-major A in place, 2 reads any A in place.
enum GEMMTuningOverrides {
    static let kc: Int? = ProcessInfo.processInfo.environment["GR_GEMM_KC"].flatMap { Int($0) }
    static let mc: Int? = ProcessInfo.processInfo.environment["GR_GEMM_MC"].flatMap { Int($0) }
    static let nc: Int? = ProcessInfo.processInfo.environment["GR_GEMM_NC"].flatMap { Int($0) }
    static let direct: Int? = ProcessInfo.processInfo.environment["GR_GEMM_DIRECT"].flatMap { Int($0) }
}
