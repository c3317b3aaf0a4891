import Foundation
import GRCore

/// The tensor-core precision of the model's GEMMs (f32 storage, f32 accumulation throughout).
public enum GEMMPrecision: String, Sendable, CaseIterable {
    /// CUBLAS_COMPUTE_32F_FAST_TF32: inputs rounded to TF32 (10-bit mantissa), the reference's
    /// setting and the default.
    case tf32
    /// CUBLAS_COMPUTE_32F_FAST_16BF: inputs rounded to bf16 (7-bit mantissa) inside cuBLASLt,
    /// opt-in (`GR_CUDA_GEMM=bf16`).
    case bf16
    /// CUBLAS_COMPUTE_32F: plain f32 (no tensor cores), for comparisons with the CPU.
    case f32

    var computeType: Int32 {
        switch self {
        case .tf32: return CUBLASLtAPI.computeF32FastTF32
        case .bf16: return CUBLASLtAPI.computeF32FastBF16
        case .f32: return CUBLASLtAPI.computeF32
        }
    }

    /// `GR_CUDA_GEMM` (tf32, bf16 or f32; unset or unknown: tf32).
    static var fromEnvironment: GEMMPrecision {
        ProcessInfo.processInfo.environment["GR_CUDA_GEMM"].flatMap { GEMMPrecision(rawValue: $0.lowercased()) } ?? .tf32
    }
}

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
             c: c, ldc: ldc, compute: gemmPrecision.computeType)
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
        ltMatmul(GEMMKey(transA: transA, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, compute: compute),
                 alpha: alpha, a: a, b: b, beta: beta, c: c, d: c, label: "gemm")
    }

    /// One cublasLtMatmul of `key`'s plan: D = α·op(A)·op(B) + β·C (+ bias with `key.biasEpilogue`),
    /// D with C's layout (the row-major → column-major swap of A and B as in `gemm`).
    private func ltMatmul(_ key: GEMMKey, alpha: Float, a: Tensor, b: Tensor, beta: Float, c: Tensor, d: Tensor,
                          bias: Tensor? = nil, label: String) {
        let lt = context.lt
        let ws = gemmWorkspace ?? empty([Self.gemmWorkspaceBytes / 4], .f32)
        gemmWorkspace = ws
        let plan = gemmPlan(key)
        if let bias {
            var biasPointer = bias.devicePointer
            mustLt(lt.cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLtAPI.descBiasPointer, &biasPointer, 8),
                   "cublasLtMatmulDescSetAttribute(BIAS_POINTER)")
        }
        var al = alpha, be = beta
        let pa = UnsafeRawPointer(bitPattern: UInt(b.devicePointer)), pb = UnsafeRawPointer(bitPattern: UInt(a.devicePointer))
        let pc = UnsafeRawPointer(bitPattern: UInt(c.devicePointer)), pd = UnsafeMutableRawPointer(bitPattern: UInt(d.devicePointer))
        let pws = UnsafeMutableRawPointer(bitPattern: UInt(ws.devicePointer))
        let (m, n, k) = (key.m, key.n, key.k)
        context.makeCurrent()
        let start = context.profileStart
        context.stats.gemms += 1
        defer { context.kernelProfile?.record("\(label)(m \(m), n \(n), k \(k))", context: context, start: start) }
        mustLt(lt.cublasLtMatmul(ltHandle, plan.desc, &al, pa, plan.a, pb, plan.b, &be, pc, plan.c, pd, plan.c,
                                 plan.heuristic.map { UnsafeRawPointer($0) }, pws, Self.gemmWorkspaceBytes, context.stream),
               "cublasLtMatmul[\(label)](m \(m), n \(n), k \(k), transA \(key.transA), transB \(key.transB))")
    }

    /// `FusedGEMMOps`: D = op(A)·op(B) + bias + C in one cuBLASLt call (C = the residual, D a
    /// separate output with C's layout, CUBLASLT_EPILOGUE_BIAS with the bias pointer set on the
    /// cached descriptor per call; cuBLASLt reads it when the call is queued, so graph captures
    /// keep it). Row-major → column-major as in `gemm`: the bias (N) is per row of the
    /// column-major Dᵀ, i.e. per column of our D. Compute: `gemmPrecision`. K = 0: the unfused sequence.
    public func gemmBiasResidual(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: Tensor, lda: Int, b: Tensor,
                                 ldb: Int, bias: Tensor, c: Tensor, d: Tensor) {
        if m == 0 || n == 0 { return }
        precondition(c.devicePointer != d.devicePointer, "gemmBiasResidual: D may not alias C")
        if k == 0 {
            gemmBiasResidualUnfused(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                                    bias: bias, c: c, d: d)
            return
        }
        ltMatmul(GEMMKey(transA: transA, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: n,
                         compute: gemmPrecision.computeType, biasEpilogue: true),
                 alpha: 1, a: a, b: b, beta: 1, c: c, d: d, bias: bias, label: "gemm+bias+C")
    }

    /// Most GEMM configurations kept (the jagged T changes every batch; all are dropped at the cap).
    static let gemmPlanCap = 512
    /// False when `GR_CUDA_GEMM_PLANS=0`: descriptors are then built per call and cuBLASLt runs its
    /// implicit heuristic every time (the first version's behaviour).
    static let gemmPlansEnabled = ProcessInfo.processInfo.environment["GR_CUDA_GEMM_PLANS"] != "0"

    /// The cached plan of `key` (descriptor, layouts, heuristic algorithm), built on first use.
    func gemmPlan(_ key: GEMMKey) -> GEMMPlan {
        if Self.gemmPlansEnabled, let p = gemmPlans[key] { return p }
        let lt = context.lt
        var desc: OpaquePointer? = nil
        mustLt(lt.cublasLtMatmulDescCreate(&desc, key.compute, CUBLASLtAPI.dataF32), "cublasLtMatmulDescCreate")
        var opA = key.transB ? CUBLASLtAPI.opT : CUBLASLtAPI.opN   // cuBLASLt's A = our B
        var opB = key.transA ? CUBLASLtAPI.opT : CUBLASLtAPI.opN
        mustLt(lt.cublasLtMatmulDescSetAttribute(desc, CUBLASLtAPI.descTransA, &opA, 4), "cublasLtMatmulDescSetAttribute(TRANSA)")
        mustLt(lt.cublasLtMatmulDescSetAttribute(desc, CUBLASLtAPI.descTransB, &opB, 4), "cublasLtMatmulDescSetAttribute(TRANSB)")
        if key.biasEpilogue {   // before the heuristic: the algorithm must support the epilogue
            var epilogue = CUBLASLtAPI.epilogueBias
            mustLt(lt.cublasLtMatmulDescSetAttribute(desc, CUBLASLtAPI.descEpilogue, &epilogue, 4),
                   "cublasLtMatmulDescSetAttribute(EPILOGUE)")
        }
        // Column-major shapes of the stored matrices: our B is (K, N) row-major = (N, K) col-major, or (N, K)
        // row-major = (K, N) col-major when transB.
        var la: OpaquePointer? = nil, lb: OpaquePointer? = nil, lc: OpaquePointer? = nil
        let (m, n, k) = (key.m, key.n, key.k)
        let aRows = key.transB ? k : n, aCols = key.transB ? n : k
        let bRows = key.transA ? m : k, bCols = key.transA ? k : m
        mustLt(lt.cublasLtMatrixLayoutCreate(&la, CUBLASLtAPI.dataF32, UInt64(aRows), UInt64(aCols), Int64(key.ldb)), "cublasLtMatrixLayoutCreate(A)")
        mustLt(lt.cublasLtMatrixLayoutCreate(&lb, CUBLASLtAPI.dataF32, UInt64(bRows), UInt64(bCols), Int64(key.lda)), "cublasLtMatrixLayoutCreate(B)")
        mustLt(lt.cublasLtMatrixLayoutCreate(&lc, CUBLASLtAPI.dataF32, UInt64(n), UInt64(m), Int64(key.ldc)), "cublasLtMatrixLayoutCreate(C)")
        // The heuristic's first choice for this configuration with our workspace (nil if it has none:
        // cublasLtMatmul then chooses itself).
        var heuristic: UnsafeMutableRawPointer? = nil
        if Self.gemmPlansEnabled {
            var pref: OpaquePointer? = nil
            if lt.cublasLtMatmulPreferenceCreate(&pref) == 0 {
                var wsBytes = UInt64(Self.gemmWorkspaceBytes)
                let result = UnsafeMutableRawPointer.allocate(byteCount: CUBLASLtAPI.heuristicResultBytes, alignment: 16)
                result.initializeMemory(as: UInt8.self, repeating: 0, count: CUBLASLtAPI.heuristicResultBytes)
                var found: Int32 = 0
                if lt.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLtAPI.prefMaxWorkspaceBytes, &wsBytes, 8) == 0,
                   lt.cublasLtMatmulAlgoGetHeuristic(ltHandle, desc, la, lb, lc, lc, pref, 1, result, &found) == 0, found > 0 {
                    heuristic = result
                } else {
                    result.deallocate()
                }
                _ = lt.cublasLtMatmulPreferenceDestroy(pref)
            }
        }
        let plan = GEMMPlan(lt: lt, desc: desc, a: la, b: lb, c: lc, heuristic: heuristic)
        if Self.gemmPlansEnabled {
            if gemmPlans.count >= Self.gemmPlanCap { gemmPlans.removeAll() }
            gemmPlans[key] = plan
        }
        return plan
    }

    func mustLt(_ status: Int32, _ call: @autoclosure () -> String) {
        guard status != 0 else { return }
        do { try context.lt.check(status, call()) } catch { fatalError("\(error)") }
    }
}
