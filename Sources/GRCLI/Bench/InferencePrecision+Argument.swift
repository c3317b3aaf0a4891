import ArgumentParser
import GRInference

/// `--precision f32|bf16|int16` of `gr serve`, `gr recommend` and `gr bench serving`.
extension InferencePrecision: ExpressibleByArgument {}
