import Foundation
import GRCore
import GRData
import GREval
import GRModels

/// The outcome of evaluating a model on one view.
public struct EvaluationResult {
    public var metrics: RankingMetrics
    /// Per-user outcomes in evaluation order (only when requested).
    public var ranks: [RankRecord]
    /// metric name → mean, for logs and checkpoints.
    public var means: [String: Double] { Dictionary(uniqueKeysWithValues: metrics.means().map { ($0.name, $0.value) }) }
    public var users: Int { metrics.count }
}

/// Full-corpus ranking evaluation (spec §6.1): for every user of `view` (or the first `maxBatches`
/// batches of the shuffled order — the reference's partial evaluation, spec §5.1) the
/// L2-normalised user vector at position L_b − 1 is scored against every corpus item, the ids of
/// the seen filter are removed and the target's rank is turned into HR/NDCG/MRR (spec §6.2).
///
/// Batches come from `BatchSampler(shuffle: true, seed: seed)` at `epoch`, like the reference's
/// `DistributedSampler(shuffle=True)` with `set_epoch`: a full pass covers every user whatever the
/// order; a partial pass sees a different random subset each epoch.
public func evaluateRanking(model: any SequentialRecommender, store: SequenceStore, view: SampleView,
                            config: TrainConfig, epoch: Int, maxBatches: Int? = nil,
                            collectRanks: Bool = false, backend: any Backend,
                            profile: PhaseProfile? = nil) -> EvaluationResult {
    let sampler = BatchSampler(store: store, view: view, maxLength: config.maxSequenceLength,
                               batchSize: config.evalBatchSize, shuffle: true, seed: config.seed)
    let evaluator = RankingEvaluator(corpus: store.corpus, maxRank: config.maxRank)
    let itemVectors = profile?.measure("eval: item vectors") { model.itemEmbeddings() } ?? model.itemEmbeddings()
    var metrics = RankingMetrics()
    var records: [RankRecord] = []
    let batches = min(sampler.batchCount, maxBatches ?? Int.max)
    // Ranks are queued per batch (on a device backend they stay there) and read back once at the
    // end; metrics are then added batch by batch in the same order as before.
    var queued: [(users: [Int], targets: [Int32], ratings: [Float])] = []
    for i in 0..<batches {
        let batch = profile?.measure("eval: batch (host)") { sampler.batch(i, epoch: epoch) } ?? sampler.batch(i, epoch: epoch)
        enqueueBatchRanks(batch, model: model, store: store, view: view, config: config, evaluator: evaluator,
                          itemVectors: itemVectors, backend: backend, profile: profile)
        queued.append((batch.users, batch.targetIds, batch.targetRatings))
    }
    let all = profile?.measure("eval: read ranks") { evaluator.takeRanks(backend: backend) } ?? evaluator.takeRanks(backend: backend)
    precondition(all.count == queued.reduce(0) { $0 + $1.users.count }, "evaluation: \(all.count) ranks for \(queued.count) batches")
    var offset = 0
    for q in queued {
        let ranks = Array(all[offset ..< offset + q.users.count])
        offset += q.users.count
        metrics.add(ranks: ranks, ratings: store.hasRatings ? q.ratings : [])
        if collectRanks {
            for (b, r) in ranks.enumerated() { records.append(RankRecord(user: q.users[b], target: q.targets[b], rank: r)) }
        }
    }
    return EvaluationResult(metrics: metrics, ranks: records)
}

/// Queues the ranks of one batch on `evaluator` (see `RankingEvaluator.enqueueRanks`).
func enqueueBatchRanks(_ batch: SequenceBatch, model: any SequentialRecommender, store: SequenceStore, view: SampleView,
                       config: TrainConfig, evaluator: RankingEvaluator, itemVectors: Tensor, backend: any Backend,
                       profile: PhaseProfile?) {
    let p = profile ?? PhaseProfile(backend: backend, enabled: false)
    let userVectors = p.measure("eval: user vectors (forward)") {
        model.userEmbeddings(ModelInput(batch: batch, paddedWidth: config.paddedWidth, training: false))
    }
    let seen = p.measure("eval: seen lists (host)") { seenLists(batch, store: store, view: view, filter: config.seenFilter) }
    p.measure("eval: rank targets") {
        evaluator.enqueueRanks(userVectors: userVectors, itemVectors: itemVectors, targets: batch.targetIds, seen: seen,
                               backend: backend)
    }
}

/// Ranks of the targets of one batch (eval forward: no dropout, target id not in the input).
func rankBatch(_ batch: SequenceBatch, model: any SequentialRecommender, store: SequenceStore, view: SampleView,
               config: TrainConfig, evaluator: RankingEvaluator, itemVectors: Tensor, backend: any Backend,
               profile: PhaseProfile? = nil) -> [Int] {
    let p = profile ?? PhaseProfile(backend: backend, enabled: false)
    let userVectors = p.measure("eval: user vectors (forward)") {
        model.userEmbeddings(ModelInput(batch: batch, paddedWidth: config.paddedWidth, training: false))
    }
    let seen = p.measure("eval: seen lists (host)") { seenLists(batch, store: store, view: view, filter: config.seenFilter) }
    return p.measure("eval: rank targets") {
        evaluator.ranks(userVectors: userVectors, itemVectors: itemVectors, targets: batch.targetIds, seen: seen,
                        backend: backend)
    }
}

/// The ids removed from each user's candidates (spec §6.1): the input window (reference) or
/// every item before the target.
func seenLists(_ batch: SequenceBatch, store: SequenceStore, view: SampleView,
               filter: TrainConfig.SeenFilterKind) -> [[Int32]] {
    let layout = batch.layout
    switch filter {
    case .inputWindow:
        return (0..<layout.batchSize).map { b in
            Array(batch.historyIds[layout.start(b) ..< layout.start(b) + layout.length(b)])
        }
    case .fullHistory:
        return batch.users.map { u in
            let items = store.items(u)
            let targetIndex = max(0, items.count - 1 - view.ignoreLastN)
            return Array(items[0..<targetIndex])
        }
    }
}

/// Metric order of the tables (spec §7) followed by the rest.
public let reportedMetrics = ["hr@10", "ndcg@10", "hr@50", "ndcg@50", "hr@200", "ndcg@200", "mrr"]

/// The table of spec §7's shape: a header line and one line of values.
public func metricsTable(_ means: [String: Double], label: String = "") -> String {
    let header = (label.isEmpty ? [] : ["split"]) + reportedMetrics.map { $0.uppercased() }
    let values = (label.isEmpty ? [] : [label]) + reportedMetrics.map { means[$0].map { formatMetric($0) } ?? "-" }
    let widths = zip(header, values).map { max($0.count, $1.count) }
    func row(_ cells: [String]) -> String {
        zip(cells, widths).map { String(repeating: " ", count: $1 - $0.count) + $0 }.joined(separator: "  ")
    }
    return row(header) + "\n" + row(values)
}

func formatMetric(_ v: Double) -> String { String(format: "%.4f", v) }
