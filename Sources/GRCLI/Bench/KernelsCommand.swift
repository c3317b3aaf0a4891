import ArgumentParser
import Foundation
import GRCore
import GRCPU

/// `gr bench kernels [--json] [--repeat N] [--filter S]`: GFLOP/s of the CPU kernels, GEMMs side by
/// side with OpenBLAS `sgemm` when `libopenblas.so.0` can be loaded at run time.
struct KernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "GFLOP/s of the CPU kernels (GEMMs next to OpenBLAS when available). Threads: GR_THREADS.")

    @Flag(help: "Print one JSON array of objects (op, shape, gflops, openblas_gflops, ratio, ...).")
    var json = false

    @Option(name: .customLong("repeat"), help: "Timed samples per row (the median is reported).")
    var repeats = 5

    @Flag(help: "Time the calling thread's CPU time instead of wall time (use with GR_THREADS=1 on a busy machine).")
    var cpuTime = false

    @Flag(help: "Report the fastest sample instead of the median (for tuning on a busy machine).")
    var best = false

    @Option(help: "Only rows whose op or shape contains this text.")
    var filter: String?

    func run() throws {
        let threads = Parallel.threads
        // OpenBLAS's kernel for the same instruction set as ours (see `OpenBLAS.load`).
        #if arch(x86_64)
        let coreType: String? = CPUGEMM.kernel == .avx512 ? "SkylakeX" : "Haswell"
        #else
        let coreType: String? = nil
        #endif
        let blas = OpenBLAS.load(threads: threads, coreType: coreType)
        let backend = CPUBackend()
        var rows = KernelBenchmark.all(backend: backend, openBLAS: blas)
        if let filter { rows = rows.filter { $0.op.contains(filter) || $0.shape.contains(filter) } }
        if !json {
            print("backend: \(backend.name), gemm kernel: \(CPUGEMM.kernel.rawValue), "
                  + "openblas: \(blas.map { "\($0.library) (OPENBLAS_CORETYPE=\(env("OPENBLAS_CORETYPE")))" } ?? "n/a"), "
                  + (best ? "best" : "median") + " of \(repeats)" + (cpuTime ? ", thread CPU time" : ""))
            print(pad("op", 16) + pad("shape", 36) + pad("ms", 10) + pad("GFLOP/s", 10)
                  + pad("OpenBLAS", 10) + "ratio")
        }
        var objects: [[String: Any]] = []
        for row in rows {
            let t = row.measure(repeats: repeats, cpuTime: cpuTime, best: best)
            let gflops = row.flops / t.seconds * 1e-9
            let refGflops = t.referenceSeconds.map { row.flops / $0 * 1e-9 }
            var object: [String: Any] = [
                "op": row.op, "shape": row.shape, "gflops": gflops, "ms": t.seconds * 1e3,
                "threads": threads, "kernel": CPUGEMM.kernel.rawValue,
                "statistic": best ? "best" : "median", "samples": repeats,
                "clock": cpuTime ? "thread_cpu" : "wall",
            ]
            if row.reference != nil || row.op.hasPrefix("gemm") {
                object["openblas_gflops"] = refGflops ?? NSNull()
                object["ratio"] = refGflops.map { gflops / $0 } ?? NSNull()
            }
            objects.append(object)
            if !json {
                print(pad(row.op, 16) + pad(row.shape, 36) + pad(fmt(t.seconds * 1e3, 3), 10)
                      + pad(fmt(gflops, 1), 10) + pad(refGflops.map { fmt($0, 1) } ?? "n/a", 10)
                      + (refGflops.map { fmt(gflops / $0, 2) } ?? "n/a"))
            }
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    private func env(_ name: String) -> String { getenv(name).map { String(cString: $0) } ?? "auto" }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }

    private func fmt(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
}
