import GRCore
import GRCPU

/// Exact full-corpus ranking with seen-item filtering: the reference eval of spec §6.1
/// (`get_top_k_outputs` + `eval_metrics_v2_from_tensors`, brute-force MIPS), including the
/// small-corpus cap of fixture quirk 5.
///
/// For B users with L2-normalised vectors u_b and the corpus C (the ranking universe, spec §1.5):
/// 1. scores (B, |C|) = userVectors · itemVectors[C]ᵀ, computed with `backend.gemm` (transB) over
///    blocks of corpus items so that one block of scores stays below `scoreBudget` floats
///    (Books: 695,762 items);
/// 2. per block, `backend.topK` keeps the best k′ = min(|C|, k + S) candidates (S = the length
///    of the longest seen list), and the block lists are merged into a running
///    top-k′ per user;
/// 3. per user, the first k candidates whose id is not in the user's seen list are kept; the rank
///    is the 1-based position of the target among them, or `maxRank + 1` (2501) when absent.
///    A target that is itself in the seen list is filtered out and so counts as a miss.
///
/// k = max(0, min(maxRank, |C|, |C| − seenWidth)). Upstream uses min(2500, |C|) and then fails
/// when fewer than k unseen candidates exist among the top k + seenWidth; the extra |C| − seenWidth
/// term (fixture quirk 5) changes nothing when |C| ≥ 2500 + seenWidth (ML-1M, ML-20M, Books).
/// `seenWidth` is the N of the reference's `past_ids` tensor: the padded width
/// max_sequence_length + 11, *not* the per-user history length. Taking k′ from the actual seen
/// lists (instead of k + seenWidth) gives the same first-k unseen list, because a list of S ids
/// hides at most S of the top k + S.
///
/// Order: descending score, equal scores by lower corpus position (see `RetrievalOps.topK`);
/// with a sorted corpus that is the lower item id. The selection merge and the seen filter run on
/// the host, so the backend's tensors must be host-readable (true of `CPUBackend`).
public struct RankingEvaluator {
    /// MAX_K of the reference eval (spec §6.1): ranks beyond it are reported as MAX_K + 1.
    public static let referenceMaxRank = 2500
    /// Default bound on one block of scores: 2²³ floats (32 MiB), e.g. 128 users × 65,536 items.
    public static let defaultScoreBudget = 1 << 23

    /// The ranking universe (`all_item_ids`), in the order that breaks ties. Ids must be distinct.
    public let corpus: [Int32]
    /// The largest rank that is reported as such (k ≤ maxRank); misses get `maxRank + 1`.
    public let maxRank: Int
    /// Upper bound on the floats of one (B, items) block of scores.
    public var scoreBudget: Int
    /// Largest id in the corpus (itemVectors needs at least maxCorpusId + 1 rows).
    public let maxCorpusId: Int32
    /// With device vectors and a backend that has `TargetRankOps`, `ranks(...)` ranks on the
    /// device (only B ints come back); false copies the vectors back and ranks on the host.
    public var deviceRanking = true
    /// What the device backend uploaded once for this evaluator (corpus, position table).
    let deviceCache = TargetRankCache()
    /// Ranks queued by `enqueueRanks` (host ones, and how many batches wait on the device).
    let pending = PendingRanks()

    public init(corpus: [Int32], maxRank: Int = RankingEvaluator.referenceMaxRank,
                scoreBudget: Int = RankingEvaluator.defaultScoreBudget) {
        precondition(maxRank >= 1, "maxRank must be ≥ 1, got \(maxRank)")
        precondition(scoreBudget >= 1, "scoreBudget must be ≥ 1, got \(scoreBudget)")
        precondition(corpus.allSatisfy { $0 >= 0 }, "corpus ids must be ≥ 0")
        precondition(Set(corpus).count == corpus.count, "corpus ids must be distinct")
        self.corpus = corpus
        self.maxRank = maxRank
        self.scoreBudget = scoreBudget
        self.maxCorpusId = corpus.max() ?? -1
    }

    /// The rank reported for a target that is not in the filtered top-k list (2501 by default).
    public var absentRank: Int { maxRank + 1 }

    /// k = max(0, min(maxRank, |C|, |C| − seenWidth)) (spec §6.1 + fixture quirk 5).
    public func cutoff(seenWidth: Int) -> Int {
        max(0, min(maxRank, corpus.count, corpus.count - seenWidth))
    }

    /// The filtered top-k lists and ranks of one batch of users.
    public struct Result {
        /// The cutoff used (see `cutoff(seenWidth:)`).
        public let k: Int
        /// B lists of item ids, best first, seen ids removed; k long unless fewer than k unseen
        /// corpus items exist (only possible with `fullHistory` seen lists).
        public let ids: [[Int32]]
        /// The scores of `ids`.
        public let scores: [[Float]]
        /// B 1-based ranks of the targets in `ids`, `maxRank + 1` when absent.
        public let ranks: [Int]
    }

    /// Ranks of `targets` (B) for userVectors (B, D) against itemVectors (V, D) with
    /// V > max corpus id, both with L2-normalised rows (not re-normalised here).
    /// `seen[b]` are the ids removed for user b (padding zeros allowed: 0 is never in the corpus).
    /// `seenWidth` is the reference's past_ids width N used for the cap (pass the batch's padded
    /// width max_sequence_length + 11 for reference parity); nil means the longest seen list.
    public func ranks(userVectors: Tensor, itemVectors: Tensor, targets: [Int32], seen: [[Int32]],
                      backend: any Backend, seenWidth: Int? = nil) -> [Int] {
        if deviceRanking, userVectors.device != .cpu, itemVectors.device != .cpu, let device = backend as? TargetRankOps {
            precondition(Int(maxCorpusId) < itemVectors.shape[0],
                         "corpus id \(maxCorpusId) has no row in itemVectors \(itemVectors.shape)")
            return device.targetRanks(userVectors: userVectors, itemVectors: itemVectors, corpus: corpus, targets: targets,
                                      seen: seen, k: cutoff(seenWidth: seenWidth ?? (seen.map(\.count).max() ?? 0)),
                                      absentRank: absentRank, scoreBudget: scoreBudget, cache: deviceCache)
        }
        return rank(userVectors: userVectors, itemVectors: itemVectors, targets: targets, seen: seen,
             backend: backend, seenWidth: seenWidth).ranks
    }

    /// As `ranks(...)`, but the result is only queued: `takeRanks(backend:)` returns the ranks
    /// of every batch enqueued since its last call, in order. With device vectors and a
    /// `TargetRankOps` backend they stay on the device meanwhile (one host wait per pass instead
    /// of one per batch); otherwise they are computed now and kept on the host.
    public func enqueueRanks(userVectors: Tensor, itemVectors: Tensor, targets: [Int32], seen: [[Int32]],
                             backend: any Backend, seenWidth: Int? = nil) {
        if deviceRanking, userVectors.device != .cpu, itemVectors.device != .cpu, let device = backend as? TargetRankOps {
            precondition(Int(maxCorpusId) < itemVectors.shape[0],
                         "corpus id \(maxCorpusId) has no row in itemVectors \(itemVectors.shape)")
            device.enqueueTargetRanks(userVectors: userVectors, itemVectors: itemVectors, corpus: corpus, targets: targets,
                                      seen: seen, k: cutoff(seenWidth: seenWidth ?? (seen.map(\.count).max() ?? 0)),
                                      absentRank: absentRank, scoreBudget: scoreBudget, cache: deviceCache)
            pending.deviceBatches += 1
        } else {
            pending.host += ranks(userVectors: userVectors, itemVectors: itemVectors, targets: targets, seen: seen,
                                  backend: backend, seenWidth: seenWidth)
        }
    }

    /// The ranks queued by `enqueueRanks` since the last call, in order.
    public func takeRanks(backend: any Backend) -> [Int] {
        var out = pending.host
        pending.host = []
        if pending.deviceBatches > 0, let device = backend as? TargetRankOps {
            out += device.takeTargetRanks(cache: deviceCache)
            pending.deviceBatches = 0
        }
        return out
    }

    /// As `ranks(...)`, also returning the filtered top-k ids and scores.
    public func rank(userVectors: Tensor, itemVectors: Tensor, targets: [Int32], seen: [[Int32]],
                     backend: any Backend, seenWidth: Int? = nil) -> Result {
        if userVectors.device != .cpu || itemVectors.device != .cpu {
            // The selection merge reads scores on the host: a device backend's vectors are copied
            // back and ranked with the CPU backend (same order and ties).
            return rank(userVectors: Tensor(backend.download(userVectors), shape: userVectors.shape),
                        itemVectors: Tensor(backend.download(itemVectors), shape: itemVectors.shape),
                        targets: targets, seen: seen, backend: CPUBackend(), seenWidth: seenWidth)
        }
        let B = targets.count
        precondition(seen.count == B, "seen lists: \(seen.count) for \(B) targets")
        precondition(userVectors.shape.count == 2 && userVectors.shape[0] == B,
                     "userVectors \(userVectors.shape) for \(B) targets")
        let D = userVectors.shape[1]
        precondition(itemVectors.shape.count == 2 && itemVectors.shape[1] == D,
                     "itemVectors \(itemVectors.shape) vs userVectors \(userVectors.shape)")
        precondition(Int(maxCorpusId) < itemVectors.shape[0],
                     "corpus id \(maxCorpusId) has no row in itemVectors \(itemVectors.shape)")
        let k = cutoff(seenWidth: seenWidth ?? (seen.map(\.count).max() ?? 0))
        let C = corpus.count
        // A seen list of S ids hides at most S candidates (duplicates only make k′ larger).
        let kPrime = min(C, k + (seen.map(\.count).max() ?? 0))
        if B == 0 || k == 0 || kPrime == 0 {
            return Result(k: k, ids: Array(repeating: [], count: B), scores: Array(repeating: [], count: B),
                          ranks: Array(repeating: absentRank, count: B))
        }
        let (runV, runP) = selectTop(kPrime, userVectors: userVectors, itemVectors: itemVectors, backend: backend)
        // Seen filter and target lookup, one user per iteration. Seen ids are marked in a
        // per-thread table over 0...maxCorpusId (ids outside it cannot hide a corpus item).
        var ids = [[Int32]](repeating: [], count: B)
        var scores = [[Float]](repeating: [], count: B)
        var ranks = [Int](repeating: absentRank, count: B)
        let tableSize = Int(maxCorpusId) + 1, absent = absentRank
        ids.withUnsafeMutableBufferPointer { idsOut in
        scores.withUnsafeMutableBufferPointer { scoresOut in
        ranks.withUnsafeMutableBufferPointer { ranksOut in
        runV.withUnsafeBufferPointer { runV in
        runP.withUnsafeBufferPointer { runP in
        corpus.withUnsafeBufferPointer { corpus in
            let idsOut = idsOut, scoresOut = scoresOut, ranksOut = ranksOut
            Parallel.forRanges(B) { users in
                let marks = UnsafeMutablePointer<Bool>.allocate(capacity: tableSize)
                marks.initialize(repeating: false, count: tableSize)
                defer { marks.deallocate() }
                for b in users {
                    let hidden = seen[b]
                    for id in hidden where id >= 0 && Int(id) < tableSize { marks[Int(id)] = true }
                    var keptIds = [Int32](), keptScores = [Float]()
                    keptIds.reserveCapacity(k); keptScores.reserveCapacity(k)
                    var rank = absent
                    let target = targets[b], row = b * kPrime
                    for j in 0..<kPrime {
                        let id = corpus[Int(runP[row + j])]
                        if marks[Int(id)] { continue }
                        keptIds.append(id); keptScores.append(runV[row + j])
                        if id == target { rank = keptIds.count }
                        if keptIds.count == k { break }
                    }
                    for id in hidden where id >= 0 && Int(id) < tableSize { marks[Int(id)] = false }
                    idsOut[b] = keptIds; scoresOut[b] = keptScores; ranksOut[b] = rank
                }
            }
        }}}}}}
        return Result(k: k, ids: ids, scores: scores, ranks: ranks)
    }

    /// The best `kPrime` corpus positions per user, merged over blocks of items.
    /// Returns (values, positions), each (B, kPrime) row-major, best first.
    func selectTop(_ kPrime: Int, userVectors: Tensor, itemVectors: Tensor,
                   backend: any Backend) -> ([Float], [Int32]) {
        let B = userVectors.shape[0], D = userVectors.shape[1], C = corpus.count
        let blockItems = max(1, min(C, scoreBudget / B))
        let scoreBlock = backend.zeros([B, blockItems], .f32)
        let gathered = backend.zeros([blockItems, D], .f32)
        let blockK = min(kPrime, blockItems)
        let blockV = backend.zeros([B, blockK], .f32)
        let blockI = backend.zeros([B, blockK], .i32)
        var runV = [Float](repeating: 0, count: B * kPrime)
        var runP = [Int32](repeating: 0, count: B * kPrime)
        var runCount = 0
        var c0 = 0
        while c0 < C {
            let nb = min(blockItems, C - c0)
            let items = itemRows(c0..<(c0 + nb), itemVectors: itemVectors, scratch: gathered)
            backend.gemm(transA: false, transB: true, m: B, n: nb, k: D, alpha: 1,
                         a: userVectors, lda: D, b: items, ldb: D, beta: 0, c: scoreBlock, ldc: nb)
            let kb = min(kPrime, nb)
            backend.topK(scores: scoreBlock, rows: B, columns: nb, ldScores: nb, k: kb,
                         values: blockV, indices: blockI)
            backend.synchronize()
            let newCount = min(kPrime, runCount + kb)
            let bv = blockV.floats, bi = blockI.int32s, oldCount = runCount, base = Int32(c0)
            runV.withUnsafeMutableBufferPointer { rv in
                runP.withUnsafeMutableBufferPointer { rp in
                    let rv = rv, rp = rp
                    Parallel.forRanges(B) { users in
                        var tmpV = [Float](repeating: 0, count: newCount)
                        var tmpP = [Int32](repeating: 0, count: newCount)
                        for b in users {
                            // Merge two best-first lists; on equal scores the running list (lower
                            // positions) goes first, keeping ties ordered by position.
                            var i = 0, j = 0
                            for o in 0..<newCount {
                                if j >= kb || (i < oldCount && rv[b * kPrime + i] >= bv[b * kb + j]) {
                                    tmpV[o] = rv[b * kPrime + i]; tmpP[o] = rp[b * kPrime + i]; i += 1
                                } else {
                                    tmpV[o] = bv[b * kb + j]; tmpP[o] = base + bi[b * kb + j]; j += 1
                                }
                            }
                            for o in 0..<newCount { rv[b * kPrime + o] = tmpV[o]; rp[b * kPrime + o] = tmpP[o] }
                        }
                    }
                }
            }
            runCount = newCount
            c0 += nb
        }
        return (runV, runP)
    }

    /// Rows of itemVectors for corpus positions `positions`: a view when their ids are
    /// consecutive, else gathered into `scratch`.
    func itemRows(_ positions: Range<Int>, itemVectors: Tensor, scratch: Tensor) -> Tensor {
        let D = itemVectors.shape[1], n = positions.count
        let first = corpus[positions.lowerBound]
        var consecutive = true
        for p in positions where corpus[p] != first + Int32(p - positions.lowerBound) { consecutive = false; break }
        if consecutive { return itemVectors.view(Int(first) * D, [n, D]) }
        let src = itemVectors.floats, dst = scratch.floats
        Parallel.forRanges(n, minChunk: 4096) { rows in
            for r in rows {
                (dst + r * D).update(from: src + Int(corpus[positions.lowerBound + r]) * D, count: D)
            }
        }
        return scratch.view(0, [n, D])
    }
}

/// The queue behind `RankingEvaluator.enqueueRanks` (a class: the evaluator is a value type).
final class PendingRanks: @unchecked Sendable {
    var host: [Int] = []
    var deviceBatches = 0
}
