import ArgumentParser

/// `gr`: the command-line front of Generative Recommenders.
public struct GRCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "gr",
        abstract: "Generative Recommenders (HSTU, SASRec): prepare data, train, evaluate, serve.",
        subcommands: [DataCommand.self, TrainCommand.self, EvalCommand.self, RecommendCommand.self, ServeCommand.self,
                      BenchCommand.self, CUDACommand.self])
    public init() {}
}
