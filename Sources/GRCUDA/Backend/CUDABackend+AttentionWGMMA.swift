import Foundation

/// The HSTU attention forward kernel at head dim 128 (`GR_CUDA_ATTENTION_FWD`): `wgmma`
/// (`Kernels/AttentionWGMMA.cu`: Hopper's warpgroup MMA, needs the module compiled for sm_90a, i.e.
/// an sm_90 GPU, `CUDAContext.compileArch`) or `mma` (`gr_hstu_tc_fwd_d128`, mma.sync, any GPU).
/// Other head dims and GPUs always run the mma kernels; the backward always does. The default is
/// `mma` until a GPU has checked the wgmma kernel (so far only the host emulator has: docs/cuda.md).
public enum HSTUForwardKernel: String, Sendable, CaseIterable {
    case wgmma, mma

    /// `GR_CUDA_ATTENTION_FWD` (unset or empty: `mma`); any other value stops the program with a
    /// message naming the variable.
    static var fromEnvironment: HSTUForwardKernel {
        guard let raw = ProcessInfo.processInfo.environment["GR_CUDA_ATTENTION_FWD"]?.trimmingCharacters(in: .whitespaces),
              !raw.isEmpty else { return .mma }
        if let k = HSTUForwardKernel(rawValue: raw.lowercased()) { return k }
        FileHandle.standardError.write(Data("error: environment variable GR_CUDA_ATTENTION_FWD=\"\(raw)\" is not a forward kernel: use wgmma or mma\n".utf8))
        exit(2)
    }
}

extension CUDABackend {
    /// Shared bytes of `gr_hstu_wg_fwd_d128` (GR_WG_FWD_SMEM of AttentionWGMMA.cu).
    static let wgForwardShared = 1024 + 5 * 64 * 128 * 2 + 2 * 64 * 8 + 2 * 128 * 4 + 132 * 4 + 256 * 8 + 64 * 16

    /// The forward's entry point and shared bytes for padded head dim `dp`: the wgmma kernel where
    /// selected and available (dp 128, the module built for sm_90a, a driver that can raise the
    /// shared-memory limit), else the mma kernel.
    public func hstuForwardKernel(paddedDim dp: Int) -> (name: String, shared: Int) {
        if dp == 128 && hstuForwardKernel == .wgmma && context.compileArch == "sm_90a"
            && attentionDriver.cuFuncSetAttribute != nil {
            return ("gr_hstu_wg_fwd_d128", Self.wgForwardShared)
        }
        return ("gr_hstu_tc_fwd_d\(dp)", Self.tcForwardShared(dp))
    }
}
