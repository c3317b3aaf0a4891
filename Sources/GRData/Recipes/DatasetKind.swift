/// The datasets `gr data prepare` knows (spec §1.1), with where to download them and what we know
/// about the official archives.
public enum DatasetKind: String, CaseIterable, Sendable {
    case ml1m = "ml-1m"
    case ml20m = "ml-20m"
    case ml100k = "ml-100k"
    case amznBooks = "amzn-books"
    /// Any `user,item,timestamp[,rating]` file with string ids.
    case csv = "csv"

    /// Official URL (spec §1.1; ml-100k from the same GroupLens folder).
    public var url: String? {
        switch self {
        case .ml1m: return "http://files.grouplens.org/datasets/movielens/ml-1m.zip"
        case .ml20m: return "http://files.grouplens.org/datasets/movielens/ml-20m.zip"
        case .ml100k: return "http://files.grouplens.org/datasets/movielens/ml-100k.zip"
        case .amznBooks: return "http://snap.stanford.edu/data/amazon/productGraph/categoryFiles/ratings_Books.csv"
        case .csv: return nil
        }
    }

    /// What we know of the official archive. Sizes and SHA-256 are those published alongside
    /// copies of the archives (ml-1m, ml-20m); MD5 sums are GroupLens' own `.md5` sidecars.
    /// nil = not known offline: then only the size announced by the server is checked.
    public var knownArchive: (bytes: Int?, sha256: String?, md5: String?) {
        switch self {
        case .ml1m: return (5_917_549, "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
                            "c4d9eecfca2ab87c1945afe126590906")
        case .ml20m: return (198_702_078, "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
                             "cd245b17a1ae2cc31bb14903e1204af3")
        case .ml100k: return (nil, nil, "0e33842e24a9c977be4e0107933c0723")
        case .amznBooks, .csv: return (nil, nil, nil)
        }
    }

    /// Folder inside the archive (MovieLens) that holds the raw files.
    public var extractedFolder: String? {
        switch self {
        case .ml1m: return "ml-1m"
        case .ml20m: return "ml-20m"
        case .ml100k: return "ml-100k"
        case .amznBooks, .csv: return nil
        }
    }

    /// The ratings file inside the dataset folder.
    public var ratingsFile: String {
        switch self {
        case .ml1m: return "ratings.dat"
        case .ml20m: return "ratings.csv"
        case .ml100k: return "u.data"
        case .amznBooks: return "ratings_Books.csv"
        case .csv: return "ratings.csv"
        }
    }

    /// The file listing every movie (the corpus, spec §1.5), for MovieLens.
    public var moviesFile: String? {
        switch self {
        case .ml1m: return "movies.dat"
        case .ml20m: return "movies.csv"
        case .ml100k: return "u.item"
        case .amznBooks, .csv: return nil
        }
    }

    /// `train_fn.max_sequence_length` of the reference configs (spec §1.4): 200 MovieLens, 50 Books.
    public var maxSequenceLength: Int { self == .amznBooks ? 50 : 200 }
}
