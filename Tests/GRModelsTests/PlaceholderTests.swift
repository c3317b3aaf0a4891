import XCTest

final class GRModelsTestsPlaceholder: XCTestCase {
    func testModuleBuilds() {}
}
