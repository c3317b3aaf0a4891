#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import GRCore
import _GRNCCLShim

/// One rank's NCCL communicator on the CUDA backend's device, with the collectives the
/// data-parallel trainer needs.
///
/// Streams: without `overlap`, collectives are queued on the backend's compute stream, in order
/// with the kernels that produced their inputs. With `overlap` they go to a second, high-priority
/// stream (`NCCLStream`): each call first makes that stream wait for an event recorded on the
/// compute stream (so it reads the gradients as the kernels queued before it left them, while
/// the compute stream goes on with the backward), and `synchronize()` makes the compute stream
/// wait for the communication stream before the host waits, so the optimizer step queued next
/// reads the sums.
///
/// NVLink multicast (NVLS) stays off: `NCCL_NVLS_ENABLE=0` is set in this process's environment
/// before NCCL is first loaded (it can put shared GPUs out of service).
///
/// Several ranks on ONE GPU are refused by NCCL ≥ 2.5 ("Duplicate GPU detected", ncclInvalidUsage);
/// that error is reported as is.
public final class NCCLCommunicator: @unchecked Sendable {
    public let rank: Int
    public let worldSize: Int
    /// Where libnccl.so.2 was loaded from, and its version.
    public let libraryPath: String
    public let version: String
    /// Collectives on a communication stream of their own (see the type's comment).
    public let overlap: Bool
    let api: NCCLAPI
    let context: CUDAContext
    private var comm: OpaquePointer?
    private let side: NCCLStream?

    /// Size of the id the rendezvous passes around (`ncclUniqueId`).
    public static let uniqueIdBytes = NCCLAPI.uniqueIdBytes

    /// Sets NCCL_NVLS_ENABLE=0 (always, overriding any other value) and loads NCCL.
    static func load() throws -> NCCLAPI {
        setenv("NCCL_NVLS_ENABLE", "0", 1)
        return try NCCLAPI()
    }

    /// `ncclGetUniqueId`: the 128 bytes rank 0 publishes to the other ranks (rendezvous).
    public static func makeUniqueId() throws -> [UInt8] {
        let api = try load()
        var id = [UInt8](repeating: 0, count: NCCLAPI.uniqueIdBytes)
        try id.withUnsafeMutableBytes { try api.check(api.ncclGetUniqueId($0.baseAddress!), "ncclGetUniqueId") }
        return id
    }

    /// "libnccl.so.2 <version> from <path>" without creating a communicator.
    public static func describeLibrary() throws -> String {
        let api = try load()
        return "NCCL \(api.versionString()) from \(api.path)"
    }

    /// `ncclCommInitRank` on `backend`'s device (blocks until all `worldSize` ranks have joined).
    /// `overlap`: collectives on a communication stream of their own (created here).
    public init(backend: CUDABackend, rank: Int, worldSize: Int, uniqueId: [UInt8], overlap: Bool = false) throws {
        precondition(uniqueId.count == NCCLAPI.uniqueIdBytes, "NCCL unique id: \(uniqueId.count) bytes, expected 128")
        precondition(rank >= 0 && rank < worldSize, "rank \(rank) outside world \(worldSize)")
        api = try Self.load()
        libraryPath = api.path
        version = api.versionString()
        context = backend.context
        self.rank = rank
        self.worldSize = worldSize
        self.overlap = overlap
        side = try overlap ? NCCLStream(context: backend.context) : nil
        context.makeCurrent()
        var c: UnsafeMutableRawPointer? = nil
        let r = uniqueId.withUnsafeBytes { id in
            gr_nccl_comm_init_rank(api.ncclCommInitRank, &c, Int32(worldSize), id.baseAddress, Int32(rank))
        }
        try api.check(r, "ncclCommInitRank(rank \(rank) of \(worldSize))")
        comm = OpaquePointer(c)
    }

    deinit {
        if let comm { _ = api.ncclCommDestroy(comm) }
    }

    /// Which stream the collectives use, for the log.
    public var streamDescription: String { side?.describe ?? "compute stream" }

    /// In place: floats [offset, offset + count) of the CUDA tensor `t` become their sum over all
    /// ranks, in `bucketFloats`-sized calls grouped into one NCCL group (queued; returns without
    /// waiting).
    public func allReduceSum(_ t: Tensor, offset: Int = 0, count: Int, bucketFloats: Int = Int.max) throws {
        precondition(offset >= 0 && count >= 0 && offset + count <= t.count, "allReduceSum: range outside \(t.shape)")
        let bucket = max(1, bucketFloats)
        try allReduceSum(t, ranges: stride(from: offset, to: offset + count, by: bucket).map { $0..<min($0 + bucket, offset + count) })
    }

    /// In place: the floats of the CUDA tensor `t` in `ranges` become their sum over all ranks,
    /// one `ncclAllReduce` (f32, sum) per range in one NCCL group, queued after all work queued so
    /// far on the compute stream (with `overlap`: through an event; returns without waiting).
    public func allReduceSum(_ t: Tensor, ranges: [Range<Int>]) throws {
        precondition(t.dtype == .f32 && ranges.allSatisfy { $0.lowerBound >= 0 && $0.upperBound <= t.count },
                     "allReduceSum: range outside \(t.shape)")
        let ranges = ranges.filter { !$0.isEmpty }
        guard !ranges.isEmpty else { return }
        context.makeCurrent()
        try side?.waitForCompute()
        let stream = side?.stream ?? context.stream
        let base = t.devicePointer
        try api.check(api.ncclGroupStart(), "ncclGroupStart")
        var failure: Error? = nil
        for r in ranges where failure == nil {
            let p = UnsafeMutableRawPointer(bitPattern: UInt(base) + UInt(r.lowerBound * 4))
            do {
                try api.check(api.ncclAllReduce(p, p, r.count, NCCLAPI.float32, NCCLAPI.sum, comm, stream),
                              "ncclAllReduce(\(r.count) floats at \(r.lowerBound))", comm: comm)
            } catch { failure = error }
        }
        try api.check(api.ncclGroupEnd(), "ncclGroupEnd", comm: comm)
        if let failure { throw failure }
    }

    /// Orders the compute stream after the queued collectives (with `overlap`), waits for it, then
    /// reports an asynchronous NCCL error (a peer failed) if any.
    public func synchronize() throws {
        try side?.computeWaits()
        context.synchronize()
        var async: Int32 = 0
        try api.check(api.ncclCommGetAsyncError(comm, &async), "ncclCommGetAsyncError", comm: comm)
        try api.check(async, "asynchronous NCCL error", comm: comm)
    }

    /// Tears the communicator down without waiting for peers (after a failure).
    public func abort() {
        if let c = comm { _ = api.ncclCommAbort(c); comm = nil }
    }
}
