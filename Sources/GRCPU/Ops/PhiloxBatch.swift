import GRCore

/// Philox4x32-10 for 8 consecutive blocks at once, in 64-bit SIMD lanes holding 32-bit values
/// (so the 32×32→64 multiplies map to vector instructions). Bit-identical to
/// `PhiloxStream.block(_:)` (tested); used by dropout and negative sampling, which draw millions of
/// words per step.
public struct PhiloxBatch {
    @usableFromInline let k0: UInt32, k1: UInt32
    @usableFromInline let c2: SIMD8<UInt64>, c3: SIMD8<UInt64>

    @inlinable
    public init(_ s: PhiloxStream) {
        k0 = UInt32(truncatingIfNeeded: s.seed)
        k1 = UInt32(truncatingIfNeeded: s.seed >> 32)
        c2 = SIMD8(repeating: s.stream & 0xFFFF_FFFF)
        c3 = SIMD8(repeating: s.stream >> 32)
    }

    /// Words 0..3 of blocks first ..< first + 8: lane i of `w.j` is word j of block first + i.
    @inlinable @inline(__always)
    public func blocks8(_ first: UInt64) -> (SIMD8<UInt64>, SIMD8<UInt64>, SIMD8<UInt64>, SIMD8<UInt64>) {
        let mask = SIMD8<UInt64>(repeating: 0xFFFF_FFFF)
        let idx = SIMD8<UInt64>(repeating: first) &+ SIMD8(0, 1, 2, 3, 4, 5, 6, 7)
        var x0 = idx & mask, x1 = idx &>> 32, x2 = c2, x3 = c3
        var a = k0, b = k1
        for _ in 0..<10 {
            // the masks are no-ops on the values but tell LLVM the high halves are zero, so each
            // product is one vpmuludq instead of a full 64×64 emulation
            let p0 = (x0 & mask) &* 0xD251_1F53, p1 = (x2 & mask) &* 0xCD9E_8D57
            let ka = SIMD8<UInt64>(repeating: UInt64(a)), kb = SIMD8<UInt64>(repeating: UInt64(b))
            x0 = (p1 &>> 32) ^ x1 ^ ka
            x1 = p1 & mask
            x2 = (p0 &>> 32) ^ x3 ^ kb
            x3 = p0 & mask
            a &+= 0x9E37_79B9
            b &+= 0xBB67_AE85
        }
        return (x0, x1, x2, x3)
    }

    /// The 32 words of numbers 32·group ..< 32·group + 32, lane-major: word 4·b + j (block b,
    /// word j) is at out[8·j + b] (stored as whole vectors, which avoids lane shuffles; read it
    /// through `PhiloxBatch.index`).
    @inlinable @inline(__always)
    public func words32LaneMajor(_ group: Int, into out: UnsafeMutablePointer<UInt64>) {
        let (w0, w1, w2, w3) = blocks8(UInt64(group) &* 8)
        let raw = UnsafeMutableRawPointer(out)
        raw.storeBytes(of: w0, as: SIMD8<UInt64>.self)
        raw.storeBytes(of: w1, toByteOffset: 64, as: SIMD8<UInt64>.self)
        raw.storeBytes(of: w2, toByteOffset: 128, as: SIMD8<UInt64>.self)
        raw.storeBytes(of: w3, toByteOffset: 192, as: SIMD8<UInt64>.self)
    }

    /// Position in the `words32LaneMajor` buffer of number k of the group (0 ≤ k < 32).
    @inlinable @inline(__always)
    public static func index(_ k: Int) -> Int { (k & 3) << 3 | k >> 2 }

    /// For every group of 32 numbers overlapping `range`: body(lo, hi, g, words) with the part
    /// lo..<hi of the group g inside `range`; number i's word is
    /// UInt32(words[PhiloxBatch.index(i − 32·g)]).
    @inlinable @inline(__always)
    func forEachGroupLaneMajor(in range: Range<Int>, _ body: (Int, Int, Int, UnsafeMutablePointer<UInt64>) -> Void) {
        if range.isEmpty { return }
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 32) { buf in
            let w = buf.baseAddress!
            for g in (range.lowerBound / 32)...((range.upperBound - 1) / 32) {
                words32LaneMajor(g, into: w)
                body(max(range.lowerBound, g * 32), min(range.upperBound, g * 32 + 32), g, w)
            }
        }
    }

    /// The 32 words of numbers 32·group ..< 32·group + 32 in index order (word i = number i).
    @inlinable @inline(__always)
    public func words32(_ group: Int, into out: UnsafeMutablePointer<UInt32>) {
        let (w0, w1, w2, w3) = blocks8(UInt64(group) &* 8)
        for b in 0..<8 {
            out[4 * b] = UInt32(truncatingIfNeeded: w0[b])
            out[4 * b + 1] = UInt32(truncatingIfNeeded: w1[b])
            out[4 * b + 2] = UInt32(truncatingIfNeeded: w2[b])
            out[4 * b + 3] = UInt32(truncatingIfNeeded: w3[b])
        }
    }

    /// For every group of 32 numbers overlapping `range`: body(lo, hi, words) with words[i] the
    /// word of number i (the pointer is offset so absolute indices work) for i in lo..<hi, the part
    /// of the group inside `range`.
    @inlinable @inline(__always)
    func forEachGroup(in range: Range<Int>, _ body: (Int, Int, UnsafeMutablePointer<UInt32>) -> Void) {
        if range.isEmpty { return }
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 32) { buf in
            let w = buf.baseAddress!
            for g in (range.lowerBound / 32)...((range.upperBound - 1) / 32) {
                words32(g, into: w)
                body(max(range.lowerBound, g * 32), min(range.upperBound, g * 32 + 32), w - g * 32)
            }
        }
    }
}
