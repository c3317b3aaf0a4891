/// Errors that stop a training run or an evaluation; each says where and what.
public enum TrainError: Error, CustomStringConvertible, Equatable {
    /// The loss of a step was NaN or ±Inf: the run stops and the last good checkpoint
    /// (`latest.safetensors` of the previous epoch) is kept untouched.
    case nonFiniteLoss(epoch: Int, step: Int, batch: Int, loss: Float)
    /// `--out` already holds a run and `--resume` was not given.
    case outputExists(path: String)
    /// The checkpoint does not fit this run (config, data or parameter layout).
    case resumeMismatch(path: String, message: String)
    /// The data store does not fit the config.
    case badData(String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(epoch, step, batch, loss):
            return "training diverged: loss \(loss) at epoch \(epoch), step \(step) (batch \(batch) of the epoch); "
                + "stopped; the last good checkpoint (latest.safetensors, end of the previous epoch) is kept"
        case let .outputExists(path):
            return "\(path) already holds a run (latest.safetensors); pass --resume to continue it or choose another --out"
        case let .resumeMismatch(path, message):
            return "cannot resume from \(path): \(message)"
        case let .badData(message):
            return "data: \(message)"
        }
    }
}
