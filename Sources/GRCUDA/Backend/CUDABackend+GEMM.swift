import GRCore

extension CUDABackend {
    /// Bytes of cuBLASLt workspace.
    static let gemmWorkspaceBytes = 32 << 20

    /// Row-major C = α·op(A)·op(B) + β·C through cuBLASLt (column-major) by the transposition
    /// trick: Cᵀ (N×M, col-major = C row-major) = op(B)ᵀ·op(A)ᵀ, so cuBLASLt's "A" is our B and
    /// its "B" our A, with the same transpose flags. Compute CUBLAS_COMPUTE_32F_FAST_TF32 (tensor
    /// cores, 10-bit mantissa inputs, f32 accumulation: the reference's TF32 setting).
    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: Tensor, lda: Int, b: Tensor, ldb: Int, beta: Float, c: Tensor, ldc: Int) {
        gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta,
             c: c, ldc: ldc, compute: CUBLASLtAPI.computeF32FastTF32)
    }

    /// As `gemm(...)` with an explicit cuBLASLt compute type (`CUBLASLtAPI.computeF32`: plain f32,
    /// used where results are compared with the CPU's, e.g. ranking scores).
    func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
              a: Tensor, lda: Int, b: Tensor, ldb: Int, beta: Float, c: Tensor, ldc: Int, compute: Int32) {
        if m == 0 || n == 0 { return }
        if k == 0 {   // C = β·C (β = 0: zeros)
            for r in 0..<m { scale(x: c.view(r * ldc, [n]), alpha: beta, out: c.view(r * ldc, [n]), count: n) }
            if beta == 0 { for r in 0..<m { fill(c.view(r * ldc, [n]), 0) } }
            return
        }
        let lt = context.lt
        let ws = gemmWorkspace ?? empty([Self.gemmWorkspaceBytes / 4], .f32)
        gemmWorkspace = ws
        var desc: OpaquePointer? = nil
        mustLt(lt.cublasLtMatmulDescCreate(&desc, compute, CUBLASLtAPI.dataF32),
               "cublasLtMatmulDescCreate")
        defer { _ = lt.cublasLtMatmulDescDestroy(desc) }
        var opA = transB ? CUBLASLtAPI.opT : CUBLASLtAPI.opN   // cuBLASLt's A = our B
        var opB = transA ? CUBLASLtAPI.opT : CUBLASLtAPI.opN
        mustLt(lt.cublasLtMatmulDescSetAttribute(desc, CUBLASLtAPI.descTransA, &opA, 4), "cublasLtMatmulDescSetAttribute(TRANSA)")
        mustLt(lt.cublasLtMatmulDescSetAttribute(desc, CUBLASLtAPI.descTransB, &opB, 4), "cublasLtMatmulDescSetAttribute(TRANSB)")
        // Column-major shapes of the stored matrices: our B is (K, N) row-major = (N, K) col-major, or (N, K)
        // row-major = (K, N) col-major when transB.
        var la: OpaquePointer? = nil, lb: OpaquePointer? = nil, lc: OpaquePointer? = nil
        let aRows = transB ? k : n, aCols = transB ? n : k
        let bRows = transA ? m : k, bCols = transA ? k : m
        mustLt(lt.cublasLtMatrixLayoutCreate(&la, CUBLASLtAPI.dataF32, UInt64(aRows), UInt64(aCols), Int64(ldb)), "cublasLtMatrixLayoutCreate(A)")
        mustLt(lt.cublasLtMatrixLayoutCreate(&lb, CUBLASLtAPI.dataF32, UInt64(bRows), UInt64(bCols), Int64(lda)), "cublasLtMatrixLayoutCreate(B)")
        mustLt(lt.cublasLtMatrixLayoutCreate(&lc, CUBLASLtAPI.dataF32, UInt64(n), UInt64(m), Int64(ldc)), "cublasLtMatrixLayoutCreate(C)")
        defer { _ = lt.cublasLtMatrixLayoutDestroy(la); _ = lt.cublasLtMatrixLayoutDestroy(lb); _ = lt.cublasLtMatrixLayoutDestroy(lc) }
        var al = alpha, be = beta
        let pa = UnsafeRawPointer(bitPattern: UInt(b.devicePointer)), pb = UnsafeRawPointer(bitPattern: UInt(a.devicePointer))
        let pc = UnsafeMutableRawPointer(bitPattern: UInt(c.devicePointer))
        let pws = UnsafeMutableRawPointer(bitPattern: UInt(ws.devicePointer))
        context.makeCurrent()
        let start = context.profileStart
        context.stats.gemms += 1
        defer { context.kernelProfile?.record("gemm(m \(m), n \(n), k \(k))", context: context, start: start) }
        mustLt(lt.cublasLtMatmul(ltHandle, desc, &al, pa, la, pb, lb, &be, pc, lc, pc, lc, nil, pws,
                                 Self.gemmWorkspaceBytes, context.stream),
               "cublasLtMatmul(m \(m), n \(n), k \(k), transA \(transA), transB \(transB))")
    }

    func mustLt(_ status: Int32, _ call: String) {
        do { try context.lt.check(status, call) } catch { fatalError("\(error)") }
    }
}
