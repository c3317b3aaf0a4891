import Foundation
import GRCore

/// Single-precision GEMM on raw host pointers: C = alpha · op(A) · op(B) + beta · C, row-major
/// (see `GEMMOps.gemm` for the contract; beta == 0 never reads C, so NaN there is ignored).
///
/// Shapes: op(A) (M, K), op(B) (K, N), C (M, N). Design (docs/cpu-gemm.md): BLIS-style cache
/// blocking (NC, KC, MC) around register-tile micro-kernels. B̂ is always packed into kc × NR
/// panels; A is read in place through strides when N ≤ `directMaxN` (the tall-skinny (T × D)
/// projections and their gradients, where packing A would cost as much as the multiply), else
/// packed into kc × MR tiles. Threads split M blocks (and B̂ panels when M is short).
public enum CPUGEMM {
    /// The kernel used by `sgemm` (settable so tests can exercise every supported kernel).
    nonisolated(unsafe) public static var kernel: GEMMKernel = .best

    /// A is read in place (no packing) when N ≤ this: each A tile then meets at most 16 B̂ panels,
    /// and packing it would cost about as much as the multiply (measured: docs/cpu-gemm.md).
    /// Settable so tests can force the packed path.
    nonisolated(unsafe) static var directMaxN = 512

    /// B is read in place (no packing) when it is row-major and M ≤ this (see `sgemm`). Settable
    /// so tests can force either path.
    nonisolated(unsafe) static var directBMaxM = 256

    /// Products of fewer flops (2·M·N·K) than this run single-threaded: ≈ 40 µs on one core, about
    /// what waking a worker thread can cost on a busy or virtual machine. Settable for tests.
    nonisolated(unsafe) static var minParallelFlops: Double = 4_000_000

    /// Products with M, N ≤ `kSplitMaxMN` and K ≥ `kSplitMinK` (the weight gradients
    /// dW = Xᵀ·dY, K = T tokens) split K into fixed parts summed at the end (`sgemmKSplit`).
    /// Settable so tests can reach that path with small K.
    nonisolated(unsafe) static var kSplitMinK = 2048
    /// See `kSplitMinK`.
    static let kSplitMaxMN = 512
    /// Each K part of `sgemmKSplit` spans at least this many K (so the partial products, written
    /// and summed once per part, stay small next to the multiply). Settable for tests.
    nonisolated(unsafe) static var kSplitMinPartK = 1024
    /// At most this many K parts (12 divides evenly among 1, 2, 3, 4 and 6 threads).
    static let kSplitMaxParts = 12

    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(m >= 0 && n >= 0 && k >= 0, "gemm: negative size m \(m) n \(n) k \(k)")
        precondition(ldc >= max(1, n), "gemm: ldc \(ldc) < n \(n)")
        precondition(lda >= max(1, transA ? m : k), "gemm: lda \(lda) too small (transA \(transA), m \(m), k \(k))")
        precondition(ldb >= max(1, transB ? k : n), "gemm: ldb \(ldb) too small (transB \(transB), n \(n), k \(k))")
        if m == 0 || n == 0 { return }
        if k == 0 || alpha == 0 {
            scale(m: m, n: n, beta: beta, c: c, ldc: ldc)
            return
        }
        let kern = kernel
        let nr = kern.nr
        let kcMax = kern.kc, ncMax = kern.nc
        // Read A in place when each A tile meets few B̂ panels (the tall-skinny projections); pack it
        // otherwise.
        let directA = GEMMTuningOverrides.direct.map { $0 == 2 || ($0 != 0 && !transA) } ?? (n <= directMaxN)
        let mr = directA ? kern.directMR : kern.packedMR
        let mcMax = kern.mc
        // Small products run on the calling thread: waking a worker costs more than it saves.
        let threads = 2 * Double(m) * Double(n) * Double(k) < minParallelFlops ? 1 : Parallel.threads
        // Short M and N, long K: split K (also on one thread, so results never depend on the
        // thread count).
        if k >= kSplitMinK, m <= kSplitMaxMN, n <= kSplitMaxMN {
            sgemmKSplit(kern: kern, threads: threads, transA: transA, transB: transB, m: m, n: n, k: k,
                        alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        // Large products (A packed): each thread (also a single one: the classic loop order, B̂ of
        // one K block in L2, measured no slower than the shared path) runs the whole blocked loop on its own share of M
        // with a private copy of B̂: no barrier and one parallel region per call, which measured
        // steadier than sharing B̂ on a busy or virtualised machine (docs/cpu-gemm.md).
        if !directA, (m + mcMax - 1) / mcMax >= 2 * threads {
            sgemmPrivate(kern: kern, threads: threads, directA: directA, mr: mr, transA: transA, transB: transB,
                         m: m, n: n, k: k,
                         alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        // B read in place when M is short, so each element of B is used by few rows and packing it
        // would cost as much as the multiply (weight gradients dW = Xᵀ·dY, K = T tokens). Only
        // full NR-wide panels: a last partial panel (N mod NR columns) is packed, all K blocks,
        // into kc × NR tiles at pc·NR.
        let directB = !transB && m <= directBMaxM && n >= nr
        let kBlocks = (k + kcMax - 1) / kcMax
        let ncFirst = min(ncMax, n)
        let panelsMax = (ncFirst + nr - 1) / nr
        // Packed B̂ of one NC block, all K blocks: K block q (kc rows) starts at q·KC·NR·panels.
        let bPack = GEMMBufferCache.shared.take(directB ? k * nr : k * panelsMax * nr)
        defer { GEMMBufferCache.shared.give(bPack) }
        let mBlocks = (m + mcMax - 1) / mcMax

        var jc = 0
        while jc < n {
            let nc = min(ncMax, n - jc)
            let panels = (nc + nr - 1) / nr
            // 1. Pack B̂ for every K block of this NC block; threads split (K block, panel) pairs
            //    when it is big enough to be worth waking them.
            let nFull = nc - nc % nr  // columns read in place when directB
            if directB && nFull < nc {
                for q in 0..<kBlocks {
                    let pc = q * kcMax, kc = min(kcMax, k - pc)
                    GEMMPacking.packB(transB: transB, b: b, ldb: ldb, p0: pc, j0: jc + nFull, kc: kc, nc: nc - nFull,
                                      nr: nr, panels: 0..<1, dst: bPack + pc * nr)
                }
            }
            let packUnits = kBlocks * panels
            let packParts = directB ? 0 : k * nc >= 1 << 16 ? min(threads, packUnits) : 1
            Parallel.forEach(packParts) { part in
                for unit in (packUnits * part / packParts)..<(packUnits * (part + 1) / packParts) {
                    let q = unit / panels, panel = unit % panels
                    let pc = q * kcMax, kc = min(kcMax, k - pc)
                    GEMMPacking.packB(transB: transB, b: b, ldb: ldb, p0: pc, j0: jc, kc: kc, nc: nc, nr: nr,
                                      panels: panel..<(panel + 1), dst: bPack + pc * panels * nr)
                }
            }
            // 2. Exactly `workers` threads (never more than GR_THREADS, whatever the dispatch pool's
            //    width) take chunks of work units from a shared counter, each unit running all K
            //    blocks in order (so one parallel region per NC block: waking threads is slow on a
            //    busy or virtualised machine). A unit is one MC block of rows × one group of B̂
            //    panels: when M has too few blocks to keep the threads busy (e.g. a weight gradient
            //    (D × T)·(T × D) with M = D), the panels are split too. Dynamic balance; each C
            //    element is computed the same way whichever thread takes it.
            let nGroups = threads > 1 && mBlocks < 2 * threads ? min(panels, 2 * threads) : 1
            let units = mBlocks * nGroups
            let workers = min(threads, units)
            let chunks = workers == 1 ? 1 : min(units, workers * 8)
            let queue = GEMMChunkQueue(count: chunks)
            Parallel.forEach(workers) { _ in
                let aPack: UnsafeMutablePointer<Float>? = directA ? nil : allocateFloats(mcMax * min(kcMax, k))
                defer { aPack?.deallocate() }
                while let chunk = queue.next() {
                    for unit in (units * chunk / chunks)..<(units * (chunk + 1) / chunks) {
                        let blk = unit / nGroups, group = unit % nGroups
                        let p0 = panels * group / nGroups, p1 = panels * (group + 1) / nGroups
                        if p0 == p1 { continue }
                        let col0 = p0 * nr, cols = min(nc, p1 * nr) - col0
                        let ic = blk * mcMax
                        let mc = min(mcMax, m - ic)
                        let cBlock = c + ic * ldc + jc + col0
                        var pc = 0
                        while pc < k {
                            let kc = min(kcMax, k - pc)
                            let betaBlock: Float = pc == 0 ? beta : 1
                            let aBlock = transA ? a + pc * lda + ic : a + ic * lda + pc
                            if let aPack {
                                GEMMPacking.packA(transA: transA, a: a, lda: lda, i0: ic, p0: pc, mc: mc, kc: kc,
                                                  mr: mr, dst: aPack)
                            }
                            // Columns [offset, offset + width) of this unit against a B̂ block with
                            // the given row and panel strides.
                            func run(_ offset: Int, _ width: Int, _ bBlock: UnsafePointer<Float>,
                                     _ bRow: Int, _ bPanel: Int) {
                                if let aPack {
                                    kern.macroKernelPacked(mc: mc, nc: width, kc: kc, a: aPack,
                                                           b: bBlock, bRowStride: bRow, bPanelStride: bPanel,
                                                           c: cBlock + offset, ldc: ldc, alpha: alpha, beta: betaBlock)
                                } else {
                                    kern.macroKernelDirect(mc: mc, nc: width, kc: kc, a: aBlock,
                                                           tileStrideA: transA ? mr : mr * lda,
                                                           rowStrideA: transA ? 1 : lda, colStrideA: transA ? lda : 1,
                                                           b: bBlock, bRowStride: bRow, bPanelStride: bPanel,
                                                           c: cBlock + offset, ldc: ldc, alpha: alpha, beta: betaBlock)
                                }
                            }
                            if !directB {
                                run(0, cols, UnsafePointer(bPack + (pc * panels * nr + p0 * kc * nr)), nr, kc * nr)
                            } else {
                                let fullEnd = max(col0, min(col0 + cols, nFull))
                                if fullEnd > col0 { run(0, fullEnd - col0, b + (pc * ldb + jc + col0), ldb, nr) }
                                if col0 + cols > fullEnd {
                                    run(fullEnd - col0, col0 + cols - fullEnd, UnsafePointer(bPack + pc * nr), nr, kc * nr)
                                }
                            }
                            pc += kc
                        }
                    }
                }
            }
            jc += nc
        }
    }

    /// The large-product path (also on one thread): each of the `threads` workers owns a contiguous
    /// range of MC blocks of M and runs the whole blocked loop on it, KC → pack all its rows of Â
    /// (once per K block) → NC → pack its own copy of B̂ (kc × nc, L2-sized) → its MC blocks, with
    /// no barriers and one parallel region per call. Packing B̂ once per thread costs K·N copies
    /// each, small next to the (M/threads)·N·K multiply-adds. Each C element sees the same kernel
    /// calls in the same K order as on the shared path, so results do not depend on the path.
    static func sgemmPrivate(kern: GEMMKernel, threads: Int, directA: Bool, mr: Int, transA: Bool, transB: Bool,
                             m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(!directA && kern.mc % mr == 0, "sgemmPrivate packs A in whole MR tiles")
        let nr = kern.nr, kcMax = kern.kc, ncMax = kern.nc, mcMax = kern.mc
        let mBlocks = (m + mcMax - 1) / mcMax
        let workers = min(threads, mBlocks)
        Parallel.forEach(workers) { w in
            let blo = mBlocks * w / workers, bhi = mBlocks * (w + 1) / workers
            // This thread's rows: packed once per K block (all of them), then reused for every
            // NC block of B̂.
            let row0 = blo * mcMax, rows = min(m, bhi * mcMax) - row0
            let kcFirst = min(kcMax, k)
            let panelsMax = (min(ncMax, n) + nr - 1) / nr
            let bPack = allocateFloats(kcFirst * panelsMax * nr)
            defer { bPack.deallocate() }
            let aPack = allocateFloats((rows + mr - 1) / mr * mr * kcFirst)
            defer { aPack.deallocate() }
            var pc = 0
            while pc < k {
                let kc = min(kcMax, k - pc)
                let betaBlock: Float = pc == 0 ? beta : 1
                GEMMPacking.packA(transA: transA, a: a, lda: lda, i0: row0, p0: pc, mc: rows, kc: kc, mr: mr,
                                  dst: aPack)
                var jc = 0
                while jc < n {
                    let nc = min(ncMax, n - jc)
                    let panels = (nc + nr - 1) / nr
                    GEMMPacking.packB(transB: transB, b: b, ldb: ldb, p0: pc, j0: jc, kc: kc, nc: nc, nr: nr,
                                      panels: 0..<panels, dst: bPack)
                    for blk in blo..<bhi {
                        let ic = blk * mcMax
                        kern.macroKernelPacked(mc: min(mcMax, m - ic), nc: nc, kc: kc,
                                               a: aPack + (ic - row0) * kc, b: bPack, bRowStride: nr,
                                               bPanelStride: kc * nr, c: c + ic * ldc + jc, ldc: ldc,
                                               alpha: alpha, beta: betaBlock)
                    }
                    jc += nc
                }
                pc += kc
            }
        }
    }

    /// The short-M-and-N, long-K path (weight gradients dW = Xᵀ·dY: M, N = D ≤ 512, K = T tokens).
    ///
    /// K is cut into `parts` ranges of whole KC blocks (fixed by K alone: at most
    /// `kSplitMaxParts`, each at least `kSplitMinPartK` long). Threads take parts from a shared
    /// counter; for each KC block of its part a thread packs op(A)'s kc × M block into Â tiles and
    /// op(B)'s kc × N block into B̂ panels (both small enough for L2, so A and B stream from memory
    /// once) and accumulates Â·B̂ into the part's own M × N partial product. Then
    /// C = alpha · (P₀ + P₁ + … ) + beta · C, the parts summed in index order, so the result is the
    /// same bit for bit whatever the thread count.
    static func sgemmKSplit(kern: GEMMKernel, threads: Int, transA: Bool, transB: Bool,
                            m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let nr = kern.nr, mr = kern.packedMR, kcMax = kern.kc
        let kBlocks = (k + kcMax - 1) / kcMax
        let parts = max(1, min(kSplitMaxParts, k / kSplitMinPartK, kBlocks))
        let partials = allocateFloats(parts * m * n)
        defer { partials.deallocate() }
        let tiles = (m + mr - 1) / mr, panels = (n + nr - 1) / nr
        let kcFirst = min(kcMax, k)
        let queue = GEMMChunkQueue(count: parts)
        Parallel.forEach(min(threads, parts)) { _ in
            let aPack = allocateFloats(tiles * mr * kcFirst)
            let bPack = allocateFloats(panels * nr * kcFirst)
            defer { aPack.deallocate(); bPack.deallocate() }
            while let part = queue.next() {
                let out = partials + part * m * n
                let blocks = (kBlocks * part / parts)..<(kBlocks * (part + 1) / parts)
                for blk in blocks {
                    let pc = blk * kcMax, kc = min(kcMax, k - pc)
                    GEMMPacking.packA(transA: transA, a: a, lda: lda, i0: 0, p0: pc, mc: m, kc: kc, mr: mr, dst: aPack)
                    GEMMPacking.packB(transB: transB, b: b, ldb: ldb, p0: pc, j0: 0, kc: kc, nc: n, nr: nr,
                                      panels: 0..<panels, dst: bPack)
                    kern.macroKernelPacked(mc: m, nc: n, kc: kc, a: aPack, b: bPack, bRowStride: nr,
                                           bPanelStride: kc * nr, c: out, ldc: n, alpha: 1,
                                           beta: blk == blocks.lowerBound ? 0 : 1)
                }
            }
        }
        // C = alpha · Σ P + beta · C, row by row (the sum in part order, element by element).
        let rowsPerChunk = max(1, (1 << 15) / max(1, n * parts))
        Parallel.forRanges(m, minChunk: rowsPerChunk) { rows in
            for i in rows {
                let sum = partials + i * n
                for part in 1..<parts {
                    let p = partials + part * m * n + i * n
                    for j in 0..<n { sum[j] += p[j] }
                }
                let row = c + i * ldc
                if beta == 0 {
                    for j in 0..<n { row[j] = alpha * sum[j] }
                } else {
                    for j in 0..<n { row[j] = alpha * sum[j] + beta * row[j] }
                }
            }
        }
    }

    /// Uninitialised floats on a 64-byte boundary (one cache line, one zmm register).
    static func allocateFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: max(count, 16) * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(count, 16))
    }

    /// C = beta · C (beta == 0 writes zeros without reading C).
    static func scale(m: Int, n: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0..<m {
            let row = c + i * ldc
            if beta == 0 {
                row.update(repeating: 0, count: n)
            } else if beta != 1 {
                for j in 0..<n { row[j] *= beta }
            }
        }
    }
}

/// Hands out chunk indices 0..<count, each once, to the GEMM worker threads.
final class GEMMChunkQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var nextIndex = 0
    private let count: Int

    init(count: Int) { self.count = count }

    func next() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard nextIndex < count else { return nil }
        nextIndex += 1
        return nextIndex - 1
    }
}

/// Keeps the largest packed-B̂ buffer between GEMM calls, so repeated large GEMMs do not pay for
/// fresh pages (an `mmap` and a page fault per 4 KiB) each call. Concurrent callers that find it
/// taken simply allocate their own.
final class GEMMBufferCache: @unchecked Sendable {
    static let shared = GEMMBufferCache()
    private let lock = NSLock()
    private var buffer: UnsafeMutablePointer<Float>?
    private var capacity = 0
    private var capacities: [UnsafeMutablePointer<Float>: Int] = [:]

    /// A buffer of at least `count` floats (64-byte aligned, uninitialised).
    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        lock.lock()
        defer { lock.unlock() }
        if let b = buffer, capacity >= count {
            buffer = nil
            return b
        }
        let b = CPUGEMM.allocateFloats(count)
        capacities[b] = max(count, 16)
        return b
    }

    /// Returns a buffer from `take`; keeps it if it is the largest seen, frees it otherwise.
    func give(_ b: UnsafeMutablePointer<Float>) {
        lock.lock()
        defer { lock.unlock() }
        let cap = capacities[b] ?? 0
        if buffer == nil {
            buffer = b
            capacity = cap
        } else if cap > capacity, let old = buffer {
            capacities[old] = nil
            old.deallocate()
            buffer = b
            capacity = cap
        } else {
            capacities[b] = nil
            b.deallocate()
        }
    }
}
