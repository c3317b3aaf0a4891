import ArgumentParser
import Foundation
import GRData

/// `gr data stats DIR`: verifies a store and prints its summary as a table.
public struct DataStatsCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Verify a sequence store and print its summary.")

    @Argument(help: "A folder written by `gr data prepare` or `gr data synth`.")
    public var directory: String
    @Flag(help: "Print summary.json instead of a table.")
    public var json = false

    public init() {}

    public func run() throws {
        let store = try SequenceStore.open(directory: directory)
        var summary = DatasetSummary(store: store)
        // The tie order is a property of how the store was prepared, not of its contents.
        summary.tieOrder = (try? DatasetSummary.load(directory: directory))?.tieOrder
        if json {
            print(String(decoding: try summary.jsonData(), as: UTF8.self))
        } else {
            print(summary.table)
        }
    }
}
