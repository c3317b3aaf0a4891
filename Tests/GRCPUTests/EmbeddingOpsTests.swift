import GRCore
import GRCPU
import GRTestSupport
import XCTest

final class EmbeddingOpsTests: XCTestCase {
    typealias K = EmbeddingKernels

    func testGatherScatterGradient() {
        var rng = TestRandom(seed: 1)
        let vocab = 6, dim = 3
        let ids: [Int32] = [2, 0, 5, 2, 1, 2]      // repeated id, the padding id
        let rows = ids.count
        let table = rng.normals(vocab * dim), r = rng.normals(rows * dim), scale = 3.0.squareRoot()
        let bid = HostBuffer(ids)
        for padding: Int32? in [0, nil] {
            let f: ([Double]) -> Double = { t in
                let bt = HostBuffer(t), out = HostBuffer(repeating: 0.0, count: rows * dim)
                K.forward(bt.pointer, vocab, bid.pointer, scale, out.pointer, rows, dim, false)
                // the padding row's output is masked by the model: mimic it so the check is exact
                var y = out.array
                if let padding { for i in 0..<rows where ids[i] == padding { for c in 0..<dim { y[i * dim + c] = 0 } } }
                return zip(y, r).reduce(0) { $0 + $1.0 * $1.1 }
            }
            let br = HostBuffer(r), dt = HostBuffer(repeating: 0.0, count: table.count)
            K.backward(br.pointer, bid.pointer, scale, dt.pointer, vocab, rows, dim, padding)
            GradCheck.check(table, analytic: dt.array, "embedding padding \(String(describing: padding))", f)
            if padding != nil { XCTAssertEqual(Array(dt.array[0..<dim]), [0, 0, 0], "padding row gets no gradient") }
        }
    }

    func testAccumulateAndEmpty() {
        let backend = CPUBackend()
        let table = Tensor([0, 0, 1, 2, 3, 4], shape: [3, 2])
        let ids = backend.upload([Int32](arrayLiteral: 2, 1), shape: [2])
        let out = Tensor([10, 10, 10, 10], shape: [2, 2])
        backend.embeddingForward(table: table, ids: ids, scale: 2, out: out, rows: 2, dim: 2, accumulate: true)
        XCTAssertEqual(out.toArray(), [16, 18, 12, 14])
        backend.embeddingForward(table: table, ids: ids, scale: 1, out: out, rows: 2, dim: 2, accumulate: false)
        XCTAssertEqual(out.toArray(), [3, 4, 1, 2])
        let dt = Tensor(zeros: [3, 2])
        backend.embeddingBackward(dOut: out, ids: ids, scale: 1, dTable: dt, rows: 0, dim: 2, paddingId: 0)
        XCTAssertEqual(dt.toArray(), [0, 0, 0, 0, 0, 0])
    }

    /// Scatter-add over many rows: identical bits for 1 and 4 threads.
    func testBackwardDeterministicAcrossThreads() {
        var rng = TestRandom(seed: 2)
        let rows = 3000, dim = 16, vocab = 50
        let ids = backendIds((0..<rows).map { _ in Int32(rng.int(0, vocab - 1)) })
        let g = Tensor(rng.normals(rows * dim).map(Float.init), shape: [rows, dim])
        func run(_ threads: Int) -> [Float] {
            let saved = Parallel.threads
            Parallel.threads = threads
            defer { Parallel.threads = saved }
            let dt = Tensor(zeros: [vocab, dim])
            CPUBackend().embeddingBackward(dOut: g, ids: ids, scale: 0.5, dTable: dt, rows: rows, dim: dim, paddingId: 0)
            return dt.toArray()
        }
        XCTAssertEqual(run(1), run(4))
    }

    private func backendIds(_ v: [Int32]) -> Tensor { CPUBackend().upload(v, shape: [v.count]) }
}
