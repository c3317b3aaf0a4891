/// Where a tensor's bytes live.
public enum Device: String, Sendable {
    case cpu
    case cuda
}
