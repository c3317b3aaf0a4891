import Foundation

/// MovieLens preprocessing (spec §1.2): no filtering, raw movie ids kept as embedding rows (0 is
/// padding), sequences ordered by timestamp (stable, see `InteractionTable.writeStore`), users in
/// ascending raw id order, corpus = every movie listed in the movies file (spec §1.5), titles kept.
///
/// Formats: ml-1m `ratings.dat` `UserID::MovieID::Rating::Timestamp`, `movies.dat`
/// `MovieID::Title::Genres` (ISO-8859-1); ml-20m `ratings.csv` / `movies.csv` with header lines
/// (UTF-8, titles may be quoted); ml-100k `u.data` tab-separated user, item, rating, timestamp and
/// `u.item` `|`-separated with the title second (ISO-8859-1).
/// A rated movie missing from the movies file still gets its embedding row (max id covers it)
/// but is not in the corpus, as in the reference.
enum MovieLensRecipe {
    static func prepare(kind: DatasetKind, ratingsPath: String, moviesPath: String, storePath: String,
                        tieOrder: TieOrder = .file) throws {
        let (corpus, titles) = try readMovies(kind: kind, path: moviesPath)
        let table: InteractionTable
        var users = IntCoder()
        (table, users) = try readRatings(kind: kind, path: ratingsPath)
        try table.writeStore(path: storePath, name: kind.rawValue, userOrder: users.ascendingOrder, userIds: users.ids,
                             minEvents: 1, keep: nil, corpus: corpus, titles: titles, hasRatings: true,
                             tieOrder: tieOrder)
    }

    static func readRatings(kind: DatasetKind, path: String) throws -> (InteractionTable, IntCoder) {
        let file = try MappedFile(path: path)
        file.adviseSequential()
        let names = ["user_id", "movie_id", "rating", "timestamp"]
        var reader: DelimitedReader
        switch kind {
        case .ml1m: reader = DelimitedReader(file: file, separator: "::", fieldNames: names)
        case .ml100k: reader = DelimitedReader(file: file, separator: "\t", fieldNames: names)
        default: reader = DelimitedReader(file: file, separator: ",", fieldNames: names)
        }
        var table = InteractionTable()
        table.reserve(file.byteCount / 24 + 16)
        var users = IntCoder()
        var first = true
        while try reader.next() {
            // ml-20m's `userId,movieId,rating,timestamp` header (any first line whose first field is
            // not a number is taken as a header in the csv formats).
            if first && kind == .ml20m && (try? reader.int(0)) == nil { first = false; continue }
            first = false
            let user = try reader.int(0), item = try reader.int(1)
            let rating = try reader.double(2), ts = try reader.int(3)
            guard item >= 1 && item <= Int64(Int32.max) else {
                throw DataError.outOfRange(path: path, line: reader.lineNumber, field: "movie_id", value: String(item),
                                           allowed: "1...\(Int32.max); 0 is the padding id")
            }
            table.append(user: users.code(user), item: Int32(item), timestamp: ts, rating: Float(rating))
        }
        if table.count == 0 { throw DataError.emptyFile(path: path) }
        return (table, users)
    }

    /// Corpus (ascending movie ids) and titles from the movies file.
    static func readMovies(kind: DatasetKind, path: String) throws -> ([Int32], [String]) {
        let file = try MappedFile(path: path)
        var reader: DelimitedReader
        let latin1: Bool
        switch kind {
        case .ml1m:
            reader = DelimitedReader(file: file, separator: "::", fieldNames: ["movie_id", "title", "genres"])
            latin1 = true
        case .ml100k:
            // movie id | title | release date | video release date | IMDb URL | 19 genre flags
            reader = DelimitedReader(file: file, separator: "|", fieldNames: ["movie_id", "title"], minFields: 5, maxFields: 24)
            latin1 = true
        default:
            reader = DelimitedReader(file: file, separator: ",", fieldNames: ["movieId", "title", "genres"], quoted: true)
            latin1 = false
        }
        var movies: [(Int32, String)] = []
        var first = true
        while try reader.next() {
            if first && kind == .ml20m && (try? reader.int(0)) == nil { first = false; continue }
            first = false
            let id = try reader.int(0)
            guard id >= 1 && id <= Int64(Int32.max) else {
                throw DataError.outOfRange(path: path, line: reader.lineNumber, field: reader.name(0), value: String(id),
                                           allowed: "1...\(Int32.max)")
            }
            movies.append((Int32(id), reader.string(1, latin1: latin1)))
        }
        if movies.isEmpty { throw DataError.emptyFile(path: path) }
        movies.sort { $0.0 < $1.0 }
        for i in 1..<movies.count where movies[i].0 == movies[i - 1].0 {
            throw DataError.invalidField(path: path, line: 0, field: reader.name(0), value: String(movies[i].0),
                                         expected: "a unique movie id (listed twice)")
        }
        return (movies.map(\.0), movies.map(\.1))
    }
}
