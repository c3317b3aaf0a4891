import GRCore
@testable import GRCPU
import GRTestSupport
import XCTest

/// Checks `CPUGEMM.sgemm` against a Float64 reference, for every kernel this CPU supports.
final class GEMMTests: XCTestCase {
    /// SplitMix64: deterministic test data without depending on the library's RNG.
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        /// Uniform in [-1, 1).
        mutating func float() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
        mutating func int(_ range: ClosedRange<Int>) -> Int {
            range.lowerBound + Int(next() % UInt64(range.count))
        }
    }

    /// One GEMM case: runs sgemm and checks every element of C, including the padding past n in
    /// each row of C (which must be left untouched).
    func check(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, beta: Float,
               padA: Int = 0, padB: Int = 0, padC: Int = 0, nanInC: Bool = false,
               rng: inout SplitMix, file: StaticString = #filePath, line: UInt = #line) {
        let lda = max(1, transA ? m : k) + padA, ldb = max(1, transB ? k : n) + padB, ldc = n + padC
        let aRows = transA ? k : m, bRows = transB ? n : k
        let a = (0..<max(aRows * lda, 1)).map { _ in rng.float() }
        let b = (0..<max(bRows * ldb, 1)).map { _ in rng.float() }
        let sentinel: Float = 12345
        var c = (0..<max(m * ldc, 1)).map { _ in rng.float() }
        for i in 0..<m { for j in n..<ldc { c[i * ldc + j] = sentinel } }
        if nanInC { for i in 0..<m { for j in 0..<n { c[i * ldc + j] = .nan } } }
        let c0 = c
        CPUGEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                      b: b, ldb: ldb, beta: beta, c: &c, ldc: ldc)
        let what = "\(CPUGEMM.kernel) directMaxN \(CPUGEMM.directMaxN) directBMaxM \(CPUGEMM.directBMaxM) \(transA ? "T" : "N")\(transB ? "T" : "N") m\(m) n\(n) k\(k) "
            + "alpha \(alpha) beta \(beta) pads \(padA)/\(padB)/\(padC)"
        var failures = 0
        for i in 0..<m {
            for j in 0..<ldc {
                let got = c[i * ldc + j]
                if j >= n {
                    if got != sentinel, failures < 3 {
                        XCTFail("\(what): padding C[\(i), \(j)] overwritten", file: file, line: line)
                        failures += 1
                    }
                    continue
                }
                var s = 0.0, mag = 0.0
                for p in 0..<k {
                    let x = Double(transA ? a[p * lda + i] : a[i * lda + p])
                    let y = Double(transB ? b[j * ldb + p] : b[p * ldb + j])
                    s += x * y
                    mag += abs(x * y)
                }
                let old = Double(c0[i * ldc + j])
                let ref = Double(alpha) * s + (beta == 0 ? 0 : Double(beta) * old)
                let scale = abs(Double(alpha)) * mag + (beta == 0 ? 0 : abs(Double(beta) * old))
                // f32 accumulation: error ≤ ~k·ε·Σ|a·b| (ε = 2⁻²⁴), with slack.
                let tol = 4 * Double(k + 2) * 6e-8 * scale + 1e-30
                if !(abs(Double(got) - ref) <= tol), failures < 3 {
                    XCTFail("\(what): C[\(i), \(j)] = \(got), expected \(ref) (tol \(tol))", file: file, line: line)
                    failures += 1
                }
            }
        }
    }

    /// Runs `body` once per kernel this CPU supports, each with A read in place where the driver
    /// chooses to and with A always packed, all small products multi-threaded; restores the
    /// defaults afterwards.
    func forEachKernel(_ body: () -> Void) {
        let saved = CPUGEMM.kernel, savedMaxN = CPUGEMM.directMaxN, savedMinFlops = CPUGEMM.minParallelFlops
        let savedMaxM = CPUGEMM.directBMaxM
        defer {
            CPUGEMM.kernel = saved; CPUGEMM.directMaxN = savedMaxN; CPUGEMM.minParallelFlops = savedMinFlops
            CPUGEMM.directBMaxM = savedMaxM
        }
        CPUGEMM.minParallelFlops = 0
        for kern in GEMMKernel.allCases where kern.isSupported {
            for (maxN, maxM) in [(savedMaxN, savedMaxM), (0, savedMaxM), (savedMaxN, 0), (0, 0)] {
                CPUGEMM.kernel = kern
                CPUGEMM.directMaxN = maxN
                CPUGEMM.directBMaxM = maxM
                body()
            }
        }
    }

    func testTinyGEMM() {
        // [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50]
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6, 7, 8]
        forEachKernel {
            var c = [Float](repeating: .nan, count: 4)
            CPUGEMM.sgemm(transA: false, transB: false, m: 2, n: 2, k: 2, alpha: 1, a: a, lda: 2, b: b, ldb: 2,
                          beta: 0, c: &c, ldc: 2)
            XCTAssertEqual(c, [19, 22, 43, 50], "\(CPUGEMM.kernel)")
        }
    }

    /// Edge sizes (1, odd, around the 6-row / 16- and 32-column tiles) in all four transpose cases.
    func testEdgeSizesAllTransposes() {
        var rng = SplitMix(state: 1)
        let sizes = [(1, 1, 1), (1, 33, 5), (7, 1, 3), (5, 17, 1), (6, 32, 8), (13, 31, 7), (7, 33, 9), (19, 50, 11)]
        forEachKernel {
            for (m, n, k) in sizes {
                for transA in [false, true] {
                    for transB in [false, true] {
                        check(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, beta: 0,
                              nanInC: true, rng: &rng)
                    }
                }
            }
        }
    }

    /// Random shapes with leading dimensions larger than the natural ones, and alpha / beta.
    func testRandomShapesStridesAlphaBeta() {
        var rng = SplitMix(state: 2)
        forEachKernel {
            for _ in 0..<12 {
                let m = rng.int(1...40), n = rng.int(1...70), k = rng.int(1...30)
                let alpha: Float = [1, -0.5, 2.25][rng.int(0...2)]
                let beta: Float = [0, 1, -1.5][rng.int(0...2)]
                check(transA: rng.int(0...1) == 1, transB: rng.int(0...1) == 1, m: m, n: n, k: k,
                      alpha: alpha, beta: beta, padA: rng.int(0...5), padB: rng.int(0...5), padC: rng.int(0...5),
                      rng: &rng)
            }
        }
    }

    /// beta == 0 ignores NaN already in C; beta != 0 keeps it (NaN · beta = NaN, as in BLAS).
    func testBetaZeroIgnoresNaN() {
        var rng = SplitMix(state: 3)
        forEachKernel {
            for (transA, transB) in [(false, false), (true, true)] {
                check(transA: transA, transB: transB, m: 9, n: 35, k: 4, alpha: 0.5, beta: 0, padC: 3,
                      nanInC: true, rng: &rng)
            }
            var c = [Float](repeating: .nan, count: 4)
            let a: [Float] = [1, 2], b: [Float] = [3, 4]
            CPUGEMM.sgemm(transA: false, transB: false, m: 2, n: 2, k: 1, alpha: 1, a: a, lda: 1, b: b, ldb: 2,
                          beta: 1, c: &c, ldc: 2)
            XCTAssertTrue(c.allSatisfy(\.isNaN), "beta 1 must propagate NaN in C (\(CPUGEMM.kernel))")
        }
    }

    /// k == 0 and alpha == 0 only scale C by beta (zeros for beta == 0, even over NaN).
    func testDegenerateKAndAlpha() {
        var rng = SplitMix(state: 4)
        forEachKernel {
            check(transA: false, transB: false, m: 3, n: 5, k: 0, alpha: 1, beta: 0, nanInC: true, rng: &rng)
            check(transA: true, transB: false, m: 3, n: 5, k: 0, alpha: 1, beta: 2, rng: &rng)
            check(transA: false, transB: true, m: 4, n: 3, k: 6, alpha: 0, beta: 0.5, padC: 1, rng: &rng)
        }
    }

    /// Sizes that cross the cache blocks: K > KC (the second K block accumulates into C),
    /// M over several MC blocks and thread chunks, N > NC.
    func testBlockBoundaries() {
        var rng = SplitMix(state: 5)
        forEachKernel {
            let kern = CPUGEMM.kernel
            check(transA: false, transB: false, m: 7, n: 9, k: kern.kc + 37, alpha: 1, beta: 0.5, rng: &rng)
            check(transA: true, transB: true, m: 8, n: 5, k: kern.kc + 1, alpha: -1, beta: 0, nanInC: true, rng: &rng)
            check(transA: true, transB: false, m: 3 * kern.mc + 5, n: 7, k: 3, alpha: 1, beta: 0, rng: &rng)
            check(transA: false, transB: true, m: 2 * kern.mc + 1, n: 3, k: 2, alpha: 1, beta: 1, padA: 1, rng: &rng)
            check(transA: false, transB: false, m: 2, n: kern.nc + 19, k: 2, alpha: 1, beta: 0, nanInC: true, rng: &rng)
            check(transA: true, transB: true, m: 2, n: kern.nc + 3, k: 3, alpha: 1, beta: 0, rng: &rng)
            // The private path (A packed: directMaxN 0) across K blocks and across NC blocks.
            check(transA: true, transB: false, m: 2 * kern.mc + 1, n: 9, k: kern.kc + 5, alpha: 1, beta: -0.5,
                  padA: 2, rng: &rng)
            check(transA: false, transB: true, m: 2 * kern.mc + 7, n: kern.nc + 5, k: 3, alpha: 1, beta: 0,
                  nanInC: true, rng: &rng)
        }
    }

    /// Thread counts that split M unevenly (both the shared-B̂ path and the private-B̂ path of large
    /// products) give the same results, bit for bit, as one thread.
    func testThreadCountsAgree() {
        var rng = SplitMix(state: 6)
        let savedThreads = Parallel.threads, savedMaxN = CPUGEMM.directMaxN
        let savedMinFlops = CPUGEMM.minParallelFlops
        defer {
            Parallel.threads = savedThreads; CPUGEMM.directMaxN = savedMaxN
            CPUGEMM.minParallelFlops = savedMinFlops
        }
        CPUGEMM.minParallelFlops = 0  // parallelise even these small test products
        let m = 5 * CPUGEMM.kernel.mc + 7, n = 37, k = 19
        let a = (0..<m * k).map { _ in rng.float() }, b = (0..<k * n).map { _ in rng.float() }
        for maxN in [savedMaxN, 0] {
            CPUGEMM.directMaxN = maxN
            assertThreadCountsAgree(transA: false, transB: true, m: m, n: n, k: k, a: a, b: b, "directMaxN \(maxN)")
        }
        Parallel.threads = 3
        // Short M, long K: the weight-gradient shape (D × T)·(T × D); threads split B̂ panels.
        check(transA: true, transB: false, m: 13, n: 70, k: 600, alpha: 1, beta: 1, padC: 2, rng: &rng)
        check(transA: true, transB: false, m: 7 * CPUGEMM.kernel.mc + 1, n: 9, k: 300, alpha: 1, beta: 0.5,
              rng: &rng)
        CPUGEMM.directMaxN = 0
        check(transA: false, transB: false, m: 7 * CPUGEMM.kernel.mc + 1, n: 9, k: 300, alpha: 1, beta: 0.5,
              rng: &rng)
    }

    /// The K-split path (short M and N, long K: weight gradients), reached with small K by lowering
    /// its thresholds: every transpose case, odd sizes around the 12 × 32 / 6 × 16 tiles, K not a
    /// multiple of KC, strides, alpha / beta, NaN in C with beta == 0, and one K part only.
    func testKSplitPath() {
        var rng = SplitMix(state: 7)
        let savedMinK = CPUGEMM.kSplitMinK, savedPartK = CPUGEMM.kSplitMinPartK
        let savedKernel = CPUGEMM.kernel
        defer { CPUGEMM.kSplitMinK = savedMinK; CPUGEMM.kSplitMinPartK = savedPartK; CPUGEMM.kernel = savedKernel }
        for kern in GEMMKernel.allCases where kern.isSupported {
            CPUGEMM.kernel = kern
            let kc = kern.kc
            CPUGEMM.kSplitMinK = 1
            CPUGEMM.kSplitMinPartK = kc
            for (transA, transB) in [(true, false), (false, false), (false, true), (true, true)] {
                check(transA: transA, transB: transB, m: 13, n: 35, k: 2 * kc + 17, alpha: 1, beta: 0,
                      nanInC: true, rng: &rng)
            }
            check(transA: true, transB: false, m: 25, n: 7, k: 3 * kc - 3, alpha: -0.5, beta: 1.5,
                  padA: 3, padB: 1, padC: 2, rng: &rng)
            check(transA: true, transB: false, m: 1, n: 1, k: 2 * kc + 1, alpha: 2, beta: 0, nanInC: true, rng: &rng)
            CPUGEMM.kSplitMinPartK = 100 * kc  // a single part
            check(transA: true, transB: false, m: 12, n: 33, k: kc + 5, alpha: 1, beta: -1, rng: &rng)
        }
    }

    /// The K-split path gives the same result, bit for bit, on 1, 2 and 3 threads (its K parts are
    /// fixed by K alone and summed in order).
    func testKSplitThreadCountsAgree() {
        var rng = SplitMix(state: 8)
        let savedThreads = Parallel.threads, savedMinK = CPUGEMM.kSplitMinK
        let savedPartK = CPUGEMM.kSplitMinPartK, savedMinFlops = CPUGEMM.minParallelFlops
        defer {
            Parallel.threads = savedThreads; CPUGEMM.kSplitMinK = savedMinK
            CPUGEMM.kSplitMinPartK = savedPartK; CPUGEMM.minParallelFlops = savedMinFlops
        }
        CPUGEMM.minParallelFlops = 0
        CPUGEMM.kSplitMinK = 1
        CPUGEMM.kSplitMinPartK = CPUGEMM.kernel.kc
        let m = 19, n = 41, k = 7 * CPUGEMM.kernel.kc + 9
        let a = (0..<k * m).map { _ in rng.float() }, b = (0..<k * n).map { _ in rng.float() }
        assertThreadCountsAgree(transA: true, transB: false, m: m, n: n, k: k, a: a, b: b, "K-split")
    }

    /// C = op(A)·op(B) (natural leading dimensions, beta 0 over NaN) on 1, 2 and 3 threads: equal bit
    /// for bit, and no NaN left. Leaves `Parallel.threads` changed (callers restore it).
    func assertThreadCountsAgree(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: [Float], b: [Float],
                                 _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        var results: [[Float]] = []
        for threads in [1, 2, 3] {
            Parallel.threads = threads
            var c = [Float](repeating: .nan, count: m * n)
            CPUGEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: a, lda: transA ? m : k,
                          b: b, ldb: transB ? k : n, beta: 0, c: &c, ldc: n)
            results.append(c)
        }
        XCTAssertEqual(results[0], results[1], "1 vs 2 threads, \(what)", file: file, line: line)
        XCTAssertEqual(results[0], results[2], "1 vs 3 threads, \(what)", file: file, line: line)
        XCTAssertFalse(results[0].contains { $0.isNaN }, what, file: file, line: line)
    }

    /// The backend entry point forwards to `CPUGEMM.sgemm` on tensor views.
    func testBackendGEMMOnTensors() {
        let backend = CPUBackend()
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])          // (M, K) = (2, 3)
        let b = Tensor([1, 0, 0, 1, 1, 1], shape: [3, 2])          // (K, N) = (3, 2)
        let c = Tensor([Float](repeating: .nan, count: 4), shape: [2, 2])
        backend.gemm(transA: false, transB: false, m: 2, n: 2, k: 3, alpha: 1, a: a, lda: 3, b: b, ldb: 2,
                     beta: 0, c: c, ldc: 2)
        XCTAssertEqual(c.toArray(), [4, 5, 10, 11])
    }
}
