import ArgumentParser
import Foundation
import GRData

/// `gr data synth --users N --items M --events E [--seed S] [--like ml-20m|amzn-books|ml-1m] [--out DIR]`
public struct DataSynthCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Generate a synthetic dataset (lognormal lengths, Zipf popularity, sessions) as a sequence store.",
        discussion: "--like sets every parameter to the shape of a real dataset; explicit options override it.")

    @Option(help: "Preset: \(SyntheticConfig.presets.joined(separator: " | ")).")
    public var like: String?
    @Option(help: "Number of users.") public var users: Int?
    @Option(help: "Number of listed items (corpus size).") public var items: Int?
    @Option(help: "Total number of events.") public var events: Int?
    @Option(help: "Largest item id (ids spread over 1...max; default = items).") public var maxItemId: Int?
    @Option(help: "Minimum events per user.") public var minLength: Int?
    @Option(help: "Maximum events per user (default: items).") public var maxLength: Int?
    @Option(help: "Lognormal sigma of the length distribution.") public var lengthSigma: Double?
    @Option(help: "Zipf exponent of item popularity.") public var zipf: Double?
    @Option(help: "Mean events per session.") public var sessionMean: Double?
    @Option(help: "Random seed.") public var seed: UInt64 = 0
    @Option(help: "Output folder (default: data/synthetic).") public var out: String = "data/synthetic"

    public init() {}

    public func config() throws -> SyntheticConfig {
        var c = SyntheticConfig()
        if let like {
            guard let p = SyntheticConfig.like(like) else {
                throw ValidationError("unknown --like \(like); use \(SyntheticConfig.presets.joined(separator: ", "))")
            }
            c = p
        }
        if let users { c.users = users }
        if let items { c.items = items }
        if let events { c.events = events }
        if let maxItemId { c.maxItemId = maxItemId }
        if let minLength { c.minLength = minLength }
        if let maxLength { c.maxLength = maxLength }
        if let lengthSigma { c.lengthSigma = lengthSigma }
        if let zipf { c.zipfExponent = zipf }
        if let sessionMean { c.sessionMean = sessionMean }
        c.seed = seed
        return c
    }

    public func run() throws {
        let start = Date()
        let summary = try DatasetPreparer.synthesize(try config(), out: out)
        print(summary.table)
        print(String(format: "wrote %@ in %.2f s", out, Date().timeIntervalSince(start)))
    }
}
