import GRCore
import GRCPU
import XCTest

/// The 8-block SIMD Philox used by dropout / negative sampling equals `PhiloxStream.block`.
final class PhiloxBatchTests: XCTestCase {
    func testMatchesPhiloxStream() {
        let streams = [PhiloxStream(seed: 0, stream: 0),
                       PhiloxStream(seed: 0xDEAD_BEEF_0123_4567, stream: RandomStreamKind.layerDropout.stream(step: 99, slot: 7))]
        // includes a first block whose 8 lanes cross the 2³² boundary of the block counter
        for s in streams {
            let batch = PhiloxBatch(s)
            for first: UInt64 in [0, 1, 1000, (1 << 32) - 3, (1 << 40) + 5] {
                let (w0, w1, w2, w3) = batch.blocks8(first)
                for lane in 0..<8 {
                    let ref = s.block(first + UInt64(lane))
                    XCTAssertEqual([UInt32(w0[lane]), UInt32(w1[lane]), UInt32(w2[lane]), UInt32(w3[lane])],
                                   [ref[0], ref[1], ref[2], ref[3]], "block \(first + UInt64(lane))")
                }
            }
            var words = [UInt32](repeating: 0, count: 32), lane = [UInt64](repeating: 0, count: 32)
            batch.words32(3, into: &words)
            batch.words32LaneMajor(3, into: &lane)
            for k in 0..<32 {
                XCTAssertEqual(words[k], s.uint32(UInt64(96 + k)))
                XCTAssertEqual(UInt32(lane[PhiloxBatch.index(k)]), s.uint32(UInt64(96 + k)))
            }
        }
    }
}
