import Foundation

/// A serving-forward kernel switch, read once from the environment variable `variable`: unset or
/// empty → `byDefault`; `off` → false; `on` → `available`; any other value is reported on stderr
/// and `byDefault` is used (`GR_INFER_ATTENTION`, `GR_INFER_GEMM`).
func kernelSwitch(_ variable: String, off: String, on: String, available: Bool, byDefault: Bool) -> Bool {
    switch ProcessInfo.processInfo.environment[variable] {
    case nil, "": return byDefault
    case off: return false
    case on: return available
    case let other?:
        FileHandle.standardError.write(Data("\(variable)=\(other): not \(off) or \(on); using \(byDefault ? on : off)\n".utf8))
        return byDefault
    }
}
