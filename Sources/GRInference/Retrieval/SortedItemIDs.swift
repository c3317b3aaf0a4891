/// The ids of an index's rows, ascending (row r holds ids[r]), and the id → row lookup that
/// `ItemIndex` and `DeviceItemIndex` share: one subtraction when the ids are consecutive (the
/// usual corpus), else a binary search.
struct SortedItemIDs: Sendable {
    /// Ascending, distinct.
    let ids: [Int32]
    /// ids[r] == ids[0] + r for every row.
    let consecutive: Bool

    /// `sorted` must be ascending and distinct (the caller checks and reports duplicates).
    init(sorted: [Int32]) {
        ids = sorted
        consecutive = sorted.isEmpty || Int(sorted.last!) - Int(sorted[0]) == sorted.count - 1
    }

    /// The row of `id`, nil when not indexed.
    func row(of id: Int32) -> Int32? {
        if consecutive {
            let row = Int(id) - Int(ids.first ?? 0)
            return row >= 0 && row < ids.count ? Int32(row) : nil
        }
        var lo = 0, hi = ids.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ids[mid] < id { lo = mid + 1 } else { hi = mid }
        }
        return lo < ids.count && ids[lo] == id ? Int32(lo) : nil
    }
}
