/// The driver API entry points used by the backend (`cuda.h`, CUDA 12/13 ABI), as C function
/// pointer types resolved with `dlsym`. Handles are opaque pointers, `CUdeviceptr` is UInt64,
/// `CUresult` is Int32 (0 = CUDA_SUCCESS).
typealias CUresult = Int32
typealias CUdeviceptr = UInt64

struct CUDADriverAPI {
    typealias FInit = @convention(c) (UInt32) -> CUresult
    typealias FDriverGetVersion = @convention(c) (UnsafeMutablePointer<Int32>) -> CUresult
    typealias FDeviceGetCount = @convention(c) (UnsafeMutablePointer<Int32>) -> CUresult
    typealias FDeviceGet = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> CUresult
    typealias FDeviceGetName = @convention(c) (UnsafeMutablePointer<CChar>, Int32, Int32) -> CUresult
    typealias FDeviceGetAttribute = @convention(c) (UnsafeMutablePointer<Int32>, Int32, Int32) -> CUresult
    typealias FDeviceTotalMem = @convention(c) (UnsafeMutablePointer<Int>, Int32) -> CUresult
    typealias FPrimaryCtxRetain = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, Int32) -> CUresult
    typealias FCtxSetCurrent = @convention(c) (OpaquePointer?) -> CUresult
    typealias FCtxGetCurrent = @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> CUresult
    typealias FStreamCreate = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UInt32) -> CUresult
    typealias FStreamSynchronize = @convention(c) (OpaquePointer?) -> CUresult
    typealias FMemAlloc = @convention(c) (UnsafeMutablePointer<CUdeviceptr>, Int) -> CUresult
    typealias FMemFree = @convention(c) (CUdeviceptr) -> CUresult
    typealias FMemGetInfo = @convention(c) (UnsafeMutablePointer<Int>, UnsafeMutablePointer<Int>) -> CUresult
    typealias FMemcpyHtoDAsync = @convention(c) (CUdeviceptr, UnsafeRawPointer?, Int, OpaquePointer?) -> CUresult
    typealias FMemcpyDtoHAsync = @convention(c) (UnsafeMutableRawPointer?, CUdeviceptr, Int, OpaquePointer?) -> CUresult
    typealias FMemcpyDtoDAsync = @convention(c) (CUdeviceptr, CUdeviceptr, Int, OpaquePointer?) -> CUresult
    typealias FMemsetD32Async = @convention(c) (CUdeviceptr, UInt32, Int, OpaquePointer?) -> CUresult
    typealias FModuleLoadData = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UnsafeRawPointer?) -> CUresult
    typealias FModuleGetFunction = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, OpaquePointer?,
                                                   UnsafePointer<CChar>) -> CUresult
    typealias FLaunchKernel = @convention(c) (OpaquePointer?, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32,
                                              OpaquePointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                                              UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> CUresult
    typealias FMemHostAlloc = @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>, Int, UInt32) -> CUresult
    typealias FGetErrorString = @convention(c) (CUresult, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> CUresult

    let cuInit: FInit
    let cuDriverGetVersion: FDriverGetVersion
    let cuDeviceGetCount: FDeviceGetCount
    let cuDeviceGet: FDeviceGet
    let cuDeviceGetName: FDeviceGetName
    let cuDeviceGetAttribute: FDeviceGetAttribute
    let cuDeviceTotalMem: FDeviceTotalMem
    let cuDevicePrimaryCtxRetain: FPrimaryCtxRetain
    let cuCtxSetCurrent: FCtxSetCurrent
    let cuCtxGetCurrent: FCtxGetCurrent
    let cuStreamCreate: FStreamCreate
    let cuStreamSynchronize: FStreamSynchronize
    let cuMemAlloc: FMemAlloc
    let cuMemFree: FMemFree
    let cuMemGetInfo: FMemGetInfo
    let cuMemcpyHtoDAsync: FMemcpyHtoDAsync
    let cuMemcpyDtoHAsync: FMemcpyDtoHAsync
    let cuMemcpyDtoDAsync: FMemcpyDtoDAsync
    let cuMemsetD32Async: FMemsetD32Async
    let cuModuleLoadData: FModuleLoadData
    let cuModuleGetFunction: FModuleGetFunction
    let cuLaunchKernel: FLaunchKernel
    let cuMemHostAlloc: FMemHostAlloc
    let cuGetErrorName: FGetErrorString
    let cuGetErrorString: FGetErrorString

    init(_ h: UnsafeMutableRawPointer) throws {
        func s<T>(_ name: String, _ t: T.Type) throws -> T { try CUDALibraries.symbol(h, "libcuda", name, as: t) }
        cuInit = try s("cuInit", FInit.self)
        cuDriverGetVersion = try s("cuDriverGetVersion", FDriverGetVersion.self)
        cuDeviceGetCount = try s("cuDeviceGetCount", FDeviceGetCount.self)
        cuDeviceGet = try s("cuDeviceGet", FDeviceGet.self)
        cuDeviceGetName = try s("cuDeviceGetName", FDeviceGetName.self)
        cuDeviceGetAttribute = try s("cuDeviceGetAttribute", FDeviceGetAttribute.self)
        cuDeviceTotalMem = try s("cuDeviceTotalMem_v2", FDeviceTotalMem.self)
        cuDevicePrimaryCtxRetain = try s("cuDevicePrimaryCtxRetain", FPrimaryCtxRetain.self)
        cuCtxSetCurrent = try s("cuCtxSetCurrent", FCtxSetCurrent.self)
        cuCtxGetCurrent = try s("cuCtxGetCurrent", FCtxGetCurrent.self)
        cuStreamCreate = try s("cuStreamCreate", FStreamCreate.self)
        cuStreamSynchronize = try s("cuStreamSynchronize", FStreamSynchronize.self)
        cuMemAlloc = try s("cuMemAlloc_v2", FMemAlloc.self)
        cuMemFree = try s("cuMemFree_v2", FMemFree.self)
        cuMemGetInfo = try s("cuMemGetInfo_v2", FMemGetInfo.self)
        cuMemcpyHtoDAsync = try s("cuMemcpyHtoDAsync_v2", FMemcpyHtoDAsync.self)
        cuMemcpyDtoHAsync = try s("cuMemcpyDtoHAsync_v2", FMemcpyDtoHAsync.self)
        cuMemcpyDtoDAsync = try s("cuMemcpyDtoDAsync_v2", FMemcpyDtoDAsync.self)
        cuMemsetD32Async = try s("cuMemsetD32Async", FMemsetD32Async.self)
        cuModuleLoadData = try s("cuModuleLoadData", FModuleLoadData.self)
        cuModuleGetFunction = try s("cuModuleGetFunction", FModuleGetFunction.self)
        cuLaunchKernel = try s("cuLaunchKernel", FLaunchKernel.self)
        cuMemHostAlloc = try s("cuMemHostAlloc", FMemHostAlloc.self)
        cuGetErrorName = try s("cuGetErrorName", FGetErrorString.self)
        cuGetErrorString = try s("cuGetErrorString", FGetErrorString.self)
    }

    /// Throws `CUDAError.driver` naming `call` unless `result` is CUDA_SUCCESS.
    func check(_ result: CUresult, _ call: String) throws {
        guard result != 0 else { return }
        var name: UnsafePointer<CChar>? = nil, msg: UnsafePointer<CChar>? = nil
        _ = cuGetErrorName(result, &name)
        _ = cuGetErrorString(result, &msg)
        throw CUDAError.driver(call: call, code: result, name: name.map { String(cString: $0) } ?? "?",
                               message: msg.map { String(cString: $0) } ?? "?")
    }

    /// Like `check` but for calls inside `Backend` methods, which cannot throw: a failure stops
    /// the program with the call's name (an asynchronous kernel fault surfaces here too).
    /// The call's text is built only on failure (an eager string with a tuple costs µs per launch).
    func must(_ result: CUresult, _ call: @autoclosure () -> String) {
        guard result != 0 else { return }
        do { try check(result, call()) } catch { fatalError("\(error)") }
    }
}

/// `CUdevice_attribute` values used (cuda.h).
enum CUDeviceAttribute {
    static let multiprocessorCount: Int32 = 16
    static let computeCapabilityMajor: Int32 = 75
    static let computeCapabilityMinor: Int32 = 76
    static let maxSharedMemoryPerBlockOptin: Int32 = 97
}
