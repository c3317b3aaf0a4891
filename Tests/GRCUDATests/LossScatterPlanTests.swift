@testable import GRCUDA
import XCTest

/// The column slices of `gr_loss_scatter_slices` (no device needed): equal slices of at most 16
/// columns whose (V, S) table plus the per-item sums fit the shared memory, or nil (the atomic
/// kernel) when fewer than 4 columns fit.
final class LossScatterPlanTests: XCTestCase {
    let h100 = 226 * 1024

    func testML1MTableTakesFourSlicesOfThirteen() {
        let s = CUDABackend.scatterSliceWidth(vocab: 3953, dim: 50, sharedBytes: h100)
        XCTAssertEqual(s, 13)
        XCTAssertLessThanOrEqual((3953 * 13 + 3953) * 4, h100)
    }

    func testEverySliceFitsAndCoversTheColumns() {
        for vocab in [1, 2, 401, 3001, 3953, 9000, 14_000] {
            for dim in [1, 3, 8, 25, 32, 50, 64, 128] {
                guard let s = CUDABackend.scatterSliceWidth(vocab: vocab, dim: dim, sharedBytes: h100) else { continue }
                XCTAssertGreaterThanOrEqual(s, 1)
                XCTAssertLessThanOrEqual(s, 16)
                XCTAssertLessThanOrEqual(s, dim)
                XCTAssertLessThanOrEqual((vocab * s + vocab) * 4, h100, "V \(vocab) D \(dim) S \(s)")
                let slices = (dim + s - 1) / s
                XCTAssertGreaterThan(dim - (slices - 1) * s, 0, "the last slice has columns")
            }
        }
    }

    func testLargeTablesKeepTheAtomicKernel() {
        XCTAssertNil(CUDABackend.scatterSliceWidth(vocab: 26_744, dim: 50, sharedBytes: h100))    // ML-20M
        XCTAssertNil(CUDABackend.scatterSliceWidth(vocab: 131_263, dim: 50, sharedBytes: h100))
        XCTAssertNil(CUDABackend.scatterSliceWidth(vocab: 3953, dim: 50, sharedBytes: 48 * 1024 - 1024))
    }
}
