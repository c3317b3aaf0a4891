import GRCore

/// What identifies a cuBLASLt GEMM configuration (shapes, strides, transposes, compute type).
struct GEMMKey: Hashable {
    let transA: Bool, transB: Bool
    let m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int
    let compute: Int32
    /// CUBLASLT_EPILOGUE_BIAS (the bias pointer is set per call; `gemmBiasResidual`).
    var biasEpilogue = false
}

/// A cached cuBLASLt GEMM configuration: the matmul descriptor, the three layouts and the
/// algorithm the heuristic chose for them (nil: let cublasLtMatmul choose). Building these costs
/// more host time than queueing the GEMM, and the model repeats each shape once per layer.
final class GEMMPlan {
    let lt: CUBLASLtAPI
    let desc: OpaquePointer?, a: OpaquePointer?, b: OpaquePointer?, c: OpaquePointer?
    /// The heuristic's result (`cublasLtMatmulHeuristicResult_t`, its first 64 bytes the algo).
    let heuristic: UnsafeMutableRawPointer?

    init(lt: CUBLASLtAPI, desc: OpaquePointer?, a: OpaquePointer?, b: OpaquePointer?, c: OpaquePointer?,
         heuristic: UnsafeMutableRawPointer?) {
        self.lt = lt; self.desc = desc; self.a = a; self.b = b; self.c = c; self.heuristic = heuristic
    }

    deinit {
        _ = lt.cublasLtMatmulDescDestroy(desc)
        _ = lt.cublasLtMatrixLayoutDestroy(a)
        _ = lt.cublasLtMatrixLayoutDestroy(b)
        _ = lt.cublasLtMatrixLayoutDestroy(c)
        heuristic?.deallocate()
    }
}
