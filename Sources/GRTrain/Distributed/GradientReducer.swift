import GRCore

/// The collective a data-parallel step needs: an in-place sum over ranks. Implemented by NCCL on
/// GPUs (`NCCLCommunicator`, adapted in GRCLI) and by `InProcessReducer` for simulated ranks.
public protocol GradientReducer: AnyObject {
    var rank: Int { get }
    var worldSize: Int { get }
    /// In place: floats [offset, offset + count) of `t` become their sum over all ranks, in calls of
    /// at most `bucketFloats` floats. May return before the sum is done (queued on a stream);
    /// `finish()` waits.
    func allReduceSum(_ t: Tensor, offset: Int, count: Int, bucketFloats: Int) throws
    /// Waits until queued collectives are done; throws if one failed.
    func finish() throws
}
