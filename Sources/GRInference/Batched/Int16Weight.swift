import Foundation
import _GRCPUShims

/// op(W) (K ≤ 128, N) of a layer product quantised once at load for `--precision int16`
/// (`gr_i16gemm_avx2`, C shim `small_gemm_i16_avx2.c`): per output column, symmetric, 13-bit
/// (s_j = max|w_·j| / 4095), packed in the kernel's 16-column `vpmaddwd` panels. The activations
/// are quantised per row inside the kernel; rows with a NaN or ∞ run in f32 on the f32 op(W).
struct Int16Weight {
    /// Largest K (the kernel's int32 overflow bound: K·4095² < 2³¹ for K ≤ 128).
    static let maxK = 128
    /// Whether the CPU runs the kernel (AVX2).
    static let available = gr_cpu_supports_avx2_fma() == 1

    let k: Int, n: Int
    /// (⌈N/16⌉ panels, ⌈K/2⌉ pairs, 32) int16.
    let packed: [Int16]
    /// s_j, N rounded up to 16 (0 past N).
    let scales: [Float]

    /// Columns of `w` (K, ldw) row-major; nil (with a message on stderr) when W holds a NaN or ∞.
    init?(_ w: UnsafePointer<Float>, ldw: Int, k: Int, n: Int, name: String = "layer weight") {
        precondition(k >= 1 && k <= Self.maxK && n >= 1, "Int16Weight: K \(k) (1...\(Self.maxK)), N \(n)")
        self.k = k; self.n = n
        var packed = [Int16](repeating: 0, count: gr_i16_packed_count(n, Int32(k)))
        var scales = [Float](repeating: 0, count: (n + 15) / 16 * 16)
        let status = packed.withUnsafeMutableBufferPointer { p in
            scales.withUnsafeMutableBufferPointer { s in gr_i16_pack(w, ldw, n, Int32(k), p.baseAddress!, s.baseAddress!) }
        }
        if status != 0 {
            FileHandle.standardError.write(Data("--precision int16: \(name) holds a NaN or infinity; its products stay f32\n".utf8))
            return nil
        }
        self.packed = packed
        self.scales = scales
    }

    /// C (rows, N) = A (rows, K; row stride lda)·op(W) (+ C when `accumulate`; SiLU of it when
    /// `silu`, not both); `w`: the f32 op(W) (K, ldw) for rows of A with a NaN or ∞.
    func multiply(_ a: UnsafePointer<Float>, rows m: Int, lda: Int, f32 w: UnsafePointer<Float>, ldw: Int,
                  into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, silu: Bool) {
        let flags = Int32((accumulate ? GR_SGEMM_ACCUMULATE : 0) | (silu ? GR_SGEMM_SILU : 0))
        packed.withUnsafeBufferPointer { p in
            scales.withUnsafeBufferPointer { s in
                gr_i16gemm_avx2(a, lda, p.baseAddress!, s.baseAddress!, w, ldw, m, n, Int32(k), c, ldc, flags)
            }
        }
    }
}
