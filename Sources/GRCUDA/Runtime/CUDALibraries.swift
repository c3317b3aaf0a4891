#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The three CUDA libraries, opened at run time with `dlopen` (nothing CUDA at build time):
/// - the driver API `libcuda.so.1` (on the default loader path wherever a driver is installed);
/// - NVRTC `libnvrtc.so.13` or `.12`, and cuBLASLt `libcublasLt.so.13` or `.12`, searched in
///   `$GR_CUDA_LIB_DIR`, `$CUDA_HOME/lib64`, `/usr/local/cuda/lib64`,
///   `/usr/local/cuda-*/targets/x86_64-linux/lib` (newest first), then the default loader path.
/// `describe` names what was loaded from where.
public final class CUDALibraries: @unchecked Sendable {
    public let driverPath: String
    public let nvrtcPath: String
    public let cublasLtPath: String
    let driver: UnsafeMutableRawPointer
    let nvrtc: UnsafeMutableRawPointer
    let cublasLt: UnsafeMutableRawPointer

    /// Opens the three libraries or throws `CUDAError.libraryNotFound` listing every path tried.
    public init() throws {
        (driver, driverPath) = try Self.open("libcuda.so.1", names: ["libcuda.so.1", "libcuda.so"], dirs: [])
        let dirs = Self.searchDirectories()
        (nvrtc, nvrtcPath) = try Self.open("NVRTC", names: ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"], dirs: dirs)
        (cublasLt, cublasLtPath) = try Self.open("cuBLASLt", names: ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"],
                                                 dirs: dirs)
    }

    public var describe: String {
        "driver \(driverPath), NVRTC \(nvrtcPath), cuBLASLt \(cublasLtPath)"
    }

    /// The folders searched for NVRTC and cuBLASLt, in order.
    public static func searchDirectories() -> [String] {
        let env = ProcessInfo.processInfo.environment
        var dirs: [String] = []
        if let d = env["GR_CUDA_LIB_DIR"], !d.isEmpty { dirs.append(d) }
        if let d = env["CUDA_HOME"], !d.isEmpty { dirs.append(d + "/lib64") }
        dirs.append("/usr/local/cuda/lib64")
        let versioned = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/local")) ?? [])
            .filter { $0.hasPrefix("cuda-") }
            .sorted { $0.compare($1, options: .numeric) == .orderedDescending }
        for v in versioned { dirs.append("/usr/local/\(v)/targets/x86_64-linux/lib") }
        return dirs
    }

    /// dlopen of the first name found: each folder × name, then the bare names (loader path).
    /// `override`: a file, or a folder holding one of `names`, tried first (e.g. `$GR_NCCL_LIB`).
    static func open(_ what: String, names: [String], dirs: [String],
                     override: String? = nil) throws -> (UnsafeMutableRawPointer, String) {
        var tried: [String] = []
        var candidates: [String] = []
        if let o = override, !o.isEmpty {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: o, isDirectory: &isDir), isDir.boolValue {
                for n in names { candidates.append(o + "/" + n) }
            } else {
                candidates.append(o)
            }
        }
        for d in dirs { for n in names { candidates.append(d + "/" + n) } }
        candidates += names
        for path in candidates {
            if path.hasPrefix("/") && !FileManager.default.fileExists(atPath: path) {
                tried.append("\(path) (absent)")
                continue
            }
            if let h = dlopen(path, RTLD_NOW | RTLD_GLOBAL) { return (h, path) }
            let err = dlerror().map { String(cString: $0) } ?? "unknown error"
            tried.append("\(path) (\(err))")
        }
        throw CUDAError.libraryNotFound(library: what, tried: tried)
    }

    /// A typed function pointer for `symbol` of `library`.
    static func symbol<T>(_ handle: UnsafeMutableRawPointer, _ library: String, _ symbol: String, as: T.Type) throws -> T {
        guard let p = dlsym(handle, symbol) else { throw CUDAError.symbolMissing(library: library, symbol: symbol) }
        return unsafeBitCast(p, to: T.self)
    }
}
