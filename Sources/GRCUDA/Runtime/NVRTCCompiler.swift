import Foundation

/// NVRTC entry points (`nvrtc.h`) and the kernel compiler with its on-disk cache.
struct NVRTCAPI {
    typealias FCreate = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UnsafePointer<CChar>, UnsafePointer<CChar>?,
                                        Int32, UnsafePointer<UnsafePointer<CChar>?>?,
                                        UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    typealias FCompile = @convention(c) (OpaquePointer?, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    typealias FGetSize = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> Int32
    typealias FGetData = @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> Int32
    typealias FDestroy = @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Int32
    typealias FErrorString = @convention(c) (Int32) -> UnsafePointer<CChar>?
    typealias FVersion = @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Int32

    let nvrtcCreateProgram: FCreate
    let nvrtcCompileProgram: FCompile
    let nvrtcGetProgramLogSize: FGetSize
    let nvrtcGetProgramLog: FGetData
    let nvrtcGetCUBINSize: FGetSize
    let nvrtcGetCUBIN: FGetData
    let nvrtcDestroyProgram: FDestroy
    let nvrtcGetErrorString: FErrorString
    let nvrtcVersion: FVersion

    init(_ h: UnsafeMutableRawPointer) throws {
        func s<T>(_ name: String, _ t: T.Type) throws -> T { try CUDALibraries.symbol(h, "NVRTC", name, as: t) }
        nvrtcCreateProgram = try s("nvrtcCreateProgram", FCreate.self)
        nvrtcCompileProgram = try s("nvrtcCompileProgram", FCompile.self)
        nvrtcGetProgramLogSize = try s("nvrtcGetProgramLogSize", FGetSize.self)
        nvrtcGetProgramLog = try s("nvrtcGetProgramLog", FGetData.self)
        nvrtcGetCUBINSize = try s("nvrtcGetCUBINSize", FGetSize.self)
        nvrtcGetCUBIN = try s("nvrtcGetCUBIN", FGetData.self)
        nvrtcDestroyProgram = try s("nvrtcDestroyProgram", FDestroy.self)
        nvrtcGetErrorString = try s("nvrtcGetErrorString", FErrorString.self)
        nvrtcVersion = try s("nvrtcVersion", FVersion.self)
    }

    func check(_ r: Int32, _ call: String, log: String = "") throws {
        guard r != 0 else { return }
        let msg = nvrtcGetErrorString(r).map { String(cString: $0) } ?? "?"
        throw CUDAError.nvrtc(call: call, code: r, message: msg, log: log)
    }

    var version: String {
        var major: Int32 = 0, minor: Int32 = 0
        _ = nvrtcVersion(&major, &minor)
        return "\(major).\(minor)"
    }

    /// Compiles `source` to a cubin for `arch` (e.g. "sm_90"), or returns the cached cubin.
    /// Cache: `$GR_CUDA_CACHE` or `~/.cache/gr/cuda`, file `<fnv1a64(source, options, arch, nvrtc version)>.cubin`,
    /// written atomically (temporary name, then rename). NVRTC optimises by default (it rejects -O3).
    func compile(source: String, name: String, arch: String) throws -> (cubin: [UInt8], cached: Bool) {
        let options = ["--gpu-architecture=\(arch)", "--std=c++17", "-default-device"]
        let key = FNV1a64.hash([source, options.joined(separator: " "), arch, version].joined(separator: "\u{0}"))
        let dir = Self.cacheDirectory()
        let path = dir + "/" + String(format: "%016llx", key) + ".cubin"
        if let data = FileManager.default.contents(atPath: path), !data.isEmpty { return ([UInt8](data), true) }

        var prog: OpaquePointer? = nil
        try check(nvrtcCreateProgram(&prog, source, name, 0, nil, nil), "nvrtcCreateProgram")
        defer { _ = nvrtcDestroyProgram(&prog) }
        let cOptions = options.map { strdup($0) }
        defer { cOptions.forEach { free($0) } }
        var optionPointers = cOptions.map { UnsafePointer<CChar>($0) }
        let r = optionPointers.withUnsafeMutableBufferPointer {
            nvrtcCompileProgram(prog, Int32($0.count), $0.baseAddress)
        }
        var logSize = 0
        _ = nvrtcGetProgramLogSize(prog, &logSize)
        var logBytes = [CChar](repeating: 0, count: max(logSize, 1))
        if logSize > 1 { _ = nvrtcGetProgramLog(prog, &logBytes) }
        let log = String(cString: logBytes)
        try check(r, "nvrtcCompileProgram(\(name), \(options.joined(separator: " ")))", log: log)
        var size = 0
        try check(nvrtcGetCUBINSize(prog, &size), "nvrtcGetCUBINSize")
        var bytes = [CChar](repeating: 0, count: size)
        try check(nvrtcGetCUBIN(prog, &bytes), "nvrtcGetCUBIN")
        let cubin = bytes.map { UInt8(bitPattern: $0) }
        // A cache failure (read-only home, full disk) is not an error: the next run compiles again.
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tmp = path + ".tmp.\(getpid())"
        if FileManager.default.createFile(atPath: tmp, contents: Data(cubin)) {
            if rename(tmp, path) != 0 { unlink(tmp) }
        }
        return (cubin, false)
    }

    static func cacheDirectory() -> String {
        let env = ProcessInfo.processInfo.environment
        if let d = env["GR_CUDA_CACHE"], !d.isEmpty { return d }
        let home = env["HOME"] ?? NSTemporaryDirectory()
        return home + "/.cache/gr/cuda"
    }
}

/// 64-bit FNV-1a over UTF-8 bytes (the cache key of compiled kernels).
enum FNV1a64 {
    static func hash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }
}
