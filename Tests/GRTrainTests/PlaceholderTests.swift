import XCTest

final class GRTrainTestsPlaceholder: XCTestCase {
    func testModuleBuilds() {}
}
