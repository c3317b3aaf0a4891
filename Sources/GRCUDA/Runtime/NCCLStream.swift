/// The communication stream of an overlapping `NCCLCommunicator`: a second CUDA stream of the
/// backend's context on which the gradient all-reduces run while the compute stream goes on with
/// the backward, ordered against the compute stream by two events (driver API, `cuda.h`):
///
/// * `waitForCompute()`: `cuEventRecord(computeMark, computeStream)` then
///   `cuStreamWaitEvent(commStream, computeMark, 0)`: what is queued next on this stream starts
///   only after everything queued so far on the compute stream (the kernels that wrote the
///   bucket's gradients, and its scaling). A wait captures the event's latest record at the time
///   of the call, so one event serves every bucket.
/// * `computeWaits()`: `cuEventRecord(commMark, commStream)` then
///   `cuStreamWaitEvent(computeStream, commMark, 0)`: the optimizer step (and everything else
///   queued later on the compute stream) starts only after the queued all-reduces.
///
/// The stream is created non-blocking (`CU_STREAM_NON_BLOCKING`: no implicit order with the legacy
/// NULL stream) at the context's greatest priority (`cuCtxGetStreamPriorityRange`), so the NCCL
/// kernels are scheduled ahead of the backward's kernels when both are ready; events are created
/// with `CU_EVENT_DISABLE_TIMING` (the cheap kind for stream waits). The entry points are resolved
/// here with `dlsym` from the already loaded libcuda, so the other users of `CUDADriverAPI` do not
/// need them.
final class NCCLStream {
    typealias FStreamCreateWithPriority = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UInt32, Int32) -> CUresult
    typealias FCtxGetStreamPriorityRange = @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> CUresult
    typealias FEventCreate = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UInt32) -> CUresult
    typealias FEventRecord = @convention(c) (OpaquePointer?, OpaquePointer?) -> CUresult
    typealias FStreamWaitEvent = @convention(c) (OpaquePointer?, OpaquePointer?, UInt32) -> CUresult
    typealias FDestroy = @convention(c) (OpaquePointer?) -> CUresult

    /// `CU_STREAM_NON_BLOCKING`, `CU_EVENT_DISABLE_TIMING`, `CU_EVENT_WAIT_DEFAULT` (cuda.h).
    static let streamNonBlocking: UInt32 = 0x1
    static let eventDisableTiming: UInt32 = 0x2
    static let eventWaitDefault: UInt32 = 0x0

    let context: CUDAContext
    /// The communication stream (a `CUstream`).
    let stream: OpaquePointer?
    /// Where the stream was created: "priority -5 (greatest)" etc., for the log.
    let describe: String
    private let computeMark: OpaquePointer?
    private let commMark: OpaquePointer?
    private let eventRecord: FEventRecord
    private let streamWaitEvent: FStreamWaitEvent
    private let eventDestroy: FDestroy
    private let streamDestroy: FDestroy

    init(context: CUDAContext) throws {
        self.context = context
        let h = context.libraries.driver
        func s<T>(_ name: String, _ t: T.Type) throws -> T { try CUDALibraries.symbol(h, "libcuda", name, as: t) }
        let createWithPriority = try s("cuStreamCreateWithPriority", FStreamCreateWithPriority.self)
        let priorityRange = try s("cuCtxGetStreamPriorityRange", FCtxGetStreamPriorityRange.self)
        let eventCreate = try s("cuEventCreate", FEventCreate.self)
        eventRecord = try s("cuEventRecord", FEventRecord.self)
        streamWaitEvent = try s("cuStreamWaitEvent", FStreamWaitEvent.self)
        eventDestroy = try s("cuEventDestroy_v2", FDestroy.self)
        streamDestroy = try s("cuStreamDestroy_v2", FDestroy.self)
        let cu = context.cu
        context.makeCurrent()
        var least: Int32 = 0, greatest: Int32 = 0
        try cu.check(priorityRange(&least, &greatest), "cuCtxGetStreamPriorityRange")
        var st: OpaquePointer? = nil
        try cu.check(createWithPriority(&st, Self.streamNonBlocking, greatest),
                     "cuStreamCreateWithPriority(CU_STREAM_NON_BLOCKING, \(greatest))")
        stream = st
        describe = "communication stream at priority \(greatest) (range \(least)…\(greatest))"
        var a: OpaquePointer? = nil, b: OpaquePointer? = nil
        try cu.check(eventCreate(&a, Self.eventDisableTiming), "cuEventCreate(CU_EVENT_DISABLE_TIMING)")
        try cu.check(eventCreate(&b, Self.eventDisableTiming), "cuEventCreate(CU_EVENT_DISABLE_TIMING)")
        computeMark = a
        commMark = b
    }

    deinit {
        _ = eventDestroy(computeMark)
        _ = eventDestroy(commMark)
        _ = streamDestroy(stream)
    }

    /// Work queued next on the communication stream waits for all work queued so far on the
    /// compute stream (no host wait).
    func waitForCompute() throws {
        context.makeCurrent()
        try context.cu.check(eventRecord(computeMark, context.stream), "cuEventRecord(compute stream)")
        try context.cu.check(streamWaitEvent(stream, computeMark, Self.eventWaitDefault), "cuStreamWaitEvent(communication stream)")
    }

    /// Work queued next on the compute stream waits for all work queued so far on the
    /// communication stream (no host wait).
    func computeWaits() throws {
        context.makeCurrent()
        try context.cu.check(eventRecord(commMark, stream), "cuEventRecord(communication stream)")
        try context.cu.check(streamWaitEvent(context.stream, commMark, Self.eventWaitDefault), "cuStreamWaitEvent(compute stream)")
    }
}
