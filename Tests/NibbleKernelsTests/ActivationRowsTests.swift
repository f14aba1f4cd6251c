import Foundation
import NibbleKernels
import XCTest

/// `ActivationRows` at every level the host runs gives the scalar twins' floats bit for bit (Sigmoid's range ends,
/// HardSigmoid's and HardSwish's clamp edges, infinities, signed zeros, subnormals, lengths with a partial last vector,
/// in place; NaN stays NaN, its sign bit is the hardware's choice), and `Exponential.exp` stays within a few ulps of
/// libm's exp.
final class ActivationRowsTests: XCTestCase {
    /// Bit patterns with every NaN as the one quiet NaN.
    func bits(_ v: [Float]) -> [UInt32] { v.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern } }

    /// `run`(x, y, isa) against `twin` at every level and length, out of place and in place.
    func check(_ what: String, specials: [Float], _ twin: (Float) -> Float,
               _ run: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, KernelISA) -> Void) {
        var rng = SplitMix(seed: 41)
        for n in [1, 3, 4, 7, 8, 15, 16, 17, 33, 100, 257] {
            var x = (0..<n).map { _ in rng.float(-30, 30) }
            for (j, v) in specials.enumerated() where j < n { x[(j * 5) % n] = v }
            let expected = bits(x.map(twin))
            for isa in KernelISA.supported {
                var y = [Float](repeating: 7, count: n)
                x.withUnsafeBufferPointer { xs in y.withUnsafeMutableBufferPointer { run(xs.baseAddress!, $0.baseAddress!, n, isa) } }
                XCTAssertEqual(bits(y), expected, "\(what) \(isa) n \(n)")
                var inPlace = x
                inPlace.withUnsafeMutableBufferPointer { run($0.baseAddress!, $0.baseAddress!, n, isa) }
                XCTAssertEqual(bits(inPlace), expected, "\(what) in place \(isa) n \(n)")
            }
        }
    }

    let common: [Float] = [.nan, .infinity, -.infinity, 0, -0.0, 1e-40, -1e-40, .greatestFiniteMagnitude, 100, -100]

    func testSigmoidAtEveryLevel() {
        let high: Float = 88.7, low: Float = 87.3, halfLn2 = Float(0.5 * M_LN2)
        let edges: [Float] = [high, -high, high.nextUp, (-high).nextDown, low, -low, low.nextUp, (-low).nextDown, 88.5, -88.5,
                              halfLn2, -halfLn2]
        check("sigmoid", specials: common + edges, { 1 / (1 + Exponential.exp(-$0)) }) {
            ActivationRows.sigmoid($0, count: $2, into: $1, isa: $3)
        }
    }

    /// Swish is Sigmoid's floats times x, so a fused Mul(x, Sigmoid(x)) gives what the two nodes gave.
    func testSwishAtEveryLevel() {
        let high: Float = 88.7, low: Float = 87.3
        check("swish", specials: common + [high, -high, low, -low, 88.5, -88.5], { $0 * (1 / (1 + Exponential.exp(-$0))) }) {
            ActivationRows.swish($0, count: $2, into: $1, isa: $3)
        }
    }

    func testHardSigmoidAndHardSwishAtEveryLevel() {
        // HardSwish's clamp turns at ±3; HardSigmoid(α 0.2, β 0.5) at ±2.5.
        let edges: [Float] = [3, -3, Float(3).nextUp, Float(-3).nextDown, 2.5, -2.5, Float(2.5).nextDown, Float(-2.5).nextUp]
        check("hardSwish", specials: common + edges, { HardActivations.hardSwish($0) }) {
            ActivationRows.hardSwish($0, count: $2, into: $1, isa: $3)
        }
        for (alpha, beta) in [(Float(0.2), Float(0.5)), (1.0 / 6, 0.5), (-0.3, 0.1)] {
            check("hardSigmoid \(alpha) \(beta)", specials: common + edges, { HardActivations.hardSigmoid($0, alpha: alpha, beta: beta) }) {
                ActivationRows.hardSigmoid($0, count: $2, alpha: alpha, beta: beta, into: $1, isa: $3)
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
