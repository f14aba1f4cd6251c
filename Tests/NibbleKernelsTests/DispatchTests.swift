import XCTest
import NibbleKernels

final class DispatchTests: XCTestCase {
    func testLevels() {
        let s = KernelISA.supported
        XCTAssertTrue(s.contains(.reference) && s.contains(.portable))
        XCTAssertLessThanOrEqual(KernelISA.current, KernelISA.detected)
        for isa in KernelISA.allCases { XCTAssertEqual(KernelISA(name: isa.name), isa) }
        if KernelISA.detected == .avx512 { XCTAssertTrue(CPUFeatures.host.hasHaswellLevel) }
    }
}
