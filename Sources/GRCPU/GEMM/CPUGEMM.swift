import GRCore

/// Single-precision GEMM on raw host pointers: C = alpha · op(A) · op(B) + beta · C, row-major
/// (see `GEMMOps.gemm` for the contract; beta == 0 never reads C, so NaN there is ignored).
///
/// Shapes: op(A) (M, K), op(B) (K, N), C (M, N). Design (docs/cpu-gemm.md): BLIS-style loops
/// NC → KC → (pack B̂ once, in parallel) → MC blocks shared out to threads → register tiles.
/// B̂ is always packed into kc × NR panels; A is packed into kc × MR tiles when it is stored
/// transposed or when the problem is large, else read in place through strides (the tall-skinny
/// (T × D) projections, where packing A would cost as much as the multiply).
public enum CPUGEMM {
    /// The kernel used by `sgemm` (settable so tests can exercise every supported kernel).
    nonisolated(unsafe) public static var kernel: GEMMKernel = .best

    /// A is read in place (no packing) when N ≤ this: each A tile then meets at most 16 B̂ panels,
    /// and packing it would cost about as much as the multiply (measured: docs/cpu-gemm.md).
    /// Settable so tests can force the packed path.
    nonisolated(unsafe) static var directMaxN = 512

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
        let threads = Parallel.threads
        let ncFirst = min(ncMax, n)
        let bPanelsMax = (ncFirst + nr - 1) / nr
        let bPack = allocateFloats(kcMax * bPanelsMax * nr)
        defer { bPack.deallocate() }
        // Blocks of M (multiples of MR) handed out dynamically; the split depends only on sizes.
        let mBlocks = (m + mcMax - 1) / mcMax

        var jc = 0
        while jc < n {
            let nc = min(ncMax, n - jc)
            let panels = (nc + nr - 1) / nr
            var pc = 0
            while pc < k {
                let kc = min(kcMax, k - pc)
                let betaBlock: Float = pc == 0 ? beta : 1
                // Pack B̂ (kc × nc), split over threads by panels when it is big enough.
                let packParts = kc * nc >= 1 << 16 ? min(threads, panels) : 1
                Parallel.forEach(packParts) { part in
                    let lo = panels * part / packParts, hi = panels * (part + 1) / packParts
                    GEMMPacking.packB(transB: transB, b: b, ldb: ldb, p0: pc, j0: jc, kc: kc, nc: nc,
                                      nr: nr, panels: lo..<hi, dst: bPack)
                }
                let chunks = threads == 1 ? 1 : min(mBlocks, threads * 8)
                Parallel.forEach(chunks) { chunk in
                    let blo = mBlocks * chunk / chunks, bhi = mBlocks * (chunk + 1) / chunks
                    let aPack: UnsafeMutablePointer<Float>? = directA ? nil : allocateFloats(mcMax * kc)
                    defer { aPack?.deallocate() }
                    for blk in blo..<bhi {
                        let ic = blk * mcMax
                        let mc = min(mcMax, m - ic)
                        let cBlock = c + ic * ldc + jc
                        if let aPack {
                            GEMMPacking.packA(transA: transA, a: a, lda: lda, i0: ic, p0: pc, mc: mc, kc: kc,
                                              mr: mr, dst: aPack)
                            kern.macroKernelPacked(mc: mc, nc: nc, kc: kc, a: aPack, b: bPack,
                                                   c: cBlock, ldc: ldc, alpha: alpha, beta: betaBlock)
                        } else {
                            kern.macroKernelDirect(mc: mc, nc: nc, kc: kc,
                                                   a: transA ? a + pc * lda + ic : a + ic * lda + pc,
                                                   tileStrideA: transA ? mr : mr * lda,
                                                   rowStrideA: transA ? 1 : lda, colStrideA: transA ? lda : 1, b: bPack,
                                                   c: cBlock, ldc: ldc, alpha: alpha, beta: betaBlock)
                        }
                    }
                }
                pc += kc
            }
            jc += nc
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
