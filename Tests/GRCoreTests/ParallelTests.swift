import Foundation
import GRCore
import XCTest

final class ParallelTests: XCTestCase {
    func testForEachVisitsEveryIndexOnceWithAnyThreadCount() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        for threads in [1, 2, 3, 8] {
            Parallel.threads = threads
            for count in [0, 1, 2, 5, 100] {
                let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
                hits.initialize(repeating: 0, count: max(count, 1))
                Parallel.forEach(count) { hits[$0] += 1 }
                XCTAssertEqual((0..<count).map { hits[$0] }, Array(repeating: 1, count: count), "\(threads) threads, \(count)")
                hits.deallocate()
            }
        }
    }

    func testForRangesCoversTheRange() {
        var seen = [Int](repeating: 0, count: 37)
        seen.withUnsafeMutableBufferPointer { p in
            Parallel.forRanges(37, minChunk: 4) { r in for i in r { p[i] += 1 } }
        }
        XCTAssertEqual(seen, Array(repeating: 1, count: 37))
    }
}
