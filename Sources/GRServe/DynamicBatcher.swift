import Foundation
import GRCore
import GRInference

/// The dynamic batcher: concurrent requests wait in one bounded FIFO queue; a free worker thread
/// takes the oldest request together with every queued request of the same kind (at most
/// `maxBatch`) and hands them to the engine in one `recommend` or `score` call, then answers each
/// waiter.
///
/// - Workers (`limits.engineWorkers`, `--engine-workers`): with one, its batch runs over every
///   engine thread. With N > 1, each worker runs its batch single-threaded (`Parallel.inline`), so
///   N batches run at once on N cores with no spinning pool or hand-off inside a forward (less CPU
///   per request than one batch split over threads), and a worker takes its share ⌈queued / N⌉
///   of the queue (`batchSize`); an engine that does not `allowsConcurrentCalls` is then called by
///   one worker at a time.
///
/// - No fixed wait: when the worker is idle a request starts at once (a batch of one); requests that
///   arrive while a batch runs queue up and form the next batch. Under load the batch size follows
///   the arrival rate by itself (arrivals during one forward = the next batch), so nobody pays a
///   timer for batching. `maxWait` > 0 (`--max-wait-ms`) adds an optional extra wait: the worker
///   then holds a batch until `maxBatch` requests of its kind are queued or `maxWait` has passed
///   since its oldest request arrived, whichever is first (fewer, larger batches at the price of
///   latency at low load).
/// - A worker is a plain thread, not a Swift task: a forward pass takes milliseconds of CPU and
///   must not occupy one of the few cooperative threads that serve HTTP.
/// - A full queue (`queueCapacity` waiting, not counting the batch being computed) refuses new
///   requests at once with `APIError` 503: under overload the service answers quickly instead of
///   letting latency grow without bound.
/// - Each batch takes the engine from `slot` when it starts, so after a reload the batches already
///   running finish on the old engine and every later one uses the new one; the answer carries the
///   id of the model that computed it.
/// - If the engine rejects a batch with an `InferenceError` (a query that passed `validate` but
///   that the engine still refuses), the batch is retried one query at a time so that only the
///   offending request fails (400 with the engine's field); any other engine error fails the batch
///   with 500.
/// - `shutdown()` refuses new work, lets the workers finish everything already queued, then returns.
public final class DynamicBatcher: @unchecked Sendable {
    public typealias Answer<T> = (value: T, model: String)

    private enum Job {
        case recommend(RecommendQuery, CheckedContinuation<Answer<Recommendation>, any Error>)
        case score(ScoreQuery, CheckedContinuation<Answer<[Float]>, any Error>)

        var isRecommend: Bool { if case .recommend = self { return true } else { return false } }

        func fail(_ e: any Error) {
            switch self {
            case .recommend(_, let c): c.resume(throwing: e)
            case .score(_, let c): c.resume(throwing: e)
            }
        }
    }

    private struct Queued {
        var job: Job
        var arrival: UInt64
    }

    let slot: EngineSlot
    let limits: ServeLimits
    let metrics: ServeMetrics?
    private let condition = NSCondition()
    private var queue: [Queued] = []
    private var stopping = false
    private var running = false
    /// Batches taken by workers so far (tests).
    private var taken = 0
    /// Workers that have not exited yet (`shutdown` waits for 0).
    private let finished = DispatchGroup()
    /// Serialises engine calls for an engine that does not `allowsConcurrentCalls`.
    private let serialEngine = NSLock()

    public init(slot: EngineSlot, limits: ServeLimits, metrics: ServeMetrics? = nil) {
        self.slot = slot
        self.limits = limits
        self.metrics = metrics
    }

    /// Starts the worker threads (idempotent).
    public func start() {
        condition.lock()
        defer { condition.unlock() }
        guard !running && !stopping else { return }
        running = true
        let workers = limits.engineWorkers, nice = limits.engineNice
        // One worker: its forward also runs on the pool's threads; lower theirs too.
        if workers == 1 && nice > 0 { Parallel.workerNice = nice }
        for i in 0..<workers {
            finished.enter()
            let thread = Thread { [self] in
                if nice > 0 { Parallel.setThreadNice(nice) }
                workerLoop(singleThreaded: workers > 1)
            }
            thread.name = workers == 1 ? "gr-serve-batcher" : "gr-serve-batcher-\(i)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Refuses new requests, answers every queued one, stops the workers and returns when they have.
    public func shutdown() {
        condition.lock()
        let wasRunning = running
        stopping = true
        condition.broadcast()
        condition.unlock()
        if wasRunning { finished.wait() }
        // Never started: nothing will drain the queue, so fail what is there.
        condition.lock()
        let left = queue
        queue.removeAll()
        condition.unlock()
        for q in left { q.job.fail(APIError(.serviceUnavailable, field: nil, "the server is shutting down")) }
    }

    /// Requests waiting for a worker now (the batches being computed not included).
    public var depth: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }

    /// Batches taken from the queue by the workers so far.
    var batchesTaken: Int {
        condition.lock()
        defer { condition.unlock() }
        return taken
    }

    public func recommend(_ q: RecommendQuery) async throws -> Answer<Recommendation> {
        try await withCheckedThrowingContinuation { c in enqueue(.recommend(q, c)) }
    }

    public func score(_ q: ScoreQuery) async throws -> Answer<[Float]> {
        try await withCheckedThrowingContinuation { c in enqueue(.score(q, c)) }
    }

    private func enqueue(_ job: Job) {
        condition.lock()
        if stopping {
            condition.unlock()
            job.fail(APIError(.serviceUnavailable, field: nil, "the server is shutting down"))
            return
        }
        if queue.count >= limits.queueCapacity {
            condition.unlock()
            metrics?.queueRejections.increment()
            job.fail(APIError(.serviceUnavailable, field: nil,
                              "queue full (\(limits.queueCapacity) requests waiting); retry later"))
            return
        }
        queue.append(Queued(job: job, arrival: DispatchTime.now().uptimeNanoseconds))
        // With an extra wait, workers holding a partial batch wait too: wake them all to recount.
        if limits.maxWait > 0 { condition.broadcast() } else { condition.signal() }
        condition.unlock()
    }

    private func workerLoop(singleThreaded: Bool) {
        while let queued = nextBatch() {
            let start = DispatchTime.now().uptimeNanoseconds
            metrics?.observeQueueWaits(queued.map { Double(start &- $0.arrival) * 1e-9 })
            let batch = queued.map(\.job)
            if singleThreaded { Parallel.inline { run(batch, start: start) } } else { run(batch, start: start) }
        }
        finished.leave()
    }

    /// Blocks until a batch is due; nil once stopping with an empty queue.
    private func nextBatch() -> [Queued]? {
        condition.lock()
        defer { condition.unlock() }
        var kind = true
        while true {
            while queue.isEmpty {
                if stopping { return nil }
                condition.wait()
            }
            kind = queue[0].job.isRecommend
            guard limits.maxWait > 0 else { break }  // the optional extra wait; by default a batch starts at once
            let head = queue[0].arrival
            let deadlineNanos = head &+ UInt64(limits.maxWait * 1e9)
            while !stopping && !queue.isEmpty && queue[0].arrival == head
                    && queue.lazy.filter({ $0.job.isRecommend == kind }).count < limits.maxBatch {
                let now = DispatchTime.now().uptimeNanoseconds
                if now >= deadlineNanos { break }
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(deadlineNanos - now) * 1e-9))
            }
            // Another worker took the batch this one waited for: start over with the new head.
            if !queue.isEmpty && queue[0].arrival == head { break }
        }
        // The oldest request's kind decides; requests of the other kind keep their places.
        let size = batchSize(queued: queue.lazy.filter { $0.job.isRecommend == kind }.count)
        var batch: [Queued] = []
        var rest: [Queued] = []
        rest.reserveCapacity(queue.count)
        for q in queue {
            if batch.count < size && q.job.isRecommend == kind { batch.append(q) } else { rest.append(q) }
        }
        queue = rest
        taken += 1
        return batch
    }

    /// How many of `queued` requests of one kind a worker takes: all of them (at most `maxBatch`)
    /// with one worker; with N > 1 workers, its share ⌈queued / N⌉, so that a worker that frees up
    /// first does not take the whole queue while the others go idle (each worker's batch is
    /// single-threaded: a batch of 64 would run ≈ 64 forwards long, those left run sooner).
    func batchSize(queued: Int) -> Int {
        let workers = limits.engineWorkers
        let share = workers > 1 ? (queued + workers - 1) / workers : queued
        return min(limits.maxBatch, max(1, share))
    }

    /// Runs one batch taken at `start` (uptime nanoseconds).
    private func run(_ batch: [Job], start: UInt64) {
        let engine = slot.current
        let serial = limits.engineWorkers > 1 && !engine.allowsConcurrentCalls
        if serial { serialEngine.lock() }
        defer { if serial { serialEngine.unlock() } }
        metrics?.observeBatch(size: batch.count)
        let recommends = batch.compactMap { j -> (RecommendQuery, CheckedContinuation<Answer<Recommendation>, any Error>)? in
            if case .recommend(let q, let c) = j { return (q, c) } else { return nil }
        }
        let scores = batch.compactMap { j -> (ScoreQuery, CheckedContinuation<Answer<[Float]>, any Error>)? in
            if case .score(let q, let c) = j { return (q, c) } else { return nil }
        }
        if !recommends.isEmpty {
            answer(recommends, model: engine.modelID, start: start) { try engine.recommend($0) }
        }
        if !scores.isEmpty {
            answer(scores, model: engine.modelID, start: start) { try engine.score($0) }
        }
    }

    /// Runs `compute` over all queries at once; on an `InferenceError`, once per query. `start`
    /// (the batch's, uptime nanoseconds; nil for the retries): its engine time is observed before
    /// any answer goes out.
    private func answer<Q, R>(_ jobs: [(Q, CheckedContinuation<Answer<R>, any Error>)], model: String,
                              start: UInt64? = nil, _ compute: ([Q]) throws -> [R]) {
        metrics?.engineCalls.increment()
        do {
            let results = try compute(jobs.map(\.0))
            if let start { metrics?.observeEngineCall(seconds: Double(DispatchTime.now().uptimeNanoseconds &- start) * 1e-9) }
            guard results.count == jobs.count else {
                let e = APIError(.internalServerError, field: nil,
                                 "the engine answered \(results.count) of \(jobs.count) queries")
                for (_, c) in jobs { c.resume(throwing: e) }
                return
            }
            for (i, (_, c)) in jobs.enumerated() { c.resume(returning: (results[i], model)) }
        } catch let e as InferenceError where jobs.count > 1 {
            _ = e
            for job in jobs { answer([job], model: model, compute) }
        } catch let e as InferenceError {
            jobs[0].1.resume(throwing: APIError.badRequest(e.field, e.reason))
        } catch {
            let e = APIError(.internalServerError, field: nil, "the engine failed: \(error)")
            for (_, c) in jobs { c.resume(throwing: e) }
        }
    }
}
