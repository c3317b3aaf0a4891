import ArgumentParser
import GRCore
import GRCPU
import GRCUDA

/// `--device auto|cpu|cuda` of `gr train` / `gr eval`: auto takes CUDA when the driver, NVRTC and
/// cuBLASLt load and a device is present, else the CPU (saying why).
public enum DeviceChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    case auto, cpu, cuda

    /// The backend, and one line saying what was chosen (and why CUDA was not, for auto).
    public func makeBackend() throws -> (backend: any Backend, message: String) {
        switch self {
        case .cpu:
            return (CPUBackend(), "device: cpu")
        case .cuda:
            switch CUDABackend.shared {
            case .success(let b): return (b, "device: cuda: \(b.context.describe); kernels \(b.context.moduleOrigin)")
            case .failure(let e): throw CLIFailure("--device cuda: \(e)")
            }
        case .auto:
            switch CUDABackend.shared {
            case .success(let b): return (b, "device: cuda (auto): \(b.context.describe); kernels \(b.context.moduleOrigin)")
            case .failure(let e):
                let first = "\(e)".split(separator: "\n").first.map(String.init) ?? "\(e)"
                return (CPUBackend(), "device: cpu (auto; CUDA unavailable: \(first))")
            }
        }
    }
}
