import XCTest

/// The per-tensor tolerance of `shared/fixtures/README.md` for an f32 implementation against the
/// f64 reference: |a − ref| ≤ atolScale·max|ref| + rtol·|ref|, elementwise.
public func assertClose(_ actual: [Double], _ expected: [Double], atolScale: Double = 1e-5, rtol: Double = 1e-4,
                        _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(what): count", file: file, line: line)
    guard actual.count == expected.count else { return }
    let scale = expected.map(abs).max() ?? 0
    var worst = 0.0, worstIndex = -1
    for i in 0..<actual.count {
        let a = actual[i], e = expected[i]
        if a.isNaN || e.isNaN {
            XCTFail("\(what)[\(i)]: NaN (actual \(a), expected \(e))", file: file, line: line)
            return
        }
        let excess = abs(a - e) - (atolScale * scale + rtol * abs(e))
        if excess > worst { worst = excess; worstIndex = i }
    }
    if worstIndex >= 0 {
        XCTFail("\(what)[\(worstIndex)]: \(actual[worstIndex]) vs \(expected[worstIndex]) (max|ref| \(scale))",
                file: file, line: line)
    }
}

public func assertClose(_ actual: [Float], _ expected: [Double], atolScale: Double = 1e-5, rtol: Double = 1e-4,
                        _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    assertClose(actual.map(Double.init), expected, atolScale: atolScale, rtol: rtol, what, file: file, line: line)
}
