import Foundation
import GRCore

/// Cuts the users of a store into batches for one view (spec §1.4: one sample per user per epoch).
///
/// Eligible users are those with at least `view.minimumEvents` events (others are skipped, see
/// `SampleView`), in store order. With `shuffle`, epoch e visits them in the order of a
/// Fisher–Yates shuffle driven by `PhiloxStream(seed, RandomStreamKind.shuffle.stream(step: e))`:
/// for i = n−1 … 1, swap position i with position `below(i + 1, n − 1 − i)`. The same (seed,
/// epoch) gives the same batches on any machine. The last batch of an epoch may be smaller (no
/// samples dropped).
public struct BatchSampler: @unchecked Sendable {
    public let store: SequenceStore
    public let view: SampleView
    public let maxLength: Int
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    /// Store user indices that give a sample in this view.
    public let eligibleUsers: [Int]
    private let cache = PermutationCache()

    public init(store: SequenceStore, view: SampleView, maxLength: Int, batchSize: Int, shuffle: Bool, seed: UInt64) {
        precondition(maxLength > 0 && batchSize > 0)
        self.store = store
        self.view = view
        self.maxLength = maxLength
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.seed = seed
        eligibleUsers = (0..<store.userCount).filter { store.count($0) >= view.minimumEvents }
    }

    /// Samples per epoch.
    public var sampleCount: Int { eligibleUsers.count }
    /// Batches per epoch (the last one may be partial).
    public var batchCount: Int { (eligibleUsers.count + batchSize - 1) / batchSize }

    /// The order in which epoch `epoch` visits the eligible users (store user indices).
    public func order(epoch: Int) -> [Int] {
        guard shuffle else { return eligibleUsers }
        if let cached = cache.get(epoch) { return cached }
        var order = eligibleUsers
        let stream = PhiloxStream(seed: seed, stream: RandomStreamKind.shuffle.stream(step: epoch))
        let n = order.count
        if n > 1 {
            for i in stride(from: n - 1, through: 1, by: -1) {
                let j = stream.below(i + 1, UInt64(n - 1 - i))
                order.swapAt(i, j)
            }
        }
        cache.set(epoch, order)
        return order
    }

    /// Batch `index` (0..<batchCount) of epoch `epoch`.
    public func batch(_ index: Int, epoch: Int) -> SequenceBatch {
        precondition(index >= 0 && index < batchCount, "batch \(index) outside 0..<\(batchCount)")
        let order = order(epoch: epoch)
        let users = Array(order[index * batchSize ..< min(order.count, (index + 1) * batchSize)])
        return Self.makeBatch(store: store, users: users, view: view, maxLength: maxLength)
    }

    /// Builds the samples of `users` (each must have ≥ view.minimumEvents events): drop the last
    /// `ignoreLastN` events, target = the last remaining, history = the up to `maxLength` events
    /// before it (newest kept).
    public static func makeBatch(store: SequenceStore, users: [Int], view: SampleView, maxLength: Int) -> SequenceBatch {
        var lengths: [Int] = [], ids: [Int32] = [], ts: [Int64] = [], rs: [Float] = []
        var tIds: [Int32] = [], tTs: [Int64] = [], tRs: [Float] = []
        for u in users {
            let items = store.items(u), times = store.timestamps(u), ratings = store.ratings(u)
            let n = items.count - view.ignoreLastN
            precondition(n >= 2, "user \(u) has \(items.count) events, needs \(view.minimumEvents)")
            let t = n - 1
            let start = max(0, t - maxLength)
            lengths.append(t - start)
            ids.append(contentsOf: items[start..<t])
            ts.append(contentsOf: times[start..<t])
            rs.append(contentsOf: ratings[start..<t])
            tIds.append(items[t]); tTs.append(times[t]); tRs.append(ratings[t])
        }
        return SequenceBatch(users: users, layout: JaggedLayout(lengths: lengths), historyIds: ids, historyTimestamps: ts,
                             historyRatings: rs, targetIds: tIds, targetTimestamps: tTs, targetRatings: tRs,
                             maxLength: maxLength)
    }
}

/// The permutation of the last epoch asked for (training asks for every batch of an epoch in turn).
private final class PermutationCache: @unchecked Sendable {
    private let lock = NSLock()
    private var epoch = -1
    private var order: [Int] = []

    func get(_ e: Int) -> [Int]? {
        lock.lock(); defer { lock.unlock() }
        return e == epoch ? order : nil
    }

    func set(_ e: Int, _ o: [Int]) {
        lock.lock(); defer { lock.unlock() }
        epoch = e
        order = o
    }
}
