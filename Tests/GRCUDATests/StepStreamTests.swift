@testable import GRCUDA
import GRCore
import XCTest

/// The stream ids of a step capture (no device needed): the step bits become the device counter's
/// sentinel, kind and slot stay; outside a capture the id is unchanged.
final class StepStreamTests: XCTestCase {
    func testStepBitsBecomeTheSentinel() {
        let id = RandomStreamKind.negatives.stream(step: 7, slot: 3)
        XCTAssertEqual(CUDABackend.streamID(id, capturing: nil), id)
        let captured = CUDABackend.streamID(id, capturing: 7)
        XCTAssertEqual(captured & CUDABackend.stepBits, CUDABackend.stepBits)
        XCTAssertEqual(captured & ~CUDABackend.stepBits, id & ~CUDABackend.stepBits)
        // What the kernel's gr_stream_id does with counter value 9: the id of step 9.
        XCTAssertEqual(captured & ~CUDABackend.stepBits | 9 << 16, RandomStreamKind.negatives.stream(step: 9, slot: 3))
    }
}
