import Foundation

/// Datasets with string user and item ids: Amazon Books (spec §1.3) and the generic CSV.
///
/// Amazon Books `ratings_Books.csv` (headerless `user,item,rating,timestamp`): count users and
/// items on the raw rows, keep rows whose item count ≥ 5 AND user count ≥ 5 (one pass, not a
/// k-core), recode kept items by lexicographic order of their ASIN, +1 (0 = padding), drop users
/// left with < 5 items; the corpus is every kept item 1...n (items of dropped users stay).
///
/// Generic CSV: `user,item,timestamp[,rating]`, an optional header line (recognised when its
/// timestamp field is not an integer and the line names a `time`/`timestamp` column). All items
/// are kept and recoded lexicographically + 1; the corpus is all of them; no user filtering.
/// Every line must have the same number of fields as the first data line.
///
/// Users are stored in lexicographic order of their id; `userId` is that 0-based rank (pandas'
/// categorical code).
enum StringKeyedRecipe {
    /// Spec §1.3 step 2 / step 5: the Amazon Books thresholds.
    static let booksMinCount = 5

    static func prepare(kind: DatasetKind, ratingsPath: String, storePath: String, tieOrder: TieOrder = .file) throws {
        let file = try MappedFile(path: ratingsPath)
        file.adviseSequential()
        let books = kind == .amznBooks
        var reader = books
            ? DelimitedReader(file: file, separator: ",", fieldNames: ["user_id", "item_id", "rating", "timestamp"])
            : DelimitedReader(file: file, separator: ",", fieldNames: ["user", "item", "timestamp", "rating"],
                              minFields: 3, maxFields: 4)
        let (tsField, ratingField) = books ? (3, 2) : (2, 3)
        var users = ByteInterner(file: file, capacityHint: 1 << 16)
        var items = ByteInterner(file: file, capacityHint: 1 << 16)
        var table = InteractionTable()
        table.reserve(file.byteCount / 40 + 16)
        var fieldCount = -1
        var first = true
        while try reader.next() {
            if first && !books && (try? reader.int(tsField)) == nil && isHeader(reader) { first = false; continue }
            first = false
            if fieldCount < 0 { fieldCount = reader.fieldCount }
            guard reader.fieldCount == fieldCount else {
                throw DataError.malformedLine(path: ratingsPath, line: reader.lineNumber, expectedFields: fieldCount,
                                              foundFields: reader.fieldCount, hint: "earlier lines have \(fieldCount) fields")
            }
            for f in 0..<2 where reader.isEmpty(f) {
                throw DataError.invalidField(path: ratingsPath, line: reader.lineNumber, field: reader.name(f), value: "",
                                             expected: "a non-empty id")
            }
            let ts = try reader.int(tsField)
            let rating = fieldCount > ratingField ? Float(try reader.double(ratingField)) : 0
            table.append(user: users.code(reader.fields[0]), item: items.code(reader.fields[1]), timestamp: ts, rating: rating)
        }
        if table.count == 0 { throw DataError.emptyFile(path: ratingsPath) }

        var keep: [Bool]? = nil
        var keptItems = [Bool](repeating: true, count: items.count)
        var keptUsers = [Bool](repeating: true, count: users.count)
        if books {
            var itemCounts = [Int32](repeating: 0, count: items.count), userCounts = [Int32](repeating: 0, count: users.count)
            for r in 0..<table.count { itemCounts[Int(table.items[r])] += 1; userCounts[Int(table.userCodes[r])] += 1 }
            var mask = [Bool](repeating: false, count: table.count)
            keptItems = [Bool](repeating: false, count: items.count)
            keptUsers = [Bool](repeating: false, count: users.count)
            for r in 0..<table.count
            where itemCounts[Int(table.items[r])] >= booksMinCount && userCounts[Int(table.userCodes[r])] >= booksMinCount {
                mask[r] = true
                keptItems[Int(table.items[r])] = true
                keptUsers[Int(table.userCodes[r])] = true
            }
            keep = mask
        }
        // Item ids: lexicographic rank among kept items, shifted by 1.
        let itemRank = items.lexicographicRanks(keep: keptItems)
        for r in 0..<table.count where itemRank[Int(table.items[r])] >= 0 { table.items[r] = itemRank[Int(table.items[r])] + 1 }
        let nItems = keptItems.reduce(0) { $0 + ($1 ? 1 : 0) }
        let userRank = users.lexicographicRanks(keep: keptUsers)
        var userOrder = [Int32](repeating: 0, count: keptUsers.reduce(0) { $0 + ($1 ? 1 : 0) })
        var userIds = [Int64](repeating: -1, count: users.count)
        for code in 0..<users.count where userRank[code] >= 0 {
            userOrder[Int(userRank[code])] = Int32(code)
            userIds[code] = Int64(userRank[code])
        }
        guard nItems > 0 else {
            throw DataError.invalidArgument("\(ratingsPath): no rows left after the ≥\(booksMinCount) user/item filter")
        }
        try table.writeStore(path: storePath, name: kind.rawValue, userOrder: userOrder, userIds: userIds,
                             minEvents: books ? booksMinCount : 1, keep: keep,
                             corpus: (1...Int32(nItems)).map { $0 }, titles: nil, hasRatings: books || fieldCount == 4, tieOrder: tieOrder)
    }

    private static func isHeader(_ reader: DelimitedReader) -> Bool {
        let names = (0..<reader.fieldCount).map { reader.string($0).lowercased() }
        return names.contains { $0.contains("time") }
    }
}
