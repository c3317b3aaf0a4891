/// Philox4x32-10, the counter-based generator of Salmon et al. (SC'11, "Random123").
/// A pure function of (key, counter): the CUDA backend computes the same numbers for the same
/// seed, stream and index, in any order, on any thread.
public enum Philox4x32 {
    // Constants of Philox4x32 (Random123).
    @usableFromInline static let m0: UInt32 = 0xD251_1F53
    @usableFromInline static let m1: UInt32 = 0xCD9E_8D57
    @usableFromInline static let w0: UInt32 = 0x9E37_79B9
    @usableFromInline static let w1: UInt32 = 0xBB67_AE85

    /// One 10-round block: four 32-bit outputs for a 128-bit counter and a 64-bit key.
    @inlinable
    public static func block(counter c: SIMD4<UInt32>, key k: SIMD2<UInt32>) -> SIMD4<UInt32> {
        var c = c, k = k
        for _ in 0..<10 {
            let p0 = UInt64(m0) &* UInt64(c[0]), p1 = UInt64(m1) &* UInt64(c[2])
            c = SIMD4(UInt32(truncatingIfNeeded: p1 >> 32) ^ c[1] ^ k[0], UInt32(truncatingIfNeeded: p1),
                      UInt32(truncatingIfNeeded: p0 >> 32) ^ c[3] ^ k[1], UInt32(truncatingIfNeeded: p0))
            k &+= SIMD2(w0, w1)
        }
        return c
    }
}

/// A stream of random numbers addressed by index: number i of stream s under seed `seed` is lane
/// i % 4 of Philox4x32-10(counter = (i / 4 low, i / 4 high, s low, s high), key = seed).
/// Each consumer (an op in a step: dropout of layer 3 at step 17, negatives at step 17, ...)
/// derives its own `stream` id, so draws never overlap and the GPU can reproduce them.
public struct PhiloxStream: Sendable, Equatable {
    public let seed: UInt64
    public let stream: UInt64

    public init(seed: UInt64, stream: UInt64) {
        self.seed = seed
        self.stream = stream
    }

    @inlinable var key: SIMD2<UInt32> {
        SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
    }

    /// The four 32-bit words of block `blockIndex` (numbers 4·blockIndex ..< 4·blockIndex + 4).
    @inlinable
    public func block(_ blockIndex: UInt64) -> SIMD4<UInt32> {
        Philox4x32.block(
            counter: SIMD4(UInt32(truncatingIfNeeded: blockIndex), UInt32(truncatingIfNeeded: blockIndex >> 32),
                           UInt32(truncatingIfNeeded: stream), UInt32(truncatingIfNeeded: stream >> 32)),
            key: key)
    }

    /// Random 32-bit word number `index`.
    @inlinable
    public func uint32(_ index: UInt64) -> UInt32 { block(index >> 2)[Int(index & 3)] }

    /// Uniform Float in [0, 1) with 24 random bits: (word >> 8) · 2⁻²⁴.
    @inlinable
    public func uniform(_ index: UInt64) -> Float { Self.toUniform(uint32(index)) }

    @inlinable
    public static func toUniform(_ word: UInt32) -> Float { Float(word >> 8) * (1.0 / 16_777_216.0) }

    /// Uniform integer in 0..<n (n ≤ 2³²) from word `index`: ⌊word · n / 2³²⌋ (multiply-shift;
    /// bias ≤ n / 2³², negligible for item vocabularies).
    @inlinable
    public func below(_ n: Int, _ index: UInt64) -> Int {
        Int((UInt64(uint32(index)) &* UInt64(n)) >> 32)
    }
}

/// Stream ids used across the project, so that CPU and GPU agree on which numbers each op draws.
/// stream = kind << 56 | step << 16 | slot (slot: layer index or similar).
public enum RandomStreamKind: UInt64, Sendable {
    case initialization = 1
    case inputDropout = 2
    case layerDropout = 3
    case attentionDropout = 4
    case negatives = 5
    case shuffle = 6
    case synthetic = 7

    public func stream(step: Int, slot: Int = 0) -> UInt64 {
        precondition(step >= 0 && step < (1 << 40) && slot >= 0 && slot < (1 << 16))
        return rawValue << 56 | UInt64(step) << 16 | UInt64(slot)
    }
}
