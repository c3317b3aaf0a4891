import Foundation

/// A serving-forward kernel switch, read once from the environment variable `variable`: unset or
/// empty → `byDefault`; `off` → false; `on` → `available`; any other value is reported on stderr
/// and `byDefault` is used (`GR_INFER_ATTENTION`, `GR_INFER_GEMM`). `alsoValid`: values another
/// reader of the variable takes (named in the message; they give `byDefault` here).
func kernelSwitch(_ variable: String, off: String, on: String, available: Bool, byDefault: Bool,
                  alsoValid: [String] = []) -> Bool {
    switch ProcessInfo.processInfo.environment[variable] {
    case nil, "": return byDefault
    case off: return false
    case on: return available
    case let other? where alsoValid.contains(other): return byDefault
    case let other?:
        let valid = ([off, on] + alsoValid).joined(separator: ", ")
        FileHandle.standardError.write(Data("\(variable)=\(other): not one of \(valid); using \(byDefault ? on : off)\n".utf8))
        return byDefault
    }
}
