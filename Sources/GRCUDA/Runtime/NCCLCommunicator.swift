#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import GRCore
import _GRNCCLShim

/// One rank's NCCL communicator on the CUDA backend's device, with the collectives the
/// data-parallel trainer needs. Collectives are queued on the backend's one stream, in order with
/// the kernels that produced their inputs (no extra synchronisation needed).
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
    let api: NCCLAPI
    let context: CUDAContext
    private var comm: OpaquePointer?

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
    public init(backend: CUDABackend, rank: Int, worldSize: Int, uniqueId: [UInt8]) throws {
        precondition(uniqueId.count == NCCLAPI.uniqueIdBytes, "NCCL unique id: \(uniqueId.count) bytes, expected 128")
        precondition(rank >= 0 && rank < worldSize, "rank \(rank) outside world \(worldSize)")
        api = try Self.load()
        libraryPath = api.path
        version = api.versionString()
        context = backend.context
        self.rank = rank
        self.worldSize = worldSize
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

    /// In place: floats [offset, offset + count) of the CUDA tensor `t` become their sum over all
    /// ranks, in `bucketFloats`-sized calls grouped into one NCCL group (queued on the stream;
    /// returns without waiting).
    public func allReduceSum(_ t: Tensor, offset: Int = 0, count: Int, bucketFloats: Int = Int.max) throws {
        precondition(t.dtype == .f32 && offset >= 0 && offset + count <= t.count, "allReduceSum: range outside \(t.shape)")
        guard count > 0 else { return }
        context.makeCurrent()
        let base = t.devicePointer + UInt64(offset * 4)
        let bucket = max(1, bucketFloats)
        try api.check(api.ncclGroupStart(), "ncclGroupStart")
        var start = 0
        var failure: Error? = nil
        while start < count && failure == nil {
            let n = min(bucket, count - start)
            let p = UnsafeMutableRawPointer(bitPattern: UInt(base) + UInt(start * 4))
            do {
                try api.check(api.ncclAllReduce(p, p, n, NCCLAPI.float32, NCCLAPI.sum, comm, context.stream),
                              "ncclAllReduce(\(n) floats at \(start))", comm: comm)
            } catch { failure = error }
            start += n
        }
        try api.check(api.ncclGroupEnd(), "ncclGroupEnd", comm: comm)
        if let failure { throw failure }
    }

    /// Waits for the stream, then reports an asynchronous NCCL error (a peer failed) if any.
    public func synchronize() throws {
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
