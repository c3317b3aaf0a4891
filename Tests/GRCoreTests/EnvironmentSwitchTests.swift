import XCTest
@testable import GRCore

final class EnvironmentSwitchTests: XCTestCase {
    func testUnsetAndEmptyTakeTheDefault() {
        XCTAssertEqual(try EnvironmentSwitch.parse("GR_X", value: nil, default: true).get(), true)
        XCTAssertEqual(try EnvironmentSwitch.parse("GR_X", value: nil, default: false).get(), false)
        XCTAssertEqual(try EnvironmentSwitch.parse("GR_X", value: "", default: true).get(), true)
        XCTAssertEqual(try EnvironmentSwitch.parse("GR_X", value: "  ", default: false).get(), false)
    }

    func testOnAndOffSpellings() {
        for v in ["1", "on", "ON", "true", "True", "yes", " 1 "] {
            XCTAssertEqual(try EnvironmentSwitch.parse("GR_X", value: v, default: false).get(), true, v)
        }
        for v in ["0", "off", "Off", "false", "FALSE", "no"] {
            XCTAssertEqual(try EnvironmentSwitch.parse("GR_X", value: v, default: true).get(), false, v)
        }
    }

    func testAnythingElseIsAnErrorNamingTheVariable() {
        for v in ["2", "enable", "of", "y"] {
            guard case .failure(let error) = EnvironmentSwitch.parse("GR_NCCL_OVERLAP", value: v, default: false) else {
                return XCTFail("\(v) accepted")
            }
            XCTAssertEqual(error, EnvironmentSwitch.InvalidValue(name: "GR_NCCL_OVERLAP", value: v))
            XCTAssertTrue(error.description.contains("GR_NCCL_OVERLAP=\"\(v)\""), error.description)
        }
    }
}
