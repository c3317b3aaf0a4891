import GRCore

/// What a `TargetRankCache` holds for this backend: the corpus (C) and the id → corpus position
/// table (V, −1 for ids outside the corpus) on the device.
final class CUDARankState {
    /// Ranks enqueued and not yet taken (`enqueueTargetRanks`), and how many of its entries are used.
    var queue: Tensor? = nil
    var queued = 0
    let owner: ObjectIdentifier
    let corpus: Tensor
    let position: Tensor
    let vocab: Int
    /// Corpus ids are 0, 1, 2, … shifted: item rows can be read in place (no gather).
    let consecutive: Bool
    init(owner: ObjectIdentifier, corpus: Tensor, position: Tensor, vocab: Int, consecutive: Bool) {
        self.owner = owner; self.corpus = corpus; self.position = position; self.vocab = vocab
        self.consecutive = consecutive
    }
}

extension CUDABackend: TargetRankOps {
    /// Threads per block of the rank counting kernel.
    static let rankThreads = 256

    /// Full-corpus target ranks on the GPU (see `TargetRankOps` for the contract): scores of a
    /// block of corpus items by an f32 cuBLASLt GEMM, the seen ids as a (B, ⌈V/32⌉) bitmap, the
    /// target's score picked from its block, then a count of the unseen items ordered before it.
    /// When the corpus needs more than one block (B·C > scoreBudget) the GEMMs run twice (once to
    /// find the target scores, once to count). Copies back B ints (one host wait per call).
    public func targetRanks(userVectors: Tensor, itemVectors: Tensor, corpus: [Int32], targets: [Int32],
                            seen: [[Int32]], k: Int, absentRank: Int, scoreBudget: Int,
                            cache: TargetRankCache) -> [Int] {
        if targets.isEmpty { return [] }
        let ranks = rankTensor(userVectors: userVectors, itemVectors: itemVectors, corpus: corpus, targets: targets,
                               seen: seen, k: k, absentRank: absentRank, scoreBudget: scoreBudget, cache: cache)
        return downloadInt32(ranks).map(Int.init)
    }

    public func enqueueTargetRanks(userVectors: Tensor, itemVectors: Tensor, corpus: [Int32], targets: [Int32],
                                   seen: [[Int32]], k: Int, absentRank: Int, scoreBudget: Int,
                                   cache: TargetRankCache) {
        let B = targets.count
        if B == 0 { return }
        let ranks = rankTensor(userVectors: userVectors, itemVectors: itemVectors, corpus: corpus, targets: targets,
                               seen: seen, k: k, absentRank: absentRank, scoreBudget: scoreBudget, cache: cache)
        let state = rankState(corpus: corpus, vocab: itemVectors.shape[0], cache: cache)
        let capacity = state.queue?.count ?? 0
        if state.queued + B > capacity {
            let grown = empty([max(4096, 2 * (state.queued + B))], .i32)
            if let old = state.queue, state.queued > 0 { copy(old.view(0, [state.queued]), to: grown.view(0, [state.queued])) }
            state.queue = grown
        }
        copy(ranks, to: state.queue!.view(state.queued, [B]))
        state.queued += B
    }

    public func takeTargetRanks(cache: TargetRankCache) -> [Int] {
        guard let state = cache.state as? CUDARankState, let queue = state.queue, state.queued > 0 else { return [] }
        let out = downloadInt32(queue.view(0, [state.queued])).map(Int.init)
        state.queued = 0
        return out
    }

    /// The B ranks as a device tensor (a scratch buffer: valid until the next call).
    func rankTensor(userVectors: Tensor, itemVectors: Tensor, corpus: [Int32], targets: [Int32],
                    seen: [[Int32]], k: Int, absentRank: Int, scoreBudget: Int, cache: TargetRankCache) -> Tensor {
        let B = targets.count, C = corpus.count
        precondition(seen.count == B, "seen lists: \(seen.count) for \(B) targets")
        let ranks = scratchTensor("rank.ranks", B, .i32)
        if k == 0 || C == 0 {
            upload([Int32](repeating: Int32(absentRank), count: B), into: ranks)
            return ranks
        }
        let D = userVectors.shape[1], V = itemVectors.shape[0]
        precondition(userVectors.shape == [B, D] && itemVectors.shape == [V, D],
                     "targetRanks: userVectors \(userVectors.shape), itemVectors \(itemVectors.shape)")
        let state = rankState(corpus: corpus, vocab: V, cache: cache)
        // One upload: targets (B), seen offsets (B + 1), seen ids.
        var packed = [Int32](targets)
        packed.reserveCapacity(2 * B + 1 + seen.reduce(0) { $0 + $1.count })
        var offset: Int32 = 0
        packed.append(0)
        for s in seen { offset += Int32(s.count); packed.append(offset) }
        for s in seen { packed.append(contentsOf: s) }
        let index = upload(packed, shape: [packed.count])
        let targetsT = index.view(0, [B]), offsetsT = index.view(B, [B + 1]), seenT = index.view(2 * B + 1, [Int(offset)])
        let words = (V + 31) / 32
        let bits = scratchTensor("rank.bits", B * words, .i32)
        fill(bits, 0)
        let targetPos = scratchTensor("rank.targetPos", B, .i32), counts = scratchTensor("rank.counts", B, .i32)
        let targetScore = scratchTensor("rank.targetScore", B, .f32)
        fill(targetScore, -.infinity)
        context.launch("gr_rank_seen_bits", blocks: B, block: 128,
                       [.ptr(seenT), .ptr(offsetsT), .i(B), .i(V), .ptr(bits), .i(words)])
        context.launch("gr_rank_init", blocks: blocks(B),
                       [.ptr(targetsT), .ptr(state.position), .i(B), .i(V), .ptr(targetPos), .ptr(counts)])
        let blockItems = max(1, min(C, scoreBudget / B))
        let scores = scratchTensor("rank.scores", B * blockItems, .f32)
        let gathered = state.consecutive ? nil : scratchTensor("rank.items", blockItems * D, .f32)
        func scoreBlock(_ c0: Int, _ nb: Int) {
            let items: Tensor
            if let gathered {
                embeddingForward(table: itemVectors, ids: state.corpus.view(c0, [nb]), scale: 1, out: gathered,
                                 rows: nb, dim: D, accumulate: false)
                items = gathered
            } else {
                items = itemVectors.view(Int(corpus[0]) * D + c0 * D, [nb, D])
            }
            gemm(transA: false, transB: true, m: B, n: nb, k: D, alpha: 1, a: userVectors, lda: D, b: items, ldb: D,
                 beta: 0, c: scores, ldc: nb, compute: CUBLASLtAPI.computeF32)
        }
        func count(_ c0: Int, _ nb: Int) {
            let chunks = max(1, min((nb + Self.rankThreads - 1) / Self.rankThreads, 64))
            context.launch("gr_rank_count", grid: (chunks, B, 1), block: Self.rankThreads,
                           [.ptr(scores), .i(nb), .i(B), .i(c0), .i(nb), .ptr(state.corpus), .ptr(targetPos),
                            .ptr(targetScore), .ptr(bits), .i(words), .ptr(counts)])
        }
        func pick(_ c0: Int, _ nb: Int) {
            context.launch("gr_rank_pick", blocks: blocks(B),
                           [.ptr(scores), .i(nb), .i(B), .i(c0), .i(nb), .ptr(targetPos), .ptr(targetScore)])
        }
        if blockItems >= C {
            scoreBlock(0, C); pick(0, C); count(0, C)
        } else {
            for c0 in stride(from: 0, to: C, by: blockItems) { let nb = min(blockItems, C - c0); scoreBlock(c0, nb); pick(c0, nb) }
            for c0 in stride(from: 0, to: C, by: blockItems) { let nb = min(blockItems, C - c0); scoreBlock(c0, nb); count(c0, nb) }
        }
        context.launch("gr_rank_finish", blocks: blocks(B),
                       [.ptr(targetsT), .ptr(targetPos), .ptr(counts), .ptr(bits), .i(words), .i(B), .i(k),
                        .i(absentRank), .ptr(ranks)])
        return ranks
    }

    /// Host values into an existing device i32 tensor.
    func upload(_ values: [Int32], into t: Tensor) {
        values.withUnsafeBytes { context.copyToDevice(t.devicePointer, $0.baseAddress!, $0.count) }
    }

    /// The cached device corpus of `cache`, uploaded on first use.
    func rankState(corpus: [Int32], vocab: Int, cache: TargetRankCache) -> CUDARankState {
        if let s = cache.state as? CUDARankState, s.owner == ObjectIdentifier(self), s.vocab == vocab,
           s.corpus.count == corpus.count {
            return s
        }
        var position = [Int32](repeating: -1, count: vocab)
        for (p, id) in corpus.enumerated() {
            precondition(id >= 0 && Int(id) < vocab, "targetRanks: corpus id \(id) has no row in itemVectors (\(vocab) rows)")
            position[Int(id)] = Int32(p)
        }
        let consecutive = corpus.enumerated().allSatisfy { $0.element == corpus[0] + Int32($0.offset) }
        let s = CUDARankState(owner: ObjectIdentifier(self), corpus: upload(corpus, shape: [corpus.count]),
                              position: upload(position, shape: [vocab]), vocab: vocab, consecutive: consecutive)
        cache.state = s
        return s
    }
}
