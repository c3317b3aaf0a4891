import GRCore
import _GRCPUShims

/// Reduced-precision products for inference (`--precision bf16`, docs/inference.md): C (M, N) (+)=
/// A (M, K)·op(W) with A and W rounded to bfloat16 (nearest even) and float32 accumulation, on
/// AVX-512 BF16 (`vdpbf16ps`, C shim `bf16_gemm.c`, compiled for that feature per function and
/// called only after the run-time check `available`). The weight is packed once (`Packed`); rows
/// of A are split over `Parallel.threads` in blocks of 8.
public enum BF16GEMM {
    /// Whether this CPU (and OS) can run the bf16 kernel.
    public static let available: Bool = gr_cpu_supports_avx512_bf16() == 1

    /// The instruction set used when `available`.
    public static let kind = "AVX-512 BF16 vdpbf16ps"

    /// Largest K of the kernel (its per-block A buffer).
    public static let maxK = 1024

    /// op(W) (K, N) in the kernel's bf16 layout.
    public final class Packed: @unchecked Sendable {
        public let k: Int, n: Int
        let data: UnsafeMutablePointer<UInt16>

        /// W (K, N) row-major, or W (N, K) row-major when `transposed` (op(W) = Wᵀ).
        public init(_ w: UnsafePointer<Float>, k: Int, n: Int, transposed: Bool) {
            precondition(k >= 1 && k <= BF16GEMM.maxK && n >= 1, "BF16GEMM: K \(k) must be in 1...\(BF16GEMM.maxK), N \(n) ≥ 1")
            self.k = k; self.n = n
            let count = gr_bf16_packed_count(Int32(k), Int32(n))
            data = .allocate(capacity: count)
            gr_bf16_pack_b(w, Int32(k), Int32(n), transposed ? 1 : 0, data)
        }

        deinit { data.deallocate() }
    }

    /// C (M, N; row stride ldc) = A (M, K; row stride lda)·op(W), plus C when `accumulate`.
    /// Requires `available`.
    public static func multiply(_ a: UnsafePointer<Float>, rows m: Int, lda: Int, _ w: Packed,
                                into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        precondition(available, "BF16GEMM.multiply: this CPU has no AVX-512 BF16")
        precondition(lda >= w.k && ldc >= w.n, "BF16GEMM.multiply: lda \(lda) < K \(w.k) or ldc \(ldc) < N \(w.n)")
        if m == 0 { return }
        let blocks = (m + 7) / 8
        // ≥ 64 rows a thread: below that, waking a worker costs more than the product.
        let parts = min(Parallel.threads, max(1, m / 64))
        Parallel.forEach(parts) { part in
            let b0 = blocks * part / parts, b1 = blocks * (part + 1) / parts
            let r0 = b0 * 8, r1 = min(m, b1 * 8)
            if r0 < r1 {
                gr_bf16_gemm(Int32(r1 - r0), Int32(w.n), Int32(w.k), a + r0 * lda, Int32(lda), w.data, c + r0 * ldc,
                             Int32(ldc), accumulate ? 1 : 0)
            }
        }
    }
}
