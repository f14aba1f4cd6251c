import Foundation
@testable import NibbleCodec
import XCTest

final class ActivationQuantizerTests: XCTestCase {
    func testUnsignedQuantizeClampsAndRounds() {
        let q = ActivationQuantizer(bits: 4, step: 0.5)!
        XCTAssertEqual(q.quantize(0), 0)
        XCTAssertEqual(q.quantize(-3), 0)
        XCTAssertEqual(q.quantize(0.74), 1)
        XCTAssertEqual(q.quantize(0.76), 2)
        XCTAssertEqual(q.quantize(7.5), 15)
        XCTAssertEqual(q.quantize(100), 15)
        XCTAssertEqual(q.quantize(.infinity), 15)
        XCTAssertEqual(q.quantize(-.infinity), 0)
        XCTAssertEqual(q.quantize(.nan), 0)
        XCTAssertEqual(q.dequantize(3), 1.5)
    }

    func testSignedQuantizeUsesTheZeroPoint() {
        let q = ActivationQuantizer(bits: 4, step: 0.25, zeroPoint: 8)!
        XCTAssertEqual(q.quantize(0), 8)
        XCTAssertEqual(q.quantize(-0.5), 6)
        XCTAssertEqual(q.quantize(-10), 0)
        XCTAssertEqual(q.quantize(10), 15)
        XCTAssertEqual(q.quantize(.nan), 8)
        XCTAssertEqual(q.dequantize(6), -0.5)
        XCTAssertEqual(q.dequantize(8), 0)
        for symbol in 0...15 { XCTAssertEqual(q.quantize(q.dequantize(UInt8(symbol))), UInt8(symbol)) }
    }

    func testInvalidParametersAreRejected() {
        XCTAssertNil(ActivationQuantizer(bits: 1, step: 1))
        XCTAssertNil(ActivationQuantizer(bits: 9, step: 1))
        XCTAssertNil(ActivationQuantizer(bits: 4, step: 0))
        XCTAssertNil(ActivationQuantizer(bits: 4, step: .nan))
        XCTAssertNil(ActivationQuantizer(bits: 4, step: 1, zeroPoint: 16))
        XCTAssertNil([Float(1)].withUnsafeBufferPointer { ActivationQuantizer.calibrated(samples: $0, bits: 10, signed: false) })
    }

    /// Heavy-tailed ReLU activations (50 % zeros, Laplace magnitudes, a few outliers ×10 as after a residual
    /// add): the MSE-clipped quantizer has far lower error than the max-scaled one.
    func testMSEClippingBeatsMaxClippingOnHeavyTails() {
        var rng = SplitMix64(seed: 51)
        var samples = [Float](repeating: 0, count: 20000)
        for i in samples.indices where rng.unit() < 0.5 {
            samples[i] = Float(-log(1 - rng.unit())) * (rng.unit() < 0.001 ? 10 : 1)
        }
        for bits in [2, 4, 6] {
            samples.withUnsafeBufferPointer { s in
                let mse = ActivationQuantizer.calibrated(samples: s, bits: bits, signed: false)!
                let max = ActivationQuantizer.maxScaled(samples: s, bits: bits, signed: false)!
                let eMSE = mse.meanSquaredError(s), eMax = max.meanSquaredError(s)
                print("bits \(bits): MSE-clipped step \(mse.step) error \(eMSE); max-scaled step \(max.step) error \(eMax)")
                // Clipping matters most at low bits; at 6 bits rounding error dominates and the gain is small.
                XCTAssertLessThan(eMSE, eMax * (bits <= 4 ? 0.5 : 1), "bits \(bits)")
                XCTAssertLessThan(mse.step, max.step)
            }
        }
        // Signed heavy tails, symmetric zero point.
        let signed = samples.map { rng.unit() < 0.5 ? -$0 : $0 }
        signed.withUnsafeBufferPointer { s in
            let mse = ActivationQuantizer.calibrated(samples: s, bits: 4, signed: true)!
            let max = ActivationQuantizer.maxScaled(samples: s, bits: 4, signed: true)!
            XCTAssertEqual(mse.zeroPoint, 8)
            XCTAssertLessThan(mse.meanSquaredError(s), max.meanSquaredError(s) * 0.5)
        }
    }

    /// On uniform data clipping does not help: the search lands near the max.
    func testUniformDataKeepsNearlyTheFullRange() {
        var rng = SplitMix64(seed: 52)
        let samples = (0..<20000).map { _ in Float(rng.unit()) }
        samples.withUnsafeBufferPointer { s in
            let q = ActivationQuantizer.calibrated(samples: s, bits: 4, signed: false)!
            XCTAssertGreaterThan(q.step * 15, 0.9)
            XCTAssertLessThanOrEqual(q.meanSquaredError(s),
                                     ActivationQuantizer.maxScaled(samples: s, bits: 4, signed: false)!.meanSquaredError(s))
        }
        let zeros = [Float](repeating: 0, count: 10)
        XCTAssertEqual(zeros.withUnsafeBufferPointer { ActivationQuantizer.calibrated(samples: $0, bits: 4, signed: false)?.step }, 1)
    }

    func testBufferQuantizeDequantize() {
        let q = ActivationQuantizer(bits: 3, step: 1)!
        let input: [Float] = [0, 1.2, 2.6, 9, -1]
        var symbols = [UInt8](repeating: 0, count: 5)
        var back = [Float](repeating: 0, count: 5)
        input.withUnsafeBufferPointer { i in symbols.withUnsafeMutableBufferPointer { q.quantize(i, into: $0) } }
        XCTAssertEqual(symbols, [0, 1, 3, 7, 0])
        symbols.withUnsafeBufferPointer { s in back.withUnsafeMutableBufferPointer { q.dequantize(s, into: $0) } }
        XCTAssertEqual(back, [0, 1, 3, 7, 0])
    }

    /// The 8-lane buffer forms give exactly the scalar forms' bytes and floats: rounding ties (k + 1/2), clamps at
    /// both ends, NaN and infinities, negative zero, every bit width, signed and unsigned, lengths with a tail.
    func testBufferFormsMatchTheScalarFormsBitForBit() {
        var rng = SystemRandomNumberGenerator()
        for bits in 2...8 {
            for signed in [false, true] {
                let zp = signed ? 1 << (bits - 1) : 0
                let step = Float.random(in: 0.01...2, using: &rng)
                let q = ActivationQuantizer(bits: bits, step: step, zeroPoint: zp)!
                let n = 8 * 37 + bits  // a tail of 2…8 values after the vector loop
                var x = (0..<n).map { _ in Float.random(in: -Float(1 << bits)...Float(1 << bits), using: &rng) * step }
                // Exact ties k + 1/2 (in units of step), the clamp edges, and the special values.
                for k in 0..<(1 << bits) { x[k] = (Float(k - zp) + 0.5) * step }
                let specials: [Float] = [.nan, .infinity, -.infinity, -0.0, 0, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                                         .leastNonzeroMagnitude, Float(q.maxSymbol - zp) * step, Float(q.maxSymbol - zp + 1) * step]
                for (j, v) in specials.enumerated() { x[n - 1 - 2 * j] = v }
                var symbols = [UInt8](repeating: 0, count: n)
                x.withUnsafeBufferPointer { i in symbols.withUnsafeMutableBufferPointer { q.quantize(i, into: $0) } }
                XCTAssertEqual(symbols, x.map { q.quantize($0) }, "bits \(bits) signed \(signed)")
                let all = (0..<n).map { UInt8(truncatingIfNeeded: $0 % (1 << bits)) }
                var back = [Float](repeating: 0, count: n)
                all.withUnsafeBufferPointer { s in back.withUnsafeMutableBufferPointer { q.dequantize(s, into: $0) } }
                XCTAssertEqual(back.map(\.bitPattern), all.map { q.dequantize($0).bitPattern }, "bits \(bits) signed \(signed)")
            }
        }
    }
}

final class EntropyTests: XCTestCase {
    func testEntropyOfKnownHistograms() {
        XCTAssertEqual(Entropy.bitsPerValue([]), 0)
        XCTAssertEqual(Entropy.bitsPerValue([0, 0]), 0)
        XCTAssertEqual(Entropy.bitsPerValue([5]), 0)
        XCTAssertEqual(Entropy.bitsPerValue([1, 1]), 1, accuracy: 1e-12)
        XCTAssertEqual(Entropy.bitsPerValue([UInt64](repeating: 7, count: 16)), 4, accuracy: 1e-12)
        XCTAssertEqual(Entropy.bitsPerValue([2, 1, 1]), 1.5, accuracy: 1e-12)
        XCTAssertEqual(Entropy.bitsPerValue([9, 1]), -(0.9 * Foundation.log2(0.9) + 0.1 * Foundation.log2(0.1)), accuracy: 1e-12)
    }

    func testLog2MatchesLibm() {
        var rng = SplitMix64(seed: 61)
        for _ in 0..<10000 {
            let x = exp((rng.unit() - 0.5) * 200)
            XCTAssertEqual(Entropy.log2(x), Foundation.log2(x), accuracy: 1e-12 * max(1, abs(Foundation.log2(x))))
        }
        XCTAssertEqual(Entropy.log2(1), 0)
        XCTAssertEqual(Entropy.log2(1024), 10)
        XCTAssertTrue(Entropy.log2(-1).isNaN)
        XCTAssertEqual(Entropy.log2(0), -.infinity)
    }
}
