import XCTest
import NibbleFormat
@testable import NibbleRuntime

/// `activation_bits` on ternary nodes (docs/FORMAT.md §4.4, `--act-bits`): the input codes are clamped to 2^M − 1.
final class TernaryActivationBitsTests: XCTestCase {
    static func withBits(_ bits: Int64, zeroPoint: Int64 = 0) -> (GraphHarness, Int) {
        var (h, r) = TernaryStepTests.tinyFC()
        h.graph.nodes[0].attributes.append(Attribute(.activationBits, ints: [bits]))
        if zeroPoint != 0 {
            h.graph.nodes[0].attributes.removeAll { $0.key == .inputZeroPoint }
            h.graph.nodes[0].attributes.append(Attribute(.inputZeroPoint, ints: [zeroPoint]))
        }
        r += 0
        return (h, r)
    }

    func testCodesAreClampedToTheBitRange() throws {
        // Scale 0.5: x = [1, 2, 0.5, 3] are codes [2, 4, 1, 6]; 2 bits keep at most 3, i.e. x ≤ 1.5.
        let (h2, r2) = Self.withBits(2)
        let model = try h2.model(outputs: [r2])
        XCTAssertEqual(model.kernelNames[0], "ternary fully connected a2 (reference)")
        let got = try h2.run(outputs: [r2], [1, 2, 0.5, 3])
        let (h8, r8) = TernaryStepTests.tinyFC()
        XCTAssertEqual(got, try h8.run(outputs: [r8], [1, 1.5, 0.5, 1.5]))
        XCTAssertNotEqual(got, try h8.run(outputs: [r8], [1, 2, 0.5, 3]))
        // 8 bits written out is the default.
        let (h, r) = Self.withBits(8)
        XCTAssertEqual(try h.run(outputs: [r], [1, 2, 0.5, 3]), try h8.run(outputs: [r8], [1, 2, 0.5, 3]))
    }

    func testRefusesBadActivationBits() throws {
        for (bits, zp, text) in [(Int64(9), Int64(0), "activation_bits 9 outside 1...8"), (0, 0, "activation_bits 0 outside 1...8"),
                                 (4, 3, "activation_bits 4 needs input_zero_point 0")] {
            let (h, r) = Self.withBits(bits, zeroPoint: zp)
            XCTAssertThrowsError(try h.model(outputs: [r])) { e in
                let m = (e as? NibbleError)?.message ?? "\(e)"
                XCTAssertTrue(m.contains(text), m)
            }
        }
    }
}
