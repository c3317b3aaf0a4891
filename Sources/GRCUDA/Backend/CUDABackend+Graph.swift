import Foundation
import GRCore

extension CUDABackend {
    /// Captures what `body` queues (see `CUDAContext.capture`) into a replayable CUDA graph.
    public func captureGraph(_ body: () throws -> Void) throws -> CUDAGraph {
        try context.capture(body)
    }

    /// Why graphs are unavailable on this driver (nil: available).
    public var graphsUnavailable: String? { context.graphAPI == nil ? context.graphAPIMissing : nil }

    /// Queues a one-thread busy loop of `iterations` multiply-adds (`gr_spin`): the GPU is busy
    /// while the host queues the next work, so events around that work time the GPU alone.
    public func spin(iterations: Int) {
        let sink = scratchTensor("spin.sink", 1, .f32)
        context.launch("gr_spin", blocks: 1, block: 1, [.i(iterations), .ptr(sink)])
    }
}

extension CUDABackend {
    /// The device float of deferred loss `index` (a captured step's loss lands in the slot it had
    /// at capture time; read it after each replay).
    public func deferredLossSlot(_ index: Int) -> Tensor {
        precondition(index < deferredCount, "deferred loss slot \(index) of \(deferredCount)")
        return deferredLosses!.view(index, [1])
    }
}
