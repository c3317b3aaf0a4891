import GRCore
import GRCUDA
import XCTest

/// CPU-vs-CUDA parity of every op (see `CUDAParity`). Skipped, with the loader's message, on
/// machines without a CUDA driver (CI): there `CUDABackend.shared` fails to load libcuda.
final class CUDAParityTests: XCTestCase {
    func backend() throws -> CUDABackend {
        switch CUDABackend.shared {
        case .success(let b): return b
        case .failure(let e): throw XCTSkip("no CUDA here: \(e)")
        }
    }

    func testLoaderFailureIsDescriptive() {
        if case .failure(let e) = CUDABackend.shared {
            XCTAssertFalse("\(e)".isEmpty)
        }
    }

    func testEveryOpMatchesCPU() throws {
        let gpu = try backend()
        for r in CUDAParity.all(gpu: gpu) {
            XCTAssertTrue(r.passed, "\(r.name): relative error \(r.error) > \(r.tolerance)")
        }
    }
}
