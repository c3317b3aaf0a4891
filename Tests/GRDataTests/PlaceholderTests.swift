import XCTest

final class GRDataTestsPlaceholder: XCTestCase {
    func testModuleBuilds() {}
}
