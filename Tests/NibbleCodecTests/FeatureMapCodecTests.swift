import NibbleCodec
import XCTest

final class FeatureMapCodecTests: XCTestCase {
    /// The raw values are the ABI's nibble_codec values (Include/nibble.h).
    func testRawValuesMatchTheHeader() {
        XCTAssertEqual(FeatureMapCodec.none.rawValue, 0)
        XCTAssertEqual(FeatureMapCodec.cat.rawValue, 1)
        XCTAssertEqual(FeatureMapCodec.transform.rawValue, 2)
    }
}
