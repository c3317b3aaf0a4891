import Foundation
import GRCore
import GRCPU
import _GRCPUShims

/// A layer's weight as the right operand of the serving forward's products: C (M, N) = A (M, K)·op(W)
/// (+ C), op(W) = W (K, N) stored, or Wᵀ with W (N, K) stored (`transposed`).
///
/// - f32: on AVX2 CPUs without AVX-512, the small-K kernel `gr_sgemm_small_avx2` (op(W) read in
///   place: the arena for W (K, N), a transposed copy made at load for Wᵀ; the optional SiLU and
///   `+ C` fused into its store); elsewhere the GRCPU GEMM (`CPUGEMM.sgemm`) on the model's arena.
/// - bf16: `BF16GEMM` on a bf16 copy of op(W) packed once at load (and one per column block used
///   by the last layer), when the CPU has AVX-512 BF16; otherwise f32 (`precision` then reads f32).
/// - int16: `Int16Weight` (`gr_i16gemm_avx2`, `vpmaddwd`) on op(W) quantised once at load (and one
///   per column block), when the CPU has AVX2 and K ≤ 128; otherwise f32. `GR_INFER_GEMM=int16`
///   turns an f32 request into int16.
struct LayerWeight {
    let weights: UnsafeMutablePointer<Float>
    /// K and N of op(W).
    let k: Int, n: Int
    let transposed: Bool
    /// The arithmetic actually used (bf16 falls back to f32 without the CPU feature).
    let precision: InferencePrecision
    /// bf16 packings: the whole op(W), and column blocks by range.
    let packed: BF16GEMM.Packed?
    let packedColumns: [Range<Int>: BF16GEMM.Packed]
    /// int16 quantisations: the whole op(W), and column blocks by range.
    let int16: Int16Weight?
    let int16Columns: [Range<Int>: Int16Weight]
    /// op(W) (K, N) row-major for the small-K kernel when W is stored transposed (else empty: the
    /// kernel reads `weights`).
    let opCopy: [Float]
    /// Whether f32 products run `gr_sgemm_small_avx2` (fixed at init).
    let small: Bool

    /// Whether new f32 weights use the small-K kernel: on CPUs with AVX2 + FMA but not AVX-512
    /// (where the GRCPU GEMM has its AVX-512 kernels), for K ≤ `smallMaxK`.
    /// `GR_INFER_GEMM=generic` turns it off, `=small` on (AVX-512 CPUs too), `=int16` keeps the
    /// default (and turns f32 requests into int16); any other value is reported on stderr. Settable so tests compare both paths.
    nonisolated(unsafe) static var smallKernel =
        kernelSwitch("GR_INFER_GEMM", off: "generic", on: "small", available: gr_cpu_supports_avx2_fma() == 1,
                     byDefault: smallByDefault, alsoValid: ["int16"])
    private static let smallByDefault = gr_cpu_supports_avx2_fma() == 1 && gr_cpu_supports_avx512() == 0
    /// `GR_INFER_GEMM=int16`: f32 requests run the int16 products (as `--precision int16`).
    static let int16FromEnvironment = ProcessInfo.processInfo.environment["GR_INFER_GEMM"] == "int16"
    /// Largest K of the small-K kernel (a 16-column panel of op(W), 64·K bytes, stays in L1).
    static let smallMaxK = 128

    /// `columnBlocks`: column ranges of op(W) that `multiply(_:rows:lda:columns:into:ldc:)` will be
    /// asked for (packed separately for bf16).
    init(_ weights: UnsafeMutablePointer<Float>, k: Int, n: Int, transposed: Bool, precision: InferencePrecision,
         columnBlocks: [Range<Int>] = []) {
        self.weights = weights
        self.k = k; self.n = n
        self.transposed = transposed
        let asked = precision == .f32 && Self.int16FromEnvironment ? .int16 : precision
        let bf16 = asked == .bf16 && BF16GEMM.available && k <= BF16GEMM.maxK
        var i16: Int16Weight?, i16Columns: [Range<Int>: Int16Weight] = [:]
        if asked == .int16 && Int16Weight.available && k <= Int16Weight.maxK {
            if transposed {
                i16 = Self.transposedCopy(weights, k: k, n: n).withUnsafeBufferPointer { Int16Weight($0.baseAddress!, ldw: n, k: k, n: n) }
            } else {
                i16 = Int16Weight(weights, ldw: n, k: k, n: n)
                for r in columnBlocks { i16Columns[r] = Int16Weight(weights + r.lowerBound, ldw: n, k: k, n: r.count) }
            }
            if i16Columns.count < columnBlocks.count { i16 = nil }
        }
        int16 = i16
        int16Columns = i16 == nil ? [:] : i16Columns
        self.precision = bf16 ? .bf16 : i16 != nil ? .int16 : .f32
        packed = bf16 ? BF16GEMM.Packed(weights, k: k, n: n, transposed: transposed) : nil
        var blocks: [Range<Int>: BF16GEMM.Packed] = [:]
        if bf16 {
            for r in columnBlocks {
                precondition(!transposed, "LayerWeight: column blocks of a transposed weight")
                // op(W)[:, r] as its own (K, |r|) matrix.
                let copy = UnsafeMutablePointer<Float>.allocate(capacity: k * r.count)
                defer { copy.deallocate() }
                for kk in 0..<k { (copy + kk * r.count).update(from: weights + kk * n + r.lowerBound, count: r.count) }
                blocks[r] = BF16GEMM.Packed(copy, k: k, n: r.count, transposed: false)
            }
        }
        packedColumns = blocks
        small = !bf16 && Self.smallKernel && k <= Self.smallMaxK
        opCopy = (small || i16 != nil) && transposed ? Self.transposedCopy(weights, k: k, n: n) : []
    }

    /// C (rows, |columns|) (+)= A·op(W)[:, columns] on the small-K kernel, SiLU fused when `silu`.
    private func multiplySmall(_ a: UnsafePointer<Float>, rows m: Int, lda: Int, columns: Range<Int>,
                               into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, silu: Bool) {
        let flags = Int32((accumulate ? GR_SGEMM_ACCUMULATE : 0) | (silu ? GR_SGEMM_SILU : 0))
        func run(_ w: UnsafePointer<Float>) {
            gr_sgemm_small_avx2(a, lda, w + columns.lowerBound, n, m, columns.count, Int32(k), c, ldc, flags)
        }
        withOp(run)
    }

    /// op(W) (K, N) row-major of W (N, K): op(W)[kk][j] = W[j][kk].
    private static func transposedCopy(_ w: UnsafePointer<Float>, k: Int, n: Int) -> [Float] {
        var copy = [Float](repeating: 0, count: k * n)
        for j in 0..<n { for kk in 0..<k { copy[kk * n + j] = w[j * k + kk] } }
        return copy
    }

    /// `body` on op(W) (K, N) row-major: the arena, or the transposed copy.
    private func withOp(_ body: (UnsafePointer<Float>) -> Void) {
        if transposed { opCopy.withUnsafeBufferPointer { body($0.baseAddress!) } } else { body(weights) }
    }

    /// SiLU of C's (rows, cols) block in place (rows ldc apart): the unfused paths' second pass.
    private static func siluRows(_ c: UnsafeMutablePointer<Float>, rows m: Int, cols: Int, ldc: Int) {
        if ldc == cols { InferenceSiLU.apply(c, m * cols); return }
        for r in 0..<m { InferenceSiLU.apply(c + r * ldc, cols) }
    }

    /// C (rows, N) (+)= A (rows, K; row stride lda)·op(W); C has row stride ldc.
    /// `silu`: C = SiLU(A·op(W)) instead (not with `accumulate`).
    func multiply(_ a: UnsafePointer<Float>, rows m: Int, lda: Int, into c: UnsafeMutablePointer<Float>, ldc: Int,
                  accumulate: Bool, silu: Bool = false) {
        precondition(!(silu && accumulate), "LayerWeight: SiLU of an accumulated product")
        if m == 0 { return }
        if let int16 {
            withOp { int16.multiply(a, rows: m, lda: lda, f32: $0, ldw: n, into: c, ldc: ldc, accumulate: accumulate, silu: silu) }
            return
        }
        if small {
            multiplySmall(a, rows: m, lda: lda, columns: 0 ..< n, into: c, ldc: ldc, accumulate: accumulate, silu: silu)
            return
        }
        if let packed {
            BF16GEMM.multiply(a, rows: m, lda: lda, packed, into: c, ldc: ldc, accumulate: accumulate)
        } else {
            CPUGEMM.sgemm(transA: false, transB: transposed, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: weights,
                          ldb: transposed ? k : n, beta: accumulate ? 1 : 0, c: c, ldc: ldc)
        }
        if silu { Self.siluRows(c, rows: m, cols: n, ldc: ldc) }
    }

    /// Columns `columns` of op(W) only (W stored (K, N), not transposed): C (rows, |columns|) =
    /// A·W[:, columns], C with row stride ldc (overwritten); `silu`: SiLU of it.
    func multiply(_ a: UnsafePointer<Float>, rows m: Int, lda: Int, columns: Range<Int>, into c: UnsafeMutablePointer<Float>,
                  ldc: Int, silu: Bool = false) {
        precondition(!transposed && columns.upperBound <= n, "LayerWeight: column block \(columns) of \(n)")
        if m == 0 || columns.isEmpty { return }
        if let block = int16Columns[columns] {
            block.multiply(a, rows: m, lda: lda, f32: weights + columns.lowerBound, ldw: n, into: c, ldc: ldc,
                           accumulate: false, silu: silu)
            return
        }
        if small {
            multiplySmall(a, rows: m, lda: lda, columns: columns, into: c, ldc: ldc, accumulate: false, silu: silu)
            return
        }
        if let block = packedColumns[columns] {
            BF16GEMM.multiply(a, rows: m, lda: lda, block, into: c, ldc: ldc, accumulate: false)
        } else {
            CPUGEMM.sgemm(transA: false, transB: false, m: m, n: columns.count, k: k, alpha: 1, a: a, lda: lda,
                          b: weights + columns.lowerBound, ldb: n, beta: 0, c: c, ldc: ldc)
        }
        if silu { Self.siluRows(c, rows: m, cols: columns.count, ldc: ldc) }
    }
}
