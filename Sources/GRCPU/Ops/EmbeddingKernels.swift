import GRCore

/// Generic bodies of `EmbeddingOps`.
public enum EmbeddingKernels {
    /// out[r] (= or +=) scale·table[ids[r]]; table (V, D), ids (rows), out (rows, D).
    @_specialize(where T == Float)
    public static func forward<T: KernelFloat>(_ table: UnsafeMutablePointer<T>, _ vocab: Int,
                                               _ ids: UnsafeMutablePointer<Int32>, _ scale: T,
                                               _ out: UnsafeMutablePointer<T>, _ rows: Int, _ dim: Int,
                                               _ accumulate: Bool) {
        Parallel.forRanges(rows, minChunk: 256) { rr in
            for r in rr {
                let id = Int(ids[r])
                precondition(id >= 0 && id < vocab, "embedding id \(id) at row \(r) outside 0..<\(vocab)")
                let src = table + id * dim, dst = out + r * dim
                if accumulate {
                    Vec.axpy(scale, src, dst, dim)
                } else {
                    for c in 0..<dim { dst[c] = scale * src[c] }
                }
            }
        }
    }

    /// dTable[ids[r]] += scale·dOut[r], skipping id == paddingId. Threads own disjoint ranges of
    /// table rows and each scans all ids in order, so every table row is summed in increasing r:
    /// bit-identical for any thread count.
    @_specialize(where T == Float)
    public static func backward<T: KernelFloat>(_ dOut: UnsafeMutablePointer<T>, _ ids: UnsafeMutablePointer<Int32>,
                                                _ scale: T, _ dTable: UnsafeMutablePointer<T>, _ vocab: Int,
                                                _ rows: Int, _ dim: Int, _ paddingId: Int32?) {
        for r in 0..<rows {
            precondition(ids[r] >= 0 && Int(ids[r]) < vocab, "embedding id \(ids[r]) at row \(r) outside 0..<\(vocab)")
        }
        let pad = paddingId.map(Int.init) ?? -1
        let parts = rows * dim < 1 << 15 ? 1 : Parallel.threads
        Parallel.forRanges(vocab, minChunk: max(1, vocab / parts)) { vr in
            let lo = Int32(vr.lowerBound), hi = Int32(vr.upperBound)
            for r in 0..<rows {
                let id = ids[r]
                if id >= lo && id < hi && Int(id) != pad {
                    Vec.axpy(scale, dOut + r * dim, dTable + Int(id) * dim, dim)
                }
            }
        }
    }
}
