import Foundation

/// Driver entry points the tensor-core attention and its benchmark use beyond `CUDADriverAPI`:
/// the kernel attributes (dynamic shared memory over 48 KB, registers and spills) and events
/// (GPU time). Resolved with `dlsym` from the loaded driver; each is optional, so that the host
/// emulator (which has none of them) still runs the kernels. Also remembers which kernels have
/// had their shared-memory limit raised.
final class CUDAAttentionDriver {
    typealias FFuncSetAttribute = @convention(c) (OpaquePointer?, Int32, Int32) -> CUresult
    typealias FFuncGetAttribute = @convention(c) (UnsafeMutablePointer<Int32>, Int32, OpaquePointer?) -> CUresult
    typealias FEventCreate = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UInt32) -> CUresult
    typealias FEventRecord = @convention(c) (OpaquePointer?, OpaquePointer?) -> CUresult
    typealias FEventSynchronize = @convention(c) (OpaquePointer?) -> CUresult
    typealias FEventElapsedTime = @convention(c) (UnsafeMutablePointer<Float>, OpaquePointer?, OpaquePointer?) -> CUresult
    typealias FEventDestroy = @convention(c) (OpaquePointer?) -> CUresult

    let cuFuncSetAttribute: FFuncSetAttribute?
    let cuFuncGetAttribute: FFuncGetAttribute?
    let cuEventCreate: FEventCreate?
    let cuEventRecord: FEventRecord?
    let cuEventSynchronize: FEventSynchronize?
    let cuEventElapsedTime: FEventElapsedTime?
    let cuEventDestroy: FEventDestroy?
    var prepared: Set<String> = []

    init(_ context: CUDAContext) {
        let h = context.libraries.driver
        func sym<T>(_ names: [String], _: T.Type) -> T? {
            for n in names { if let p = dlsym(h, n) { return unsafeBitCast(p, to: T.self) } }
            return nil
        }
        cuFuncSetAttribute = sym(["cuFuncSetAttribute"], FFuncSetAttribute.self)
        cuFuncGetAttribute = sym(["cuFuncGetAttribute"], FFuncGetAttribute.self)
        cuEventCreate = sym(["cuEventCreate"], FEventCreate.self)
        cuEventRecord = sym(["cuEventRecord"], FEventRecord.self)
        cuEventSynchronize = sym(["cuEventSynchronize"], FEventSynchronize.self)
        cuEventElapsedTime = sym(["cuEventElapsedTime_v2", "cuEventElapsedTime"], FEventElapsedTime.self)
        cuEventDestroy = sym(["cuEventDestroy_v2", "cuEventDestroy"], FEventDestroy.self)
    }
}

extension CUDABackend {
    /// GPU milliseconds of `body` (queued on the backend's stream) measured with two events, or
    /// nil where the driver has no events (then callers fall back to a host clock).
    public func gpuMilliseconds(_ body: () -> Void) -> Double? {
        let d = attentionDriver
        guard let create = d.cuEventCreate, let record = d.cuEventRecord, let sync = d.cuEventSynchronize,
              let elapsed = d.cuEventElapsedTime else { return nil }
        context.makeCurrent()
        var start: OpaquePointer? = nil, stop: OpaquePointer? = nil
        context.cu.must(create(&start, 0), "cuEventCreate")
        context.cu.must(create(&stop, 0), "cuEventCreate")
        context.cu.must(record(start, context.stream), "cuEventRecord")
        body()
        context.cu.must(record(stop, context.stream), "cuEventRecord")
        context.cu.must(sync(stop), "cuEventSynchronize")
        var ms: Float = 0
        context.cu.must(elapsed(&ms, start, stop), "cuEventElapsedTime")
        if let destroy = d.cuEventDestroy { _ = destroy(start); _ = destroy(stop) }
        return Double(ms)
    }
}
