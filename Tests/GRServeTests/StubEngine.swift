import Foundation
import GRCore
import GRInference
@testable import GRServe

/// A test double for the engine: answers instantly and predictably, records every call, and can be
/// held inside `recommend`/`score` (a gate) so tests control what is in flight and what is queued.
///
/// - ids 1...maxItemId; recommendations are the highest ids first (score = id / 100), history items
///   skipped when `excludeSeen`; score(candidate) = candidate / 100;
/// - `validate` rejects item 99 in a history (an engine-specific rule the server does not know);
/// - item 98 passes `validate` but makes `recommend` throw an `InferenceError` (a batch-level
///   failure the batcher must isolate to that one request).
final class StubEngine: RecommendationEngine, @unchecked Sendable {
    let modelID: String
    let maxHistory = 50
    let maxItemId = 100
    let corpusSize = 100
    let titles: Bool
    static let rejectedByValidate: Int32 = 99
    static let rejectedByRecommend: Int32 = 98

    private let lock = NSLock()
    private var _batchSizes: [Int] = []
    private var gateOpen = true
    private var entered = 0
    private let gateCondition = NSCondition()

    /// `allowsConcurrentCalls` (several batcher workers may then be inside at once).
    let allowsConcurrentCalls: Bool
    private var _inlineCalls = 0

    init(modelID: String = "stub-a@000000000000", titles: Bool = false, gated: Bool = false, concurrent: Bool = false) {
        self.modelID = modelID
        self.titles = titles
        allowsConcurrentCalls = concurrent
        gateOpen = !gated
    }

    /// Calls that ran inside `Parallel.inline` (single-threaded batcher workers).
    var inlineCalls: Int { lock.withLock { _inlineCalls } }

    /// Batch sizes of every call so far (recommend and score).
    var batchSizes: [Int] { lock.withLock { _batchSizes } }

    /// Lets every held and future call through.
    func open() {
        gateCondition.lock()
        gateOpen = true
        gateCondition.broadcast()
        gateCondition.unlock()
    }

    /// Waits until `n` calls have entered the engine (and so are held at a closed gate).
    func waitUntilEntered(_ n: Int, timeout: Double = 10) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        gateCondition.lock()
        defer { gateCondition.unlock() }
        while entered < n { if !gateCondition.wait(until: deadline) { return false } }
        return true
    }

    private func pass(_ size: Int) {
        let inline = Parallel.isInline
        lock.withLock { _batchSizes.append(size); if inline { _inlineCalls += 1 } }
        gateCondition.lock()
        entered += 1
        gateCondition.broadcast()
        while !gateOpen { gateCondition.wait() }
        gateCondition.unlock()
    }

    func validate(_ q: RecommendQuery) throws { try check(q.history) }
    func validate(_ q: ScoreQuery) throws { try check(q.history) }

    private func check(_ history: [Int32]) throws {
        if let i = history.firstIndex(of: Self.rejectedByValidate) {
            throw InferenceError(field: "history[\(i)]", reason: "the stub engine refuses item 99")
        }
    }

    func recommend(_ batch: [RecommendQuery]) throws -> [Recommendation] {
        pass(batch.count)
        if let i = batch.firstIndex(where: { $0.history.contains(Self.rejectedByRecommend) }) {
            throw InferenceError(field: "history", reason: "the stub engine fails query \(i) of its batch")
        }
        return batch.map { q in
            let seen = q.excludeSeen ? Set(q.history) : []
            let items = (1...Int32(maxItemId)).reversed().filter { !seen.contains($0) }.prefix(q.k)
            return Recommendation(items: Array(items), scores: items.map { Float($0) / 100 })
        }
    }

    func score(_ batch: [ScoreQuery]) throws -> [[Float]] {
        pass(batch.count)
        return batch.map { $0.candidates.map { Float($0) / 100 } }
    }

    func title(of item: Int32) -> String? { titles ? "Movie \(item)" : nil }
}
