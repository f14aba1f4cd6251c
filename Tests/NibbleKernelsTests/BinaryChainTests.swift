import XCTest
import NibbleKernels

/// Chained bit-serial layers: the conv's packed output (thresholds on its integer sums) must be, word for word, what
/// packing its float output for the next layer gives, at every level that writes it, for any channel/pixel split.
final class BinaryChainTests: XCTestCase {
    /// The thresholds alone against the float path, sum by sum: negative, zero and tiny scales, clamps that cut
    /// either side or leave one value, both 1-bit encodings.
    func testThresholdsEqualTheFloatPath() {
        var rng = SplitMix(seed: 3)
        let count = 40
        var scales = (0..<count).map { _ in rng.float(-0.05, 0.05) }
        scales[0] = 0; scales[1] = 1e-30; scales[2] = -1e-30; scales[3] = 7
        let bias = (0..<count).map { _ in rng.float(-2, 2) }
        let clamps: [(Float, Float)] = [(-.infinity, .infinity), (0, .infinity), (-0.5, 0.75), (-3, -1), (0.5, 0.5)]
        for (k, clamp) in clamps.enumerated() {
            for next in [BitPlaneLayout(encoding: .bipolar, bits: 1, channels: count, vectors: 1),
                         BitPlaneLayout(encoding: .unsigned, bits: 1, channels: count, vectors: 1)] {
                let step = rng.float(0.05, 1.5)
                var thresholds = [Int32](repeating: 0, count: count), signs = thresholds
                bias.withUnsafeBufferPointer { b in
                    BinaryChainThresholds.make(scales: scales, bias: k % 2 == 0 ? b.baseAddress : nil, count: count, outputMin: clamp.0,
                                               outputMax: clamp.1, next: next, step: step, thresholds: &thresholds, signs: &signs)
                }
                var bad = 0
                for o in 0..<count {
                    for a in Int32(-600)...600 {
                        let y = min(max(Float(a) * scales[o] + (k % 2 == 0 ? bias[o] : 0), clamp.0), clamp.1)
                        let q = BitPacking.quantize(y, step: step, encoding: next.encoding, bits: 1)
                        let want = next.encoding == .bipolar ? q > 0 : q == 1
                        if (a &* signs[o] >= thresholds[o]) != want { bad += 1 }
                    }
                }
                XCTAssertEqual(bad, 0, "clamp \(clamp) \(next.encoding) step \(step)")
            }
        }
    }

    /// BinaryConv.run with packedOutput against BitPacking.packActivations of its float output, on random shapes
    /// (partial and several 64-channel words, pixel tails, padding, strides), the producer modes whose sums the
    /// popcount tiles fix up differently, whole runs and runs split at whole words / any pixel.
    func testPackedOutputEqualsPackingTheFloats() {
        var rng = SplitMix(seed: 11)
        let modes = [BinaryConvTests.w1a1, BinaryConvTests.modes[2], BinaryConvTests.modes[4], BinaryConvTests.w2a2]
        for i in 0..<48 {
            var g = randomGeometry(&rng, kernel: [1, 3, 3][i % 3], groupsKind: 0)
            g.inC = [3, 64, 65, 130][rng.int(0...3)]
            g.outC = [1, 5, 33, 64, 70, 130][i % 6]
            let m = modes[i % modes.count]
            let al = BitPlaneLayout.activations(channels: g.inC, height: g.inH, width: g.inW, encoding: m.act, bits: m.actBits)
            let wl = BitPlaneLayout.weights(outChannels: g.outC, inChannels: g.inC, kernelH: g.kernelH, kernelW: g.kernelW,
                                            encoding: m.weight, bits: m.weightBits)
            let next = BitPlaneLayout(encoding: i % 2 == 0 ? .bipolar : .unsigned, bits: 1, channels: g.outC, vectors: g.outPixels)
            let av = (0..<(g.inC * g.inH * g.inW)).map { _ in Int8(rng.int(al.encoding.range(bits: m.actBits))) }
            let wv = (0..<(g.outC * g.reductionLength)).map { _ in Int8(rng.int(wl.encoding.range(bits: m.weightBits))) }
            var a = [UInt64](repeating: 0, count: al.wordCount), w = [UInt64](repeating: 0, count: wl.wordCount)
            BitPacking.packActivations(values: av.map { m.act == .bipolar && $0 == 0 ? 1 : $0 }, layout: al, into: &a)
            BitPacking.packWeights(values: wv.map { m.weight == .bipolar && $0 == 0 ? 1 : $0 }, outChannels: g.outC, layout: wl, into: &w)
            let scales = (0..<g.outC).map { o in o % 7 == 3 ? 0 : rng.float(-0.2, 0.2) }
            let bias = (0..<g.outC).map { _ in rng.float(-1, 1) }
            let clamp: (Float, Float) = [(-.infinity, .infinity), (0, .infinity), (-0.5, 0.75)][i % 3]
            let step = rng.float(0.1, 1)
            var thresholds = [Int32](repeating: 0, count: g.outC), signs = thresholds
            BinaryChainThresholds.make(scales: scales, bias: bias, count: g.outC, outputMin: clamp.0, outputMax: clamp.1,
                                       next: next, step: step, thresholds: &thresholds, signs: &signs)
            let scratch = AlignedBuffer<UInt8>(count: BinaryConv.scratchByteCount(g, activationBits: m.actBits), fill: 0xA5)
            var y = [Float](repeating: 0, count: g.outC * g.outPixels)
            BinaryConv.run(g, activations: a, activationLayout: al, weights: w, weightLayout: wl, scales: scales, bias: bias,
                           accumulators: nil, output: &y, scratch: scratch.raw, outputMin: clamp.0, outputMax: clamp.1, isa: .reference)
            var want = [UInt64](repeating: 0, count: next.wordCount)
            BitPacking.packActivations(y, step: step, layout: next, into: &want)
            let cut = rng.int(0...g.outPixels), wordCut = g.outC > 64 ? 64 : g.outC
            // The float epilogue's packed copy (with a residual Add folded in on odd trials): the floats, and beside them
            // the words packActivations gives for them.
            let skip = (0..<y.count).map { _ in rng.float(-1, 1) }
            let final = i % 2 == 1 ? zip(y, skip).map { min(max($0 + $1, -0.25), 2) } : y
            var wantCopy = [UInt64](repeating: 0, count: next.wordCount)
            BitPacking.packActivations(final, step: step, layout: next, into: &wantCopy)
            for isa in KernelISA.supported where BinaryConv.writesPackedOutput(g, activationLayout: al, weightLayout: wl, isa: isa) {
                for split in [[(0..<g.outC, 0..<g.outPixels)],
                              [(0..<wordCut, 0..<g.outPixels), (wordCut..<g.outC, 0..<g.outPixels)],
                              [(0..<g.outC, 0..<cut), (0..<g.outC, cut..<g.outPixels)]] {
                    var got = [UInt64](repeating: 0xA5A5_A5A5_A5A5_A5A5, count: next.wordCount)
                    thresholds.withUnsafeBufferPointer { t in signs.withUnsafeBufferPointer { s in got.withUnsafeMutableBufferPointer { out in
                        for (channels, pixels) in split where !channels.isEmpty && !pixels.isEmpty {
                            BinaryConv.run(g, activations: a, activationLayout: al, weights: w, weightLayout: wl, scales: scales,
                                           bias: nil, accumulators: nil, output: nil, scratch: scratch.raw, outputChannels: channels,
                                           outputPixels: pixels, packedOutput: (out.baseAddress!, t.baseAddress!, s.baseAddress!), isa: isa)
                        }
                    }}}
                    let bad = zip(got, want).filter { $0 != $1 }.count
                    XCTAssertEqual(bad, 0, "\(isa.name) \(m.name) → \(next.encoding) \(g) split \(split)")
                    var floats = [Float](repeating: .nan, count: y.count), copy = [UInt64](repeating: 0xA5A5_A5A5_A5A5_A5A5, count: next.wordCount)
                    skip.withUnsafeBufferPointer { r in floats.withUnsafeMutableBufferPointer { f in copy.withUnsafeMutableBufferPointer { cp in
                        for (channels, pixels) in split where !channels.isEmpty && !pixels.isEmpty {
                            BinaryConv.run(g, activations: a, activationLayout: al, weights: w, weightLayout: wl, scales: scales,
                                           bias: bias, accumulators: nil, output: f.baseAddress!, scratch: scratch.raw,
                                           outputMin: clamp.0, outputMax: clamp.1, outputChannels: channels, outputPixels: pixels,
                                           residual: i % 2 == 1 ? (r.baseAddress!, -0.25, 2) : nil,
                                           packedCopy: (cp.baseAddress!, BitPacking.oneBitThreshold(step: step, encoding: next.encoding)), isa: isa)
                        }
                    }}}
                    XCTAssertEqual(zip(floats, final).filter { $0.bitPattern != $1.bitPattern }.count, 0, "\(isa.name) \(m.name) floats \(g)")
                    XCTAssertEqual(zip(copy, wantCopy).filter { $0 != $1 }.count, 0, "\(isa.name) \(m.name) packed copy → \(next.encoding) \(g) split \(split)")
                }
            }
        }
    }
}
