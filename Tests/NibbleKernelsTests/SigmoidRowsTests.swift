import Foundation
import NibbleKernels
import XCTest

/// `SigmoidRows` at every level the host runs gives the scalar twin's floats bit for bit (range ends, infinities,
/// signed zeros, subnormals, lengths with a partial last vector, in place; NaN stays NaN, its sign bit is the
/// hardware's choice), and `Exponential.exp` stays within a few ulps of libm's exp.
final class SigmoidRowsTests: XCTestCase {
    /// Bit patterns with every NaN as the one quiet NaN.
    func bits(_ v: [Float]) -> [UInt32] { v.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern } }

    func testEveryLevelGivesTheScalarFloatsInPlaceToo() {
        var rng = SplitMix(seed: 41)
        let high: Float = 88.7, low: Float = 87.3, halfLn2 = Float(0.5 * M_LN2)
        let specials: [Float] = [.nan, .infinity, -.infinity, 0, -0.0, high, -high, high.nextUp, (-high).nextDown, low, -low,
                                 low.nextUp, (-low).nextDown, 88.5, -88.5, 1e-40, -1e-40, .greatestFiniteMagnitude,
                                 halfLn2, -halfLn2, 100, -100]
        for n in [1, 3, 4, 7, 8, 15, 16, 17, 33, 100, 257] {
            var x = (0..<n).map { _ in rng.float(-30, 30) }
            for (j, v) in specials.enumerated() where j < n { x[(j * 5) % n] = v }
            let expected = x.map { 1 / (1 + Exponential.exp(-$0)) }
            for isa in KernelISA.supported {
                var y = [Float](repeating: 7, count: n)
                x.withUnsafeBufferPointer { xs in y.withUnsafeMutableBufferPointer { SigmoidRows.run(xs.baseAddress!, count: n, into: $0.baseAddress!, isa: isa) } }
                XCTAssertEqual(bits(y), bits(expected), "\(isa) n \(n)")
                var inPlace = x
                inPlace.withUnsafeMutableBufferPointer { SigmoidRows.run($0.baseAddress!, count: n, into: $0.baseAddress!, isa: isa) }
                XCTAssertEqual(bits(inPlace), bits(expected), "in place \(isa) n \(n)")
            }
        }
    }

    func testExpMatchesLibmWithinAFewUlps() {
        var worst: Float = 0
        var x: Float = -87.3
        while x <= 88.3 {
            let e = Exponential.exp(x), reference = Foundation.exp(Double(x))
            worst = max(worst, Float(abs(Double(e) - reference) / reference))
            x += 0.0137
        }
        XCTAssertLessThan(worst, 4e-7)
        XCTAssertEqual(Exponential.exp(0), 1)
        XCTAssertEqual(Exponential.exp(89), .infinity)
        XCTAssertEqual(Exponential.exp(-90), 0)
        XCTAssertTrue(Exponential.exp(.nan).isNaN)
        XCTAssertEqual(1 / (1 + Exponential.exp(-(-200))), 0)
        XCTAssertEqual(1 / (1 + Exponential.exp(-200)), 1)
    }
}
