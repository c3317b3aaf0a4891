import Foundation

/// The knobs of the service: batching, the queue, and what a request may contain. `gr serve`'s
/// options map one to one onto these fields (docs/serving.md lists them with their defaults).
public struct ServeLimits: Sendable, Equatable {
    /// The most requests the batcher hands the engine in one call.
    public var maxBatch: Int = 64
    /// Batcher workers, each taking its own batch from the queue (`DynamicBatcher`). With more
    /// than one (and an engine that `allowsConcurrentCalls`), each batch runs single-threaded
    /// (`Parallel.inline`): N batches on N cores with no thread hand-offs inside a forward. With
    /// one, the worker's batch uses every engine thread (`Parallel.threads`).
    public var engineWorkers: Int = 1
    /// The nice value (0...19) of the engine's threads (the batcher workers and, with one worker,
    /// the worker pool's threads), so that the HTTP threads (event loops, route handlers) preempt a
    /// running forward at once: under load a request then reaches the queue before the next batch
    /// starts instead of missing it. 0 (the default): no priority is changed. On a machine shared
    /// with other work a positive value also yields the engine's CPU to that work (measured:
    /// BENCHMARKS.md, Serving, session 9), so it is for a machine that only serves.
    public var engineNice: Int = 0
    /// An optional extra wait for more requests after the first one of a batch arrived, in
    /// seconds. 0 (the default) runs every batch as soon as the worker is free: a request that
    /// finds the worker idle starts at once; those arriving during a batch form the next one.
    public var maxWait: Double = 0
    /// Requests waiting for the worker (not counting the batch being computed); one more → 503.
    public var queueCapacity: Int = 1024
    /// Request bodies over this many bytes → 413.
    public var maxBodyBytes: Int = 1 << 20
    /// The largest `k` of /v1/recommend.
    public var maxK: Int = 1000
    /// A hard cap on the length of any array in a request (history, timestamps, candidates): longer
    /// → 413 naming the field. Histories longer than the model's maximum length but under this cap
    /// are not an error (the newest events are kept, as the engine documents).
    public var maxArrayLength: Int = 10_000
    /// Timestamps are unix seconds in 0...maxTimestamp (year 2286): negative or absurdly large
    /// values are client bugs, and the model's time buckets (log of differences) would turn them
    /// into garbage silently.
    public var maxTimestamp: Int64 = 10_000_000_000
    /// `user` keys longer than this → 400 (they key an in-memory cache).
    public var maxUserKeyLength: Int = 256

    public init() {}

    /// Parses a byte size as given on the command line: "1048576", "512KB", "1MB", "1MiB", "2G"
    /// (K/M/G and their KB/MB/GB/KiB/MiB/GiB spellings are all powers of 1024). nil if malformed.
    public static func parseByteSize(_ text: String) -> Int? {
        let s = text.trimmingCharacters(in: .whitespaces).uppercased()
        let digits = s.prefix(while: { $0.isNumber })
        guard let n = Int(digits) else { return nil }
        let units: [String: Int] = ["": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10,
                                    "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20, "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30]
        guard let unit = units[String(s.dropFirst(digits.count))] else { return nil }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: unit)
        return overflow ? nil : bytes
    }

    /// Checks the values themselves (the command line's validation).
    public func validate() throws {
        func fail(_ name: String, _ why: String) throws -> Never { throw ServeConfigError(option: name, reason: why) }
        if maxBatch < 1 { try fail("max-batch", "must be at least 1, got \(maxBatch)") }
        if engineWorkers < 1 || engineWorkers > 256 { try fail("engine-workers", "must be in 1...256, got \(engineWorkers)") }
        if !(0...19).contains(engineNice) { try fail("engine-nice", "must be in 0...19, got \(engineNice)") }
        if !(maxWait >= 0 && maxWait <= 10) { try fail("max-wait-ms", "must be in 0...10000 ms, got \(maxWait * 1000)") }
        if queueCapacity < 1 { try fail("queue", "must be at least 1, got \(queueCapacity)") }
        if maxBodyBytes < 64 { try fail("max-body", "must be at least 64 bytes, got \(maxBodyBytes)") }
        if maxK < 1 { try fail("max-k", "must be at least 1, got \(maxK)") }
        if maxArrayLength < 1 { try fail("max-array", "must be at least 1, got \(maxArrayLength)") }
    }
}

/// A bad `gr serve` option (or a `ServeLimits` field set to a value that cannot work).
public struct ServeConfigError: Error, CustomStringConvertible, Equatable {
    public let option: String
    public let reason: String
    public var description: String { "--\(option): \(reason)" }
}
