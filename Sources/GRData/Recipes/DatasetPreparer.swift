import Foundation

/// `gr data prepare`: finds the raw files (a `--source` folder or file, or a download), runs the
/// dataset's recipe into a temporary folder next to `out`, writes `summary.json`, and renames the
/// folder into place. On any error the temporary folder is removed: no partial output.
public enum DatasetPreparer {
    /// - source: the dataset's extracted folder or its ratings file; nil = download (MovieLens,
    ///   Amazon Books). Returns the summary written beside the store.
    /// - tieOrder: order of a user's interactions with equal timestamps (recorded in the summary).
    @discardableResult
    public static func prepare(_ kind: DatasetKind, source: String?, out: String,
                               downloader: DatasetDownloader = DatasetDownloader(),
                               tieOrder: TieOrder = .file) throws -> DatasetSummary {
        var src: String
        var unzipped: String? = nil
        defer { if let unzipped { try? FileManager.default.removeItem(atPath: unzipped) } }
        if let source {
            src = source
            if source.lowercased().hasSuffix(".zip") {  // the official archive itself: extract it first
                let folder = NSTemporaryDirectory() + "gr-unzip-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
                unzipped = folder
                src = try downloader.extract(archive: source, kind: kind, into: folder)
            }
        } else {
            src = try downloader.fetch(kind)
        }
        let (ratings, movies) = try locate(kind, src)
        return try buildStoreFolder(out: out, tieOrder: tieOrder) { storePath in
            switch kind {
            case .ml1m, .ml20m, .ml100k:
                try MovieLensRecipe.prepare(kind: kind, ratingsPath: ratings, moviesPath: movies!, storePath: storePath,
                                            tieOrder: tieOrder)
            case .amznBooks, .csv:
                try StringKeyedRecipe.prepare(kind: kind, ratingsPath: ratings, storePath: storePath, tieOrder: tieOrder)
            }
        }
    }

    /// `gr data synth`: generates a synthetic store folder at `out` (same atomic publishing).
    @discardableResult
    public static func synthesize(_ config: SyntheticConfig, out: String) throws -> DatasetSummary {
        try buildStoreFolder(out: out) { try SyntheticGenerator.generate(config, storePath: $0) }
    }

    /// Runs `body(storePath)` inside a temporary folder beside `out`, adds `summary.json`, then
    /// renames the folder to `out`; removes it on any error.
    public static func buildStoreFolder(out: String, tieOrder: TieOrder? = nil,
                                        _ body: (String) throws -> Void) throws -> DatasetSummary {
        let parent = URL(fileURLWithPath: out).standardizedFileURL.deletingLastPathComponent().path
        let parentExisted = FileManager.default.fileExists(atPath: parent)
        let tmp = try StoreDirectory.makeTemporary(for: out)
        do {
            try body(tmp + "/" + StoreFormat.fileName)
            let summary = try writeSummary(directory: tmp, tieOrder: tieOrder)
            try StoreDirectory.commit(temporary: tmp, final: out)
            return summary
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            if !parentExisted, (try? FileManager.default.contentsOfDirectory(atPath: parent))?.isEmpty == true {
                try? FileManager.default.removeItem(atPath: parent)  // we created it: leave nothing behind
            }
            throw error
        }
    }

    /// Writes `summary.json` for the store in `directory` (re-opened, so the checks run once more).
    @discardableResult
    public static func writeSummary(directory: String, tieOrder: TieOrder? = nil) throws -> DatasetSummary {
        let store = try SequenceStore.open(directory: directory)
        var summary = DatasetSummary(store: store)
        summary.tieOrder = tieOrder
        try StoreDirectory.writeAtomically(try summary.jsonData(), to: directory + "/" + StoreFormat.summaryName)
        return summary
    }

    /// The ratings file and (MovieLens) movies file for a `--source` folder or file.
    static func locate(_ kind: DatasetKind, _ source: String) throws -> (String, String?) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDir) else {
            throw DataError.missingFile(path: source, what: "--source")
        }
        var folder = source, ratings = source
        if isDir.boolValue {
            ratings = source + "/" + kind.ratingsFile
            if kind == .csv || kind == .amznBooks, !FileManager.default.fileExists(atPath: ratings) {
                let csvs = ((try? FileManager.default.contentsOfDirectory(atPath: source)) ?? []).filter { $0.hasSuffix(".csv") }
                if csvs.count == 1 { ratings = source + "/" + csvs[0] }
            }
            guard FileManager.default.fileExists(atPath: ratings) else {
                throw DataError.missingFile(path: ratings, what: "\(kind.rawValue) ratings file")
            }
        } else {
            folder = URL(fileURLWithPath: source).deletingLastPathComponent().path
        }
        guard let moviesName = kind.moviesFile else { return (ratings, nil) }
        let movies = folder + "/" + moviesName
        guard FileManager.default.fileExists(atPath: movies) else {
            throw DataError.missingFile(path: movies, what: "\(kind.rawValue) movie list (the corpus, spec §1.5)")
        }
        return (ratings, movies)
    }
}
