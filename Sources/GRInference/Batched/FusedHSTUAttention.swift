import Foundation
import GRCore
import _GRCPUShims

/// The serving forward's HSTU attention on AVX2 + FMA (C shim `hstu_infer_attention.c`,
/// docs/inference.md "Fused inference attention"): per chunk the time buckets of every causal pair
/// of every user are computed once (`buckets`, bytes) and every layer gathers its weights from them;
/// scores and SiLU are fused in registers. Same values as the CPU tile kernel
/// (`Backend.hstuAttentionForward`) to float rounding (`FusedAttentionTests`).
enum FusedHSTUAttention {
    /// Whether `BatchedHSTU` uses this kernel: on CPUs with AVX2 + FMA but not the AVX-512 subset
    /// of the tile kernel (which keeps its own AVX-512 path there). `GR_INFER_ATTENTION=tile` turns
    /// it off, `=fused` on (AVX-512 CPUs too). Settable so tests compare both paths.
    /// Any other value of the variable is reported on stderr and the default is used.
    nonisolated(unsafe) static var enabled = kernelSwitch("GR_INFER_ATTENTION", off: "tile", on: "fused", available: available,
                                                          byDefault: available && gr_cpu_supports_avx512() == 0)

    /// Whether the CPU can run the kernel at all.
    static let available = gr_cpu_supports_avx2_fma() == 1

    /// Byte offsets of each user's bucket tiles in a chunk's bucket buffer (B + 1 entries).
    static func bucketOffsets(_ rows: JaggedRows) -> [Int] {
        var o = [0]
        o.reserveCapacity(rows.count + 1)
        for b in 0..<rows.count { o.append(o.last! + gr_hstu_bucket_bytes(Int32(rows.length(b)))) }
        return o
    }

    /// The bucket tiles of every user of a chunk. timestamps: (B, N), row b = T[b, 0...L_b] (history,
    /// then the target slot). Along a tile column the kernel first tries the previous pair's bucket
    /// and the next one (`TimeBucket.thresholds`), then the table: 2× faster on chronological
    /// histories, ≈ 1.16× slower on shuffled ones, the same bytes for any order.
    static func buckets(rows: JaggedRows, offsets: [Int], timestamps: UnsafePointer<Int64>, n: Int,
                        into out: UnsafeMutablePointer<UInt8>) {
        TimeBucket.table.withUnsafeBufferPointer { table in
            TimeBucket.thresholds.withUnsafeBufferPointer { thresholds in
                let entries = UnsafeRawPointer(table.baseAddress!).assumingMemoryBound(to: gr_time_bucket_entry.self)
                for b in 0..<rows.count {
                    gr_hstu_buckets(timestamps + b * n, Int32(rows.length(b)), entries, thresholds.baseAddress!, out + offsets[b])
                }
            }
        }
    }

    /// wPos (2N − 1) reversed with 32 zeros on each side: r[32 + x] = wPos[2N − 2 − x].
    static func reversedPositions(_ weights: UnsafePointer<Float>, n: Int) -> [Float] {
        let count = 2 * n - 1
        var r = [Float](repeating: 0, count: count + 64)
        for x in 0..<count { r[32 + x] = weights[count - 1 - x] }
        return r
    }

    /// out (T, H·Dv) for every user of the chunk; q, k, v: column views of the (T, rowStride)
    /// activation.
    static func forward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, rowStride: Int,
                        rows: JaggedRows, buckets: UnsafePointer<UInt8>, bucketOffsets: [Int], positionsReversed: [Float],
                        timeWeights: UnsafePointer<Float>, n: Int, heads: Int, dqk: Int, dv: Int,
                        scratch: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        precondition(positionsReversed.count == 2 * n - 1 + 64, "FusedHSTUAttention: position table of \(positionsReversed.count)")
        let outStride = heads * dv
        positionsReversed.withUnsafeBufferPointer { pos in
            for b in 0..<rows.count {
                let r0 = rows.offsets[b] * rowStride
                gr_hstu_infer_attention_avx2(q + r0, k + r0, v + r0, rowStride, Int32(rows.length(b)), Int32(heads),
                                             Int32(dqk), Int32(dv), buckets + bucketOffsets[b], pos.baseAddress!, Int32(n),
                                             timeWeights, out + rows.offsets[b] * outStride, outStride, scratch)
            }
        }
    }

    static func scratchFloats(heads: Int, dqk: Int, dv: Int) -> Int {
        gr_hstu_infer_scratch_floats(Int32(heads), Int32(dqk), Int32(dv))
    }
}
