/// The keys a config file (and `--set`) may use: name, section, type, and how each reads and writes
/// a `TrainConfig` field. Any other key is an error.
///
/// Sections: top level (`name`, `dataset`), `model`, `loss`, `training`, `evaluation`.
/// `--set` accepts either the bare key (`epochs=3`) or `section.key` (`training.epochs=3`).
public struct ConfigKey: Sendable {
    public let name: String
    /// "" for the top level.
    public let section: String
    /// Human-readable type, used in error messages ("integer", "one of hstu, sasrec", ...).
    public let typeDescription: String
    let apply: @Sendable (inout TrainConfig, String) -> Bool
    let render: @Sendable (TrainConfig) -> String

    public var qualifiedName: String { section.isEmpty ? name : "\(section).\(name)" }

    /// Parses `text` into `config`; throws a `ConfigError` naming file/line/key on a type error.
    public func set(_ text: String, in config: inout TrainConfig, file: String, line: Int?) throws {
        guard apply(&config, text) else {
            throw ConfigError(file: file, line: line, key: qualifiedName,
                              message: "expected \(typeDescription), got '\(text)'")
        }
    }

    /// The value as it would be written in a config file.
    public func value(in config: TrainConfig) -> String { render(config) }
}

extension ConfigKey {
    static func int(_ name: String, _ section: String, _ kp: WritableKeyPath<TrainConfig, Int> & Sendable) -> ConfigKey {
        ConfigKey(name: name, section: section, typeDescription: "an integer",
                  apply: { c, s in guard let v = Int(s) else { return false }; c[keyPath: kp] = v; return true },
                  render: { "\($0[keyPath: kp])" })
    }

    static func uint64(_ name: String, _ section: String, _ kp: WritableKeyPath<TrainConfig, UInt64> & Sendable) -> ConfigKey {
        ConfigKey(name: name, section: section, typeDescription: "a non-negative integer",
                  apply: { c, s in guard let v = UInt64(s) else { return false }; c[keyPath: kp] = v; return true },
                  render: { "\($0[keyPath: kp])" })
    }

    static func double(_ name: String, _ section: String, _ kp: WritableKeyPath<TrainConfig, Double> & Sendable) -> ConfigKey {
        ConfigKey(name: name, section: section, typeDescription: "a number",
                  apply: { c, s in
                      guard let v = Double(s), v.isFinite else { return false }
                      c[keyPath: kp] = v
                      return true
                  },
                  render: { "\($0[keyPath: kp])" })
    }

    static func bool(_ name: String, _ section: String, _ kp: WritableKeyPath<TrainConfig, Bool> & Sendable) -> ConfigKey {
        ConfigKey(name: name, section: section, typeDescription: "true or false",
                  apply: { c, s in
                      switch s {
                      case "true": c[keyPath: kp] = true
                      case "false": c[keyPath: kp] = false
                      default: return false
                      }
                      return true
                  },
                  render: { "\($0[keyPath: kp])" })
    }

    static func string(_ name: String, _ section: String, _ kp: WritableKeyPath<TrainConfig, String> & Sendable) -> ConfigKey {
        ConfigKey(name: name, section: section, typeDescription: "a string",
                  apply: { c, s in c[keyPath: kp] = s; return true },
                  render: { $0[keyPath: kp] })
    }

    static func choice<E: RawRepresentable & CaseIterable & Sendable>(
        _ name: String, _ section: String, _ kp: WritableKeyPath<TrainConfig, E> & Sendable
    ) -> ConfigKey where E.RawValue == String {
        let names = E.allCases.map(\.rawValue).joined(separator: ", ")
        return ConfigKey(name: name, section: section, typeDescription: "one of \(names)",
                         apply: { c, s in guard let v = E(rawValue: s) else { return false }; c[keyPath: kp] = v; return true },
                         render: { $0[keyPath: kp].rawValue })
    }
}

public enum ConfigKeys {
    public static let sections = ["", "model", "loss", "training", "evaluation"]

    /// Every key, in the order `ConfigFile.render` writes them.
    public static let all: [ConfigKey] = [
        .string("name", "", \.name),
        .string("dataset", "", \.dataset),

        .choice("kind", "model", \.kind),
        .int("item_dim", "model", \.itemDim),
        .int("blocks", "model", \.blocks),
        .int("heads", "model", \.heads),
        .int("dqk", "model", \.dqk),
        .int("dv", "model", \.dv),
        .int("ffn_hidden", "model", \.ffnHidden),
        .double("input_dropout", "model", \.inputDropout),
        .double("block_dropout", "model", \.blockDropout),
        .int("max_sequence_length", "model", \.maxSequenceLength),
        .int("output_length", "model", \.outputLength),

        .choice("loss", "loss", \.loss),
        .int("num_negatives", "loss", \.numNegatives),
        .double("temperature", "loss", \.temperature),
        .double("l2_eps", "loss", \.l2Eps),

        .int("epochs", "training", \.epochs),
        .int("batch_size", "training", \.batchSize),
        .double("lr", "training", \.lr),
        .double("beta1", "training", \.beta1),
        .double("beta2", "training", \.beta2),
        .double("eps", "training", \.eps),
        .double("weight_decay", "training", \.weightDecay),
        .int("num_warmup_steps", "training", \.numWarmupSteps),
        .uint64("seed", "training", \.seed),
        .bool("validation", "training", \.validation),
        .int("save_ckpt_every_n", "training", \.saveCkptEveryN),

        .int("eval_batch_size", "evaluation", \.evalBatchSize),
        .int("full_eval_every_n", "evaluation", \.fullEvalEveryN),
        .int("partial_eval_num_iters", "evaluation", \.partialEvalNumIters),
        .int("eval_interval", "evaluation", \.evalInterval),
        .choice("seen_filter", "evaluation", \.seenFilter),
        .int("max_rank", "evaluation", \.maxRank),
    ]

    /// The key called `name` (bare) or `section.name`.
    public static func find(_ name: String) -> ConfigKey? {
        if let k = all.first(where: { $0.qualifiedName == name }) { return k }
        if !name.contains(".") { return all.first(where: { $0.name == name }) }
        return nil
    }
}
