import ArgumentParser
import Foundation
import GRCore
import GRCUDA
import GRInference

/// `gr cuda bench-retrieval [--items V] [--runs R]`: the serving top-K on the GPU
/// (`DeviceItemIndex`, plain f32 GEMM + `topK` + exact host rescoring) against the CPU index
/// (`ItemIndex`, its default kernel) over V random unit vectors (D 50 and 64): the answers must be
/// identical (ids and scores) for batches of 1, 16 and 64 queries with 200 excluded ids each, for
/// k 10 and 100, and on a corpus where every vector appears 4 times (exact ties, ordered by id);
/// then the median wall time of a device search. Exits non-zero when an answer differs.
struct CUDARetrievalBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-retrieval", abstract: "GPU top-K of the serving index: answers vs the CPU index, and latency.")

    @Option(help: "Synthetic corpus size.") var items = 1_000_000
    @Option(help: "Timed runs per row (the median is reported).") var runs = 20

    func run() throws {
        let cuda = try CUDACommand.backend()
        cuda.gemmPrecision = .f32
        print("device: \(cuda.context.describe)")
        let retrieval = DeviceRetrieval(backend: cuda, gemmInputRounding: 0)
        var failures = 0
        for (d, ties) in [(50, false), (64, false), (50, true)] {
            var vectors = Self.unitRandoms(items * d, d, seed: UInt64(d))
            if ties {   // rows 4j ..< 4j + 4 share one vector: equal scores, ordered by id
                for r in 0..<items { for c in 0..<d { vectors[r * d + c] = vectors[(r / 4 * 4) * d + c] } }
            }
            let ids = (1...Int32(items)).map { $0 }
            let cpu = vectors.withUnsafeBufferPointer { ItemIndex(ids: ids, vectors: $0, dim: d) }
            let gpu = vectors.withUnsafeBufferPointer {
                DeviceItemIndex(ids: ids, table: $0.baseAddress! - d, tableRows: items + 1, dim: d, retrieval: retrieval)
            }
            for q in [1, 16, 64] {
                let queries = Self.unitRandoms(q * d, d, seed: UInt64(1000 + q))
                let excluded = (0..<q).map { i in (0..<200).map { Int32(1 + ($0 * 7919 + i * 104_729) % items) } }
                for k in [10, 100] {
                    let expected = cpu.search(queries: queries, k: k, excluded: excluded)
                    let got = gpu.search(queries: queries, k: k, excluded: excluded)
                    let same = expected == got
                    if !same { failures += 1 }
                    var times: [Double] = []
                    for _ in 0..<runs {
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        _ = gpu.search(queries: queries, k: k, excluded: excluded)
                        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6)
                    }
                    times.sort()
                    print(String(format: "| V %d D %d%@ Q %d k %d | %.3f ms | %@ |", items, d, ties ? " (ties)" : "", q, k,
                                 times[times.count / 2], same ? "identical to the CPU index" : "DIFFERS from the CPU index"))
                }
            }
            print("retries \(gpu.retries), host scans \(gpu.hostScans)")
        }
        if failures > 0 { throw CLIFailure("bench-retrieval: \(failures) answers differ from the CPU index") }
    }

    /// n values in [-1, 1) from a 64-bit LCG, rows of width d scaled to unit norm.
    static func unitRandoms(_ n: Int, _ d: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1
        var x = (0..<n).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 23) - 1
        }
        for r in 0..<(n / d) {
            let norm = (0..<d).reduce(Float(0)) { $0 + x[r * d + $1] * x[r * d + $1] }.squareRoot()
            for c in 0..<d { x[r * d + c] /= max(norm, 1e-6) }
        }
        return x
    }
}
