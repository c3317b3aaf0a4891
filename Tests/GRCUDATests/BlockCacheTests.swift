@testable import GRCUDA
import XCTest

/// The allocator bookkeeping behind CUDA graphs (no device needed): blocks a capture touches stay
/// with the graph until it is dropped; eager allocations never get them meanwhile.
final class BlockCacheTests: XCTestCase {
    func testCapturedBlocksStayWithTheGraph() {
        var c = BlockCache()
        c.handedOut(0x100, size: 256)            // a parameter, made before any capture
        c.release(0x200, size: 256)              // a free block in the shared pool
        c.beginCapture(1)
        XCTAssertEqual(c.take(256), 0x200)       // the capture takes the pool's block: now the graph's
        c.handedOut(0x300, size: 512)            // a fresh driver block during the capture
        c.release(0x200, size: 256)              // a temporary freed within the capture ...
        XCTAssertEqual(c.take(256), 0x200)       // ... is reused within it (one stream: safe)
        c.release(0x200, size: 256)
        c.release(0x300, size: 512)
        c.endCapture()
        XCTAssertEqual(c.ownedCount(1), 2)
        XCTAssertNil(c.take(256), "an eager allocation must not get a block the graph replays into")
        XCTAssertNil(c.take(512))
        c.release(0x100, size: 256)              // the parameter (not the graph's) goes to the pool
        XCTAssertEqual(c.take(256), 0x100)
        c.drop(1)                                // the graph is gone: its free blocks return
        XCTAssertEqual(c.ownedCount(1), 0)
        XCTAssertEqual(c.take(256), 0x200)
        XCTAssertEqual(c.take(512), 0x300)
    }

    func testBlockHeldAfterCaptureReturnsToThePoolAfterDrop() {
        var c = BlockCache()
        c.beginCapture(7)
        c.handedOut(0x400, size: 256)            // an output the caller keeps after the capture
        c.endCapture()
        c.release(0x400, size: 256)              // freed while the graph lives: stays the graph's
        XCTAssertNil(c.take(256))
        c.drop(7)
        XCTAssertEqual(c.take(256), 0x400)
        c.beginCapture(8)
        c.handedOut(0x500, size: 256)
        c.endCapture()
        c.drop(8)                                // dropped while the block is still held ...
        c.release(0x500, size: 256)              // ... it goes to the pool when freed
        XCTAssertEqual(c.take(256), 0x500)
    }
}
