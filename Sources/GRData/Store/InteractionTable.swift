import GRCore

/// Raw interactions in file order, column-wise (20 bytes a row), before grouping by user.
/// `userCodes` are dense codes 0..<userCount assigned by the recipe.
struct InteractionTable {
    var userCodes: [Int32] = []
    var items: [Int32] = []
    var timestamps: [Int64] = []
    var ratings: [Float] = []

    var count: Int { items.count }

    mutating func reserve(_ n: Int) {
        userCodes.reserveCapacity(n); items.reserveCapacity(n)
        timestamps.reserveCapacity(n); ratings.reserveCapacity(n)
    }

    @inline(__always)
    mutating func append(user: Int32, item: Int32, timestamp: Int64, rating: Float) {
        userCodes.append(user); items.append(item); timestamps.append(timestamp); ratings.append(rating)
    }

    /// Groups rows by user and writes a store.
    ///
    /// - userOrder: user codes in store order (store user index = position), with `userIds[code]`
    ///   the id recorded for each. Users with fewer than `minEvents` kept rows are left out
    ///   (Amazon Books drops users with < 5 items, spec §1.3 step 5); users with no rows always are.
    /// - keep: optional row mask (Amazon Books' ≥5/≥5 filter).
    ///
    /// Order within a user: by timestamp, ties by `tieOrder` — `.file`: a STABLE sort, rows with equal
    /// timestamps keep their file order; `.item`: ascending item id, then file order. The reference
    /// sorts with pandas' unstable quicksort (spec §1.2 step 5), so its tie order is arbitrary; ours
    /// is reproducible. With `.file`, grouping and ordering are equivalent to a stable global sort by
    /// timestamp followed by a stable group-by user.
    func writeStore(path: String, name: String, userOrder: [Int32], userIds: [Int64], minEvents: Int,
                    keep: [Bool]?, corpus: [Int32], titles: [String]?, hasRatings: Bool,
                    tieOrder: TieOrder = .file) throws {
        let userCount = userIds.count
        var counts = [Int](repeating: 0, count: userCount)
        for r in 0..<count where keep?[r] ?? true { counts[Int(userCodes[r])] += 1 }
        let output = userOrder.filter { counts[Int($0)] >= max(1, minEvents) }
        // start[code] = first slot of the user's rows in the grouped permutation (-1: dropped).
        var start = [Int](repeating: -1, count: userCount)
        var events = 0
        for code in output { start[Int(code)] = events; events += counts[Int(code)] }
        var perm = [Int32](repeating: 0, count: events)
        var cursor = start
        for r in 0..<count where (keep?[r] ?? true) && start[Int(userCodes[r])] >= 0 {
            let u = Int(userCodes[r])
            perm[cursor[u]] = Int32(r)
            cursor[u] += 1
        }
        // Per-user sort: compare (timestamp, [item id,] file row).
        let byItem = tieOrder == .item
        timestamps.withUnsafeBufferPointer { ts in
            items.withUnsafeBufferPointer { it in
                perm.withUnsafeMutableBufferPointer { p in
                    let pp = p
                    @inline(__always) func before(_ a: Int32, _ b: Int32) -> Bool {
                        let ta = ts[Int(a)], tb = ts[Int(b)]
                        if ta != tb { return ta < tb }
                        if byItem, it[Int(a)] != it[Int(b)] { return it[Int(a)] < it[Int(b)] }
                        return a < b
                    }
                    Parallel.forRanges(output.count, minChunk: 256) { range in
                        for k in range {
                            let code = Int(output[k]), s = start[code], n = counts[code]
                            var slice = UnsafeMutableBufferPointer(rebasing: pp[s..<s + n])
                            var sorted = true
                            for i in 1..<max(n, 1) where !before(slice[i - 1], slice[i]) { sorted = false; break }
                            if !sorted { slice.sort(by: before) }
                        }
                    }
                }
            }
        }
        let writer = try SequenceStoreWriter(path: path, name: name, userCount: output.count, eventCount: events,
                                             corpus: corpus, titles: titles, hasRatings: hasRatings)
        var bi: [Int32] = [], bt: [Int64] = [], br: [Float] = []
        for code in output {
            let s = start[Int(code)], n = counts[Int(code)]
            bi.removeAll(keepingCapacity: true); bt.removeAll(keepingCapacity: true); br.removeAll(keepingCapacity: true)
            for k in s..<s + n {
                let r = Int(perm[k])
                bi.append(items[r]); bt.append(timestamps[r]); br.append(ratings[r])
            }
            try writer.append(userId: userIds[Int(code)], items: bi, timestamps: bt, ratings: br)
        }
        try writer.finish()
    }
}

/// Dense codes for integer ids (MovieLens user ids), in order of first appearance.
struct IntCoder {
    private(set) var ids: [Int64] = []
    private var table: [Int64: Int32] = [:]

    @inline(__always)
    mutating func code(_ id: Int64) -> Int32 {
        if let c = table[id] { return c }
        let c = Int32(ids.count)
        table[id] = c
        ids.append(id)
        return c
    }

    /// Codes sorted by id ascending.
    var ascendingOrder: [Int32] { (0..<Int32(ids.count)).sorted { ids[Int($0)] < ids[Int($1)] } }
}
