#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GRCore
import GRCPU

/// One row of `gr bench kernels`: an op at one shape, timed as a closure, optionally with a
/// reference implementation (OpenBLAS for GEMMs) timed side by side.
///
/// To add a row for another op, append to `KernelBenchmark.all(...)`: build the inputs once in the
/// factory, capture them in `run`, and give the flop count the GFLOP/s figure should use.
struct KernelBenchmark {
    /// Op name, e.g. "gemm_nt".
    let op: String
    /// Shape, e.g. "M=25600 N=50 K=50".
    let shape: String
    /// Floating-point operations of one `run()`.
    let flops: Double
    /// One execution of the op.
    let run: () -> Void
    /// One execution of the reference (nil: none; reported as "n/a").
    let reference: (() -> Void)?

    /// Every benchmark row, in report order.
    static func all(backend: CPUBackend, openBLAS: OpenBLAS?) -> [KernelBenchmark] {
        gemmBenchmarks(openBLAS: openBLAS) + opBenchmarks(backend: backend) + pointwiseOpBenchmarks(backend: backend)
            + retrievalBenchmarks(backend: backend) + attentionBenchmarks(backend: backend)
    }
}

/// Median timing of a benchmark row (and of its reference, measured interleaved).
struct KernelTiming {
    let seconds: Double
    let referenceSeconds: Double?
}

extension KernelBenchmark {
    /// Times `run` (and `reference`) `repeats` times, alternating the two so that changes in the
    /// machine's load hit both alike; each sample runs the closure enough times to last ≥ `minSample`
    /// seconds. Returns the median seconds per call.
    /// With `cpuTime`, samples measure the calling thread's CPU time instead of wall time (robust
    /// to other processes on a shared machine, but only meaningful with one thread: GR_THREADS=1).
    /// With `best`, the fastest sample is reported instead of the median (for tuning on a busy machine).
    func measure(repeats: Int, cpuTime: Bool = false, best: Bool = false, minSample: Double = 0.02) -> KernelTiming {
        let clock = cpuTime ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC
        func time(_ iterations: Int, _ body: () -> Void) -> Double {
            var t0 = timespec(), t1 = timespec()
            clock_gettime(clock, &t0)
            for _ in 0..<iterations { body() }
            clock_gettime(clock, &t1)
            return Double(t1.tv_sec - t0.tv_sec) + Double(t1.tv_nsec - t0.tv_nsec) * 1e-9
        }
        func iterationsFor(_ body: () -> Void) -> Int {
            body()  // warm-up: page faults, packing buffers, thread start
            let t = time(1, body)
            return max(1, Int((minSample / max(t, 1e-9)).rounded(.up)))
        }
        let iters = iterationsFor(run)
        let refIters = reference.map { iterationsFor($0) }
        var ours: [Double] = [], refs: [Double] = []
        for _ in 0..<max(1, repeats) {
            ours.append(time(iters, run) / Double(iters))
            if let reference, let refIters { refs.append(time(refIters, reference) / Double(refIters)) }
        }
        let stat: ([Double]) -> Double = best ? { $0.min()! } : median
        return KernelTiming(seconds: stat(ours), referenceSeconds: refs.isEmpty ? nil : stat(refs))
    }

    private func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
