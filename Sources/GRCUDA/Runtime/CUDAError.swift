/// Failures of the CUDA backend, each naming the library call or the file that failed.
public enum CUDAError: Error, CustomStringConvertible {
    /// A shared library could not be opened; `tried` lists every path attempted with dlerror's text.
    case libraryNotFound(library: String, tried: [String])
    /// A symbol is missing from a loaded library.
    case symbolMissing(library: String, symbol: String)
    /// A driver API call returned an error (CUresult ≠ CUDA_SUCCESS).
    case driver(call: String, code: Int32, name: String, message: String)
    /// An NVRTC call failed; `log` holds the compiler log when there is one.
    case nvrtc(call: String, code: Int32, message: String, log: String)
    /// A cuBLASLt call returned a status ≠ CUBLAS_STATUS_SUCCESS.
    case cublas(call: String, status: Int32)
    /// No CUDA device is present although the driver loaded.
    case noDevice
    /// An NCCL call returned ncclResult_t ≠ ncclSuccess: ncclGetErrorString's text and
    /// ncclGetLastError's detail.
    case nccl(call: String, code: Int32, message: String, detail: String)
    /// A kernel name is not in the compiled module.
    case kernelMissing(String)
    /// A captured CUDA graph lacks work queued during its capture (`CUDAGraph.missingWork`).
    case graphIncomplete(String)

    public var description: String {
        switch self {
        case let .libraryNotFound(library, tried):
            return "CUDA: could not load \(library); tried:\n  " + tried.joined(separator: "\n  ")
        case let .symbolMissing(library, symbol):
            return "CUDA: symbol \(symbol) missing from \(library)"
        case let .driver(call, code, name, message):
            return "CUDA driver call \(call) failed: \(name) (\(code)): \(message)"
        case let .nvrtc(call, code, message, log):
            return "NVRTC call \(call) failed (\(code)): \(message)" + (log.isEmpty ? "" : "\n\(log)")
        case let .cublas(call, status):
            return "cuBLASLt call \(call) failed with status \(status)"
        case let .nccl(call, code, message, detail):
            return "NCCL call \(call) failed: \(message) (\(code))" + (detail.isEmpty ? "" : ": \(detail)")
        case .noDevice:
            return "CUDA: the driver loaded but reports no device"
        case let .kernelMissing(name):
            return "CUDA: kernel \(name) not found in the compiled module"
        case let .graphIncomplete(why):
            return "CUDA graph capture: \(why)"
        }
    }
}
