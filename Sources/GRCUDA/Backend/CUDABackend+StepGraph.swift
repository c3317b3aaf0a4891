import Foundation
import GRCore

/// Replayable training steps: a CUDA graph of one step whose per-step values come from the device
/// step counter `gr_step_now` (Common.cu) instead of frozen kernel arguments, so that replaying it
/// N times equals N eager steps (on the same batch buffers).
///
/// While `captureStep(step:)` captures, every Philox stream id of step `step` (dropout, negatives)
/// is passed with its step bits 16…55 all ones (`stepSentinel`), which the kernels replace by the
/// counter; AdamW's lr/(1 − β1ᵗ) and √(1 − β2ᵗ) are computed on the device (`gr_adam_prepare`,
/// t = counter + the AdamW step's offset from `step`); the graph's last node advances the counter.
/// Still frozen: lr and weight decay (no warm-up schedule), the batch buffers, and the deferred
/// loss slot (the step's loss lands in the capture's slot at every replay).
extension CUDABackend {
    /// The step bits of a Philox stream id (RandomStreamKind.stream: step in bits 16…55).
    static let stepBits: UInt64 = 0xFF_FFFF_FFFF << 16

    /// The stream id as kernels get it: during a step capture, the step bits set to all ones (the
    /// device counter's sentinel); a stream of another step is refused.
    static func streamID(_ stream: UInt64, capturing step: Int?) -> UInt64 {
        guard let step else { return stream }
        precondition((stream & stepBits) >> 16 == UInt64(step),
                     "CUDA step capture: Philox stream \(String(stream, radix: 16)) is not of the captured step \(step)")
        return stream | stepBits
    }

    func streamID(_ s: PhiloxStream) -> UInt64 { Self.streamID(s.stream, capturing: deviceStep) }

    /// Sets the device step counter (queued; no upload).
    public func setDeviceStep(_ step: Int) {
        precondition(step >= 0 && step < (1 << 40) - 1, "device step \(step) out of range")
        context.launch("gr_step_set", blocks: 1, block: 1, [.i(step)])
    }

    /// Captures `body`, one training step at step index `step` (its trainStep and AdamW calls), as
    /// a graph whose replays run the step at the device counter and then advance it by one. Set
    /// the counter (`setDeviceStep`) before the first replay.
    /// `advance: false`: no advancing node (`gr train`'s segments set the counter before each step).
    public func captureStep(step: Int, advance: Bool = true, _ body: () throws -> Void) throws -> CUDAGraph {
        precondition(deviceStep == nil, "CUDA step capture inside a step capture")
        deviceStep = step
        defer { deviceStep = nil }
        return try context.capture {
            try body()
            if advance { context.launch("gr_step_advance", blocks: 1, block: 1, [.i(1)]) }
        }
    }
}

/// `gr train`'s CUDA graphs (GRTrain `StepGraphRunner`): step segments without uploads.
extension CUDABackend: StepGraphOps {
    public var stepGraphsUnavailable: String? { graphsUnavailable }

    public func captureStepSegment(step: Int, _ body: @escaping () -> Void) throws -> AnyObject {
        // Device tables built on first use are built now: inside the capture their upload would be
        // recorded, not run (HSTU attention's time buckets).
        _ = timeBucketTable()
        let g = try captureStep(step: step, advance: false, body)
        // A captured upload re-reads its pinned ring slot at every replay, and eager uploads
        // between replays reuse the ring: such a segment cannot be replayed safely.
        if g.capturedUploads > 0 {
            throw CUDAError.graphIncomplete("the step segment uploads \(g.capturedUploads) host buffer(s); a replay would re-read ring slots that later uploads overwrite")
        }
        return g
    }

    public func replayStepSegment(_ graph: AnyObject) {
        guard let g = graph as? CUDAGraph else { preconditionFailure("replayStepSegment: not a CUDA graph") }
        g.launch()
    }

    public func retainReplacedScratch() { retainsReplacedScratch = true }

    public func bindJaggedOffsets(_ offsets: Tensor?) { jaggedOffsets = offsets }

    /// Padded HSTU steps need the tiled f32 kernels: their grid is (B · ⌈N/32⌉, H), independent of T.
    public func jaggedStepsUnavailable(heads: Int, dqk: Int, dv: Int, paddedWidth: Int) -> String? {
        if attentionPrecision == .bf16 && Self.tensorCoreDim(dqk, dv) != nil {
            return "bf16 HSTU attention (GR_CUDA_ATTENTION=bf16) plans each batch on the host"
        }
        if Self.hstuTiledShared(dqk: dqk, dv: dv, n: paddedWidth) == nil {
            return "HSTU attention of dqk \(dqk), dv \(dv), N \(paddedWidth) runs the untiled kernels, whose grid is (T, H)"
        }
        return nil
    }
}
