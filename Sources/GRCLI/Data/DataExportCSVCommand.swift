import ArgumentParser
import Foundation
import GRData

/// `gr data export-csv DIR --out FILE`: the store as `user,item,timestamp,rating` CSV.
public struct DataExportCSVCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "export-csv", abstract: "Write a store as user,item,timestamp,rating CSV.")

    @Argument(help: "A sequence store folder.")
    public var directory: String
    @Option(help: "Output CSV file.")
    public var out: String

    public init() {}

    public func run() throws {
        let start = Date()
        let store = try SequenceStore.open(directory: directory)
        try CSVExporter.export(store, to: out)
        print(String(format: "wrote %d rows to %@ in %.2f s", store.eventCount, out, Date().timeIntervalSince(start)))
    }
}
