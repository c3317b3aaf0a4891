import GRCore
import GRCPU
import GRTestSupport
import XCTest

/// Sampled softmax (spec §4.2) and BCE (§4.3): gradient checks in Float64 through the generic
/// kernels, the collision and clamp cases, sampling, and the reference fixtures.
final class LossOpsTests: XCTestCase {
    typealias K = LossKernels
    static let tau = 0.05, eps = 1e-6

    struct Problem {
        var q: [Double], table: [Double], pos: [Int32], neg: [Int32]
        let P: Int, R: Int, D: Int, V: Int
    }

    private func problem(P: Int, R: Int, D: Int, V: Int, seed: UInt64) -> Problem {
        var rng = TestRandom(seed: seed)
        var q = rng.normals(P * D)
        for p in 0..<P {   // unit queries, as the model passes them
            let n = (0..<D).reduce(0.0) { $0 + q[p * D + $1] * q[p * D + $1] }.squareRoot()
            for d in 0..<D { q[p * D + d] /= n }
        }
        return Problem(q: q, table: rng.normals(V * D, std: 0.5),
                       pos: (0..<P).map { _ in Int32(rng.int(1, V - 1)) },
                       neg: (0..<(P * R)).map { _ in Int32(rng.int(1, V - 1)) }, P: P, R: R, D: D, V: V)
    }

    private func softmaxLoss(_ pr: Problem, q: [Double]? = nil, table: [Double]? = nil,
                             dq: HostBuffer<Double>? = nil, dE: HostBuffer<Double>? = nil,
                             cosines: HostBuffer<Double>? = nil) -> Double {
        let bq = HostBuffer(q ?? pr.q), bt = HostBuffer(table ?? pr.table)
        let bp = HostBuffer(pr.pos), bn = HostBuffer(pr.neg)
        return K.sampledSoftmax(q: bq.pointer, pos: bp.pointer, neg: bn.pointer, table: bt.pointer, vocab: pr.V,
                                positions: pr.P, negatives: pr.R, dim: pr.D, temperature: Self.tau, eps: Self.eps,
                                dq: dq?.pointer, dE: dE?.pointer, cosines: cosines?.pointer)
    }

    private func checkSoftmax(_ pr: Problem, h: Double = 1e-6, hq: Double = 1e-6, _ what: String, file: StaticString = #filePath,
                              line: UInt = #line) {
        let dq = HostBuffer(repeating: 0.0, count: pr.q.count), dE = HostBuffer(repeating: 0.0, count: pr.table.count)
        _ = softmaxLoss(pr, dq: dq, dE: dE)
        GradCheck.check(pr.q, analytic: dq.array, h: hq, "\(what) dq", file: file, line: line) { self.softmaxLoss(pr, q: $0) }
        GradCheck.check(pr.table, analytic: dE.array, h: h, "\(what) dE", file: file, line: line) {
            self.softmaxLoss(pr, table: $0)
        }
    }

    func testSampledSoftmaxGradient() {
        var pr = problem(P: 4, R: 3, D: 11, V: 7, seed: 1)
        pr.neg[1 * 3 + 2] = pr.pos[1]        // collision: masked to −5·10⁴
        pr.neg[2 * 3 + 0] = pr.neg[2 * 3 + 1] // a repeated negative
        checkSoftmax(pr, "softmax")
        checkSoftmax(problem(P: 1, R: 1, D: 3, V: 3, seed: 2), "softmax P=1 R=1")
    }

    /// An item row with ‖E‖ < eps: ê = E / eps (the clamp branch of the normalisation).
    func testSampledSoftmaxClampedItem() {
        var pr = problem(P: 2, R: 2, D: 4, V: 5, seed: 3)
        for d in 0..<4 { pr.table[3 * 4 + d] *= 1e-7 }
        pr.neg[0] = 3; pr.pos[1] = 3
        // A tiny h keeps the perturbation of the clamped row inside the clamp (its gradient is
        // ~1/(eps·τ) = 2·10⁷, so the rounding noise of f/h stays negligible); q keeps a normal h.
        checkSoftmax(pr, h: 1e-13, "softmax clamped")
    }

    func testCollisionAndEmpty() {
        // Every negative equals the positive: the loss is −log 1 = 0 and no gradient flows.
        var pr = problem(P: 2, R: 3, D: 4, V: 5, seed: 4)
        for p in 0..<2 { for j in 0..<3 { pr.neg[p * 3 + j] = pr.pos[p] } }
        let dq = HostBuffer(repeating: 0.0, count: pr.q.count), dE = HostBuffer(repeating: 0.0, count: pr.table.count)
        let cos = HostBuffer(repeating: 0.0, count: 2 * 4)
        XCTAssertEqual(softmaxLoss(pr, dq: dq, dE: dE, cosines: cos), 0, accuracy: 1e-12)
        XCTAssertEqual(dq.array.map(abs).max(), 0)
        XCTAssertEqual(dE.array.map(abs).max(), 0)
        for p in 0..<2 { for j in 1...3 { XCTAssertEqual(cos.array[p * 4 + j], cos.array[p * 4]) } }  // raw cosines kept
        let empty = problem(P: 0, R: 3, D: 4, V: 5, seed: 5)
        XCTAssertEqual(softmaxLoss(empty), 0)
    }

    /// The Float backend agrees with the Float64 kernel, and is deterministic across thread counts.
    func testBackendFloatMatchesDouble() {
        let pr = problem(P: 70, R: 9, D: 13, V: 40, seed: 6)   // > one chunk of positions
        let dq = HostBuffer(repeating: 0.0, count: pr.q.count), dE = HostBuffer(repeating: 0.0, count: pr.table.count)
        let ref = softmaxLoss(pr, dq: dq, dE: dE)
        let backend = CPUBackend()
        func run(_ threads: Int) -> (Float, [Float], [Float]) {
            let saved = Parallel.threads
            Parallel.threads = threads
            defer { Parallel.threads = saved }
            let tq = Tensor(pr.q.map(Float.init), shape: [pr.P, pr.D])
            let tt = Tensor(pr.table.map(Float.init), shape: [pr.V, pr.D])
            let tdq = Tensor(zeros: [pr.P, pr.D]), tdE = Tensor(zeros: [pr.V, pr.D])
            let l = backend.sampledSoftmaxLoss(
                queries: tq, positiveIds: backend.upload(pr.pos, shape: [pr.P]),
                negativeIds: backend.upload(pr.neg, shape: [pr.P, pr.R]), itemTable: tt, positions: pr.P,
                negatives: pr.R, dim: pr.D, temperature: Float(Self.tau), l2Eps: Float(Self.eps), dQueries: tdq,
                dItemTable: tdE, cosines: nil)
            return (l, tdq.toArray(), tdE.toArray())
        }
        let (l1, dq1, dE1) = run(1), (l3, dq3, dE3) = run(3)
        XCTAssertEqual(Double(l1), ref, accuracy: 2e-6 * abs(ref))
        assertClose(dq1, dq.array, "dq f32")
        assertClose(dE1, dE.array, "dE f32")
        XCTAssertEqual(l1, l3); XCTAssertEqual(dq1, dq3); XCTAssertEqual(dE1, dE3)
    }

    func testSampleNegatives() {
        let backend = CPUBackend()
        let corpus: [Int32] = [3, 5, 8, 13, 21]
        let stream = PhiloxStream(seed: 9, stream: RandomStreamKind.negatives.stream(step: 12))
        let P = 101, R = 7
        let out = Tensor(zeros: [P, R], dtype: .i32)
        backend.sampleNegatives(corpus: backend.upload(corpus, shape: [5]), stream: stream, out: out, positions: P,
                                negatives: R)
        let ids = Array(UnsafeBufferPointer(start: out.int32s, count: P * R))
        for i in 0..<(P * R) { XCTAssertEqual(ids[i], corpus[stream.below(5, UInt64(i))]) }
        for c in corpus {   // every corpus id drawn roughly P·R/5 times
            XCTAssertEqual(Double(ids.filter { $0 == c }.count), Double(P * R) / 5, accuracy: 45)
        }
    }

    /// The model's path on a ragged batch (lengths 3, 1, 0, 5; the empty sequence contributes no
    /// position): raw outputs x (T, D) → L2 normalise (spec §2.4) → sampled softmax over the
    /// jagged positions, whose positive is the next id of the same sequence (the last position's
    /// the target). Gradient of x through both backwards, and of the table.
    func testRaggedBatchThroughL2Normalization() {
        var rng = TestRandom(seed: 20)
        let lengths = [3, 1, 0, 5], D = 6, V = 9, R = 4
        let T = lengths.reduce(0, +)
        // per sequence: ids[0..<L] history, ids[L] target
        var pos: [Int32] = []
        for l in lengths where l > 0 {
            let seq = (0...l).map { _ in Int32(rng.int(1, V - 1)) }
            pos += seq[1...l]
        }
        let x = rng.normals(T * D), table = rng.normals(V * D, std: 0.5)
        var neg = (0..<(T * R)).map { _ in Int32(rng.int(1, V - 1)) }
        neg[5] = pos[1]   // a collision inside the batch
        let bp = HostBuffer(pos), bn = HostBuffer(neg)
        func forward(_ x: [Double], _ table: [Double], dx: HostBuffer<Double>? = nil,
                     dE: HostBuffer<Double>? = nil) -> Double {
            let bx = HostBuffer(x), y = HostBuffer(repeating: 0.0, count: T * D), norms = HostBuffer(repeating: 0.0, count: T)
            NormKernels.l2NormalizeForward(bx.pointer, y.pointer, norms.pointer, T, D, Self.eps)
            let bt = HostBuffer(table), dy = HostBuffer(repeating: 0.0, count: T * D)
            let loss = K.sampledSoftmax(q: y.pointer, pos: bp.pointer, neg: bn.pointer, table: bt.pointer, vocab: V,
                                        positions: T, negatives: R, dim: D, temperature: Self.tau, eps: Self.eps,
                                        dq: dx == nil ? nil : dy.pointer, dE: dE?.pointer, cosines: nil)
            if let dx { NormKernels.l2NormalizeBackward(dy.pointer, bx.pointer, norms.pointer, dx.pointer, T, D, Self.eps) }
            return loss
        }
        let dx = HostBuffer(repeating: 0.0, count: T * D), dE = HostBuffer(repeating: 0.0, count: V * D)
        _ = forward(x, table, dx: dx, dE: dE)
        GradCheck.check(x, analytic: dx.array, "ragged dx") { forward($0, table) }
        GradCheck.check(table, analytic: dE.array, "ragged dE") { forward(x, $0) }
    }

    /// The stream-drawing convenience = sampleNegatives + explicit negatives.
    func testStreamVariantMatchesExplicit() {
        let pr = problem(P: 10, R: 6, D: 5, V: 12, seed: 21)
        let backend = CPUBackend()
        let corpus = backend.upload((1..<12).map { Int32($0) }, shape: [11])
        let stream = PhiloxStream(seed: 3, stream: RandomStreamKind.negatives.stream(step: 5))
        let tq = Tensor(pr.q.map(Float.init), shape: [pr.P, pr.D]), tt = Tensor(pr.table.map(Float.init), shape: [pr.V, pr.D])
        let pos = backend.upload(pr.pos, shape: [pr.P])
        let drawn = Tensor(zeros: [pr.P, pr.R], dtype: .i32)
        let a = backend.sampledSoftmaxLoss(queries: tq, positiveIds: pos, corpus: corpus, stream: stream,
                                           negativeIds: drawn, itemTable: tt, positions: pr.P, negatives: pr.R,
                                           dim: pr.D, temperature: 0.05, l2Eps: 1e-6, dQueries: nil, dItemTable: nil)
        let explicit = Tensor(zeros: [pr.P, pr.R], dtype: .i32)
        backend.sampleNegatives(corpus: corpus, stream: stream, out: explicit, positions: pr.P, negatives: pr.R)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: drawn.int32s, count: pr.P * pr.R)),
                       Array(UnsafeBufferPointer(start: explicit.int32s, count: pr.P * pr.R)))
        let b = backend.sampledSoftmaxLoss(queries: tq, positiveIds: pos, negativeIds: explicit, itemTable: tt,
                                           positions: pr.P, negatives: pr.R, dim: pr.D, temperature: 0.05,
                                           l2Eps: 1e-6, dQueries: nil, dItemTable: nil, cosines: nil)
        XCTAssertEqual(a, b)
    }

    // MARK: - BCE

    private func bceLoss(_ pr: Problem, q: [Double]? = nil, table: [Double]? = nil, tau: Double,
                         dq: HostBuffer<Double>? = nil, dE: HostBuffer<Double>? = nil) -> Double {
        let bq = HostBuffer(q ?? pr.q), bt = HostBuffer(table ?? pr.table)
        let bp = HostBuffer(pr.pos), bn = HostBuffer(pr.neg)
        return K.bce(q: bq.pointer, pos: bp.pointer, neg: bn.pointer, table: bt.pointer, vocab: pr.V, positions: pr.P,
                     dim: pr.D, temperature: tau, eps: Self.eps, dq: dq?.pointer, dE: dE?.pointer)
    }

    func testBCEGradientAndValue() {
        var pr = problem(P: 5, R: 1, D: 6, V: 6, seed: 10)
        pr.neg[2] = pr.pos[2]    // weight 0
        for tau in [1.0, 0.5] {
            let dq = HostBuffer(repeating: 0.0, count: pr.q.count), dE = HostBuffer(repeating: 0.0, count: pr.table.count)
            let loss = bceLoss(pr, tau: tau, dq: dq, dE: dE)
            GradCheck.check(pr.q, analytic: dq.array, "bce dq τ=\(tau)") { self.bceLoss(pr, q: $0, tau: tau) }
            GradCheck.check(pr.table, analytic: dE.array, "bce dE τ=\(tau)") { self.bceLoss(pr, table: $0, tau: tau) }
            // Direct formula: positive raw, negative normalised, mean over the weighted positions.
            var expected = 0.0, weighted = 0.0
            for p in 0..<5 where pr.neg[p] != pr.pos[p] {
                weighted += 1
                let qp = Array(pr.q[(p * 6)..<(p * 6 + 6)])
                let e = Array(pr.table[(Int(pr.pos[p]) * 6)..<(Int(pr.pos[p]) * 6 + 6)])
                let en = Array(pr.table[(Int(pr.neg[p]) * 6)..<(Int(pr.neg[p]) * 6 + 6)])
                let norm = en.reduce(0) { $0 + $1 * $1 }.squareRoot()
                let sp = zip(qp, e).reduce(0) { $0 + $1.0 * $1.1 } / tau
                let sn = zip(qp, en).reduce(0) { $0 + $1.0 * $1.1 } / norm / tau
                expected += 0.5 * (Foundation.log(1 + Foundation.exp(-sp)) + Foundation.log(1 + Foundation.exp(sn)))
            }
            XCTAssertEqual(loss, expected / weighted, accuracy: 1e-12)
        }
        for p in 0..<5 { pr.neg[p] = pr.pos[p] }
        XCTAssertEqual(bceLoss(pr, tau: 1), 0)   // no weighted position
        XCTAssertEqual(bceLoss(problem(P: 0, R: 1, D: 6, V: 6, seed: 11), tau: 1), 0)   // empty
    }

    // MARK: - Reference fixtures

    /// Loss value and raw cosines against the reference (`hstu_model`, `sasrec_model`): queries are
    /// the saved L2-normalised encoder outputs at the supervised positions, positives the next ids.
    func testFixtureLossAndCosines() throws {
        for name in ["hstu_model", "sasrec_model"] {
            let f = try Shared.fixture(name)
            let user = try f.doubles("output.user_embeddings"), ids = try f.int64s("input.past_ids")
            let lengths = try f.int64s("input.past_lengths").map(Int.init)
            let table = try f.doubles("param._embedding_module._item_emb.weight")
            let negs = try f.int64s("input.negative_ids").map { Int32($0) }
            let shape = try f.shape("output.user_embeddings")
            let (N, D) = (shape[1], shape[2])
            let R = try f.shape("input.negative_ids")[1]
            var q: [Double] = [], pos: [Int32] = []
            for b in 0..<lengths.count {
                for t in 0..<lengths[b] {
                    q += user[((b * N + t) * D)..<((b * N + t) * D + D)]
                    pos.append(Int32(ids[b * N + t + 1]))
                }
            }
            let P = pos.count
            let pr = Problem(q: q, table: table, pos: pos, neg: negs, P: P, R: R, D: D, V: table.count / D)
            let cos = HostBuffer(repeating: 0.0, count: P * (R + 1))
            let loss = softmaxLoss(pr, cosines: cos)
            XCTAssertEqual(loss, try f.doubles("output.loss")[0], accuracy: 1e-12, name)
            let posCos = try f.doubles("intermediate.pos_cos"), negCos = try f.doubles("intermediate.neg_cos")
            for p in 0..<P {
                XCTAssertEqual(cos.array[p * (R + 1)], posCos[p], accuracy: 1e-12, "\(name) pos_cos[\(p)]")
                for j in 0..<R {
                    XCTAssertEqual(cos.array[p * (R + 1) + 1 + j], negCos[p * R + j], accuracy: 1e-12,
                                   "\(name) neg_cos[\(p), \(j)]")
                }
            }
            // Float backend: the loss to the README's f32 tolerance.
            let backend = CPUBackend()
            let lf = backend.sampledSoftmaxLoss(
                queries: Tensor(q.map(Float.init), shape: [P, D]), positiveIds: backend.upload(pos, shape: [P]),
                negativeIds: backend.upload(negs, shape: [P, R]),
                itemTable: Tensor(table.map(Float.init), shape: [table.count / D, D]), positions: P, negatives: R,
                dim: D, temperature: 0.05, l2Eps: 1e-6, dQueries: nil, dItemTable: nil, cosines: nil)
            assertClose([lf], try f.doubles("output.loss"), atolScale: 0, rtol: 2e-6, "\(name) loss f32")
        }
    }
}
