@testable import GRCUDA
import XCTest

/// The capture's completeness check (no device needed): a graph with fewer nodes than the stream
/// operations queued during its capture is refused (the emulator's cuBLASLt GEMMs once ran at
/// capture time instead of being recorded, so replays skipped every GEMM: the session-4 parity bug).
final class GraphCompletenessTests: XCTestCase {
    func testMissingNodesAreReported() {
        var d = CUDAStats()
        d.launches = 43; d.gemms = 15; d.uploads = 5; d.memsets = 10; d.deviceCopies = 2
        XCTAssertEqual(d.streamOps, 75)
        XCTAssertNil(CUDAGraph.missingWork(nodes: 75, queued: d))
        XCTAssertNil(CUDAGraph.missingWork(nodes: 90, queued: d), "a GEMM may be several kernel nodes")
        let why = CUDAGraph.missingWork(nodes: 60, queued: d)
        XCTAssertNotNil(why)
        XCTAssertTrue(why!.contains("15 ran outside the capture"), why!)
    }
}
