import GRCore

/// The collective a data-parallel step needs: an in-place sum over ranks. Implemented by NCCL on
/// GPUs (`NCCLCommunicator`, adapted in GRCLI); in tests by threads summing in shared memory.
/// (Simulated ranks in one process need no reducer: `SimulatedDataParallel` adds with `axpy`.)
public protocol GradientReducer: AnyObject {
    var rank: Int { get }
    var worldSize: Int { get }
    /// In place: floats [offset, offset + count) of `t` become their sum over all ranks, in calls of
    /// at most `bucketFloats` floats. May return before the sum is done (queued on a stream);
    /// `finish()` waits.
    func allReduceSum(_ t: Tensor, offset: Int, count: Int, bucketFloats: Int) throws
    /// In place: the floats of `t` in `ranges` (one gradient bucket) become their sum over all
    /// ranks. Reads the values as they are after all work queued so far on the backend (NCCL with
    /// overlap: on the communication stream, after an event of the compute stream), so it may be
    /// called in the middle of the backward for gradients already final. May return before the
    /// sum is done; `finish()` waits. Default: one `allReduceSum` per range.
    func allReduceSum(_ t: Tensor, ranges: [Range<Int>]) throws
    /// Orders later work of the backend (the optimizer step) after every queued collective, waits
    /// until they are done, and throws if one failed.
    func finish() throws
}

extension GradientReducer {
    public func allReduceSum(_ t: Tensor, ranges: [Range<Int>]) throws {
        for r in ranges where !r.isEmpty { try allReduceSum(t, offset: r.lowerBound, count: r.count, bucketFloats: r.count) }
    }
}
