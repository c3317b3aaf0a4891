import XCTest

final class GREvalTestsPlaceholder: XCTestCase {
    func testModuleBuilds() {}
}
