import GRCore

/// Generic bodies of `LossOps` (spec §4.2 sampled softmax, §4.3 BCE).
///
/// Shapes: q (P, D) unit user vectors, E (V, D) raw item table, pos (P), neg (P, R) ids.
/// The item vectors are normalised on the fly (1/max(‖E_v‖, eps) is computed once per table row),
/// so neither the gathered (P, R, D) negatives nor a normalised copy of the table exist.
/// Backward, per contribution c = (position p, item id) with upstream coefficient g = ∂loss/∂logit:
///   ∂logit/∂q = ê/τ,   ∂logit/∂E[id] = (inv·q − [‖E‖ ≥ eps]·cos·inv²·E[id]) / τ,  inv = 1/max(‖E‖, eps),
/// stored as a = g·inv/τ and b = [‖E‖ ≥ eps]·g·cos·inv²/τ, and scattered by `scatterItemGradients`.
public enum LossKernels {
    /// Reference value for a negative that equals the positive (spec §4.2: set after /τ).
    public static let collisionLogit: Double = -5e4
    @usableFromInline static let positionsPerChunk = 64

    /// out[p·R + j] = corpus[stream.below(C, p·R + j)].
    public static func sampleNegatives(_ corpus: UnsafeMutablePointer<Int32>, _ corpusCount: Int, _ stream: PhiloxStream,
                                       _ out: UnsafeMutablePointer<Int32>, _ count: Int) {
        precondition(corpusCount > 0 || count == 0, "cannot sample negatives from an empty corpus")
        let gen = PhiloxBatch(stream)
        let n = UInt64(corpusCount)
        Parallel.forRanges((count + 31) / 32, minChunk: 512) { gr in
            gen.forEachGroupLaneMajor(in: (gr.lowerBound * 32)..<min(count, gr.upperBound * 32)) { lo, hi, g, w in
                for i in lo..<hi { out[i] = corpus[Int((w[PhiloxBatch.index(i - 32 * g)] &* n) >> 32)] }
            }
        }
    }

    /// Sampled softmax loss (mean over P positions). `neg` (P, R). If dq or dE are given, the
    /// gradient of the mean is accumulated into them. `cosines` (P, R+1) receives raw cosines.
    @_specialize(where T == Float)
    public static func sampledSoftmax<T: KernelFloat>(
        q: UnsafeMutablePointer<T>, pos: UnsafeMutablePointer<Int32>, neg: UnsafeMutablePointer<Int32>,
        table: UnsafeMutablePointer<T>, vocab: Int, positions P: Int, negatives R: Int, dim D: Int,
        temperature: T, eps: T, dq: UnsafeMutablePointer<T>?, dE: UnsafeMutablePointer<T>?,
        cosines: UnsafeMutablePointer<T>?
    ) -> T {
        if P == 0 { return 0 }
        checkIds(pos, P, vocab, "positive")
        checkIds(neg, P * R, vocab, "negative")
        let C = R + 1
        let invTau = 1 / temperature
        let invP = 1 / T(P)
        let wantGrad = dq != nil || dE != nil
        let losses = UnsafeMutablePointer<T>.allocate(capacity: P)
        defer { losses.deallocate() }
        // a, b coefficients per contribution (only for the item-table gradient).
        let coefA: UnsafeMutablePointer<T>? = dE != nil ? .allocate(capacity: P * C) : nil
        let coefB: UnsafeMutablePointer<T>? = dE != nil ? .allocate(capacity: P * C) : nil
        defer { coefA?.deallocate(); coefB?.deallocate() }
        // 1/max(‖E_v‖, eps) and the clamp flag for every table row, once per call (V·D work, small
        // next to the P·(R+1)·D of the logits at the reference sizes).
        let invNorm = UnsafeMutablePointer<T>.allocate(capacity: vocab)
        let isClamped = UnsafeMutablePointer<Bool>.allocate(capacity: vocab)
        defer { invNorm.deallocate(); isClamped.deallocate() }
        rowInverseNorms(table, vocab, D, eps, invNorm, isClamped)
        let collision = T(collisionLogit)
        let chunks = (P + positionsPerChunk - 1) / positionsPerChunk
        Parallel.forEach(chunks) { chunk in
            // per contribution: logit, then exp(logit − max); the cosine; the row id
            let logit = UnsafeMutablePointer<T>.allocate(capacity: C + 8)
            let cosv = UnsafeMutablePointer<T>.allocate(capacity: C)
            let rowId = UnsafeMutablePointer<Int>.allocate(capacity: C)
            defer { logit.deallocate(); cosv.deallocate(); rowId.deallocate() }
            for p in (chunk * positionsPerChunk)..<min(P, (chunk + 1) * positionsPerChunk) {
                let qp = q + p * D
                let pid = pos[p]
                for c in 0..<C { rowId[c] = Int(c == 0 ? pid : neg[p * R + c - 1]) }
                var c = 0
                while c + 4 <= C {   // four rows at a time (independent accumulators)
                    let (d0, d1, d2, d3) = Vec.dot4(qp, table + rowId[c] * D, table + rowId[c + 1] * D,
                                                    table + rowId[c + 2] * D, table + rowId[c + 3] * D, D)
                    cosv[c] = d0 * invNorm[rowId[c]]; cosv[c + 1] = d1 * invNorm[rowId[c + 1]]
                    cosv[c + 2] = d2 * invNorm[rowId[c + 2]]; cosv[c + 3] = d3 * invNorm[rowId[c + 3]]
                    c += 4
                }
                while c < C { cosv[c] = Vec.dot(qp, table + rowId[c] * D, D) * invNorm[rowId[c]]; c += 1 }
                var mx = -T.infinity
                for c in 0..<C {
                    let l = (c > 0 && rowId[c] == Int(pid)) ? collision : cosv[c] * invTau
                    logit[c] = l
                    if l > mx { mx = l }
                }
                if let cosines { (cosines + p * C).update(from: cosv, count: C) }
                // exp(logit − max), 8 lanes at a time (padding lanes are ignored)
                let vmx = SIMD8<T>(repeating: mx)
                var se: T = 0
                c = 0
                while c + 8 <= C {
                    let e = T.vexp(Vec.load(logit, c) - vmx)
                    Vec.store(e, logit, c)
                    se += e.sum()
                    c += 8
                }
                while c < C { let e = T.kexp(logit[c] - mx); logit[c] = e; se += e; c += 1 }
                losses[p] = T.klog(se) + mx - cosv[0] * invTau
                guard wantGrad else { continue }
                let scale = invP / se
                // logit[c] ← a_c = ∂loss/∂logit_c · inv_c / τ, where ∂loss/∂logit_c = (softmax_c − [c = 0]) / P
                // and a masked collision passes no gradient.
                for c in 0..<C {
                    let row = rowId[c]
                    let g = (c > 0 && row == Int(pid)) ? 0 : logit[c] * scale - (c == 0 ? invP : 0)
                    let a = g * invNorm[row] * invTau
                    logit[c] = a
                    if let coefA, let coefB {
                        coefA[p * C + c] = a
                        coefB[p * C + c] = isClamped[row] ? 0 : a * cosv[c] * invNorm[row]
                    }
                }
                if let dq {   // dq_p += Σ_c a_c · E[id_c], four rows per pass over dq_p
                    let dqp = dq + p * D
                    c = 0
                    while c + 4 <= C {
                        Vec.axpy4(logit[c], table + rowId[c] * D, logit[c + 1], table + rowId[c + 1] * D,
                                  logit[c + 2], table + rowId[c + 2] * D, logit[c + 3], table + rowId[c + 3] * D, dqp, D)
                        c += 4
                    }
                    while c < C { Vec.axpy(logit[c], table + rowId[c] * D, dqp, D); c += 1 }
                }
            }
        }
        if let dE, let coefA, let coefB {
            scatterItemGradients(q: q, pos: pos, neg: neg, negatives: R, positions: P, dim: D, table: table,
                                 vocab: vocab, coefA: coefA, coefB: coefB, dE: dE)
        }
        var total: T = 0
        for p in 0..<P { total += losses[p] }
        return total * invP
    }

    /// dE[id_c] += a_c·q_p − b_c·E[id_c] for every contribution c = (p, k), k = 0 the positive,
    /// k ≥ 1 negative k−1. Threads own disjoint ranges of table rows and scan all contributions in
    /// order (Σb per row is applied at the end): bit-identical for any thread count.
    @_specialize(where T == Float)
    static func scatterItemGradients<T: KernelFloat>(
        q: UnsafeMutablePointer<T>, pos: UnsafeMutablePointer<Int32>, neg: UnsafeMutablePointer<Int32>,
        negatives R: Int, positions P: Int, dim D: Int, table: UnsafeMutablePointer<T>, vocab: Int,
        coefA: UnsafeMutablePointer<T>, coefB: UnsafeMutablePointer<T>, dE: UnsafeMutablePointer<T>
    ) {
        let C = R + 1
        let parts = P * C * D < 1 << 15 ? 1 : Parallel.threads
        Parallel.forRanges(vocab, minChunk: max(1, vocab / parts)) { vr in
            let lo = Int32(vr.lowerBound), hi = Int32(vr.upperBound)
            var sumB = [T](repeating: 0, count: vr.count)
            for p in 0..<P {
                let qp = q + p * D
                for c in 0..<C {
                    let id = c == 0 ? pos[p] : neg[p * R + c - 1]
                    guard id >= lo && id < hi else { continue }
                    let a = coefA[p * C + c]
                    if a == 0 { continue }
                    Vec.axpy(a, qp, dE + Int(id) * D, D)
                    sumB[Int(id - lo)] += coefB[p * C + c]
                }
            }
            for k in 0..<vr.count where sumB[k] != 0 {
                let row = vr.lowerBound + k
                Vec.axpy(-sumB[k], table + row * D, dE + row * D, D)
            }
        }
    }

    /// BCE loss (spec §4.3): s_pos = q·E[pos]/τ (raw positive), s_neg = q·Ê[neg]/τ, w = [neg ≠ pos],
    /// loss = Σ w·½(softplus(−s_pos) + softplus(s_neg)) / Σ w (0 if Σ w = 0). neg (P).
    @_specialize(where T == Float)
    public static func bce<T: KernelFloat>(
        q: UnsafeMutablePointer<T>, pos: UnsafeMutablePointer<Int32>, neg: UnsafeMutablePointer<Int32>,
        table: UnsafeMutablePointer<T>, vocab: Int, positions P: Int, dim D: Int, temperature: T, eps: T,
        dq: UnsafeMutablePointer<T>?, dE: UnsafeMutablePointer<T>?
    ) -> T {
        if P == 0 { return 0 }
        checkIds(pos, P, vocab, "positive")
        checkIds(neg, P, vocab, "negative")
        var wsum = 0
        for p in 0..<P where neg[p] != pos[p] { wsum += 1 }
        if wsum == 0 { return 0 }
        let invW = 1 / T(wsum), invTau = 1 / temperature
        let losses = UnsafeMutablePointer<T>.allocate(capacity: P)
        defer { losses.deallocate() }
        let coefA: UnsafeMutablePointer<T>? = dE != nil ? .allocate(capacity: P * 2) : nil
        let coefB: UnsafeMutablePointer<T>? = dE != nil ? .allocate(capacity: P * 2) : nil
        defer { coefA?.deallocate(); coefB?.deallocate() }
        func softplus(_ x: T) -> T { max(x, 0) + T.klog1p(T.kexp(-abs(x))) }
        func sigmoid(_ x: T) -> T { x >= 0 ? 1 / (1 + T.kexp(-x)) : T.kexp(x) / (1 + T.kexp(x)) }
        let chunks = (P + positionsPerChunk - 1) / positionsPerChunk
        Parallel.forEach(chunks) { chunk in
            for p in (chunk * positionsPerChunk)..<min(P, (chunk + 1) * positionsPerChunk) {
                let qp = q + p * D
                let pid = Int(pos[p]), nid = Int(neg[p])
                let w: T = nid != pid ? 1 : 0
                let sPos = Vec.dot(qp, table + pid * D, D) * invTau
                let (dn, ss) = Vec.dotAndSquares(qp, table + nid * D, D)
                let n = ss.squareRoot(), iv = 1 / max(n, eps)
                let cosN = dn * iv
                let sNeg = cosN * invTau
                losses[p] = w * (softplus(-sPos) + softplus(sNeg)) / 2
                let gPos = -w * sigmoid(-sPos) / 2 * invW, gNeg = w * sigmoid(sNeg) / 2 * invW
                let aPos = gPos * invTau, aNeg = gNeg * iv * invTau
                if let dq {
                    Vec.axpy(aPos, table + pid * D, dq + p * D, D)
                    Vec.axpy(aNeg, table + nid * D, dq + p * D, D)
                }
                if let coefA, let coefB {
                    coefA[2 * p] = aPos; coefB[2 * p] = 0
                    coefA[2 * p + 1] = aNeg; coefB[2 * p + 1] = n < eps ? 0 : aNeg * cosN * iv
                }
            }
        }
        if let dE, let coefA, let coefB {
            scatterItemGradients(q: q, pos: pos, neg: neg, negatives: 1, positions: P, dim: D, table: table,
                                 vocab: vocab, coefA: coefA, coefB: coefB, dE: dE)
        }
        var total: T = 0
        for p in 0..<P { total += losses[p] }
        return total * invW
    }

    /// inv[v] = 1/max(‖E_v‖, eps), clamped[v] = ‖E_v‖ < eps, for every table row.
    static func rowInverseNorms<T: KernelFloat>(_ table: UnsafeMutablePointer<T>, _ vocab: Int, _ D: Int, _ eps: T,
                                                _ inv: UnsafeMutablePointer<T>, _ clamped: UnsafeMutablePointer<Bool>) {
        Parallel.forRanges(vocab, minChunk: 1024) { vr in
            for v in vr {
                let n = Vec.dot(table + v * D, table + v * D, D).squareRoot()
                inv[v] = 1 / max(n, eps)
                clamped[v] = n < eps
            }
        }
    }

    static func checkIds(_ ids: UnsafeMutablePointer<Int32>, _ n: Int, _ vocab: Int, _ what: String) {
        for i in 0..<n where ids[i] < 0 || Int(ids[i]) >= vocab {
            preconditionFailure("\(what) id \(ids[i]) at index \(i) outside the item table 0..<\(vocab)")
        }
    }
}
