import XCTest
@testable import GRData

final class SequenceStoreTests: XCTestCase {
    /// Writes a small store with titles and returns its folder.
    private func makeStore(titles: Bool = true) throws -> String {
        let dir = TestFiles.folder("store")
        let w = try SequenceStoreWriter(path: dir + "/" + StoreFormat.fileName, name: "tiny", userCount: 3, eventCount: 6,
                                        corpus: [1, 2, 4, 9], titles: titles ? ["one", "two", "", "nine ü"] : nil,
                                        hasRatings: true)
        try w.append(userId: 10, items: [1, 2, 4], timestamps: [5, 6, 6], ratings: [1, 2, 3])
        try w.append(userId: 11, items: [], timestamps: [], ratings: [])
        try w.append(userId: 12, items: [9, 1, 11], timestamps: [1, 2, 3], ratings: [])
        try w.finish()
        return dir
    }

    func testRoundTrip() throws {
        let store = try SequenceStore.open(directory: try makeStore())
        XCTAssertEqual(store.datasetName, "tiny")
        XCTAssertEqual(store.userCount, 3)
        XCTAssertEqual(store.eventCount, 6)
        XCTAssertEqual(store.maxItemId, 11)  // a rated id above the corpus still gets a row
        XCTAssertEqual(store.corpus, [1, 2, 4, 9])
        XCTAssertEqual(Array(store.items(0)), [1, 2, 4])
        XCTAssertEqual(Array(store.timestamps(0)), [5, 6, 6])
        XCTAssertEqual(Array(store.ratings(0)), [1, 2, 3])
        XCTAssertEqual(store.count(1), 0)
        XCTAssertEqual(Array(store.ratings(2)), [0, 0, 0])
        XCTAssertEqual(store.userId(2), 12)
        XCTAssertEqual(store.title(ofItem: 9), "nine ü")
        XCTAssertEqual(store.title(ofItem: 4), "")
        XCTAssertNil(store.title(ofItem: 3))
        let plain = try SequenceStore.open(directory: try makeStore(titles: false))
        XCTAssertNil(plain.title(ofItem: 1))
        XCTAssertFalse(plain.hasTitles)
    }

    func testWriterRejectsWrongCounts() throws {
        let dir = TestFiles.folder("store")
        let w = try SequenceStoreWriter(path: dir + "/x", name: "x", userCount: 2, eventCount: 2, corpus: [1],
                                        titles: nil, hasRatings: false)
        try w.append(userId: 0, items: [1], timestamps: [0], ratings: [])
        XCTAssertThrowsError(try w.finish())
        XCTAssertThrowsError(try w.append(userId: 1, items: [1, 1], timestamps: [0, 0], ratings: []))
    }

    private func mutate(_ dir: String, _ body: (inout Data) -> Void) throws {
        let url = URL(fileURLWithPath: dir + "/" + StoreFormat.fileName)
        var d = try Data(contentsOf: url)
        body(&d)
        try d.write(to: url)
    }

    func testCorruptedSectionDetected() throws {
        let dir = try makeStore()
        let items = StoreFormat.layout(users: 3, events: 6, corpus: 4, titleBytes: 15).0[1].0
        try mutate(dir) { $0[items + 4] ^= 0x01 }
        assertDataError({ _ = try SequenceStore.open(directory: dir) }) {
            if case let .storeCorrupted(path, detail) = $0 { return path.hasSuffix(StoreFormat.fileName) && detail.contains("items") }
            return false
        }
        // Structural checks only: opens.
        XCTAssertNoThrow(try SequenceStore.open(directory: dir, verifyChecksums: false))
    }

    func testCorruptedHeaderDetected() throws {
        let dir = try makeStore()
        try mutate(dir) { $0[24] ^= 0x02 }  // user count
        assertDataError({ _ = try SequenceStore.open(directory: dir) }) {
            if case let .storeCorrupted(_, detail) = $0 { return detail.contains("header checksum") }
            return false
        }
    }

    func testTruncatedStoreDetected() throws {
        let dir = try makeStore()
        try mutate(dir) { $0 = $0.prefix($0.count - 10) }
        let e = assertDataError({ _ = try SequenceStore.open(directory: dir) }) {
            if case .storeTruncated = $0 { return true }
            return false
        }
        XCTAssertTrue("\(e!)".contains("truncated"))
        try mutate(dir) { $0 = $0.prefix(100) }
        assertDataError({ _ = try SequenceStore.open(directory: dir) }) {
            if case .storeTruncated(_, StoreFormat.headerBytes, 100) = $0 { return true }
            return false
        }
    }

    func testNotAStoreAndVersion() throws {
        let dir = TestFiles.folder("notstore")
        TestFiles.write(String(repeating: "x", count: 400), dir, StoreFormat.fileName)
        assertDataError({ _ = try SequenceStore.open(directory: dir) }) {
            if case let .storeCorrupted(_, detail) = $0 { return detail.contains("magic") }
            return false
        }
        let good = try makeStore()
        try mutate(good) { $0[8] = 99 }
        assertDataError({ _ = try SequenceStore.open(directory: good) }) {
            if case .storeVersion(_, 99, StoreFormat.version) = $0 { return true }
            return false
        }
        assertDataError({ _ = try SequenceStore.open(directory: dir + "/missing") }) {
            if case .missingFile = $0 { return true }
            return false
        }
        TestFiles.write("", dir, "empty.grstore")
        assertDataError({ _ = try SequenceStore(path: dir + "/empty.grstore") }) {
            if case .storeCorrupted = $0 { return true }
            return false
        }
    }

    /// Changing any single byte of the data changes the checksum; chunked updates agree.
    func testChecksum() {
        var bytes = [UInt8](repeating: 0, count: 203)
        for i in 0..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: i &* 31) }
        let base = bytes.withUnsafeBytes { StoreChecksum.of($0) }
        for i in stride(from: 0, to: bytes.count, by: 7) {
            var b = bytes
            b[i] ^= 0x80
            XCTAssertNotEqual(b.withUnsafeBytes { StoreChecksum.of($0) }, base)
        }
        var c = StoreChecksum()
        bytes.withUnsafeBytes { p in
            c.update(UnsafeRawBufferPointer(rebasing: p[0..<24]))
            c.update(UnsafeRawBufferPointer(rebasing: p[24..<200]))
            c.update(UnsafeRawBufferPointer(rebasing: p[200...]))
        }
        XCTAssertEqual(c.value, base)
    }
}
