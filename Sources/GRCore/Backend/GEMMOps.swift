/// Matrix multiplication.
public protocol GEMMOps {
    /// C = alpha · op(A) · op(B) + beta · C, all row-major f32.
    /// op(A) is (M, K): A is stored (M, K) with row stride `lda`, or (K, M) when `transA`.
    /// op(B) is (K, N): B is stored (K, N) with row stride `ldb`, or (N, K) when `transB`.
    /// C is (M, N) with row stride `ldc`. With beta == 0, C's old contents are ignored (NaN too).
    func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
              a: Tensor, lda: Int, b: Tensor, ldb: Int, beta: Float, c: Tensor, ldc: Int)
}
