import Foundation

/// A prepared dataset: per user the chronological item ids, timestamps and ratings, plus the item
/// corpus and (optionally) titles. The file (`StoreFormat`) is memory-mapped; accessors return
/// buffers pointing into the mapping, valid while the store is alive.
///
/// `open` checks magic, version, header checksum, the file size against the header (truncation),
/// every section's bounds and checksum, and the user offsets; any failure is a `DataError` naming
/// the file and what is wrong.
public final class SequenceStore: @unchecked Sendable {
    public let path: String
    public let datasetName: String
    public let userCount: Int
    public let eventCount: Int
    public let maxItemId: Int
    public let hasRatings: Bool
    public let hasTitles: Bool
    /// all_item_ids (spec §1.5): the negatives' universe and the ranking corpus, ascending.
    public let corpus: [Int32]

    private let file: MappedFile
    private let offsets: UnsafePointer<Int64>
    private let itemsBase: UnsafePointer<Int32>
    private let timestampsBase: UnsafePointer<Int64>
    private let ratingsBase: UnsafePointer<Float>
    private let userIdsBase: UnsafePointer<Int64>
    private let titleOffsets: UnsafePointer<Int64>?
    private let titleBytes: UnsafeRawPointer?

    /// Opens `<directory>/sequences.grstore` as written by `gr data prepare` / `gr data synth`.
    /// `verifyChecksums: false` skips the section checksums (the structural checks always run).
    public static func open(directory: String, verifyChecksums: Bool = true) throws -> SequenceStore {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) else {
            throw DataError.missingFile(path: directory, what: "sequence store folder")
        }
        let path = isDir.boolValue ? directory + "/" + StoreFormat.fileName : directory
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError.missingFile(path: path, what: "sequence store (run `gr data prepare --out \(directory)`)")
        }
        return try SequenceStore(path: path, verifyChecksums: verifyChecksums)
    }

    public init(path: String, verifyChecksums: Bool = true) throws {
        self.path = path
        file = try MappedFile(path: path)
        let bytes = file.bytes
        func corrupt(_ d: String) -> DataError { DataError.storeCorrupted(path: path, detail: d) }
        guard bytes.count >= StoreFormat.headerBytes else {
            if bytes.count >= 8 && Array(bytes[0..<8]) == StoreFormat.magic {
                throw DataError.storeTruncated(path: path, expectedBytes: StoreFormat.headerBytes, actualBytes: bytes.count)
            }
            throw corrupt("\(bytes.count) bytes, too short for a header (not a sequence store?)")
        }
        guard Array(bytes[0..<8]) == StoreFormat.magic else { throw corrupt("bad magic (not a sequence store)") }
        func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        let version = u32(8)
        guard version == StoreFormat.version else {
            throw DataError.storeVersion(path: path, found: version, supported: StoreFormat.version)
        }
        let hc = StoreChecksum.of(UnsafeRawBufferPointer(rebasing: bytes[0..<StoreFormat.headerChecksumOffset]))
        guard hc == u64(StoreFormat.headerChecksumOffset) else { throw corrupt("header checksum mismatch") }
        let fileBytes = Int(u64(56))
        guard fileBytes == bytes.count else {
            if bytes.count < fileBytes {
                throw DataError.storeTruncated(path: path, expectedBytes: fileBytes, actualBytes: bytes.count)
            }
            throw corrupt("header says \(fileBytes) bytes, file has \(bytes.count) (trailing data)")
        }
        guard Int(u32(12)) == StoreFormat.headerBytes, Int(u32(64)) == StoreFormat.Section.allCases.count else {
            throw corrupt("unexpected header size or section count")
        }
        let flags = StoreFormat.Flags(rawValue: u64(16))
        let users = Int(u64(24)), events = Int(u64(32)), corpusCount = Int(u64(40))
        guard users < Int(Int32.max), events < (1 << 40), corpusCount < Int(Int32.max) else { throw corrupt("implausible counts") }
        let (expected, expectedTotal) = StoreFormat.layout(
            users: users, events: events, corpus: corpusCount,
            titleBytes: flags.contains(.titles) ? Int(u64(StoreFormat.sectionTableOffset + 24 * 7 + 8)) : nil)
        guard expectedTotal == fileBytes else { throw corrupt("section sizes do not add up to the file size") }
        for section in StoreFormat.Section.allCases {
            let k = section.rawValue, at = StoreFormat.sectionTableOffset + 24 * k
            let offset = Int(u64(at)), count = Int(u64(at + 8)), sum = u64(at + 16)
            guard offset == expected[k].0, count == expected[k].1 else {
                throw corrupt("section \(section.name): offset/size \(offset)/\(count), expected \(expected[k].0)/\(expected[k].1)")
            }
            if verifyChecksums && StoreChecksum.of(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])) != sum {
                throw corrupt("section \(section.name): checksum mismatch")
            }
            // Alignment padding after the section must be zero, so that every byte is checked.
            for i in offset + count ..< min(StoreFormat.align8(offset + count), bytes.count) where bytes[i] != 0 {
                throw corrupt("section \(section.name): non-zero padding byte at \(i)")
            }
        }
        let base = bytes.baseAddress!
        func ptr<T>(_ s: StoreFormat.Section, _: T.Type) -> UnsafePointer<T> {
            (base + expected[s.rawValue].0).assumingMemoryBound(to: T.self)
        }
        offsets = ptr(.userOffsets, Int64.self)
        itemsBase = ptr(.items, Int32.self)
        timestampsBase = ptr(.timestamps, Int64.self)
        ratingsBase = ptr(.ratings, Float.self)
        userIdsBase = ptr(.userIds, Int64.self)
        if flags.contains(.titles) {
            titleOffsets = ptr(.titleOffsets, Int64.self)
            titleBytes = base + expected[StoreFormat.Section.titleBytes.rawValue].0
        } else {
            titleOffsets = nil
            titleBytes = nil
        }
        guard offsets[0] == 0, offsets[users] == Int64(events) else { throw corrupt("user offsets do not span the events") }
        for u in 0..<users where offsets[u + 1] < offsets[u] { throw corrupt("user offsets decrease at user \(u)") }
        corpus = Array(UnsafeBufferPointer(start: ptr(.corpus, Int32.self), count: corpusCount))
        for i in 1..<max(corpusCount, 1) where corpus[i] <= corpus[i - 1] { throw corrupt("corpus not ascending at \(i)") }
        if let titleOffsets {
            guard titleOffsets[0] == 0, Int(titleOffsets[corpusCount]) == expected[7].1 else { throw corrupt("title offsets") }
            for i in 0..<corpusCount where titleOffsets[i + 1] < titleOffsets[i] { throw corrupt("title offsets decrease at \(i)") }
        }
        userCount = users
        eventCount = events
        maxItemId = Int(u64(48))
        hasRatings = flags.contains(.ratings)
        hasTitles = flags.contains(.titles)
        let nameBytes = Array(bytes[StoreFormat.nameOffset..<StoreFormat.nameOffset + StoreFormat.nameBytes]).prefix { $0 != 0 }
        datasetName = String(decoding: nameBytes, as: UTF8.self)
    }

    /// Number of events of `user`.
    @inline(__always)
    public func count(_ user: Int) -> Int { Int(offsets[user + 1] - offsets[user]) }

    @inline(__always) private func range(_ user: Int) -> (Int, Int) {
        precondition(user >= 0 && user < userCount, "user \(user) outside 0..<\(userCount)")
        return (Int(offsets[user]), count(user))
    }

    /// Item ids of `user`, oldest first (stable by timestamp: file order breaks ties).
    public func items(_ user: Int) -> UnsafeBufferPointer<Int32> {
        let (s, n) = range(user)
        return UnsafeBufferPointer(start: itemsBase + s, count: n)
    }

    /// Unix-second timestamps of `user`'s events, non-decreasing.
    public func timestamps(_ user: Int) -> UnsafeBufferPointer<Int64> {
        let (s, n) = range(user)
        return UnsafeBufferPointer(start: timestampsBase + s, count: n)
    }

    /// Ratings of `user`'s events (zeros when the dataset has none, see `hasRatings`).
    public func ratings(_ user: Int) -> UnsafeBufferPointer<Float> {
        let (s, n) = range(user)
        return UnsafeBufferPointer(start: ratingsBase + s, count: n)
    }

    /// The dataset's own id of store user `user` (raw MovieLens user id; lexicographic code for
    /// string-keyed datasets).
    public func userId(_ user: Int) -> Int64 {
        precondition(user >= 0 && user < userCount, "user \(user) outside 0..<\(userCount)")
        return userIdsBase[user]
    }

    /// The title of an item of the corpus, when the dataset has titles.
    public func title(ofItem item: Int32) -> String? {
        guard let titleOffsets, let titleBytes else { return nil }
        var lo = 0, hi = corpus.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if corpus[mid] < item { lo = mid + 1 } else { hi = mid }
        }
        guard lo < corpus.count, corpus[lo] == item else { return nil }
        let a = Int(titleOffsets[lo]), b = Int(titleOffsets[lo + 1])
        return String(decoding: UnsafeRawBufferPointer(start: titleBytes + a, count: b - a), as: UTF8.self)
    }
}
