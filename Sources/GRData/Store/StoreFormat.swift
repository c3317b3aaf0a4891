/// The on-disk layout of a sequence store (`<DIR>/sequences.grstore`), format version 1.
///
/// All integers little-endian. A fixed 320-byte header, then 8 sections, each starting at an
/// 8-byte aligned offset (zero padding between), so that the file can be memory-mapped and the
/// arrays used in place:
///
/// | header offset | field |
/// |---|---|
/// | 0   | magic `GRSTORE\0` (8 bytes) |
/// | 8   | version u32 (= 1), header size u32 (= 320) |
/// | 16  | flags u64: bit 0 ratings present, bit 1 titles present |
/// | 24  | users U u64, events E u64, corpus size C u64, max item id u64, file size u64 |
/// | 64  | section count u32 (= 8), reserved u32 |
/// | 72  | 8 × (offset u64, byte count u64, checksum u64) |
/// | 264 | dataset name, UTF-8, zero-padded (48 bytes) |
/// | 312 | header checksum u64 over bytes 0..<312 |
///
/// Sections: `userOffsets` (U+1 × i64, events of user u are `userOffsets[u] ..< userOffsets[u+1]`),
/// `items` (E × i32), `timestamps` (E × i64, unix seconds), `ratings` (E × f32), `userIds`
/// (U × i64: the raw user id for numeric datasets, the lexicographic code for string ones),
/// `corpus` (C × i32, ascending), `titleOffsets` (C+1 × i64 into `titleBytes`, empty when no
/// titles), `titleBytes` (UTF-8, title of corpus[i] at `titleOffsets[i] ..< titleOffsets[i+1]`).
/// Each section's checksum is `StoreChecksum` of its bytes; any single changed 8-byte word changes it.
public enum StoreFormat {
    public static let fileName = "sequences.grstore"
    public static let summaryName = "summary.json"
    public static let magic: [UInt8] = Array("GRSTORE\0".utf8)
    public static let version: UInt32 = 1
    public static let headerBytes = 320
    public static let nameBytes = 48
    public static let nameOffset = 264
    public static let headerChecksumOffset = 312
    public static let sectionTableOffset = 72

    public enum Section: Int, CaseIterable {
        case userOffsets = 0, items, timestamps, ratings, userIds, corpus, titleOffsets, titleBytes
        public var name: String {
            switch self {
            case .userOffsets: return "userOffsets"
            case .items: return "items"
            case .timestamps: return "timestamps"
            case .ratings: return "ratings"
            case .userIds: return "userIds"
            case .corpus: return "corpus"
            case .titleOffsets: return "titleOffsets"
            case .titleBytes: return "titleBytes"
            }
        }
    }

    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }
        public static let ratings = Flags(rawValue: 1)
        public static let titles = Flags(rawValue: 2)
    }

    @inline(__always) static func align8(_ n: Int) -> Int { (n + 7) & ~7 }

    /// Byte offsets of every section for the given sizes: (offset, byteCount) per section, and the
    /// file size.
    static func layout(users: Int, events: Int, corpus: Int, titleBytes: Int?) -> ([(Int, Int)], Int) {
        let sizes = [
            (users + 1) * 8, events * 4, events * 8, events * 4, users * 8, corpus * 4,
            titleBytes == nil ? 0 : (corpus + 1) * 8, titleBytes ?? 0,
        ]
        var offset = headerBytes
        var result: [(Int, Int)] = []
        for s in sizes {
            result.append((offset, s))
            offset = align8(offset + s)
        }
        return (result, offset)
    }
}

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
