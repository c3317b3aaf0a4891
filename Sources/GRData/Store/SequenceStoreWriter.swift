#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Streams users into a new sequence store file (layout in `StoreFormat`) with bounded memory:
/// the counts are fixed up front, every section has its place in the file, and each user's events
/// go through three 1 MiB buffers written in place with `pwrite`. Only the U+1 user offsets and U
/// user ids are held in memory until `finish()`.
///
/// Write into a temporary folder and publish it with `StoreDirectory.commit` so that readers never
/// see a partial store.
public final class SequenceStoreWriter {
    public let path: String
    public let userCount: Int
    public let eventCount: Int
    private let fd: Int32
    private let sections: [(offset: Int, bytes: Int)]
    private let fileBytes: Int
    private var writers: [SectionWriter]
    private var userOffsets: [Int64]
    private var userIds: [Int64]
    private let corpus: [Int32]
    private let titles: [String]?
    private let name: String
    private let flags: StoreFormat.Flags
    private var maxItemId: Int32 = 0
    private var finished = false

    /// - corpus: ascending item ids (spec §1.5 `all_item_ids`). titles: one per corpus entry, or nil.
    public init(path: String, name: String, userCount: Int, eventCount: Int, corpus: [Int32],
                titles: [String]?, hasRatings: Bool) throws {
        precondition(titles == nil || titles!.count == corpus.count, "one title per corpus item")
        for i in 1..<max(corpus.count, 1) where corpus[i] <= corpus[i - 1] {
            throw DataError.invalidArgument("corpus must be strictly ascending (index \(i))")
        }
        self.path = path
        self.userCount = userCount
        self.eventCount = eventCount
        self.corpus = corpus
        self.titles = titles
        self.name = name
        var flags: StoreFormat.Flags = []
        if hasRatings { flags.insert(.ratings) }
        if titles != nil { flags.insert(.titles) }
        self.flags = flags
        let titleBytes = titles.map { $0.reduce(0) { $0 + $1.utf8.count } }
        let (layout, total) = StoreFormat.layout(users: userCount, events: eventCount, corpus: corpus.count,
                                                 titleBytes: titleBytes)
        sections = layout.map { (offset: $0.0, bytes: $0.1) }
        fileBytes = total
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw DataError.io(path: path, reason: "cannot create: \(String(cString: strerror(errno)))") }
        guard ftruncate(fd, off_t(total)) == 0 else {
            close(fd)
            throw DataError.io(path: path, reason: "cannot size the file to \(total) bytes: \(String(cString: strerror(errno)))")
        }
        writers = sections.map { SectionWriter(offset: $0.offset) }
        userOffsets = [0]
        userOffsets.reserveCapacity(userCount + 1)
        userIds = []
        userIds.reserveCapacity(userCount)
        maxItemId = corpus.last ?? 0
    }

    deinit { if !finished { close(fd) } }

    /// Appends the next user's chronological events. `ratings` may be empty when the dataset has none.
    public func append(userId: Int64, items: UnsafeBufferPointer<Int32>, timestamps: UnsafeBufferPointer<Int64>,
                       ratings: UnsafeBufferPointer<Float>) throws {
        precondition(items.count == timestamps.count && (ratings.isEmpty || ratings.count == items.count))
        guard userIds.count < userCount else { throw DataError.invalidArgument("more users than declared (\(userCount))") }
        let total = Int(userOffsets.last!) + items.count
        guard total <= eventCount else { throw DataError.invalidArgument("more events than declared (\(eventCount))") }
        for v in items where v > maxItemId { maxItemId = v }
        try writers[1].write(UnsafeRawBufferPointer(items), fd: fd, path: path)
        try writers[2].write(UnsafeRawBufferPointer(timestamps), fd: fd, path: path)
        if ratings.isEmpty {
            let zeros = [Float](repeating: 0, count: items.count)
            try zeros.withUnsafeBytes { try writers[3].write($0, fd: fd, path: path) }
        } else {
            try writers[3].write(UnsafeRawBufferPointer(ratings), fd: fd, path: path)
        }
        userOffsets.append(Int64(total))
        userIds.append(userId)
    }

    public func append(userId: Int64, items: [Int32], timestamps: [Int64], ratings: [Float]) throws {
        try items.withUnsafeBufferPointer { i in
            try timestamps.withUnsafeBufferPointer { t in
                try ratings.withUnsafeBufferPointer { r in try append(userId: userId, items: i, timestamps: t, ratings: r) }
            }
        }
    }

    /// Writes the remaining sections and the header. Throws when fewer users/events were appended
    /// than declared.
    public func finish() throws {
        guard userIds.count == userCount, Int(userOffsets.last!) == eventCount else {
            throw DataError.invalidArgument("store \(path): declared \(userCount) users / \(eventCount) events, got \(userIds.count) / \(userOffsets.last!)")
        }
        try userOffsets.withUnsafeBytes { try writers[0].write($0, fd: fd, path: path) }
        try userIds.withUnsafeBytes { try writers[4].write($0, fd: fd, path: path) }
        try corpus.withUnsafeBytes { try writers[5].write($0, fd: fd, path: path) }
        if let titles {
            var offsets: [Int64] = [0]
            var blob: [UInt8] = []
            for t in titles { blob.append(contentsOf: t.utf8); offsets.append(Int64(blob.count)) }
            try offsets.withUnsafeBytes { try writers[6].write($0, fd: fd, path: path) }
            try blob.withUnsafeBytes { try writers[7].write($0, fd: fd, path: path) }
        }
        var checksums: [UInt64] = []
        for k in 0..<writers.count {
            try writers[k].flush(fd: fd, path: path, final: true)
            guard writers[k].written == sections[k].bytes else {
                throw DataError.io(path: path, reason: "section \(StoreFormat.Section(rawValue: k)!.name): wrote \(writers[k].written) of \(sections[k].bytes) bytes")
            }
            checksums.append(writers[k].checksum.value)
        }
        var header = [UInt8](repeating: 0, count: StoreFormat.headerBytes)
        func put<T: FixedWidthInteger>(_ v: T, _ at: Int) {
            withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { header[at + i] = b } }
        }
        for (i, b) in StoreFormat.magic.enumerated() { header[i] = b }
        put(StoreFormat.version, 8)
        put(UInt32(StoreFormat.headerBytes), 12)
        put(flags.rawValue, 16)
        put(UInt64(userCount), 24)
        put(UInt64(eventCount), 32)
        put(UInt64(corpus.count), 40)
        put(UInt64(maxItemId), 48)
        put(UInt64(fileBytes), 56)
        put(UInt32(sections.count), 64)
        for (k, s) in sections.enumerated() {
            put(UInt64(s.offset), StoreFormat.sectionTableOffset + 24 * k)
            put(UInt64(s.bytes), StoreFormat.sectionTableOffset + 24 * k + 8)
            put(checksums[k], StoreFormat.sectionTableOffset + 24 * k + 16)
        }
        for (i, b) in Array(name.utf8.prefix(StoreFormat.nameBytes - 1)).enumerated() { header[StoreFormat.nameOffset + i] = b }
        let hc = header.withUnsafeBytes { StoreChecksum.of(UnsafeRawBufferPointer(rebasing: $0[0..<StoreFormat.headerChecksumOffset])) }
        put(hc, StoreFormat.headerChecksumOffset)
        let n = header.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        guard n == header.count else { throw DataError.io(path: path, reason: "cannot write the header") }
        guard fsync(fd) == 0 else { throw DataError.io(path: path, reason: "fsync failed: \(String(cString: strerror(errno)))") }
        close(fd)
        finished = true
    }
}

/// Appends bytes to one section through a 1 MiB buffer, checksumming what it writes.
private struct SectionWriter {
    static let capacity = 1 << 20  // multiple of 8, so every flush but the last is whole words
    var offset: Int
    var written = 0
    var buffer: [UInt8] = []
    var checksum = StoreChecksum()

    init(offset: Int) { self.offset = offset }

    mutating func write(_ bytes: UnsafeRawBufferPointer, fd: Int32, path: String) throws {
        var rest = bytes
        while !rest.isEmpty {
            if buffer.isEmpty && rest.count >= Self.capacity {  // large writes bypass the buffer
                let n = rest.count / Self.capacity * Self.capacity
                try emit(UnsafeRawBufferPointer(rebasing: rest[0..<n]), fd: fd, path: path)
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
                continue
            }
            if buffer.capacity < Self.capacity { buffer.reserveCapacity(Self.capacity) }
            let take = min(rest.count, Self.capacity - buffer.count)
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[0..<take]))
            rest = UnsafeRawBufferPointer(rebasing: rest[take...])
            if buffer.count == Self.capacity { try flush(fd: fd, path: path, final: false) }
        }
    }

    mutating func flush(fd: Int32, path: String, final: Bool) throws {
        if buffer.isEmpty { return }
        let b = buffer
        try b.withUnsafeBytes { try emit($0, fd: fd, path: path) }
        buffer.removeAll(keepingCapacity: !final)
    }

    private mutating func emit(_ bytes: UnsafeRawBufferPointer, fd: Int32, path: String) throws {
        checksum.update(bytes)
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + written + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw DataError.io(path: path, reason: "write failed: \(String(cString: strerror(errno)))") }
            done += n
        }
        written += bytes.count
    }
}
