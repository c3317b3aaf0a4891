import Foundation

/// Driver entry points of CUDA graphs (stream capture, instantiate, launch), resolved with `dlsym`
/// from the loaded driver. Optional as a whole: `nil` where one is missing (an old driver), and
/// graphs are then off with that message (`CUDAContext.graphAPI`).
struct CUDAGraphAPI {
    typealias FBeginCapture = @convention(c) (OpaquePointer?, Int32) -> CUresult
    typealias FEndCapture = @convention(c) (OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>) -> CUresult
    typealias FInstantiate = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, OpaquePointer?, UInt64) -> CUresult
    typealias FGraphLaunch = @convention(c) (OpaquePointer?, OpaquePointer?) -> CUresult
    typealias FDestroy = @convention(c) (OpaquePointer?) -> CUresult
    typealias FGetNodes = @convention(c) (OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?, UnsafeMutablePointer<Int>) -> CUresult

    /// `CU_STREAM_CAPTURE_MODE_RELAXED`: other threads may call the driver (and `cuMemAlloc` is
    /// allowed) while the stream captures.
    static let captureModeRelaxed: Int32 = 2

    let cuStreamBeginCapture: FBeginCapture
    let cuStreamEndCapture: FEndCapture
    let cuGraphInstantiateWithFlags: FInstantiate
    let cuGraphLaunch: FGraphLaunch
    let cuGraphExecDestroy: FDestroy
    let cuGraphDestroy: FDestroy
    let cuGraphGetNodes: FGetNodes

    /// nil and the missing symbol's name when the driver lacks one.
    static func load(_ h: UnsafeMutableRawPointer) -> (CUDAGraphAPI?, String) {
        var missing: [String] = []
        func sym<T>(_ names: [String], _: T.Type) -> T? {
            for n in names { if let p = dlsym(h, n) { return unsafeBitCast(p, to: T.self) } }
            missing.append(names[0])
            return nil
        }
        let begin = sym(["cuStreamBeginCapture_v2", "cuStreamBeginCapture"], FBeginCapture.self)
        let end = sym(["cuStreamEndCapture"], FEndCapture.self)
        let inst = sym(["cuGraphInstantiateWithFlags"], FInstantiate.self)
        let launch = sym(["cuGraphLaunch"], FGraphLaunch.self)
        let execDestroy = sym(["cuGraphExecDestroy"], FDestroy.self)
        let destroy = sym(["cuGraphDestroy"], FDestroy.self)
        let nodes = sym(["cuGraphGetNodes"], FGetNodes.self)
        guard let begin, let end, let inst, let launch, let execDestroy, let destroy, let nodes else {
            return (nil, "the driver lacks \(missing.joined(separator: ", "))")
        }
        return (CUDAGraphAPI(cuStreamBeginCapture: begin, cuStreamEndCapture: end, cuGraphInstantiateWithFlags: inst,
                             cuGraphLaunch: launch, cuGraphExecDestroy: execDestroy, cuGraphDestroy: destroy,
                             cuGraphGetNodes: nodes), "")
    }
}
