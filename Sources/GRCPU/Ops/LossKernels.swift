import GRCore

/// Generic bodies of `LossOps` (spec §4.2 sampled softmax, §4.3 BCE).
///
/// Shapes: q (P, D) unit user vectors, E (V, D) raw item table, pos (P), neg (P, R) ids.
/// The item vectors are normalised on the fly (the norm is computed in the same pass as the dot
/// product), so neither the gathered (P, R, D) negatives nor a normalised copy of the table exist.
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
        let nb = (count + 3) / 4
        Parallel.forRanges(nb, minChunk: 4096) { br in
            for blk in br {
                let w = stream.block(UInt64(blk))
                for lane in 0..<min(4, count - blk * 4) {
                    out[blk * 4 + lane] = corpus[Int((UInt64(w[lane]) &* UInt64(corpusCount)) >> 32)]
                }
            }
        }
    }

    /// Sampled softmax loss (mean over P positions). `neg` (P, R). If dq or dE are given, the
    /// gradient of the mean is accumulated into them. `cosines` (P, R+1) receives raw cosines.
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
        let chunks = (P + positionsPerChunk - 1) / positionsPerChunk
        Parallel.forEach(chunks) { chunk in
            var logit = [T](repeating: 0, count: C), cosv = [T](repeating: 0, count: C),
                inv = [T](repeating: 0, count: C), clamped = [Bool](repeating: false, count: C)
            for p in (chunk * positionsPerChunk)..<min(P, (chunk + 1) * positionsPerChunk) {
                let qp = q + p * D
                let pid = pos[p]
                var mx = -T.infinity
                for c in 0..<C {
                    let id = c == 0 ? pid : neg[p * R + c - 1]
                    let (dot, ss) = Vec.dotAndSquares(qp, table + Int(id) * D, D)
                    let n = ss.squareRoot()
                    let iv = 1 / max(n, eps)
                    inv[c] = iv
                    clamped[c] = n < eps
                    cosv[c] = dot * iv
                    cosines?[p * C + c] = dot * iv
                    let l = (c > 0 && id == pid) ? T(collisionLogit) : dot * iv * invTau
                    logit[c] = l
                    if l > mx { mx = l }
                }
                var se: T = 0
                for c in 0..<C { let e = T.kexp(logit[c] - mx); logit[c] = e; se += e }  // logit ← exp
                losses[p] = T.klog(se) + mx - (cosv[0] * invTau)
                guard wantGrad else { continue }
                let invSe = 1 / se
                for c in 0..<C {
                    let id = c == 0 ? pid : neg[p * R + c - 1]
                    var g = logit[c] * invSe - (c == 0 ? 1 : 0)
                    if c > 0 && id == pid { g = 0 }
                    g *= invP
                    let a = g * inv[c] * invTau
                    if let dq { Vec.axpy(a, table + Int(id) * D, dq + p * D, D) }
                    if let coefA, let coefB {
                        coefA[p * C + c] = a
                        coefB[p * C + c] = clamped[c] ? 0 : a * cosv[c] * inv[c]
                    }
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

    static func checkIds(_ ids: UnsafeMutablePointer<Int32>, _ n: Int, _ vocab: Int, _ what: String) {
        for i in 0..<n where ids[i] < 0 || Int(ids[i]) >= vocab {
            preconditionFailure("\(what) id \(ids[i]) at index \(i) outside the item table 0..<\(vocab)")
        }
    }
}
