import ArgumentParser
import GRCore
import GRCUDA
import GRInference

/// `--retrieval-device auto|cpu|cuda` of `gr serve` / `gr recommend`: where the top-K search over
/// the corpus runs (the model's forward stays on the CPU). auto: on the GPU when CUDA loads and the
/// corpus has at least `autoMinimumItems` items (below that the CPU scan answers sooner than a
/// device round trip), else the CPU. The device's GEMMs are set to plain f32 (no TF32), so the
/// bound of `DeviceItemIndex` is the f32 one.
enum RetrievalDeviceChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    case auto, cpu, cuda

    static let autoMinimumItems = 100_000

    /// The device retrieval to use (nil: the CPU scan) and one line saying why.
    func make() throws -> (retrieval: DeviceRetrieval?, message: String) {
        switch self {
        case .cpu:
            return (nil, "retrieval: cpu")
        case .cuda, .auto:
            switch CUDABackend.shared {
            case .success(let b):
                b.gemmPrecision = .f32
                let minimum = self == .auto ? Self.autoMinimumItems : 0
                let note = self == .auto ? " for corpora of ≥ \(minimum) items" : ""
                return (DeviceRetrieval(backend: b, gemmInputRounding: 0, minimumItems: minimum),
                        "retrieval: cuda\(note) (\(b.context.describe))")
            case .failure(let e):
                if self == .cuda { throw CLIFailure("--retrieval-device cuda: \(e)") }
                let first = "\(e)".split(separator: "\n").first.map(String.init) ?? "\(e)"
                return (nil, "retrieval: cpu (auto; CUDA unavailable: \(first))")
            }
        }
    }
}
