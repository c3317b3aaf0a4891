import GRInference

/// Turns decoded bodies into engine queries, checking everything a query must satisfy before it may
/// wait in the batcher's queue, so that one bad request never fails a whole batch:
///
/// - arrays longer than `limits.maxArrayLength` → 413 naming the array (a history longer than the
///   model's maximum length but under the cap is fine: the engine keeps the newest events);
/// - `history` and `candidates` non-empty, every id in 1...engine.maxItemId (0 is the padding id)
///   → else 400 "history[i]" / "candidates[i]";
/// - `timestamps`, when given, as many as history items, each in 0...limits.maxTimestamp;
/// - `k` in 1...limits.maxK (the engine also refuses a k above its corpus size);
/// - `user` non-empty and at most `limits.maxUserKeyLength` bytes;
/// - then the engine's own `validate` (an `InferenceError` → 400 with its field).
struct QueryValidation {
    let limits: ServeLimits

    func query(_ b: RecommendBody, engine: any RecommendationEngine) throws -> RecommendQuery {
        try checkHistory(b.history, timestamps: b.timestamps, engine: engine)
        guard b.k >= 1 && b.k <= limits.maxK else {
            throw APIError.badRequest("k", "must be in 1...\(limits.maxK), got \(b.k)")
        }
        try checkUser(b.user)
        let q = RecommendQuery(history: b.history, timestamps: b.timestamps, k: b.k,
                               excludeSeen: b.excludeSeen ?? true, userKey: b.user)
        try engineValidate { try engine.validate(q) }
        return q
    }

    func query(_ b: ScoreBody, engine: any RecommendationEngine) throws -> ScoreQuery {
        try checkHistory(b.history, timestamps: b.timestamps, engine: engine)
        try checkIds(b.candidates, field: "candidates", engine: engine)
        try checkUser(b.user)
        let q = ScoreQuery(history: b.history, timestamps: b.timestamps, candidates: b.candidates, userKey: b.user)
        try engineValidate { try engine.validate(q) }
        return q
    }

    private func checkHistory(_ history: [Int32], timestamps: [Int64]?, engine: any RecommendationEngine) throws {
        try checkIds(history, field: "history", engine: engine)
        guard let timestamps else { return }
        guard timestamps.count <= limits.maxArrayLength else {
            throw APIError.tooLarge("timestamps", "\(timestamps.count) entries, the limit is \(limits.maxArrayLength)")
        }
        guard timestamps.count == history.count else {
            throw APIError.badRequest("timestamps", "\(timestamps.count) timestamps for \(history.count) history items")
        }
        for (i, t) in timestamps.enumerated() where t < 0 || t > limits.maxTimestamp {
            throw APIError.badRequest("timestamps[\(i)]", "unix seconds must be in 0...\(limits.maxTimestamp), got \(t)")
        }
    }

    private func checkIds(_ ids: [Int32], field: String, engine: any RecommendationEngine) throws {
        guard ids.count <= limits.maxArrayLength else {
            throw APIError.tooLarge(field, "\(ids.count) entries, the limit is \(limits.maxArrayLength)")
        }
        guard !ids.isEmpty else { throw APIError.badRequest(field, "must not be empty") }
        let maxId = engine.maxItemId
        for (i, id) in ids.enumerated() where id < 1 || Int(id) > maxId {
            throw APIError.badRequest("\(field)[\(i)]", "item id must be in 1...\(maxId), got \(id)")
        }
    }

    private func checkUser(_ user: String?) throws {
        guard let user else { return }
        guard !user.isEmpty && user.utf8.count <= limits.maxUserKeyLength else {
            throw APIError.badRequest("user", "must be 1...\(limits.maxUserKeyLength) bytes, got \(user.utf8.count)")
        }
    }

    private func engineValidate(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as InferenceError {
            throw APIError.badRequest(e.field, e.reason)
        }
    }
}
