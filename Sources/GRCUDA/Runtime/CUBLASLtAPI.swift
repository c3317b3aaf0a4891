/// cuBLASLt entry points (`cublasLt.h`) and the enum values the backend passes.
struct CUBLASLtAPI {
    typealias FCreate = @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Int32
    typealias FDescCreate = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, Int32, Int32) -> Int32
    typealias FDescSetAttribute = @convention(c) (OpaquePointer?, Int32, UnsafeRawPointer, Int) -> Int32
    typealias FDestroy = @convention(c) (OpaquePointer?) -> Int32
    typealias FLayoutCreate = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, Int32, UInt64, UInt64, Int64) -> Int32
    typealias FMatmul = @convention(c) (OpaquePointer?, OpaquePointer?, UnsafeRawPointer,
                                        UnsafeRawPointer?, OpaquePointer?, UnsafeRawPointer?, OpaquePointer?,
                                        UnsafeRawPointer, UnsafeRawPointer?, OpaquePointer?,
                                        UnsafeMutableRawPointer?, OpaquePointer?,
                                        UnsafeRawPointer?, UnsafeMutableRawPointer?, Int, OpaquePointer?) -> Int32
    typealias FGetVersion = @convention(c) () -> Int
    typealias FAlgoGetHeuristic = @convention(c) (OpaquePointer?, OpaquePointer?, OpaquePointer?, OpaquePointer?,
                                                  OpaquePointer?, OpaquePointer?, OpaquePointer?, Int32,
                                                  UnsafeMutableRawPointer?, UnsafeMutablePointer<Int32>) -> Int32

    let cublasLtCreate: FCreate
    let cublasLtMatmulDescCreate: FDescCreate
    let cublasLtMatmulDescSetAttribute: FDescSetAttribute
    let cublasLtMatmulDescDestroy: FDestroy
    let cublasLtMatrixLayoutCreate: FLayoutCreate
    let cublasLtMatrixLayoutDestroy: FDestroy
    let cublasLtMatmul: FMatmul
    let cublasLtGetVersion: FGetVersion
    let cublasLtMatmulPreferenceCreate: FCreate
    let cublasLtMatmulPreferenceSetAttribute: FDescSetAttribute
    let cublasLtMatmulPreferenceDestroy: FDestroy
    let cublasLtMatmulAlgoGetHeuristic: FAlgoGetHeuristic

    // cublasComputeType_t / cudaDataType_t / attributes / cublasOperation_t (cublas_api.h, library_types.h)
    static let computeF32: Int32 = 68
    static let computeF32FastTF32: Int32 = 77
    static let computeF32FastBF16: Int32 = 75
    static let dataF32: Int32 = 0
    static let descTransA: Int32 = 3
    static let descTransB: Int32 = 4
    /// CUBLASLT_MATMUL_DESC_EPILOGUE (uint32) and CUBLASLT_MATMUL_DESC_BIAS_POINTER (a device pointer).
    static let descEpilogue: Int32 = 7
    static let descBiasPointer: Int32 = 8
    /// CUBLASLT_EPILOGUE_BIAS: D = α·op(A)·op(B) + β·C + bias, bias broadcast over D's columns
    /// (one value per row of the column-major D).
    static let epilogueBias: UInt32 = 4
    static let opN: Int32 = 0
    static let opT: Int32 = 1
    /// CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES (uint64).
    static let prefMaxWorkspaceBytes: Int32 = 1
    /// sizeof(cublasLtMatmulHeuristicResult_t): algo (8 × u64), workspaceSize, state, wavesCount, reserved[4].
    static let heuristicResultBytes = 96

    init(_ h: UnsafeMutableRawPointer) throws {
        func s<T>(_ name: String, _ t: T.Type) throws -> T { try CUDALibraries.symbol(h, "cuBLASLt", name, as: t) }
        cublasLtCreate = try s("cublasLtCreate", FCreate.self)
        cublasLtMatmulDescCreate = try s("cublasLtMatmulDescCreate", FDescCreate.self)
        cublasLtMatmulDescSetAttribute = try s("cublasLtMatmulDescSetAttribute", FDescSetAttribute.self)
        cublasLtMatmulDescDestroy = try s("cublasLtMatmulDescDestroy", FDestroy.self)
        cublasLtMatrixLayoutCreate = try s("cublasLtMatrixLayoutCreate", FLayoutCreate.self)
        cublasLtMatrixLayoutDestroy = try s("cublasLtMatrixLayoutDestroy", FDestroy.self)
        cublasLtMatmul = try s("cublasLtMatmul", FMatmul.self)
        cublasLtGetVersion = try s("cublasLtGetVersion", FGetVersion.self)
        cublasLtMatmulPreferenceCreate = try s("cublasLtMatmulPreferenceCreate", FCreate.self)
        cublasLtMatmulPreferenceSetAttribute = try s("cublasLtMatmulPreferenceSetAttribute", FDescSetAttribute.self)
        cublasLtMatmulPreferenceDestroy = try s("cublasLtMatmulPreferenceDestroy", FDestroy.self)
        cublasLtMatmulAlgoGetHeuristic = try s("cublasLtMatmulAlgoGetHeuristic", FAlgoGetHeuristic.self)
    }

    func check(_ status: Int32, _ call: String) throws {
        if status != 0 { throw CUDAError.cublas(call: call, status: status) }
    }
}
