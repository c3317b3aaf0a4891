import Foundation
import GRCore
import XCTest

/// `Parallel.forEach` through the spinning worker pool (Linux): many back-to-back jobs, jobs after
/// the workers went to sleep, nested calls (Dispatch fallback) and concurrent callers.
final class WorkerPoolTests: XCTestCase {
    /// Runs forEach(count) and checks every index ran exactly once.
    func checkOnce(_ count: Int, file: StaticString = #filePath, line: UInt = #line) {
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
        defer { hits.deallocate() }
        hits.initialize(repeating: 0, count: max(count, 1))
        Parallel.forEach(count) { hits[$0] += 1 }
        for i in 0..<count where hits[i] != 1 {
            XCTFail("index \(i) of \(count) ran \(hits[i]) times", file: file, line: line)
            return
        }
    }

    func testBackToBackAndAfterSleeping() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        for threads in [2, 3] {
            Parallel.threads = threads
            for round in 0..<500 { checkOnce(1 + round % 7) }
            // Let the workers pass their spin time and sleep, then wake them again.
            for _ in 0..<5 {
                usleep(2000)
                checkOnce(threads)
            }
        }
    }

    func testNestedCallsFallBack() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 2
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 12)
        defer { hits.deallocate() }
        hits.initialize(repeating: 0, count: 12)
        Parallel.forEach(3) { outer in
            Parallel.forEach(4) { inner in hits[outer * 4 + inner] += 1 }
        }
        XCTAssertEqual((0..<12).map { hits[$0] }, Array(repeating: 1, count: 12))
    }

    func testConcurrentCallers() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 2
        let failures = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        defer { failures.deallocate() }
        failures.initialize(repeating: 0, count: 4)
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for round in 0..<300 {
                let count = 1 + round % 5
                let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
                hits.initialize(repeating: 0, count: count)
                Parallel.forEach(count) { hits[$0] += 1 }
                if (0..<count).contains(where: { hits[$0] != 1 }) { failures[caller] += 1 }
                hits.deallocate()
            }
        }
        XCTAssertEqual((0..<4).map { failures[$0] }, [0, 0, 0, 0])
    }
}
