import Foundation

/// A captured and instantiated CUDA graph: the kernels, GEMMs, copies and memsets one piece of
/// host code queued on the context's stream, replayed by `launch()` with one driver call.
///
/// Replays use the captured arguments and addresses as they were: the same tensors, the same
/// scalars (Philox stream ids, AdamW's step and lr are kernel arguments today), and the contents
/// of the pinned upload slots the capture's uploads read. Blocks allocated or freed during the
/// capture belong to the graph until it is released (`BlockCache`); tensors made before the
/// capture and used by it must outlive the graph.
public final class CUDAGraph {
    let context: CUDAContext
    let api: CUDAGraphAPI
    let id: Int
    private let graph: OpaquePointer?
    private let exec: OpaquePointer?
    /// Nodes of the graph (kernels, GEMM kernels, copies, memsets).
    public let nodeCount: Int
    /// Kernel launches and GEMMs the capture queued (the eager step's launches).
    public let capturedLaunches: Int
    /// Host-to-device uploads the capture queued (their replays re-read the pinned ring slots).
    public let capturedUploads: Int

    init(context: CUDAContext, api: CUDAGraphAPI, id: Int, graph: OpaquePointer?, exec: OpaquePointer?, nodes: Int,
         launches: Int, uploads: Int = 0) {
        self.context = context
        self.api = api
        self.id = id
        self.graph = graph
        self.exec = exec
        nodeCount = nodes
        capturedLaunches = launches
        capturedUploads = uploads
    }

    /// Queues one replay on the context's stream.
    public func launch() {
        context.makeCurrent()
        context.cu.must(api.cuGraphLaunch(exec, context.stream), "cuGraphLaunch")
        context.stats.graphLaunches += 1
    }

    deinit {
        context.synchronize()   // a queued replay still uses the blocks
        _ = api.cuGraphExecDestroy(exec)
        _ = api.cuGraphDestroy(graph)
        context.dropGraph(id)
    }
}

extension CUDAGraph {
    /// Why a captured graph of `nodes` nodes cannot hold the work `queued` (the counters of the
    /// capture), or nil. Every kernel, GEMM, upload, memset and device copy queued during the
    /// capture is at least one node; fewer nodes means some of it ran at capture time instead of
    /// being recorded (and replays would skip it): a library whose launches bypass the capture
    /// (the host emulator's cuBLASLt once was a second copy of the library, with its own capture
    /// state), or work queued on another stream.
    static func missingWork(nodes: Int, queued d: CUDAStats) -> String? {
        guard nodes < d.streamOps else { return nil }
        return "the graph has \(nodes) nodes for \(d.streamOps) operations queued during the capture "
            + "(\(d.launches) kernels, \(d.gemms) GEMMs, \(d.uploads) uploads, \(d.memsets) memsets, "
            + "\(d.deviceCopies) device copies): \(d.streamOps - nodes) ran outside the capture, so replays would skip them"
    }
}

extension CUDAContext {
    /// Captures what `body` queues on the stream (nothing runs), instantiates it and returns the
    /// graph. Waits for the stream first. `body` must not wait for the device (download,
    /// synchronise: refused with a message) nor upload more than the pinned ring holds.
    public func capture(_ body: () throws -> Void) throws -> CUDAGraph {
        guard let api = graphAPI else { throw CUDAError.symbolMissing(library: "libcuda", symbol: graphAPIMissing) }
        guard kernelProfile == nil else {
            throw CUDAError.driver(call: "capture", code: 0, name: "GR_CUDA_PROFILE",
                                   message: "per-kernel profiling synchronises after every launch: no CUDA graph capture with it")
        }
        rewindStagingRing()
        lock.lock()
        let id = nextGraphID
        nextGraphID += 1
        cache.beginCapture(id)
        lock.unlock()
        let before = stats
        try cu.check(api.cuStreamBeginCapture(stream, CUDAGraphAPI.captureModeRelaxed), "cuStreamBeginCapture_v2")
        capturing = true
        var bodyError: Error? = nil
        do { try body() } catch { bodyError = error }
        capturing = false
        var g: OpaquePointer? = nil
        let ended = api.cuStreamEndCapture(stream, &g)
        lock.lock(); cache.endCapture(); lock.unlock()
        if let bodyError {
            if g != nil { _ = api.cuGraphDestroy(g) }
            dropGraph(id)
            throw bodyError
        }
        do {
            try cu.check(ended, "cuStreamEndCapture")
            var exec: OpaquePointer? = nil
            try cu.check(api.cuGraphInstantiateWithFlags(&exec, g, 0), "cuGraphInstantiateWithFlags")
            var nodes = 0
            try cu.check(api.cuGraphGetNodes(g, nil, &nodes), "cuGraphGetNodes")
            let d = stats.since(before)
            if let why = CUDAGraph.missingWork(nodes: nodes, queued: d) { throw CUDAError.graphIncomplete(why) }
            return CUDAGraph(context: self, api: api, id: id, graph: g, exec: exec, nodes: nodes, launches: d.launches + d.gemms,
                             uploads: d.uploads)
        } catch {
            if g != nil { _ = api.cuGraphDestroy(g) }
            dropGraph(id)
            throw error
        }
    }

    /// The blocks of graph `id` go back to the shared pool (`BlockCache.drop`).
    func dropGraph(_ id: Int) {
        lock.lock(); cache.drop(id); lock.unlock()
    }
}
