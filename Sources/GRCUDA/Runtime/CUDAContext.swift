import Foundation
import GRCore

/// One CUDA device in use: the driver's primary context (shared with cuBLASLt's runtime), one
/// stream on which every copy, kernel and GEMM is queued in order, a caching allocator, and the
/// kernel module compiled by NVRTC from the embedded sources.
///
/// Memory: allocations are rounded up to a power of two (≥ 256 bytes) and freed blocks go back
/// to a per-size free list instead of `cuMemFree`. Reusing a block right away is safe because all
/// work runs on the one stream in submission order.
public final class CUDAContext: @unchecked Sendable {
    public let libraries: CUDALibraries
    let cu: CUDADriverAPI
    let nvrtc: NVRTCAPI
    let lt: CUBLASLtAPI
    let device: Int32
    let context: OpaquePointer?
    let stream: OpaquePointer?
    public let deviceName: String
    public let computeCapability: (major: Int, minor: Int)
    public let multiprocessors: Int
    /// The most dynamic shared memory one block may opt into (`cuFuncSetAttribute`), in bytes.
    public let sharedBytesPerBlockOptin: Int
    public let totalMemory: Int
    public let driverVersion: Int
    private var module: OpaquePointer? = nil
    private var functions: [String: OpaquePointer] = [:]
    /// Free blocks by size, and the blocks CUDA graphs own (`BlockCache`, `CUDAGraph.swift`).
    var cache = BlockCache()
    let lock = NSLock()
    /// Bytes currently handed out / the most ever handed out / held from the driver.
    public private(set) var bytesInUse = 0, peakBytesInUse = 0, bytesReserved = 0
    /// How the kernel module was obtained ("compiled in 1.23 s" or "from cache ...").
    public private(set) var moduleOrigin = ""
    /// Counters of stream work and host waits (always on: plain integer increments).
    public var stats = CUDAStats()
    /// Per-kernel wall time (`GR_CUDA_PROFILE=1`): every launch and GEMM is followed by a stream
    /// synchronisation and timed on the host. Slows everything down; for finding hot kernels only.
    public let kernelProfile: CUDAKernelProfile? = CUDAKernelProfile.fromEnvironment()
    /// CUDA graph entry points (nil: the driver lacks them, `graphAPIMissing` says which).
    let graphAPI: CUDAGraphAPI?
    let graphAPIMissing: String
    /// True while the stream captures a graph (`capture`): host waits are refused then.
    var capturing = false
    var nextGraphID = 1

    /// Loads the libraries, initialises the driver, takes device `ordinal`'s primary context and
    /// creates a stream. Throws a `CUDAError` naming the failing call.
    public init(ordinal: Int = 0) throws {
        libraries = try CUDALibraries()
        cu = try CUDADriverAPI(libraries.driver)
        nvrtc = try NVRTCAPI(libraries.nvrtc)
        lt = try CUBLASLtAPI(libraries.cublasLt)
        try cu.check(cu.cuInit(0), "cuInit")
        var version: Int32 = 0
        try cu.check(cu.cuDriverGetVersion(&version), "cuDriverGetVersion")
        driverVersion = Int(version)
        var count: Int32 = 0
        try cu.check(cu.cuDeviceGetCount(&count), "cuDeviceGetCount")
        guard count > ordinal else { throw CUDAError.noDevice }
        var dev: Int32 = 0
        try cu.check(cu.cuDeviceGet(&dev, Int32(ordinal)), "cuDeviceGet")
        device = dev
        var nameBytes = [CChar](repeating: 0, count: 256)
        try cu.check(cu.cuDeviceGetName(&nameBytes, 255, dev), "cuDeviceGetName")
        deviceName = String(cString: nameBytes)
        var major: Int32 = 0, minor: Int32 = 0, sms: Int32 = 0, optin: Int32 = 0
        try cu.check(cu.cuDeviceGetAttribute(&major, CUDeviceAttribute.computeCapabilityMajor, dev), "cuDeviceGetAttribute(major)")
        try cu.check(cu.cuDeviceGetAttribute(&minor, CUDeviceAttribute.computeCapabilityMinor, dev), "cuDeviceGetAttribute(minor)")
        try cu.check(cu.cuDeviceGetAttribute(&sms, CUDeviceAttribute.multiprocessorCount, dev), "cuDeviceGetAttribute(SMs)")
        computeCapability = (Int(major), Int(minor))
        multiprocessors = Int(sms)
        try cu.check(cu.cuDeviceGetAttribute(&optin, CUDeviceAttribute.maxSharedMemoryPerBlockOptin, dev),
                     "cuDeviceGetAttribute(max shared memory per block, opt-in)")
        sharedBytesPerBlockOptin = Int(optin)
        var total = 0
        try cu.check(cu.cuDeviceTotalMem(&total, dev), "cuDeviceTotalMem_v2")
        totalMemory = total
        var ctx: OpaquePointer? = nil
        try cu.check(cu.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain")
        context = ctx
        try cu.check(cu.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
        var s: OpaquePointer? = nil
        try cu.check(cu.cuStreamCreate(&s, 0), "cuStreamCreate")
        stream = s
        (graphAPI, graphAPIMissing) = CUDAGraphAPI.load(libraries.driver)
    }

    /// "sm_90" for compute capability 9.0.
    public var arch: String { "sm_\(computeCapability.major)\(computeCapability.minor)" }

    /// The architecture NVRTC compiles the module for: `arch`, but "sm_90a" for compute capability 9.0
    /// (the arch-specific features, `wgmma`, that AttentionWGMMA.cu uses; the cubin then runs on sm_90 only).
    public var compileArch: String { arch == "sm_90" ? "sm_90a" : arch }

    public var describe: String {
        let gib = Double(totalMemory) / Double(1 << 30)
        return "\(deviceName) (\(arch), \(multiprocessors) SMs, \(String(format: "%.0f", gib)) GiB, driver \(driverVersion)); "
            + "NVRTC \(nvrtc.version), cuBLASLt \(lt.cublasLtGetVersion()); loaded \(libraries.describe)"
    }

    /// Makes the context current on the calling thread (cheap; the CLI may call from any thread).
    func makeCurrent() {
        var cur: OpaquePointer? = nil
        _ = cu.cuCtxGetCurrent(&cur)
        if cur != context { cu.must(cu.cuCtxSetCurrent(context), "cuCtxSetCurrent") }
    }

    // MARK: kernels

    /// Compiles (or loads from the cache) the kernel module from `source`.
    func loadModule(source: String) throws {
        makeCurrent()
        let start = Date()
        let (cubin, cached) = try nvrtc.compile(source: source, name: "gr_kernels.cu", arch: compileArch)
        var m: OpaquePointer? = nil
        try cubin.withUnsafeBytes { try cu.check(cu.cuModuleLoadData(&m, $0.baseAddress), "cuModuleLoadData") }
        module = m
        moduleOrigin = cached ? "from cache \(NVRTCAPI.cacheDirectory())"
                              : String(format: "compiled by NVRTC in %.2f s", Date().timeIntervalSince(start))
    }

    func function(_ name: String) -> OpaquePointer {
        if let f = functions[name] { return f }
        var f: OpaquePointer? = nil
        cu.must(cu.cuModuleGetFunction(&f, module, name), "cuModuleGetFunction(\(name))")
        functions[name] = f!
        return f!
    }

    /// Queues kernel `name` on the stream. Every argument is an 8-byte slot (pointers, `long long`;
    /// a `float` parameter reads the low 4 bytes, little-endian).
    func launch(_ name: String, grid: (Int, Int, Int), block: Int, shared: Int = 0, _ args: [KernelArg]) {
        if grid.0 == 0 || grid.1 == 0 || grid.2 == 0 { return }
        makeCurrent()
        let start = profileStart
        let f = function(name)
        var slots = args.map { $0.bits }
        slots.withUnsafeMutableBufferPointer { buf in
            var ptrs: [UnsafeMutableRawPointer?] = (0..<buf.count).map { UnsafeMutableRawPointer(buf.baseAddress! + $0) }
            let r = ptrs.withUnsafeMutableBufferPointer { p in
                cu.cuLaunchKernel(f, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2), UInt32(block), 1, 1, UInt32(shared),
                                  stream, p.baseAddress, nil)
            }
            cu.must(r, "cuLaunchKernel(\(name), grid \(grid), block \(block))")
        }
        stats.launches += 1
        kernelProfile?.record(name, context: self, start: start)
    }

    /// Host time before a launch when kernels are profiled (after waiting for earlier work).
    var profileStart: Double {
        guard kernelProfile != nil else { return 0 }
        synchronize()
        return CUDAKernelProfile.now()
    }

    func launch(_ name: String, blocks: Int, block: Int = 256, shared: Int = 0, _ args: [KernelArg]) {
        launch(name, grid: (blocks, 1, 1), block: block, shared: shared, args)
    }

    // MARK: memory

    static func roundedSize(_ bytes: Int) -> Int {
        var s = 256
        while s < bytes { s <<= 1 }
        return s
    }

    /// A device block of at least `byteCount` bytes (contents undefined).
    func allocate(byteCount: Int) -> Storage {
        makeCurrent()
        let size = Self.roundedSize(max(byteCount, 1))
        lock.lock()
        var ptr: CUdeviceptr = cache.take(size) ?? 0
        lock.unlock()
        if ptr == 0 {
            var p: CUdeviceptr = 0
            var r = cu.cuMemAlloc(&p, size)
            if r != 0 {   // out of memory: give the cached blocks back and try once more
                releaseCached()
                r = cu.cuMemAlloc(&p, size)
            }
            cu.must(r, "cuMemAlloc_v2(\(size) bytes)")
            ptr = p
            lock.lock(); bytesReserved += size; cache.handedOut(p, size: size); lock.unlock()
        }
        lock.lock()
        bytesInUse += size
        peakBytesInUse = max(peakBytesInUse, bytesInUse)
        lock.unlock()
        return Storage(address: UnsafeMutableRawPointer(bitPattern: UInt(ptr))!, byteCount: byteCount, device: .cuda) {
            [weak self] address in
            guard let self else { return }
            self.lock.lock()
            self.cache.release(CUdeviceptr(UInt(bitPattern: address)), size: size)
            self.bytesInUse -= size
            self.lock.unlock()
        }
    }

    /// Frees every cached block (after waiting for the stream).
    func releaseCached() {
        synchronize()
        lock.lock()
        for (size, list) in cache.takeShared() {
            for p in list { _ = cu.cuMemFree(p); bytesReserved -= size }
        }
        lock.unlock()
    }

    func synchronize() {
        precondition(!capturing, "CUDA graphs: a host wait (download or stream synchronisation) inside a graph capture; "
                     + "the captured step must queue work only")
        makeCurrent()
        stats.syncs += 1
        cu.must(cu.cuStreamSynchronize(stream), "cuStreamSynchronize")
    }

    /// Queues a host → device copy. `src` may be reused as soon as this returns: copies of up to
    /// `stagingBytes` go through a pinned staging ring (memcpy there, then a truly asynchronous
    /// DMA, so the host does not wait for the stream); the ring wraps around after a stream
    /// synchronisation (once per `stagingBytes` of uploads). Larger copies are pageable copies.
    func copyToDevice(_ dst: CUdeviceptr, _ src: UnsafeRawPointer, _ bytes: Int) {
        if bytes == 0 { return }
        makeCurrent()
        stats.uploads += 1
        stats.uploadBytes += bytes
        if bytes <= Self.stagingBytes, let ring = stagingRing() {
            lock.lock()
            let aligned = (bytes + 255) & ~255
            if stagingOffset + aligned > Self.stagingBytes {
                precondition(!capturing, "CUDA graphs: the pinned upload ring wrapped inside a graph capture")
                lock.unlock()
                synchronize()   // every earlier DMA out of the ring has finished
                lock.lock()
                stagingOffset = 0
            }
            let slot = ring + stagingOffset
            stagingOffset += aligned
            lock.unlock()
            slot.copyMemory(from: src, byteCount: bytes)
            cu.must(cu.cuMemcpyHtoDAsync(dst, slot, bytes, stream), "cuMemcpyHtoDAsync_v2(\(bytes) bytes, pinned)")
            return
        }
        precondition(!capturing, "CUDA graphs: a pageable upload of \(bytes) bytes inside a graph capture")
        cu.must(cu.cuMemcpyHtoDAsync(dst, src, bytes, stream), "cuMemcpyHtoDAsync_v2(\(bytes) bytes)")
    }

    /// Bytes of the pinned upload staging ring.
    static let stagingBytes = 32 << 20
    private var staging: UnsafeMutableRawPointer? = nil
    private var stagingFailed = false
    private var stagingOffset = 0

    /// Waits for the stream and starts the upload ring over (before a capture: a captured upload
    /// reads its ring slot at every replay, so the capture must not wrap the ring).
    func rewindStagingRing() {
        synchronize()
        lock.lock(); stagingOffset = 0; lock.unlock()
    }

    /// The pinned ring, allocated on first use (nil when the driver refuses: pageable copies then).
    private func stagingRing() -> UnsafeMutableRawPointer? {
        if let s = staging { return s }
        if stagingFailed { return nil }
        var p: UnsafeMutableRawPointer? = nil
        if cu.cuMemHostAlloc(&p, Self.stagingBytes, 0) == 0, let p { staging = p } else { stagingFailed = true }
        return staging
    }

    /// Synchronous: waits for the stream, so `dst` holds the data on return.
    func copyToHost(_ dst: UnsafeMutableRawPointer, _ src: CUdeviceptr, _ bytes: Int) {
        if bytes == 0 { return }
        precondition(!capturing, "CUDA graphs: a download (\(bytes) bytes) inside a graph capture")
        makeCurrent()
        stats.downloads += 1
        stats.downloadBytes += bytes
        stats.syncs += 1
        cu.must(cu.cuMemcpyDtoHAsync(dst, src, bytes, stream), "cuMemcpyDtoHAsync_v2(\(bytes) bytes)")
        cu.must(cu.cuStreamSynchronize(stream), "cuStreamSynchronize")
    }

    func copyOnDevice(_ dst: CUdeviceptr, _ src: CUdeviceptr, _ bytes: Int) {
        if bytes == 0 { return }
        makeCurrent()
        stats.deviceCopies += 1
        cu.must(cu.cuMemcpyDtoDAsync(dst, src, bytes, stream), "cuMemcpyDtoDAsync_v2(\(bytes) bytes)")
    }

    func memset32(_ dst: CUdeviceptr, _ value: UInt32, _ count: Int) {
        if count == 0 { return }
        makeCurrent()
        stats.memsets += 1
        cu.must(cu.cuMemsetD32Async(dst, value, count, stream), "cuMemsetD32Async(\(count) words)")
    }

    /// (free, total) device bytes as the driver sees them.
    public func memoryInfo() -> (free: Int, total: Int) {
        makeCurrent()
        var f = 0, t = 0
        cu.must(cu.cuMemGetInfo(&f, &t), "cuMemGetInfo_v2")
        return (f, t)
    }
}

/// One kernel argument as an 8-byte slot.
struct KernelArg {
    var bits: UInt64
    static func ptr(_ t: Tensor) -> KernelArg { KernelArg(bits: t.devicePointer) }
    static func ptr(_ t: Tensor?) -> KernelArg { KernelArg(bits: t?.devicePointer ?? 0) }
    static func i(_ v: Int) -> KernelArg { KernelArg(bits: UInt64(bitPattern: Int64(v))) }
    static func u(_ v: UInt64) -> KernelArg { KernelArg(bits: v) }
    static func f(_ v: Float) -> KernelArg { KernelArg(bits: UInt64(v.bitPattern)) }
}

extension Tensor {
    /// The device address of the first element (CUDA tensors only).
    var devicePointer: UInt64 {
        precondition(device == .cuda, "CUDA backend: tensor \(shape) \(dtype) lives on \(device), not the GPU")
        return UInt64(UInt(bitPattern: rawPointer))
    }
}
