import Foundation
@testable import GRTrain
import XCTest

final class DistributedRendezvousTests: XCTestCase {
    /// Rank 0 serves 128 bytes on loopback; three other ranks (started first: they retry) read them.
    func testRanksReceiveRankZerosIdOverLoopback() throws {
        let payload = (0..<128).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 5) }
        let port = 30_000 + Int(getpid() % 20_000)
        let group = DispatchGroup()
        let results = Outcomes()
        for _ in 1..<4 {
            DispatchQueue.global().async(group: group) {
                do {
                    results.add(try Rendezvous.fetch(payloadBytes: 128, worldSize: 4, host: "127.0.0.1", port: port, timeout: 20))
                } catch { results.fail("\(error)") }
            }
        }
        usleep(200_000)
        try Rendezvous.serve(payload: payload, worldSize: 4, host: "127.0.0.1", port: port, timeout: 20)
        group.wait()
        XCTAssertEqual(results.errors, [])
        XCTAssertEqual(results.received, [payload, payload, payload])
    }

    func testTimeoutsAndMismatchesSayWhatHappened() throws {
        let port = 30_000 + Int((getpid() + 7_919) % 20_000)
        XCTAssertThrowsError(try Rendezvous.fetch(payloadBytes: 128, worldSize: 2, host: "127.0.0.1", port: port, timeout: 0.3)) {
            XCTAssertTrue("\($0)".contains("timed out"), "\($0)")
        }
        XCTAssertThrowsError(try Rendezvous.serve(payload: [UInt8](repeating: 1, count: 128), worldSize: 2,
                                                  host: "127.0.0.1", port: port, timeout: 0.3)) {
            XCTAssertTrue("\($0)".contains("0 of 1 ranks connected"), "\($0)")
        }
        // A peer expecting another world size is told so.
        DispatchQueue.global().async {
            try? Rendezvous.serve(payload: [UInt8](repeating: 2, count: 128), worldSize: 3, host: "127.0.0.1", port: port + 1,
                                  timeout: 5)
        }
        XCTAssertThrowsError(try Rendezvous.fetch(payloadBytes: 128, worldSize: 2, host: "127.0.0.1", port: port + 1, timeout: 5)) {
            XCTAssertTrue("\($0)".contains("world size 3"), "\($0)")
        }
        XCTAssertThrowsError(try Rendezvous.fetch(payloadBytes: 128, worldSize: 2, host: "no-such-host.invalid", port: port,
                                                  timeout: 1)) {
            XCTAssertTrue("\($0)".contains("cannot resolve"), "\($0)")
        }
    }
}

/// What the connecting ranks got, collected under a lock.
final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var received: [[UInt8]] = []
    private(set) var errors: [String] = []
    func add(_ bytes: [UInt8]) { lock.lock(); received.append(bytes); lock.unlock() }
    func fail(_ message: String) { lock.lock(); errors.append(message); lock.unlock() }
}
