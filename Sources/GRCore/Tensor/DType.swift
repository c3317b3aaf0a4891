/// Element types a tensor can hold.
public enum DType: String, Sendable, CaseIterable {
    case f32, f64, bf16, i32, i64, u8

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f32, .i32: return 4
        case .f64, .i64: return 8
        case .bf16: return 2
        case .u8: return 1
        }
    }
}
