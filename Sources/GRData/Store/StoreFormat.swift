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
