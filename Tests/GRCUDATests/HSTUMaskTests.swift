@testable import GRCUDA
import XCTest

/// The mask of the tensor-core HSTU attention (`AttentionMMA.cu`, mirrored by
/// `HSTUMaskedReference.allowed`): HEAD's `_get_valid_attn_mask`, causal. Runs without a GPU.
final class HSTUMaskTests: XCTestCase {
    func allowed(_ i: Int, _ j: Int, _ length: Int, targets: Int = 0, contextual: Int = 0) -> Bool {
        HSTUMaskedReference.allowed(i, j, length: length, HSTUMaskOptions(targetCount: targets, contextualLength: contextual))
    }

    func testNoOptionsIsCausal() {
        for i in 0..<9 { for j in 0..<9 { XCTAssertEqual(allowed(i, j, 9), j <= i, "(\(i), \(j))") } }
    }

    func testTargetsAttendHistoryAndThemselves() {
        let L = 10, targets = 3, hist = L - targets
        for i in 0..<L {
            for j in 0..<L {
                let expected = i < hist ? j <= i : (j < hist || j == i)
                XCTAssertEqual(allowed(i, j, L, targets: targets), expected, "(\(i), \(j))")
            }
        }
        // more targets than tokens: every token is a target, attends itself only
        for i in 0..<4 { for j in 0..<4 { XCTAssertEqual(allowed(i, j, 4, targets: 9), i == j) } }
    }

    func testContextualPrefixSeesAllHistoryAndIsSeenByAll() {
        let L = 12, c = 3, targets = 2, hist = L - targets
        for i in 0..<L {
            for j in 0..<L {
                let expected: Bool
                if i < c { expected = j < hist || j == i }           // the prefix attends all history
                else if i < hist { expected = j <= i }                // causal, prefix included
                else { expected = j < hist || j == i }                // targets: history and themselves
                XCTAssertEqual(allowed(i, j, L, targets: targets, contextual: c), expected, "(\(i), \(j))")
            }
        }
    }

    func testPrecisionFromEnvironmentDefaultsToF32() {
        if ProcessInfo.processInfo.environment["GR_CUDA_ATTENTION"] == nil {
            XCTAssertEqual(CUDAAttentionPrecision.fromEnvironment, .f32)
        }
    }
}
