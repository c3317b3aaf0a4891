#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// OpenBLAS `cblas_sgemm`, loaded at run time with `dlopen` (never linked), for side-by-side
/// benchmarks. `load()` returns nil when no `libopenblas.so.0` can be opened.
struct OpenBLAS {
    typealias SGEMM = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32, Float,
                                      UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32, Float,
                                      UnsafeMutablePointer<Float>?, Int32) -> Void
    typealias SetThreads = @convention(c) (Int32) -> Void

    // CBLAS enum values (cblas.h).
    static let rowMajor: Int32 = 101
    static let noTrans: Int32 = 111
    static let trans: Int32 = 112

    let sgemmPointer: SGEMM
    /// The file that was opened.
    let library: String

    /// Opens OpenBLAS and sets its thread count (`openblas_set_num_threads`).
    ///
    /// Unless `OPENBLAS_CORETYPE` is set, it is set to `coreType` first: OpenBLAS builds that predate
    /// the CPU (Debian 12's 0.3.21 on Sapphire/Emerald Rapids) otherwise fall back to the SSE3
    /// "Prescott" kernels, which would make the comparison meaningless.
    static func load(threads: Int, coreType: String?) -> OpenBLAS? {
        if let coreType, getenv("OPENBLAS_CORETYPE") == nil { setenv("OPENBLAS_CORETYPE", coreType, 1) }
        for name in ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib"] {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL),
                  let sym = dlsym(handle, "cblas_sgemm") else { continue }
            if let set = dlsym(handle, "openblas_set_num_threads") {
                unsafeBitCast(set, to: SetThreads.self)(Int32(threads))
            }
            return OpenBLAS(sgemmPointer: unsafeBitCast(sym, to: SGEMM.self), library: name)
        }
        return nil
    }

    /// Row-major C = alpha · op(A) · op(B) + beta · C (same arguments as `CPUGEMM.sgemm`).
    func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
               a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
               beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        sgemmPointer(Self.rowMajor, transA ? Self.trans : Self.noTrans, transB ? Self.trans : Self.noTrans,
                     Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
