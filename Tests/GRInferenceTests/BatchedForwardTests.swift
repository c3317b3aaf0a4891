import Foundation
import GRCore
import GRCPU
import GRData
import GRModels
import GRTrain
@testable import GRInference
import XCTest

/// The batched serving forward (`BatchedHSTU`, `BatchedSASRec`) against the training model's eval
/// forward (`userEmbeddings`), and the opt-in bf16 products.
final class BatchedForwardTests: XCTestCase {
    /// Histories of the fixture's users plus edge cases: one event, unsorted timestamps, a history
    /// longer than maxLength (the window slides), nil timestamps.
    func histories(_ f: InferenceFixture) -> ([[Int32]], [[Int64]?]) {
        var hs: [[Int32]] = [], ts: [[Int64]?] = []
        for u in 0..<f.store.userCount {
            let (h, t) = f.events(u)
            hs.append(h); ts.append(t)
        }
        let (h, t) = f.events(5)
        hs.append([h[0]]); ts.append([t[0]])
        hs.append(h); ts.append(t.reversed())                       // non-chronological
        hs.append(hs[3] + hs[4] + hs[5]); ts.append(ts[3]! + ts[4]! + ts[5]!)   // > maxLength
        hs.append(h); ts.append(nil)
        return (hs, ts)
    }

    func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        XCTAssertEqual(a.count, b.count)
        var worst: Float = 0
        for (x, y) in zip(a, b) {
            if x.isNaN || y.isNaN { return .infinity }
            worst = max(worst, abs(x - y))
        }
        return worst
    }

    func testServingForwardEqualsEvalForward() throws {
        for kind in ModelKind.allCases {
            let f = try InferenceFixture.make(kind: kind, maxLength: 16)
            defer { f.remove() }
            let rec = try Recommender.load(checkpoint: f.checkpoint, dataDirectory: f.directory.path)
            let (hs, ts) = histories(f)
            XCTAssertGreaterThan(hs.last(where: { $0.count > rec.maxHistory })?.count ?? 0, rec.maxHistory)
            let want = rec.userVectors(histories: hs, timestamps: ts, reference: true)
            let got = rec.userVectors(histories: hs, timestamps: ts)
            XCTAssertEqual(got.count, hs.count * f.config.modelConfig.itemDim)
            XCTAssertLessThanOrEqual(maxDifference(got, want), 1e-5, "\(kind): batched vs eval forward")
            // One user at a time = its row of the batch; a second call reuses the scratch buffers.
            let d = f.config.modelConfig.itemDim
            for i in [0, hs.count - 4, hs.count - 1] {
                let one = rec.userVectors(histories: [hs[i]], timestamps: [ts[i]])
                XCTAssertLessThanOrEqual(maxDifference(one, Array(got[i * d ..< (i + 1) * d])), 1e-6, "\(kind): user \(i)")
            }
            // The profile names every op and does not change the answer.
            let profile = OpProfile()
            let profiled = rec.userVectors(histories: hs, timestamps: ts, profile: profile)
            XCTAssertEqual(profiled, got)
            XCTAssertTrue(profile.names.contains("attention") && profile.names.contains("l2 normalize"), "\(profile.names)")
        }
    }

    /// `--precision int16` on both model kinds (untrained fixture models, every layer product
    /// quantised, SASRec's FFN included): user vectors within 1e-3 of f32 (measured 3.2e-4 and
    /// 3.0e-4), and not identical.
    func testInt16ForwardOfBothKinds() throws {
        try XCTSkipUnless(Int16Weight.available, "the CPU lacks AVX2")
        for kind in ModelKind.allCases {
            let f = try InferenceFixture.make(kind: kind, maxLength: 16)
            defer { f.remove() }
            let f32 = try Recommender.load(checkpoint: f.checkpoint, dataDirectory: f.directory.path)
            let int16 = try Recommender.load(checkpoint: f.checkpoint, dataDirectory: f.directory.path, precision: .int16)
            XCTAssertEqual(int16.effectivePrecision, .int16, "\(kind)")
            let (hs, ts) = histories(f)
            let a = f32.userVectors(histories: hs, timestamps: ts), b = int16.userVectors(histories: hs, timestamps: ts)
            XCTAssertLessThanOrEqual(maxDifference(a, b), 1e-3, "\(kind): int16 vs f32 user vectors")
            XCTAssertNotEqual(a, b, "\(kind): int16 should round differently from f32")
        }
    }

    /// Many chunks over 2 threads (chunk target 40 tokens): the same vectors as one chunk, in
    /// user order, for HSTU and SASRec.
    func testChunksOverThreadsGiveTheSameVectors() throws {
        let savedChunk = batchedChunkTokens, savedThreads = Parallel.threads
        defer { batchedChunkTokens = savedChunk; Parallel.threads = savedThreads }
        for kind in ModelKind.allCases {
            let f = try InferenceFixture.make(kind: kind, maxLength: 16)
            defer { f.remove() }
            let rec = try Recommender.load(checkpoint: f.checkpoint, dataDirectory: f.directory.path)
            let (hs, ts) = histories(f)
            let want = rec.userVectors(histories: hs, timestamps: ts, reference: true)
            let one = rec.userVectors(histories: hs, timestamps: ts)
            batchedChunkTokens = 40
            Parallel.threads = 2
            let many = rec.userVectors(histories: hs, timestamps: ts)
            Parallel.threads = 3
            let three = rec.userVectors(histories: Array(hs.prefix(7)), timestamps: Array(ts.prefix(7)))
            batchedChunkTokens = savedChunk; Parallel.threads = savedThreads
            XCTAssertLessThanOrEqual(maxDifference(many, one), 1e-6, "\(kind)")
            XCTAssertLessThanOrEqual(maxDifference(many, want), 1e-5, "\(kind)")
            XCTAssertLessThanOrEqual(maxDifference(three, Array(one.prefix(three.count))), 1e-6, "\(kind)")
        }
    }

    /// The serving forward's chunks: every user once, in order; at most `maxTokens` tokens (or one
    /// user); over 2 lanes they shrink to single users at the end (guided), over one lane not.
    func testServingChunksCoverEveryUserAndShrinkAtTheEnd() {
        let cases: [([Int], Int, Int)] = [
            (Array(repeating: 200, count: 32), 2, 512), (Array(repeating: 200, count: 5), 2, 512),
            ([7, 300, 1, 1, 90, 600, 3, 45, 45, 200, 2], 2, 100), ([5], 2, 512), ([], 2, 512),
            (Array(repeating: 200, count: 32), 1, 512), ((1...40).map { $0 * 7 % 23 + 1 }, 3, 64),
        ]
        for (lengths, lanes, maxTokens) in cases {
            let chunks = servingChunks(lengths, lanes: lanes, maxTokens: maxTokens)
            XCTAssertEqual(chunks.flatMap { Array($0) }, Array(lengths.indices), "\(lengths)")
            for c in chunks {
                XCTAssertTrue(c.count == 1 || lengths[c].reduce(0, +) <= maxTokens, "\(c) of \(lengths)")
            }
        }
        let b32 = servingChunks(Array(repeating: 200, count: 32), lanes: 2, maxTokens: 512)
        XCTAssertEqual(b32.first?.count, 2)
        XCTAssertEqual(b32.suffix(4).map(\.count), [1, 1, 1, 1])
        XCTAssertEqual(servingChunks(Array(repeating: 200, count: 5), lanes: 2, maxTokens: 512).count, 5)
        XCTAssertEqual(servingChunks(Array(repeating: 200, count: 32), lanes: 1, maxTokens: 512).map(\.count),
                       Array(repeating: 2, count: 16))
    }

    /// Concurrent callers (the server's single-threaded batcher workers): 4 threads, each inside
    /// `Parallel.inline`, each calling `recommend` 5 times on its own slice of the users, get the
    /// vectors and answers of one sequential call (each call borrows its own scratch buffers).
    func testConcurrentInlineCallersGetTheSequentialAnswers() throws {
        let f = try InferenceFixture.make(kind: .hstu, maxLength: 16)
        defer { f.remove() }
        let rec = try Recommender.load(checkpoint: f.checkpoint, dataDirectory: f.directory.path)
        XCTAssertTrue(rec.allowsConcurrentCalls)
        let (hs, ts) = histories(f)
        let queries = zip(hs, ts).map { RecommendQuery(history: $0, timestamps: $1, k: 5) }
        let want = try rec.recommend(queries)
        let wantVectors = rec.userVectors(histories: hs, timestamps: ts)
        let lock = NSLock()
        var got = [[Recommendation]](repeating: [], count: 4), vectors = [[Float]](repeating: [], count: 4)
        DispatchQueue.concurrentPerform(iterations: 4) { c in
            Parallel.inline {
                let mine = Array(stride(from: c, to: queries.count, by: 4))
                var answers: [Recommendation] = [], v: [Float] = []
                for _ in 0..<5 {
                    answers = (try? rec.recommend(mine.map { queries[$0] })) ?? []
                    v = rec.userVectors(histories: mine.map { hs[$0] }, timestamps: mine.map { ts[$0] })
                }
                lock.withLock { got[c] = answers; vectors[c] = v }
            }
        }
        let d = rec.config.itemDim
        for c in 0..<4 {
            let mine = Array(stride(from: c, to: queries.count, by: 4))
            XCTAssertEqual(got[c].map(\.items), mine.map { want[$0].items }, "caller \(c)")
            let expected = mine.flatMap { wantVectors[$0 * d ..< ($0 + 1) * d] }
            XCTAssertLessThanOrEqual(maxDifference(vectors[c], expected), 1e-6, "caller \(c)")
        }
    }

    /// Several layers and a longer window (more than one 32-row attention tile, so the last-row
    /// attention meets a partial and a full key tile): HSTU, 3 layers, max length 70.
    func testLongerWindowsAndDeeperModel() throws {
        let f = try InferenceFixture.make(kind: .hstu, maxLength: 70, extra: ["blocks=3"])
        defer { f.remove() }
        let rec = try Recommender.load(checkpoint: f.checkpoint, dataDirectory: f.directory.path)
        var hs: [[Int32]] = [], ts: [[Int64]?] = []
        for len in [1, 31, 32, 33, 65, 70, 75] {
            hs.append((0..<len).map { Int32(1 + ($0 * 13 + len) % 39) })
            ts.append((0..<len).map { Int64(5_000 + $0 * $0 * 97 + len) })
        }
        let want = rec.userVectors(histories: hs, timestamps: ts, reference: true)
        let got = rec.userVectors(histories: hs, timestamps: ts)
        XCTAssertLessThanOrEqual(maxDifference(got, want), 1e-5)
    }

    /// `--precision bf16` and `int16` on a trained tiny model. bf16, with AVX-512 BF16: user vectors
    /// within 0.03 of f32 (each component; unit vectors), retrieval scores within 0.03, and at least
    /// 9 of the f32 top-10 in the bf16 top-10 for every user; without the feature the bf16 engine
    /// falls back to f32 and answers exactly like it. int16 (AVX2): user vectors within 0.001 of
    /// f32 (measured 8.5e-5), top-10 scores within 0.003, at least 9 of 10 shared for every user and for 40 random
    /// histories.
    func testReducedPrecisionMatchesF32OnATrainedModel() throws {
        let f = try InferenceFixture.make(kind: .hstu, maxLength: 16)
        defer { f.remove() }
        var c = f.config
        try ConfigFile.applyOverrides(["epochs=4", "lr=0.01", "batch_size=4", "eval_batch_size=12"], to: &c)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("gr-bf16-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        var options = TrainOptions(outDirectory: out)
        options.progress = false
        options.log = { _ in }
        let trainer = try Trainer(config: c, store: f.store, backend: CPUBackend(), options: options)
        _ = try trainer.run()
        let f32 = Recommender(model: trainer.model, modelID: "f32", store: f.store, corpus: f.store.corpus)
        let bf16 = Recommender(model: trainer.model, modelID: "bf16", store: f.store, corpus: f.store.corpus,
                               precision: .bf16)
        XCTAssertEqual(f32.effectivePrecision, .f32)
        let queries = (0..<f.store.userCount).map { u -> RecommendQuery in
            let (h, t) = f.events(u)
            return RecommendQuery(history: h, timestamps: t, k: 10)
        }
        let a = try f32.recommend(queries), b = try bf16.recommend(queries)
        let (hs, ts) = histories(f)
        let va = f32.userVectors(histories: hs, timestamps: ts), vb = bf16.userVectors(histories: hs, timestamps: ts)
        if BF16GEMM.available {
            XCTAssertEqual(bf16.effectivePrecision, .bf16)
            XCTAssertLessThanOrEqual(maxDifference(va, vb), 0.03, "bf16 user vectors")
            XCTAssertNotEqual(va, vb, "bf16 products should round differently from f32")
            for (x, y) in zip(a, b) {
                XCTAssertGreaterThanOrEqual(Set(x.items).intersection(y.items).count, 9, "top-10 \(x.items) vs \(y.items)")
                XCTAssertLessThanOrEqual(abs(x.scores[0] - y.scores[0]), 0.03)
                XCTAssertLessThanOrEqual(abs(x.scores[9] - y.scores[9]), 0.03)
            }
        } else {
            XCTAssertEqual(bf16.effectivePrecision, .f32, "without AVX-512 BF16 the engine must fall back to f32")
            XCTAssertEqual(va, vb)
            XCTAssertEqual(a, b)
        }
        let int16 = Recommender(model: trainer.model, modelID: "int16", store: f.store, corpus: f.store.corpus,
                                precision: .int16)
        guard Int16Weight.available else { return XCTAssertEqual(int16.effectivePrecision, .f32) }
        XCTAssertEqual(int16.effectivePrecision, .int16)
        var rng = FusedAttentionTests.Rng(state: 17)
        let corpus = f.store.corpus
        let randomQueries = (0..<40).map { i -> RecommendQuery in
            let h = (0..<(1 + i % 16)).map { _ in corpus[rng.below(corpus.count)] }
            return RecommendQuery(history: h, timestamps: h.indices.map { 978_300_000 + Int64($0) * 3600 }, k: 10)
        }
        let vi = int16.userVectors(histories: hs, timestamps: ts)
        XCTAssertLessThanOrEqual(maxDifference(va, vi), 0.001, "int16 user vectors")
        XCTAssertNotEqual(va, vi, "int16 products should round differently from f32")
        let c32 = try f32.recommend(queries + randomQueries), c16 = try int16.recommend(queries + randomQueries)
        for (x, y) in zip(c32, c16) {
            XCTAssertGreaterThanOrEqual(Set(x.items).intersection(y.items).count, 9, "int16 top-10 \(x.items) vs \(y.items)")
            XCTAssertLessThanOrEqual(abs(x.scores[0] - y.scores[0]), 0.003)
            XCTAssertLessThanOrEqual(abs(x.scores[9] - y.scores[9]), 0.003)
        }
    }

    /// The bf16 kernel itself on odd shapes (K odd, N not a multiple of 16, M not a multiple of
    /// 8, accumulate, transposed W): against the f32 product of the bf16-rounded inputs, to f32
    /// accumulation error. Without the feature: `available` is false and `LayerWeight` keeps f32.
    func testBF16KernelOnOddShapes() throws {
        func bf16(_ x: Float) -> Float {   // round to nearest even
            let u = x.bitPattern
            return Float(bitPattern: ((u &+ 0x7fff &+ ((u >> 16) & 1)) >> 16) << 16)
        }
        var state: UInt64 = 5
        func random() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(state >> 40) - (1 << 23)) / Float(1 << 23)
        }
        for (m, n, k, transposed) in [(13, 37, 7, false), (1, 200, 50, false), (70, 50, 50, true), (9, 16, 1, true)] {
            let a = (0..<(m * k)).map { _ in random() }, w = (0..<(k * n)).map { _ in random() }
            let c0 = (0..<(m * n)).map { _ in random() }
            let lw = w.withUnsafeBufferPointer { p in
                LayerWeight(UnsafeMutablePointer(mutating: p.baseAddress!), k: k, n: n, transposed: transposed, precision: .bf16)
            }
            guard BF16GEMM.available else {
                XCTAssertEqual(lw.precision, .f32)
                XCTAssertNil(lw.packed)
                continue
            }
            XCTAssertEqual(lw.precision, .bf16)
            for accumulate in [false, true] {
                var c = [Float](repeating: .nan, count: m * n)
                if accumulate { c = c0 }
                w.withUnsafeBufferPointer { _ in
                    a.withUnsafeBufferPointer { pa in
                        c.withUnsafeMutableBufferPointer { pc in
                            lw.multiply(pa.baseAddress!, rows: m, lda: k, into: pc.baseAddress!, ldc: n, accumulate: accumulate)
                        }
                    }
                }
                for i in 0..<m {
                    for j in 0..<n {
                        var s: Double = accumulate ? Double(c0[i * n + j]) : 0
                        for p in 0..<k {
                            let wv = transposed ? w[j * k + p] : w[p * n + j]
                            s += Double(bf16(a[i * k + p])) * Double(bf16(wv))
                        }
                        XCTAssertEqual(Double(c[i * n + j]), s, accuracy: 1e-5 * Double(k) + 1e-6,
                                       "m \(m) n \(n) k \(k) (\(i), \(j)) accumulate \(accumulate)")
                    }
                }
            }
        }
    }
}
