/// The coarse operations the models need, each with its backward. Two implementations: the
/// pure-Swift `CPUBackend` (module GRCPU) and, later, a CUDA backend.
///
/// The protocol is the union of one protocol per family of ops, each in its own file
/// (`GEMMOps.swift`, `NormOps.swift`, ...). Conventions for every op:
/// - tensors are dense row-major f32 unless a parameter says otherwise;
/// - a backward *accumulates* (`+=`) into gradient tensors, which the caller zeroes once per
///   step (llm.c style), unless its doc comment says it overwrites;
/// - shapes are given in each op's doc comment with the project's letters.
public protocol Backend: AnyObject, GEMMOps, ElementwiseOps, NormOps, EmbeddingOps, AttentionOps,
    LossOps, OptimizerOps, RetrievalOps, FusedBackwardOps,
    FusedNormDropoutOps, FusedGEMMOps
{
    /// Human-readable name, e.g. "cpu (2 threads)".
    var name: String { get }
    var device: Device { get }
    /// A zero-filled tensor on this backend's device.
    func zeros(_ shape: [Int], _ dtype: DType) -> Tensor
    /// Copies host values into a new tensor on this device.
    func upload(_ values: [Float], shape: [Int]) -> Tensor
    func upload(_ values: [Int32], shape: [Int]) -> Tensor
    /// Copies a tensor back to the host.
    func download(_ t: Tensor) -> [Float]
    /// Sets every element of an f32 tensor to `value`.
    func fill(_ t: Tensor, _ value: Float)
    /// dst = src (same count).
    func copy(_ src: Tensor, to dst: Tensor)
    /// Waits for queued work (a no-op on the CPU).
    func synchronize()
}
