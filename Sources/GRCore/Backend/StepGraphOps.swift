/// An optional capability of a device backend (not part of `Backend`): parts of a training step
/// captured once as a replayable graph (CUDA graphs) whose per-step random values follow a device
/// step counter instead of being frozen at capture time.
///
/// While `captureStepSegment(step: s)` captures, every Philox stream of step s (dropout) and
/// AdamW's step-dependent scalars are taken from the device counter, so a replay after
/// `setDeviceStep(s')` runs step s' (lr and weight decay stay as captured). Nothing runs during
/// a capture; the graph reads and writes the addresses the capture saw, so every tensor it uses
/// must stay alive (and at its address) while the graph does.
public protocol StepGraphOps: AnyObject {
    /// Why step graphs cannot be used on this device (nil: they can).
    var stepGraphsUnavailable: String? { get }
    /// Captures what `body` queues (work of training step `step`; nothing runs) into a graph.
    /// Throws when the capture fails or the graph would not replay what `body` queued (e.g. an
    /// upload inside it).
    func captureStepSegment(step: Int, _ body: @escaping () -> Void) throws -> AnyObject
    /// Queues one replay of a graph from `captureStepSegment`.
    func replayStepSegment(_ graph: AnyObject)
    /// Sets the device step counter (queued): the next replays run step `step`.
    func setDeviceStep(_ step: Int)
    /// From now on, backend scratch buffers that grow keep their old block alive (a graph may
    /// address it) instead of returning it to the allocator.
    func retainReplacedScratch()
    /// While bound (until `bindJaggedOffsets(nil)`), HSTU attention reads the B + 1 sequence
    /// offsets from `offsets` (i32, on the device) when it runs instead of uploading the layout's
    /// (whose B it still takes): a replayed graph then attends over the replayed batch's sequences.
    func bindJaggedOffsets(_ offsets: Tensor?)
    /// Why HSTU attention of these shapes cannot run from bound offsets in a graph (e.g. its grid
    /// depends on T), or nil.
    func jaggedStepsUnavailable(heads: Int, dqk: Int, dv: Int, paddedWidth: Int) -> String?
}
