import ArgumentParser
import Foundation
import GRCore
import GRCPU
import GRInference
import GRModels
import GRTrain

/// `gr bench serving [--filter retrieval|cache|score|recommend] [--items V] [--runs R]`: latency of
/// the serving pieces (docs/inference.md), median and largest of R timed runs after one warm-up:
/// - retrieval: `ItemIndex` top-10 over a synthetic corpus of V (default 1,000,000) random unit
///   vectors, D = 50 and 64, batches of 1, 10 and 16 queries, 200 excluded ids each, with every
///   scan kernel the CPU runs (`ItemIndex.availableKernels`: int8, float16, portable);
/// - cache: a 200-event history on a model preset (default HSTU-large, ML-1M vocabulary): full
///   recompute (eval forward), appending one event to a cached 199-event user, a repeat;
/// - score: M-FALCON scoring of 256 candidates vs one forward per candidate (history + c);
/// - recommend: `Recommender.recommend` for 1 and 16 queries (200 events, ML-1M corpus);
/// - forward: the user-vector forward alone at batch 1, 16 and 64 (200 events each), the batched
///   serving forward (`--precision`, default f32) against the training model's eval forward, with
///   CPU time per user, and the serving forward's per-op breakdown (`--profile`).
/// Threads: --threads or GR_THREADS.
struct ServingBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serving", abstract: "Latency of retrieval, the K/V cache, M-FALCON scoring and recommend.")

    @Option(help: "Run only the sections whose name contains this (retrieval, cache, score, recommend).")
    var filter: String?

    @Option(help: "Synthetic corpus size of the retrieval rows.")
    var items = 1_000_000

    @Option(help: "A model preset for the cache/score/recommend rows.")
    var config = "configs/ml-1m/hstu-large.yaml"

    @Option(help: "Timed runs per row.")
    var runs = 20

    @Option(help: "CPU threads.")
    var threads: Int?

    @Option(help: "Arithmetic of the serving forward's layer products (f32, bf16, int16).")
    var precision: InferencePrecision = .f32

    @Option(help: "Item dimensions of the retrieval rows (comma-separated).")
    var dims = "50,64"

    @Option(help: "Scan kernels of the retrieval rows (comma-separated: int8, float16, portable; default every one this CPU runs).")
    var kernels: String?

    @Option(help: "Batch sizes of the forward rows (comma-separated).")
    var batches = "1,16,64"

    @Flag(help: "Print the per-op breakdown of the serving forward (forward rows).")
    var profile = false

    func run() throws {
        if let threads { Parallel.threads = threads }
        print("threads \(Parallel.threads)")
        func wants(_ s: String) -> Bool { filter.map { s.contains($0) } ?? true }
        if wants("retrieval") { retrieval() }
        if wants("cache") || wants("score") || wants("recommend") || wants("forward") { try modelRows(wants) }
    }

    /// Wall-clock median and max, and the median process CPU time, in ms, of `runs` runs of `body`
    /// after one warm-up; `setup` runs untimed before each. (CPU time shows the work done when the
    /// shared machine's load stretches the wall clock.)
    func measure(setup: () -> Void = {}, _ body: () -> Void) -> (median: Double, max: Double, cpu: Double) {
        func cpuNow() -> Double {
            var t = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
            return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) * 1e-6
        }
        setup(); body()
        var times: [Double] = [], cpu: [Double] = []
        for _ in 0..<runs {
            setup()
            let c0 = cpuNow(), t0 = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6)
            cpu.append(cpuNow() - c0)
        }
        times.sort(); cpu.sort()
        return (times[times.count / 2], times.last!, cpu[cpu.count / 2])
    }

    func report(_ name: String, _ t: (median: Double, max: Double, cpu: Double), _ extra: String = "") {
        print(String(format: "%-58@ median %9.3f ms   max %9.3f ms   cpu %9.3f ms  %@", name as NSString, t.median, t.max,
                     t.cpu, extra as NSString))
    }

    /// Deterministic pseudo-random values in [-1, 1).
    static func randoms(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<n).map { _ in
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(s >> 40) - (1 << 23)) / Float(1 << 23)
        }
    }

    static func unitRows(_ x: inout [Float], _ d: Int) {
        for r in 0..<(x.count / d) {
            var n: Float = 0
            for c in 0..<d { n += x[r * d + c] * x[r * d + c] }
            let inv = 1 / max(n.squareRoot(), 1e-6)
            for c in 0..<d { x[r * d + c] *= inv }
        }
    }

    func retrieval() {
        for d in dims.split(separator: ",").compactMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) where d > 0 {
            var vectors = Self.randoms(items * d, seed: UInt64(d))
            Self.unitRows(&vectors, d)
            let ids = (1...Int32(items)).map { $0 }
            // Every kernel this CPU runs (best first, portable last), each on its own index; each
            // kernel's answers are checked against the portable scan's (ids and scores, exactly).
            var answers: [ItemIndex.Kernel: [Int: [ItemIndex.Result]]] = [:]
            let wanted = kernels.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            for kernel in ItemIndex.availableKernels where wanted?.contains(kernel.rawValue) ?? true {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let index = vectors.withUnsafeBufferPointer { ItemIndex(ids: ids, vectors: $0, dim: d, kernel: kernel) }
                let build = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6
                print(String(format: "retrieval index build V=%d D=%d kernel %@: %.0f ms", items, d,
                             index.kernel.rawValue as NSString, build))
                for q in [1, 10, 16] {
                    var queries = Self.randoms(q * d, seed: UInt64(1000 + q))
                    Self.unitRows(&queries, d)
                    let excluded = (0..<q).map { i in (0..<200).map { Int32(1 + ($0 * 7919 + i * 104_729) % items) } }
                    let t = measure { _ = index.search(queries: queries, k: 10, excluded: excluded) }
                    report("retrieval top-10 V=\(items) D=\(d) Q=\(q) \(index.kernel.rawValue)", t,
                           String(format: "%.1f GFLOP/s", 2 * Double(items * d * q) / (t.median * 1e6)))
                    answers[index.kernel, default: [:]][q] = index.search(queries: queries, k: 10, excluded: excluded)
                }
            }
            if let exact = answers[.portable] {
                for (kernel, byQ) in answers.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where kernel != .portable {
                    let same = byQ.allSatisfy { exact[$0.key] == $0.value }
                    print("retrieval check D=\(d): \(kernel.rawValue) answers \(same ? "identical to" : "DIFFER from") the portable scan's")
                }
            }
        }
    }

    func modelRows(_ wants: (String) -> Bool) throws {
        let tc = try ConfigFile.load(path: config)
        let mc = tc.modelConfig
        let maxItem = 3952, l = mc.maxSequenceLength
        let model = makeModel(mc, maxItemId: maxItem, corpus: (1...Int32(maxItem)).map { $0 }, backend: CPUBackend(), seed: 1)
        let rec = Recommender(model: model, modelID: "bench", precision: precision)
        let history: [Int32] = (0..<l).map { (i: Int) -> Int32 in Int32(1 + (i * 7919) % maxItem) }
        let ts: [Int64] = (0..<l).map { (i: Int) -> Int64 in Int64(978_300_000 + i * 3_600 + (i * i) % 977) }
        print("\(config): \(mc.kind.rawValue) D \(mc.itemDim) blocks \(mc.blocks) heads \(mc.heads), history \(l)")
        if wants("cache") {
            let full = measure { _ = rec.userVector(history: history, timestamps: ts, userKey: nil) }
            report("cache: full recompute, eval forward (\(l) events)", full)
            let fresh = measure(setup: { rec.cache.removeAll() }) {
                _ = rec.userVector(history: history, timestamps: ts, userKey: "u")
            }
            report("cache: full recompute, incremental encoder (\(l) events)", fresh)
            _ = rec.userVector(history: Array(history.dropLast()), timestamps: Array(ts.dropLast()), userKey: "base")
            let base = rec.cache.peek("base")!
            let append = measure(setup: {
                var copy = base   // a private copy, as a cache entry is
                copy.keys = base.keys.map { $0.map { $0 } }; copy.values = base.values.map { $0.map { $0 } }
                copy.ids = base.ids.map { $0 }; copy.timestamps = base.timestamps.map { $0 }
                rec.cache.put("u", copy)
            }) { _ = rec.userVector(history: history, timestamps: ts, userKey: "u") }
            report("cache: append 1 event to a cached \(l - 1)-event user", append,
                   String(format: "%.1fx cheaper than the eval forward (wall), %.1fx (cpu)", full.median / append.median,
                          full.cpu / append.cpu))
            let repeated = measure { _ = rec.userVector(history: history, timestamps: ts, userKey: "u") }
            report("cache: same history again", repeated)
        }
        if wants("score") {
            let candidates = (0..<256).map { Int32(1 + ($0 * 104_729) % maxItem) }
            let q = ScoreQuery(history: history, timestamps: ts, candidates: candidates)
            let mfalcon = measure { _ = try! rec.score([q]) }
            report("score: M-FALCON 256 candidates (micro-batch \(Recommender.scoreMicroBatch))", mfalcon)
            let cached = ScoreQuery(history: history, timestamps: ts, candidates: candidates, userKey: "s")
            let warm = measure { _ = try! rec.score([cached]) }
            report("score: M-FALCON 256 candidates, cached history", warm)
            let separate = measure { _ = rec.separateScores(ScoreQuery(history: history, timestamps: ts,
                                                                       candidates: Array(candidates.prefix(64)))) }
            report("score: separate forwards, 64 candidates", separate,
                   String(format: "M-FALCON %.1fx faster per candidate (wall), %.1fx (cpu)", separate.median * 4 / mfalcon.median,
                          separate.cpu * 4 / mfalcon.cpu))
        }
        if wants("recommend") {
            for b in [1, 16] {
                let qs = (0..<b).map { i in
                    RecommendQuery(history: history.map { 1 + ($0 + Int32(i)) % Int32(maxItem) }, timestamps: ts, k: 10)
                }
                let t = measure { _ = try! rec.recommend(qs) }
                report("recommend: \(b) queries, \(l) events, corpus \(maxItem)", t)
            }
        }
        if wants("forward") { forwardRows(rec, history: history, timestamps: ts, maxItem: maxItem) }
    }

    /// The user-vector forward at each batch size: serving (batched, `--precision`) and reference
    /// (the model's eval forward); per-user CPU time; with `--profile` the per-op thread CPU time of one
    /// serving forward (median over the runs).
    func forwardRows(_ rec: Recommender, history: [Int32], timestamps ts: [Int64], maxItem: Int) {
        print("forward: precision \(rec.precision.rawValue), running \(rec.effectivePrecision.rawValue) (bf16 products: \(BF16GEMM.available ? BF16GEMM.kind : "not available, f32"))")
        let sizes = batches.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        for b in sizes where b > 0 {
            let hs = (0..<b).map { i in history.map { 1 + ($0 + Int32(i)) % Int32(maxItem) } }
            let tss = [[Int64]?](repeating: ts, count: b)
            for reference in [false, true] {
                let t = measure { _ = rec.userVectors(histories: hs, timestamps: tss, reference: reference) }
                report("forward: B=\(b) \(reference ? "eval forward (reference)" : "serving forward (\(rec.effectivePrecision.rawValue))")", t,
                       String(format: "%.3f ms cpu/user, %.3f ms wall/user", t.cpu / Double(b), t.median / Double(b)))
            }
            if profile {
                let profiles = (0..<runs).map { _ in
                    let p = OpProfile()
                    _ = rec.userVectors(histories: hs, timestamps: tss, profile: p)
                    return p
                }
                let names = profiles[0].names
                let total = profiles.map(\.total).sorted()[profiles.count / 2]
                print(String(format: "  per-op thread CPU time, B=%d (median of %d runs; total %.3f ms, %.3f ms/user):", b,
                             profiles.count, total, total / Double(b)))
                for name in names {
                    let v = profiles.map { $0.ms[name] ?? 0 }.sorted()[profiles.count / 2]
                    print(String(format: "    %-16@ %9.3f ms  %5.1f%%", name as NSString, v, 100 * v / total))
                }
            }
        }
    }
}
