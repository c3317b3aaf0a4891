import ArgumentParser

/// `gr bench ...`: benchmarks of kernels, training steps, epochs and serving.
public struct BenchCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks (kernels, training, serving, multi-GPU scaling).",
        subcommands: [KernelsCommand.self, StepCommand.self, ServingBenchCommand.self, MultiGPUCommand.self])
    public init() {}
}
