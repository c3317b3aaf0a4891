import ArgumentParser
import Foundation
import GRData

extension DatasetKind: ExpressibleByArgument {}
extension TieOrder: ExpressibleByArgument {}

/// `gr data prepare --dataset ml-1m|ml-20m|amzn-books|ml-100k|csv [--source PATH] [--out DIR]`
public struct DataPrepareCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Turn raw ratings into a sequence store (spec §1).",
        discussion: """
            Without --source the official archive is downloaded (resumable, verified) into $GR_CACHE \
            (default ~/.cache/gr). --source takes the extracted dataset folder (ml-1m/, ml-20m/, ml-100k/) \
            or its ratings file; for csv a `user,item,timestamp[,rating]` file.
            """)

    @Option(help: "ml-1m | ml-20m | amzn-books | ml-100k | csv")
    public var dataset: DatasetKind
    @Option(help: "Local copy: the extracted folder or the ratings file.")
    public var source: String?
    @Option(help: "Output folder (default: data/<dataset>).")
    public var out: String?
    @Option(help: "Download cache folder (default: $GR_CACHE or ~/.cache/gr).")
    public var cache: String?
    @Option(help: "Order of a user's interactions with the same timestamp: file (stable, the default) | item (ascending item id).")
    public var tieOrder: TieOrder = .file
    @Option(help: "Seconds to wait for a connection when downloading.")
    public var connectTimeout: Int = 10

    public init() {}

    public func run() throws {
        if dataset == .csv && source == nil { throw ValidationError("--dataset csv needs --source FILE") }
        var downloader = DatasetDownloader(cacheDirectory: cache)
        downloader.connectTimeout = connectTimeout
        let outDir = out ?? "data/\(dataset.rawValue)"
        let start = Date()
        let summary = try DatasetPreparer.prepare(dataset, source: source, out: outDir, downloader: downloader,
                                                    tieOrder: tieOrder)
        print(summary.table)
        print(String(format: "wrote %@ in %.2f s", outDir, Date().timeIntervalSince(start)))
    }
}
