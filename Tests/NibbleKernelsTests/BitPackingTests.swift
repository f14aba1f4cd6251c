import XCTest
import NibbleKernels

final class BitPackingTests: XCTestCase {
    func testQuantize() {
        XCTAssertEqual(BitPacking.quantize(0, step: 1, encoding: .bipolar, bits: 1), 1)
        XCTAssertEqual(BitPacking.quantize(-0.01, step: 1, encoding: .bipolar, bits: 1), -1)
        XCTAssertEqual(BitPacking.quantize(2.5, step: 1, encoding: .unsigned, bits: 2), 2)   // half to even
        XCTAssertEqual(BitPacking.quantize(9, step: 1, encoding: .unsigned, bits: 2), 3)
        XCTAssertEqual(BitPacking.quantize(-1, step: 1, encoding: .unsigned, bits: 2), 0)
        XCTAssertEqual(BitPacking.quantize(.nan, step: 1, encoding: .unsigned, bits: 2), 0)
        XCTAssertEqual(BitPacking.quantize(-9, step: 1, encoding: .twosComplement, bits: 2), -2)
        XCTAssertEqual(BitPacking.quantize(9, step: 1, encoding: .twosComplement, bits: 4), 7)
    }

    func testRoundTripAndLayout() {
        var rng = SplitMix(seed: 3)
        let cases: [(BitPlaneEncoding, Int)] = [(.bipolar, 1), (.unsigned, 1), (.unsigned, 3), (.twosComplement, 2), (.twosComplement, 4)]
        for (enc, bits) in cases {
            for c in [1, 3, 64, 65, 130] {
                let h = rng.int(1...4), w = rng.int(1...5)
                let l = BitPlaneLayout.activations(channels: c, height: h, width: w, encoding: enc, bits: bits)
                let r = enc.range(bits: bits)
                let vals = (0..<(c * h * w)).map { _ -> Int8 in
                    enc == .bipolar ? (rng.int(0...1) == 0 ? -1 : 1) : Int8(rng.int(r))
                }
                var packed = [UInt64](repeating: .max, count: l.wordCount)
                BitPacking.packActivations(values: vals, layout: l, into: &packed)
                packed.withUnsafeBufferPointer { p in
                    for ch in 0..<c {
                        for v in 0..<(h * w) {
                            XCTAssertEqual(l.value(p.baseAddress!, vector: v, channel: ch), Int(vals[ch * h * w + v]))
                        }
                    }
                }
                // Bits past `channels` in each vector's last word stay zero.
                if c % 64 != 0 {
                    for j in 0..<bits {
                        for v in 0..<(h * w) {
                            XCTAssertEqual(packed[l.wordIndex(plane: j, vector: v, word: l.wordsPerVector - 1)] >> UInt64(c % 64), 0)
                        }
                    }
                }
            }
        }
        // Documented order: weight element (o, c, kh, kw) is vector (o·kH + kh)·kW + kw.
        let wl = BitPlaneLayout.weights(outChannels: 2, inChannels: 70, kernelH: 3, kernelW: 3, encoding: .unsigned, bits: 2)
        var vals = [Int8](repeating: 0, count: 2 * 70 * 9)
        vals[((1 * 70 + 66) * 3 + 2) * 3 + 1] = 2   // o 1, c 66, kh 2, kw 1 → plane 1
        var packed = [UInt64](repeating: 0, count: wl.wordCount)
        BitPacking.packWeights(values: vals, outChannels: 2, layout: wl, into: &packed)
        let idx = wl.wordIndex(plane: 1, vector: (1 * 3 + 2) * 3 + 1, word: 1)
        XCTAssertEqual(idx, (1 * 18 + 16) * 2 + 1)
        for i in 0..<packed.count { XCTAssertEqual(packed[i], i == idx ? 1 << 2 : 0) }
    }

    /// The one-pass float packer gives the same words as quantize-then-pack, for every encoding and width, on
    /// channel counts around the 64-bit word, pixel counts around the 8-pixel block, and edge values (ties,
    /// ±0, ±∞, NaN, out of range).
    func testFloatPackingMatchesQuantizeThenPack() {
        var rng = SplitMix(seed: 11)
        let edges: [Float] = [0, -0.0, 0.5, 1.5, 2.5, -0.5, -1.5, .infinity, -.infinity, .nan, 1e30, -1e30, 3.49999, 7.5]
        let cases: [(BitPlaneEncoding, Int)] = [(.bipolar, 1), (.unsigned, 1), (.unsigned, 2), (.unsigned, 4),
                                                (.twosComplement, 2), (.twosComplement, 4)]
        for (enc, bits) in cases {
            for c in [1, 3, 63, 64, 65, 130] {
                for pixels in [1, 7, 8, 9, 16, 23] {
                    let step: Float = [1, 0.37, rng.float(0.01, 3)][rng.int(0...2)]
                    // Where x / step rounds between k − 1 and k, k = 1…3 (the 1- and 2-bit packings compare x with
                    // a threshold there).
                    let near = [0.5, 1.5, 2.5].flatMap { (k: Float) -> [Float] in
                        let t = k * step
                        return [t, t.nextUp, t.nextDown, t.nextUp.nextUp, t.nextDown.nextDown]
                    }
                    let l = BitPlaneLayout(encoding: enc, bits: bits, channels: c, vectors: pixels)
                    let x = (0..<(c * pixels)).map { _ -> Float in
                        switch rng.int(0...5) {
                        case 0: return edges[rng.int(0...(edges.count - 1))]
                        case 1: return near[rng.int(0...(near.count - 1))]
                        default: return Float(rng.int(-40...40)) / 8
                        }
                    }
                    let q = x.map { BitPacking.quantize($0, step: step, encoding: enc, bits: bits) }
                    var expected = [UInt64](repeating: 0, count: l.wordCount)
                    BitPacking.packActivations(values: q, layout: l, into: &expected)
                    var got = [UInt64](repeating: .max, count: l.wordCount)
                    x.withUnsafeBufferPointer { xp in
                        BitPacking.packActivations(xp.baseAddress!, step: step, layout: l, into: &got)
                    }
                    XCTAssertEqual(got, expected, "\(enc) \(bits)-bit, \(c) channels, \(pixels) pixels")
                }
            }
        }
    }
}
