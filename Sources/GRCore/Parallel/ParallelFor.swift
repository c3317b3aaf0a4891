import Dispatch
import Foundation

/// Threading for the CPU backend. Work is split into a fixed number of chunks that depends only
/// on the problem size and `Parallel.threads`, so results are deterministic for a given thread count.
public enum Parallel {
    /// Number of worker threads: `GR_THREADS` if set, else the machine's active cores.
    nonisolated(unsafe) public static var threads: Int = {
        if let s = ProcessInfo.processInfo.environment["GR_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Runs `body(i)` for i in 0..<count, on up to `threads` threads. Runs inline when count <= 1.
    @inlinable
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        if count == 1 || threads == 1 || InlineScope.active {
            for i in 0..<count { body(i) }
            return
        }
        let workers = min(count, threads)
        withoutActuallyEscaping(body) { body in
            // More items than threads: `workers` threads pull the next index from a shared
            // counter, so at most `threads` run at once and uneven items still balance.
            let next = WorkCounter()
            let run: (Int) -> Void = workers == count ? body : { _ in
                while case let i = next.take(), i < count { body(i) }
            }
            #if os(Linux)
            // The spinning worker pool (fast wake-up); Dispatch when it is busy (nested calls).
            if WorkerPool.shared.run(workers, run) { return }
            #endif
            DispatchQueue.concurrentPerform(iterations: workers, execute: run)
        }
    }

    /// Runs `body` with every `forEach` / `forRanges` issued from this thread (inside `body`) run
    /// inline on it, in index order, as with one thread: for callers that already split the work
    /// over threads themselves (one parallel region for a whole serving forward instead of one per
    /// op). Nests; other threads are not affected.
    public static func inline<R>(_ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(InlineScope.key)
        pthread_setspecific(InlineScope.key, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(InlineScope.key, previous) }
        return try body()
    }

    /// The nice value (0...19) of the worker pool's threads on Linux, applied by each worker before
    /// its next job; 0 by default. `gr serve` runs its engine threads at a lower priority than
    /// the HTTP threads (docs/serving.md, Threads). No effect elsewhere.
    public static var workerNice: Int {
        get {
            #if os(Linux)
            return WorkerPool.shared.nice.load(ordering: .relaxed)
            #else
            return 0
            #endif
        }
        set {
            #if os(Linux)
            WorkerPool.shared.nice.store(newValue, ordering: .relaxed)
            #endif
        }
    }

    /// Sets the calling thread's nice value (Linux: per thread; elsewhere nothing). Returns false
    /// when the system refused it.
    @discardableResult
    public static func setThreadNice(_ nice: Int) -> Bool {
        #if os(Linux)
        // who = 0: the calling thread only (Linux/NPTL).
        return setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Int32(nice)) == 0
        #else
        return true
        #endif
    }

    /// True inside `inline` on this thread: `forEach` / `forRanges` run inline here.
    public static var isInline: Bool { InlineScope.active }

    /// Splits 0..<n into `threads` contiguous ranges (fewer when n is small) and runs them in parallel.
    @inlinable
    public static func forRanges(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        if n <= 0 { return }
        let parts = max(1, min(threads, (n + minChunk - 1) / max(minChunk, 1)))
        forEach(parts) { p in
            let lo = n * p / parts, hi = n * (p + 1) / parts
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// The thread-local flag of `Parallel.inline` (a pthread key: set = run inline).
@usableFromInline
enum InlineScope {
    @usableFromInline static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    @usableFromInline static var active: Bool { pthread_getspecific(key) != nil }
}

/// A lock-protected counter handing out work-item indices (items are coarse, so a lock is cheap).
public final class WorkCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    public init() {}
    /// Returns the next index, starting at 0.
    public func take() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value - 1
    }
}
