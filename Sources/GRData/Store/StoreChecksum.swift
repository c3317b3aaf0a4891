/// A 64-bit checksum over 8-byte little-endian words (zero-padded tail), four independent lanes so
/// it runs at memory speed: lane = word index mod 4, h ← rotl(h ⊕ w, 27) · 0x100000001B3, the
/// lanes and the byte count mixed at the end. Each step is a bijection of h for a fixed word, so
/// changing any one word always changes the result.
public struct StoreChecksum {
    private var lanes: SIMD4<UInt64> = SIMD4(0x9E37_79B9_7F4A_7C15, 0xC2B2_AE3D_27D4_EB4F, 0x1656_67B1_9E37_79F9, 0x85EB_CA77_C2B2_AE63)
    private var words = 0
    private var bytes = 0

    public init() {}

    /// Adds `buffer`, whose length must be a multiple of 8 except for the final call.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        precondition(words * 8 == bytes, "StoreChecksum: only the last update may have a partial word")
        let n = buffer.count / 8
        var lanes = self.lanes
        var i = 0
        // Align the 4-lane groups to the global word index.
        while i < n && (words + i) & 3 != 0 {
            mix(&lanes, (words + i) & 3, buffer.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
            i += 1
        }
        while i + 4 <= n {
            let w = SIMD4(buffer.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self),
                          buffer.loadUnaligned(fromByteOffset: i * 8 + 8, as: UInt64.self),
                          buffer.loadUnaligned(fromByteOffset: i * 8 + 16, as: UInt64.self),
                          buffer.loadUnaligned(fromByteOffset: i * 8 + 24, as: UInt64.self))
            let x = lanes ^ w
            lanes = ((x &<< 27) | (x &>> 37)) &* 0x0000_0100_0000_01B3
            i += 4
        }
        while i < n {
            mix(&lanes, (words + i) & 3, buffer.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
            i += 1
        }
        let rest = buffer.count - n * 8
        if rest > 0 {
            var w: UInt64 = 0
            for k in 0..<rest { w |= UInt64(buffer[n * 8 + k]) << (8 * UInt64(k)) }
            mix(&lanes, (words + n) & 3, w)
            words += 1
        }
        words += n
        bytes += buffer.count
        self.lanes = lanes
    }

    @inline(__always)
    private func mix(_ lanes: inout SIMD4<UInt64>, _ lane: Int, _ w: UInt64) {
        let x = lanes[lane] ^ w
        lanes[lane] = ((x << 27) | (x >> 37)) &* 0x0000_0100_0000_01B3
    }

    public var value: UInt64 {
        var h = UInt64(truncatingIfNeeded: bytes) &* 0x9E37_79B9_7F4A_7C15
        for k in 0..<4 {  // bijective in h and in each lane
            let x = (h ^ lanes[k]) &* 0xBF58_476D_1CE4_E5B9
            h = (x << 31) | (x >> 33)
        }
        return h
    }

    public static func of(_ buffer: UnsafeRawBufferPointer) -> UInt64 {
        var c = StoreChecksum()
        c.update(buffer)
        return c.value
    }
}
