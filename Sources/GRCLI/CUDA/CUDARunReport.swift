import GRCUDA

/// The lines `gr train --device cuda` prints after a run: device memory and the counters of
/// queued work and host waits; with `GR_CUDA_PROFILE=1` the per-kernel table as well.
func cudaRunReport(_ cuda: CUDABackend) -> String {
    let c = cuda.context
    var text = "cuda: peak device memory in use \(c.peakBytesInUse >> 20) MiB (reserved \(c.bytesReserved >> 20) MiB); "
        + c.stats.describe
    if let kernels = c.kernelProfile { text += "\nper-kernel time (GR_CUDA_PROFILE, synchronised launches):\n" + kernels.report() }
    return text
}
