#if os(Linux)
import Foundation
import Synchronization

/// The persistent worker threads behind `Parallel.forEach` on Linux.
///
/// `run(n, body)` runs body(0) on the calling thread and body(1 ..< n) on workers 1 ..< n, and
/// returns when all have finished. An idle worker polls for its next job for `spinNanoseconds`
/// (`GR_SPIN_US`, default 100 µs) before it sleeps on a condition variable: the CPU backend issues
/// many parallel regions of a millisecond or less (a GEMM of the model takes 0.3–10 ms), and waking
/// a sleeping thread costs tens of microseconds, more on a virtual machine (Dispatch's workers
/// sleep at once). Jobs go to each worker's own slot (its body, index and a generation counter),
/// so a worker never reads a slot while the caller writes it. One caller at a time: `run` returns
/// false when the pool is busy (a nested or concurrent `forEach`), and the caller falls back to
/// Dispatch. The pool grows to the largest `n` asked for and never shrinks.
@usableFromInline
final class WorkerPool: @unchecked Sendable {
    @usableFromInline static let shared = WorkerPool()

    /// How long an idle worker polls before sleeping (`GR_SPIN_US` microseconds, default 100).
    static let spinNanoseconds: UInt64 = {
        let us = ProcessInfo.processInfo.environment["GR_SPIN_US"].flatMap { UInt64($0) } ?? 100
        return us * 1000
    }()

    /// Held by the one caller using the pool.
    private let inUse = NSLock()
    /// Workers 1, 2, … (index w at `workers[w - 1]`); only touched while `inUse` is held.
    private var workers: [Worker] = []
    /// Workers of the current job that have not finished yet.
    fileprivate let pending = Atomic<Int>(0)
    /// The nice value of the worker threads (`Parallel.workerNice`): each worker applies it to its
    /// own thread before its next job (Linux nice values are per thread).
    let nice = Atomic<Int>(0)

    /// Runs body(i) for i in 0 ..< n, body(0) on the calling thread. Returns false, running
    /// nothing, when the pool is in use.
    @usableFromInline
    func run(_ n: Int, _ body: (Int) -> Void) -> Bool {
        guard inUse.try() else { return false }
        defer { inUse.unlock() }
        while workers.count < n - 1 { workers.append(Worker(pool: self, index: workers.count + 1)) }
        withoutActuallyEscaping(body) { body in
            pending.store(n - 1, ordering: .relaxed)
            for w in 1..<max(n, 1) { workers[w - 1].start(body) }
            body(0)
            var polls = 0
            while pending.load(ordering: .acquiring) != 0 {
                polls += 1
                if polls > 64 { sched_yield() }
            }
            for w in 1..<max(n, 1) { workers[w - 1].body = nil }
        }
        return true
    }

    /// Monotonic clock in nanoseconds.
    fileprivate static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// One worker thread and its job slot.
private final class Worker: @unchecked Sendable {
    /// Bumped by the caller (releasing) after it wrote `body`; the worker runs one job per bump.
    let generation = Atomic<Int>(0)
    /// The job's body; written by the caller only while this worker is idle.
    var body: ((Int) -> Void)?
    let index: Int
    let wake = NSCondition()
    unowned let pool: WorkerPool

    init(pool: WorkerPool, index: Int) {
        self.pool = pool
        self.index = index
        let thread = Thread { [self] in loop() }
        thread.name = "gr-worker-\(index)"
        thread.start()
    }

    /// Hands the worker a job (called by the pool's caller while the worker is idle).
    func start(_ job: @escaping (Int) -> Void) {
        body = job
        generation.add(1, ordering: .releasing)
        // The worker checks `generation` with `wake` held before it waits, so this cannot be lost.
        wake.lock()
        wake.signal()
        wake.unlock()
    }

    private func loop() {
        var seen = 0
        var niceApplied = 0
        while true {
            let spinStart = WorkerPool.now()
            var current = generation.load(ordering: .acquiring)
            while current == seen {
                if WorkerPool.now() &- spinStart > WorkerPool.spinNanoseconds {
                    wake.lock()
                    while generation.load(ordering: .acquiring) == seen { wake.wait() }
                    wake.unlock()
                }
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            let nice = pool.nice.load(ordering: .relaxed)
            if nice != niceApplied {
                // Per thread on Linux; raising one's own nice needs no privilege.
                Parallel.setThreadNice(nice)
                niceApplied = nice
            }
            body?(index)
            pool.pending.subtract(1, ordering: .releasing)
        }
    }
}
#endif
