import ArgumentParser

/// `gr data ...`: dataset preparation and inspection.
public struct DataCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Prepare, generate and inspect datasets.",
        subcommands: [DataPrepareCommand.self, DataSynthCommand.self, DataStatsCommand.self, DataExportCSVCommand.self])
    public init() {}
}
