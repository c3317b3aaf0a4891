import GRCore
import GRCPU

/// A layer's weight as the right operand of the serving forward's products: C (M, N) = A (M, K)·op(W)
/// (+ C), op(W) = W (K, N) stored, or Wᵀ with W (N, K) stored (`transposed`).
///
/// - f32: the GRCPU GEMM (`CPUGEMM.sgemm`) on the model's arena (no copy).
/// - bf16: `BF16GEMM` on a bf16 copy of op(W) packed once at load (and one per column block used
///   by the last layer), when the CPU has AVX-512 BF16; otherwise f32 (`precision` then reads f32).
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

    /// `columnBlocks`: column ranges of op(W) that `multiply(_:rows:lda:columns:into:ldc:)` will be
    /// asked for (packed separately for bf16).
    init(_ weights: UnsafeMutablePointer<Float>, k: Int, n: Int, transposed: Bool, precision: InferencePrecision,
         columnBlocks: [Range<Int>] = []) {
        self.weights = weights
        self.k = k; self.n = n
        self.transposed = transposed
        let bf16 = precision == .bf16 && BF16GEMM.available && k <= BF16GEMM.maxK
        self.precision = bf16 ? .bf16 : .f32
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
    }

    /// C (rows, N) (+)= A (rows, K; row stride lda)·op(W); C has row stride ldc.
    func multiply(_ a: UnsafePointer<Float>, rows m: Int, lda: Int, into c: UnsafeMutablePointer<Float>, ldc: Int,
                  accumulate: Bool) {
        if m == 0 { return }
        if let packed {
            BF16GEMM.multiply(a, rows: m, lda: lda, packed, into: c, ldc: ldc, accumulate: accumulate)
            return
        }
        CPUGEMM.sgemm(transA: false, transB: transposed, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: weights,
                      ldb: transposed ? k : n, beta: accumulate ? 1 : 0, c: c, ldc: ldc)
    }

    /// Columns `columns` of op(W) only (W stored (K, N), not transposed): C (rows, |columns|) =
    /// A·W[:, columns], C with row stride ldc (overwritten).
    func multiply(_ a: UnsafePointer<Float>, rows m: Int, lda: Int, columns: Range<Int>, into c: UnsafeMutablePointer<Float>,
                  ldc: Int) {
        precondition(!transposed && columns.upperBound <= n, "LayerWeight: column block \(columns) of \(n)")
        if m == 0 || columns.isEmpty { return }
        if let block = packedColumns[columns] {
            BF16GEMM.multiply(a, rows: m, lda: lda, block, into: c, ldc: ldc, accumulate: false)
            return
        }
        CPUGEMM.sgemm(transA: false, transB: false, m: m, n: columns.count, k: k, alpha: 1, a: a, lda: lda,
                      b: weights + columns.lowerBound, ldb: n, beta: 0, c: c, ldc: ldc)
    }
}
