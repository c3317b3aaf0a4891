import Foundation
import GRCore
import XCTest

/// `Parallel.forEach` through the spinning worker pool (Linux): many back-to-back jobs, jobs after
/// the workers went to sleep, nested calls (Dispatch fallback) and concurrent callers.
final class WorkerPoolTests: XCTestCase {
    /// Runs forEach(count); true when every index ran exactly once.
    static func runsOnce(_ count: Int) -> Bool {
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
        defer { hits.deallocate() }
        hits.initialize(repeating: 0, count: max(count, 1))
        Parallel.forEach(count) { hits[$0] += 1 }
        return (0..<count).allSatisfy { hits[$0] == 1 }
    }

    func checkOnce(_ count: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(Self.runsOnce(count), "forEach(\(count))", file: file, line: line)
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

    /// `Parallel.workerNice` reaches the pool's threads before their next job (Linux: nice is per
    /// thread), and `setThreadNice` changes the calling thread only.
    func testWorkerNiceReachesThePoolThreads() {
        #if os(Linux)
        let saved = Parallel.threads
        defer { Parallel.threads = saved; Parallel.workerNice = 0 }
        Parallel.threads = 2
        Parallel.workerNice = 1
        let seen = UnsafeMutablePointer<Int32>.allocate(capacity: 2)
        defer { seen.deallocate() }
        Parallel.forEach(2) { i in seen[i] = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) }
        XCTAssertEqual(seen[1], 1, "worker")
        XCTAssertEqual(seen[0], getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0), "the caller keeps its own")
        // setThreadNice on the worker: that thread only.
        let caller = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        Parallel.forEach(2) { i in
            if i == 1 { Parallel.setThreadNice(2) }
            seen[i] = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        }
        XCTAssertEqual(seen[1], 2, "worker after setThreadNice")
        XCTAssertEqual(seen[0], caller, "caller")
        #endif
    }

    func testNestedCallsFallBack() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 2
        let nestedOK = UnsafeMutablePointer<Bool>.allocate(capacity: 3)
        defer { nestedOK.deallocate() }
        nestedOK.initialize(repeating: false, count: 3)
        Parallel.forEach(3) { outer in nestedOK[outer] = Self.runsOnce(4 + outer) }
        XCTAssertEqual((0..<3).map { nestedOK[$0] }, [true, true, true])
    }

    func testConcurrentCallers() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 2
        let failures = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        defer { failures.deallocate() }
        failures.initialize(repeating: 0, count: 4)
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for round in 0..<300 where !Self.runsOnce(1 + round % 5) { failures[caller] += 1 }
        }
        XCTAssertEqual((0..<4).map { failures[$0] }, [0, 0, 0, 0])
    }
}
