#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import _GRNCCLShim

/// NCCL (`libnccl.so.2`), opened at run time with `dlopen` like the other CUDA libraries: nothing
/// NCCL at build time. Entry points are `@convention(c)` function types resolved with `dlsym`;
/// `ncclResult_t` is Int32 (0 = ncclSuccess), communicators and streams are opaque pointers.
/// `ncclCommInitRank` takes its `ncclUniqueId` (128 bytes) by value, so it is called through the C
/// shim `gr_nccl_comm_init_rank`.
///
/// Search order: `$GR_NCCL_LIB` (a file, or a folder holding libnccl.so.2), the default loader
/// path, the CUDA folders of `CUDALibraries.searchDirectories()`, `/usr/lib/x86_64-linux-gnu`,
/// then the `nvidia/nccl/lib` folder of Python installs (`pip install nvidia-nccl-cu13` puts it
/// there: `/opt/*/.venv/lib/python3*/site-packages`, `/usr/local/lib/python3*/dist-packages`, ...).
struct NCCLAPI {
    typealias FGetVersion = @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    typealias FGetUniqueId = @convention(c) (UnsafeMutableRawPointer) -> Int32
    typealias FGetErrorString = @convention(c) (Int32) -> UnsafePointer<CChar>?
    typealias FGetLastError = @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?
    typealias FAllReduce = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int, Int32, Int32,
                                           OpaquePointer?, OpaquePointer?) -> Int32
    typealias FCommDestroy = @convention(c) (OpaquePointer?) -> Int32
    typealias FCommGetAsyncError = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>) -> Int32
    typealias FGroup = @convention(c) () -> Int32

    /// `ncclUniqueId` size (nccl.h `NCCL_UNIQUE_ID_BYTES`).
    static let uniqueIdBytes = Int(GR_NCCL_UNIQUE_ID_BYTES)
    /// `ncclDataType_t` ncclFloat32 and `ncclRedOp_t` ncclSum (nccl.h).
    static let float32: Int32 = 7
    static let sum: Int32 = 0
    /// ncclInProgress (a non-blocking communicator's pending state).
    static let inProgress: Int32 = 7

    let path: String
    let ncclGetVersion: FGetVersion
    let ncclGetUniqueId: FGetUniqueId
    let ncclGetErrorString: FGetErrorString
    let ncclGetLastError: FGetLastError?
    let ncclCommInitRank: UnsafeMutableRawPointer
    let ncclAllReduce: FAllReduce
    let ncclCommDestroy: FCommDestroy
    let ncclCommAbort: FCommDestroy
    let ncclCommGetAsyncError: FCommGetAsyncError
    let ncclGroupStart: FGroup
    let ncclGroupEnd: FGroup

    /// Opens libnccl.so.2 or throws `CUDAError.libraryNotFound` listing every path tried.
    init() throws {
        let (h, path) = try CUDALibraries.open("NCCL", names: ["libnccl.so.2", "libnccl.so"], dirs: Self.searchDirectories(),
                                               override: ProcessInfo.processInfo.environment["GR_NCCL_LIB"])
        self.path = path
        func s<T>(_ name: String, _ t: T.Type) throws -> T { try CUDALibraries.symbol(h, "libnccl", name, as: t) }
        ncclGetVersion = try s("ncclGetVersion", FGetVersion.self)
        ncclGetUniqueId = try s("ncclGetUniqueId", FGetUniqueId.self)
        ncclGetErrorString = try s("ncclGetErrorString", FGetErrorString.self)
        ncclGetLastError = try? s("ncclGetLastError", FGetLastError.self)
        guard let initRank = dlsym(h, "ncclCommInitRank") else {
            throw CUDAError.symbolMissing(library: "libnccl", symbol: "ncclCommInitRank")
        }
        ncclCommInitRank = initRank
        ncclAllReduce = try s("ncclAllReduce", FAllReduce.self)
        ncclCommDestroy = try s("ncclCommDestroy", FCommDestroy.self)
        ncclCommAbort = try s("ncclCommAbort", FCommDestroy.self)
        ncclCommGetAsyncError = try s("ncclCommGetAsyncError", FCommGetAsyncError.self)
        ncclGroupStart = try s("ncclGroupStart", FGroup.self)
        ncclGroupEnd = try s("ncclGroupEnd", FGroup.self)
    }

    /// Folders searched after the loader path.
    static func searchDirectories() -> [String] {
        var dirs = CUDALibraries.searchDirectories() + ["/usr/lib/x86_64-linux-gnu", "/usr/lib64"]
        let fm = FileManager.default
        func sub(_ dir: String) -> [String] {
            ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted().map { dir + "/" + $0 }
        }
        // <prefix>/lib/python3.X/{site,dist}-packages/nvidia/nccl/lib
        var prefixes = ["/usr", "/usr/local"]
        for root in ["/opt", "/root", "/usr/local/lib"] {
            for p in sub(root) { prefixes += [p, p + "/.venv", p + "/venv"] }
        }
        for prefix in prefixes {
            for py in sub(prefix + "/lib") where (py as NSString).lastPathComponent.hasPrefix("python3") {
                for pk in ["site-packages", "dist-packages"] {
                    let d = "\(py)/\(pk)/nvidia/nccl/lib"
                    if fm.fileExists(atPath: d + "/libnccl.so.2") { dirs.append(d) }
                }
            }
        }
        dirs.append("/usr/lib/python3/dist-packages/nvidia/nccl/lib")
        return dirs
    }

    /// "2.27.7" from ncclGetVersion's code (major·10000 + minor·100 + patch since 2.9).
    func versionString() -> String {
        var v: Int32 = 0
        guard ncclGetVersion(&v) == 0 else { return "?" }
        return v >= 10000 ? "\(v / 10000).\(v % 10000 / 100).\(v % 100)" : "\(v / 1000).\(v % 1000 / 100).\(v % 100)"
    }

    /// Throws `CUDAError.nccl` naming `call` unless `result` is ncclSuccess; the message is
    /// ncclGetErrorString's, plus ncclGetLastError's detail when the library has it.
    func check(_ result: Int32, _ call: String, comm: OpaquePointer? = nil) throws {
        guard result != 0 else { return }
        let text = ncclGetErrorString(result).map { String(cString: $0) } ?? "?"
        let last = ncclGetLastError?(comm).map { String(cString: $0) } ?? ""
        throw CUDAError.nccl(call: call, code: result, message: text, detail: last)
    }
}
