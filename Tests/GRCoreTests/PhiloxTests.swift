import GRCore
import XCTest

final class PhiloxTests: XCTestCase {
    /// Known-answer vectors of Random123 (kat_vectors, philox4x32_10).
    func testKnownAnswers() {
        XCTAssertEqual(Philox4x32.block(counter: .zero, key: .zero),
                       SIMD4(0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8))
        XCTAssertEqual(Philox4x32.block(counter: SIMD4(repeating: 0xffff_ffff), key: SIMD2(repeating: 0xffff_ffff)),
                       SIMD4(0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd))
        XCTAssertEqual(Philox4x32.block(counter: SIMD4(0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344),
                                        key: SIMD2(0xa409_3822, 0x299f_31d0)),
                       SIMD4(0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1))
    }

    func testUniformRangeAndMean() {
        let s = PhiloxStream(seed: 42, stream: RandomStreamKind.negatives.stream(step: 3))
        var sum = 0.0
        for i in 0..<40_000 {
            let u = s.uniform(UInt64(i))
            XCTAssert(u >= 0 && u < 1)
            sum += Double(u)
        }
        XCTAssertEqual(sum / 40_000, 0.5, accuracy: 0.01)
        XCTAssertNotEqual(s.uint32(0), PhiloxStream(seed: 43, stream: s.stream).uint32(0))
        XCTAssertNotEqual(s.uint32(0), PhiloxStream(seed: 42, stream: s.stream + 1).uint32(0))
        for i in 0..<1000 { XCTAssert((0..<7).contains(s.below(7, UInt64(i)))) }
    }
}
