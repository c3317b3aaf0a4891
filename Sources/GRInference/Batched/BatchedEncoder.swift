import Foundation
import GRCore
import GRModels

/// One user's model input for the batched serving forward: the window's ids (L ≥ 1, oldest first),
/// their timestamps (L), and the target-slot timestamp (spec §1.4; the last history timestamp when
/// serving, see `Recommender.Window`).
public struct BatchedSequence: Sendable {
    public var ids: [Int32]
    public var timestamps: [Int64]
    public var targetTimestamp: Int64

    public init(ids: [Int32], timestamps: [Int64], targetTimestamp: Int64) {
        precondition(!ids.isEmpty && ids.count == timestamps.count, "BatchedSequence: \(ids.count) ids, \(timestamps.count) timestamps")
        self.ids = ids
        self.timestamps = timestamps
        self.targetTimestamp = targetTimestamp
    }
}

/// Arithmetic of the layer products (`--precision`): f32 everywhere (default), or every layer
/// GEMM with bf16 inputs and f32 accumulation (`BF16GEMM`: AVX-512 BF16 `vdpbf16ps`, selected by a
/// run-time CPU check; f32 on a CPU without it), or with 13-bit int16 inputs (weights per column,
/// activations per row) and exact int32 sums (`Int16Weight`: AVX2 `vpmaddwd`; f32 without AVX2).
/// Norms, attention and the residual stream stay f32.
public enum InferencePrecision: String, Sendable, CaseIterable {
    case f32
    case bf16
    case int16
}

/// The serving forward: B users' windows → their (B, D) L2-normalised user vectors (the output at
/// each user's last history row, spec §2.4), the eval forward (no dropout) without anything a
/// backward would need. Thread-safe: concurrent calls borrow their own scratch buffers
/// (`ScratchPool`).
protocol BatchedEncoder: AnyObject {
    /// The arithmetic the products really use (bf16 falls back to f32 without the CPU feature).
    var precision: InferencePrecision { get }
    /// Scratch buffers, lent to each call of `userVectors` (one per worker thread of the call).
    var scratches: ScratchPool { get }
    /// The (B, D) user vectors of one chunk of users, on the calling thread only.
    func forwardChunk(_ sequences: ArraySlice<BatchedSequence>, scratch: ScratchBuffers, profile: OpProfile?) -> [Float]
}

extension BatchedEncoder {
    /// Threads: the users are cut into chunks of whole users (`servingChunks`: at most
    /// `batchedChunkTokens` tokens, so a chunk's activations stay in L2, and shrinking toward the
    /// end so the threads finish together), and `Parallel.threads` workers take chunks from a
    /// shared counter; each runs its chunks' whole forward with every op inline on its own thread
    /// (`Parallel.inline`): one parallel region per call instead of one per op. One chunk (e.g.
    /// one user) runs on the calling thread.
    func userVectors(_ sequences: [BatchedSequence], profile: OpProfile?) -> [Float] {
        if sequences.isEmpty { return [] }
        // Inside `Parallel.inline` (a caller that runs this whole call on its own thread): one lane.
        let lanes = Parallel.isInline ? 1 : min(Parallel.threads, sequences.count)
        let chunks = servingChunks(sequences.map(\.ids.count), lanes: lanes, maxTokens: batchedChunkTokens)
        let workers = min(lanes, chunks.count)
        var results = [[Float]](repeating: [], count: chunks.count)
        scratches.withBuffers(workers) { pool in
            results.withUnsafeMutableBufferPointer { out in
                let out = out
                if workers == 1 {
                    Parallel.inline {
                        for (c, r) in chunks.enumerated() { out[c] = forwardChunk(sequences[r], scratch: pool[0], profile: profile) }
                    }
                    return
                }
                let next = WorkCounter()
                Parallel.forEach(workers) { w in
                    Parallel.inline {
                        while case let c = next.take(), c < chunks.count {
                            out[c] = forwardChunk(sequences[chunks[c]], scratch: pool[w], profile: profile)
                        }
                    }
                }
            }
        }
        return results.count == 1 ? results[0] : Array(results.joined())
    }
}

/// The chunks (ranges of users, in order) of a serving forward over `lanes` threads that take
/// them from a shared counter in order: whole users, consecutive, each of at most `maxTokens`
/// tokens (or one user), and — guided self-scheduling — at most 1/(2·lanes) of the tokens not yet
/// chunked (but at least one user), so the chunks shrink toward the end and the lanes finish within
/// about one user of each other instead of one whole chunk (the other lane spinning meanwhile).
/// `lengths`: tokens per user; one lane: chunks of `maxTokens` as a single thread wants.
func servingChunks(_ lengths: [Int], lanes: Int, maxTokens: Int) -> [Range<Int>] {
    var chunks: [Range<Int>] = []
    var remaining = lengths.reduce(0, +)
    var start = 0
    while start < lengths.count {
        let target = lanes > 1 ? min(maxTokens, remaining / (2 * lanes)) : maxTokens
        var end = start + 1, tokens = lengths[start]
        while end < lengths.count && tokens + lengths[end] <= target {
            tokens += lengths[end]
            end += 1
        }
        chunks.append(start ..< end)
        remaining -= tokens
        start = end
    }
    return chunks
}

/// Target tokens of one chunk of `BatchedEncoder.userVectors` (whole users), so that a chunk's
/// (T, W) activation stays in a core's L2 (HSTU-large: 800 bytes a row): L2 bytes / 1 KiB, within
/// 256...2048 (2048 on a 2 MiB L2, 512 on a 512 KiB one; 2048 when the size is unknown).
/// `GR_SERVING_CHUNK_TOKENS` overrides it; settable so tests reach many chunks.
nonisolated(unsafe) var batchedChunkTokens: Int = {
    if let text = ProcessInfo.processInfo.environment["GR_SERVING_CHUNK_TOKENS"] {
        if let v = Int(text), v > 0 { return v }
        FileHandle.standardError.write(Data("GR_SERVING_CHUNK_TOKENS: '\(text)' is not a positive integer; using the L2 size\n".utf8))
    }
    #if os(Linux)
    let l2 = sysconf(Int32(_SC_LEVEL2_CACHE_SIZE))
    if l2 > 0 { return min(2048, max(256, l2 / 1024)) }
    #endif
    return 2048
}()

/// The `ScratchBuffers` of the encoder's forwards, lent out per call: a call borrows one per
/// worker thread of its own and returns them at its end, so concurrent calls (the serving
/// engine's independent single-threaded workers) never share one. Buffers are kept for reuse
/// (at most as many as were ever lent at once).
final class ScratchPool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [ScratchBuffers] = []

    /// Runs `body` with `n` buffers no other call holds meanwhile.
    func withBuffers<R>(_ n: Int, _ body: ([ScratchBuffers]) -> R) -> R {
        let lent: [ScratchBuffers] = lock.withLock {
            let reuse = min(n, free.count)
            let taken = Array(free.suffix(reuse))
            free.removeLast(reuse)
            return taken + (0 ..< n - reuse).map { _ in ScratchBuffers() }
        }
        defer { lock.withLock { free.append(contentsOf: lent) } }
        return body(lent)
    }
}

/// The batched encoder of a loaded model (HSTU or SASRec) on the CPU backend.
func makeBatchedEncoder(_ model: any SequentialRecommender, precision: InferencePrecision) -> any BatchedEncoder {
    switch model.config.kind {
    case .hstu: return BatchedHSTU(model, precision: precision)
    case .sasrec: return BatchedSASRec(model, precision: precision)
    }
}

/// The jagged layout of a batch: sequence b owns rows offsets[b] ..< offsets[b + 1] of every
/// (T, ·) activation, T = Σ L_b (no padding).
struct JaggedRows {
    let offsets: [Int]
    var total: Int { offsets.last! }
    var count: Int { offsets.count - 1 }
    func length(_ b: Int) -> Int { offsets[b + 1] - offsets[b] }
    /// The last row of sequence b (its user-vector row).
    func last(_ b: Int) -> Int { offsets[b + 1] - 1 }

    init(_ sequences: ArraySlice<BatchedSequence>) {
        var o = [0]
        o.reserveCapacity(sequences.count + 1)
        for s in sequences { o.append(o.last! + s.ids.count) }
        offsets = o
    }

    init(offsets: [Int]) { self.offsets = offsets }
}

/// Reusable, growable, 64-byte aligned host buffers by name (contents are NOT cleared between
/// uses: every user overwrites what it reads).
final class ScratchBuffers {
    private var buffers: [String: (pointer: UnsafeMutableRawPointer, bytes: Int)] = [:]

    func floats(_ name: String, _ count: Int) -> UnsafeMutablePointer<Float> {
        raw(name, 4 * count).bindMemory(to: Float.self, capacity: count)
    }

    func bytes(_ name: String, _ count: Int) -> UnsafeMutablePointer<UInt8> {
        raw(name, count).bindMemory(to: UInt8.self, capacity: max(count, 1))
    }

    func int64s(_ name: String, _ count: Int) -> UnsafeMutablePointer<Int64> {
        raw(name, 8 * count).bindMemory(to: Int64.self, capacity: count)
    }

    /// A tensor view of a float buffer (for backend calls that take tensors).
    func tensor(_ name: String, _ shape: [Int], dtype: DType = .f32) -> Tensor {
        let count = shape.reduce(1, *), bytes = max(count * dtype.size, 64)
        let p = raw(name, bytes)
        return Tensor(storage: Storage(address: p, byteCount: bytes, device: .cpu, release: nil), shape: shape, dtype: dtype)
    }

    private func raw(_ name: String, _ bytes: Int) -> UnsafeMutableRawPointer {
        if let b = buffers[name], b.bytes >= bytes { return b.pointer }
        buffers[name]?.pointer.deallocate()
        let size = max(64, bytes + bytes / 4)   // 25% headroom: batch sizes vary
        let p = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        buffers[name] = (p, size)
        return p
    }

    deinit { for b in buffers.values { b.pointer.deallocate() } }
}

/// Per-op CPU time of a forward (the `gr bench serving --filter forward --profile` breakdown): ms
/// of thread CPU time summed over layers, by op name, in the order the ops first ran.
/// With several worker threads the times of all threads add up (thread time, not wall time).
public final class OpProfile: @unchecked Sendable {
    public private(set) var names: [String] = []
    public private(set) var ms: [String: Double] = [:]
    private let lock = NSLock()

    public init() {}

    /// This thread's CPU time in ms (time spent descheduled on a loaded machine does not count).
    static func threadCPU() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) * 1e-6
    }

    @inline(__always)
    func time<R>(_ name: String, _ body: () -> R) -> R {
        let t0 = Self.threadCPU()
        let r = body()
        let dt = Self.threadCPU() - t0
        lock.lock()
        if ms[name] == nil { names.append(name) }
        ms[name, default: 0] += dt
        lock.unlock()
        return r
    }

    public var total: Double { ms.values.reduce(0, +) }
}

extension Optional where Wrapped == OpProfile {
    /// Runs `body`, timed under `name` when profiling.
    @inline(__always)
    func time<R>(_ name: String, _ body: () -> R) -> R {
        switch self {
        case .some(let p): return p.time(name, body)
        case .none: return body()
        }
    }
}
