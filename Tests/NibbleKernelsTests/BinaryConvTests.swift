import XCTest
import NibbleKernels

/// Bit-serial convolutions at every level the host runs must equal the integer reference bit for bit
/// (int32 accumulators and the float epilogue).
final class BinaryConvTests: XCTestCase {
    struct Mode {
        var act: BitPlaneEncoding, actBits: Int, weight: BitPlaneEncoding, weightBits: Int
        var name: String { "w\(weightBits)\(weight)a\(actBits)\(act)" }
    }
    static let w1a1 = Mode(act: .bipolar, actBits: 1, weight: .bipolar, weightBits: 1)
    static let w2a2 = Mode(act: .unsigned, actBits: 2, weight: .twosComplement, weightBits: 2)
    static let modes: [Mode] = [
        w1a1, w2a2,
        Mode(act: .unsigned, actBits: 2, weight: .bipolar, weightBits: 1),          // w1a2
        Mode(act: .unsigned, actBits: 4, weight: .twosComplement, weightBits: 4),   // w4a4
        Mode(act: .unsigned, actBits: 1, weight: .twosComplement, weightBits: 3),
        Mode(act: .unsigned, actBits: 3, weight: .unsigned, weightBits: 2),
        // One plane on either side of the x86 byte path (k·m = 4): bipolar weights there are 2b − 1.
        Mode(act: .unsigned, actBits: 4, weight: .bipolar, weightBits: 1),          // w1a4
        Mode(act: .unsigned, actBits: 1, weight: .unsigned, weightBits: 4),         // w4a1
    ]

    func check(_ g: ConvGeometry, _ m: Mode, seed: UInt64, batch: Int = 1, bias useBias: Bool = true,
               clamp: (Float, Float) = (-.infinity, .infinity), file: StaticString = #filePath, line: UInt = #line) {
        var rng = SplitMix(seed: seed)
        let inCount = g.inC * g.inH * g.inW, wCount = g.outC * g.reductionLength, n = g.outC * g.outPixels
        let al = BitPlaneLayout.activations(channels: g.inC, height: g.inH, width: g.inW, encoding: m.act, bits: m.actBits)
        let wl = BitPlaneLayout.weights(outChannels: g.outC, inChannels: g.inC, kernelH: g.kernelH, kernelW: g.kernelW,
                                        encoding: m.weight, bits: m.weightBits)
        let x = AlignedBuffer<Float>(count: batch * inCount, fill: 0)
        let w = AlignedBuffer<Float>(count: wCount, fill: 0)
        let steps = AlignedBuffer<Float>(count: g.outC, fill: 0)
        let scales = AlignedBuffer<Float>(count: g.outC, fill: 0)
        let bias = AlignedBuffer<Float>(count: g.outC, fill: 0)
        // Past the representable range so quantization also clamps.
        for i in 0..<x.count { x.pointer[i] = rng.float(-1.5, 5) }
        for i in 0..<wCount { w.pointer[i] = rng.float(-3, 3) }
        for o in 0..<g.outC {
            steps.pointer[o] = rng.float(0.5, 1.5); scales.pointer[o] = rng.float(0.001, 0.05); bias.pointer[o] = rng.float(-1, 1)
        }
        let wq = AlignedBuffer<Int8>(count: wCount, fill: 0)
        let wPacked = AlignedBuffer<UInt64>(count: wl.wordCount, fill: .max)
        BitPacking.packWeights(w.pointer, steps: steps.pointer, outChannels: g.outC, layout: wl, scratch: wq.pointer,
                               into: wPacked.pointer)
        let aq = AlignedBuffer<Int8>(count: inCount, fill: 0)
        let aPacked = AlignedBuffer<UInt64>(count: al.wordCount, fill: .max)
        let scratch = AlignedBuffer<UInt8>(count: BinaryConv.scratchByteCount(g, activationBits: m.actBits), fill: 0xA5)
        let b: UnsafePointer<Float>? = useBias ? UnsafePointer(bias.pointer) : nil
        for s in 0..<batch {
            // Batch is the caller's loop over images.
            BitPacking.packActivations(x.pointer + s * inCount, step: 0.75, layout: al, into: aPacked.pointer)
            for i in 0..<inCount {   // the reference's integer activations
                aq.pointer[i] = BitPacking.quantize(x.pointer[s * inCount + i], step: 0.75, encoding: al.encoding, bits: al.bits)
            }
            let accRef = AlignedBuffer<Int32>(count: n, fill: 0)
            let outRef = AlignedBuffer<Float>(count: n, fill: 0)
            BinaryConvReference.run(g, activations: aq.pointer, weights: wq.pointer, scales: scales.pointer, bias: b,
                                    accumulators: accRef.pointer, output: outRef.pointer, outputMin: clamp.0, outputMax: clamp.1)
            for isa in KernelISA.supported {
                let acc = AlignedBuffer<Int32>(count: n, fill: .min)
                let out = AlignedBuffer<Float>(count: n, fill: .nan)
                BinaryConv.run(g, activations: aPacked.pointer, activationLayout: al, weights: wPacked.pointer,
                               weightLayout: wl, scales: scales.pointer, bias: b, accumulators: acc.pointer,
                               output: out.pointer, scratch: scratch.raw, outputMin: clamp.0, outputMax: clamp.1, isa: isa)
                var accBad = 0, outBad = 0
                for i in 0..<n {
                    if acc.pointer[i] != accRef.pointer[i] { accBad += 1 }
                    if out.pointer[i].bitPattern != outRef.pointer[i].bitPattern { outBad += 1 }
                }
                // The output alone (the runtime's call) takes the same values.
                let alone = AlignedBuffer<Float>(count: n, fill: .nan)
                BinaryConv.run(g, activations: aPacked.pointer, activationLayout: al, weights: wPacked.pointer,
                               weightLayout: wl, scales: scales.pointer, bias: b, accumulators: nil,
                               output: alone.pointer, scratch: scratch.raw, outputMin: clamp.0, outputMax: clamp.1, isa: isa)
                for i in 0..<n where alone.pointer[i].bitPattern != outRef.pointer[i].bitPattern { outBad += 1 }
                // A residual Add and its clamp folded into the epilogue (BinaryStep's order; −0…+0 tells the orders
                // apart), reading a separate buffer and the output itself.
                if BinaryConv.addsResidual(g, activationLayout: al, weightLayout: wl, isa: isa) {
                    let residualClamps: [(Float, Float)] = [(0, .infinity), (-0.0, 0.0), (-0.5, 0.75), (-.infinity, .infinity)]
                    let (lo, hi) = residualClamps[Int(seed % 4)]
                    let skip = AlignedBuffer<Float>(count: n, fill: 0)
                    for i in 0..<n { skip.pointer[i] = i % 7 == 3 ? -outRef.pointer[i] : rng.float(-1, 1) }
                    let inPlace = AlignedBuffer<Float>(count: n, fill: 0)
                    inPlace.pointer.update(from: skip.pointer, count: n)
                    for (values, into) in [(skip.pointer, alone.pointer), (inPlace.pointer, inPlace.pointer)] {
                        BinaryConv.run(g, activations: aPacked.pointer, activationLayout: al, weights: wPacked.pointer,
                                       weightLayout: wl, scales: scales.pointer, bias: b, accumulators: nil,
                                       output: into, scratch: scratch.raw, outputMin: clamp.0, outputMax: clamp.1,
                                       residual: (UnsafePointer(values), lo, hi), isa: isa)
                        for i in 0..<n where into[i].bitPattern != min(max(outRef.pointer[i] + skip.pointer[i], lo), hi).bitPattern {
                            outBad += 1
                        }
                    }
                }
                XCTAssertEqual(accBad, 0, "\(isa.name) \(m.name) acc \(g)", file: file, line: line)
                XCTAssertEqual(outBad, 0, "\(isa.name) \(m.name) output \(g)", file: file, line: line)
                if accBad > 0 || outBad > 0 { return }
            }
        }
    }

    func testRandomShapes() {
        var rng = SplitMix(seed: 21)
        for i in 0..<90 {
            var g = randomGeometry(&rng, kernel: [1, 3, 3, 5][i % 4], groupsKind: 0)
            g.inC = [3, 65, 130, 1, 64, 128, 7, 200][rng.int(0...7)]
            g.outC = rng.int(1...13)
            let clamps: [(Float, Float)] = [(-.infinity, .infinity), (0, .infinity), (-0.5, 0.75)]
            check(g, Self.modes[i % Self.modes.count], seed: UInt64(i), bias: i % 5 != 4, clamp: clamps[i % 3])
        }
    }

    func testEdges() {
        let shapes: [ConvGeometry] = [
            // 3x3 pad 1 stride 1 / stride 2, 1x1 stride 1 / 2, C = 65 and 130, asymmetric padding.
            ConvGeometry(inC: 65, inH: 9, inW: 11, outC: 9, outH: 9, outW: 11, kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1),
            ConvGeometry(inC: 130, inH: 9, inW: 8, outC: 6, outH: 5, outW: 4, kernelH: 3, kernelW: 3,
                         strideH: 2, strideW: 2, padTop: 1, padLeft: 1),
            ConvGeometry(inC: 3, inH: 7, inW: 5, outC: 5, outH: 7, outW: 5, kernelH: 1, kernelW: 1),
            ConvGeometry(inC: 130, inH: 7, inW: 7, outC: 11, outH: 4, outW: 4, kernelH: 1, kernelW: 1, strideH: 2, strideW: 2),
            ConvGeometry(inC: 64, inH: 6, inW: 6, outC: 4, outH: 7, outW: 7, kernelH: 3, kernelW: 3, padTop: 2, padLeft: 2),
            ConvGeometry(inC: 1, inH: 1, inW: 1, outC: 1, outH: 1, outW: 1, kernelH: 1, kernelW: 1),
            // G1 as a 1x1 conv on one pixel.
            ConvGeometry(inC: 4096, inH: 1, inW: 1, outC: 37, outH: 1, outW: 1, kernelH: 1, kernelW: 1),
        ]
        for (i, g) in shapes.enumerated() {
            for (j, m) in Self.modes.enumerated() { check(g, m, seed: UInt64(100 * i + j), clamp: (0, .infinity)) }
        }
    }

    /// Last panels of every width class: 7, 8, 9 and 15 live pixels after whole panels of 16 (and of 8), where
    /// the AVX-512 tile writes a plain layer's floats straight from its registers and must stop at the live lanes,
    /// and 1 or 2 live pixels with K a multiple of 8 words (512 channels), which AVX-512 runs pixel by pixel; with
    /// 1…9 output channels (partial 8-row tiles), each clamp kind, with and without bias.
    func testPanelTails() {
        let clamps: [(Float, Float)] = [(-.infinity, .infinity), (0, .infinity), (-0.5, 0.75), (-.infinity, 0.5)]
        var seed: UInt64 = 500
        for (h, w) in [(1, 23), (3, 8), (5, 5), (1, 31), (2, 20), (1, 17), (3, 6), (1, 1), (1, 3)] {
            for kernel in [1, 3] {
                for m in Self.modes {
                    let g = ConvGeometry(inC: [70, 3, 512][Int(seed % 3)], inH: h, inW: w, outC: Int(seed % 9) + 1, outH: h, outW: w,
                                         kernelH: kernel, kernelW: kernel, padTop: kernel / 2, padLeft: kernel / 2)
                    check(g, m, seed: seed, bias: seed % 3 != 0, clamp: clamps[Int(seed % 4)])
                    seed += 1
                }
            }
        }
    }

    func testBatchAndCanonicalChannels() {
        var g = CanonicalLayers.l3
        g.inH = 6; g.inW = 5; g.outH = 6; g.outW = 5; g.outC = 10
        check(g, Self.w1a1, seed: 7, batch: 2)
        check(g, Self.w2a2, seed: 8, batch: 2)
    }

    /// A session's threads each run a range of output channels or pixels: the values inside equal the whole pass's,
    /// nothing outside is written (ranges that cut the byte path's 16-channel blocks and 4-pixel tiles).
    func testChannelAndPixelRanges() {
        let g = ConvGeometry(inC: 70, inH: 9, inW: 11, outC: 21, outH: 9, outW: 11, kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1)
        var rng = SplitMix(seed: 5)
        for m in [Self.w1a1, Self.w2a2, Self.modes[3]] {
            let al = BitPlaneLayout.activations(channels: g.inC, height: g.inH, width: g.inW, encoding: m.act, bits: m.actBits)
            let wl = BitPlaneLayout.weights(outChannels: g.outC, inChannels: g.inC, kernelH: 3, kernelW: 3, encoding: m.weight,
                                            bits: m.weightBits)
            var a = [UInt64](repeating: 0, count: al.wordCount), w = [UInt64](repeating: 0, count: wl.wordCount)
            let av = (0..<(g.inC * g.inH * g.inW)).map { _ in Int8(rng.int(al.encoding.range(bits: m.actBits))) }
            let wv = (0..<(g.outC * g.reductionLength)).map { _ in Int8(rng.int(wl.encoding.range(bits: m.weightBits))) }
            BitPacking.packActivations(values: av.map { m.act == .bipolar && $0 == 0 ? 1 : $0 }, layout: al, into: &a)
            BitPacking.packWeights(values: wv.map { m.weight == .bipolar && $0 == 0 ? 1 : $0 }, outChannels: g.outC, layout: wl, into: &w)
            let scales = (0..<g.outC).map { _ in rng.float(0.01, 0.1) }
            let scratch = AlignedBuffer<UInt8>(count: BinaryConv.scratchByteCount(g, activationBits: m.actBits), fill: 0)
            let n = g.outC * g.outPixels
            for isa in KernelISA.supported {
                var whole = [Int32](repeating: 0, count: n)
                BinaryConv.run(g, activations: a, activationLayout: al, weights: w, weightLayout: wl, scales: scales, bias: nil,
                               accumulators: &whole, output: nil, scratch: scratch.raw, isa: isa)
                for (channels, pixels) in [(3..<19, 0..<g.outPixels), (0..<g.outC, 5..<50), (17..<21, 97..<99)] {
                    var part = [Int32](repeating: .min, count: n)
                    BinaryConv.run(g, activations: a, activationLayout: al, weights: w, weightLayout: wl, scales: scales, bias: nil,
                                   accumulators: &part, output: nil, scratch: scratch.raw, outputChannels: channels,
                                   outputPixels: pixels, isa: isa)
                    var bad = 0
                    for o in 0..<g.outC {
                        for p in 0..<g.outPixels {
                            let expected = channels.contains(o) && pixels.contains(p) ? whole[o * g.outPixels + p] : .min
                            if part[o * g.outPixels + p] != expected { bad += 1 }
                        }
                    }
                    XCTAssertEqual(bad, 0, "\(isa.name) \(m.name) channels \(channels) pixels \(pixels)")
                }
            }
        }
    }

    func testBipolarPaddingContributesZero() {
        // All-+1 activations and weights: each output is C × (number of valid taps).
        let g = ConvGeometry(inC: 70, inH: 3, inW: 3, outC: 1, outH: 3, outW: 3, kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1)
        let al = BitPlaneLayout.activations(channels: 70, height: 3, width: 3, encoding: .bipolar, bits: 1)
        let wl = BitPlaneLayout.weights(outChannels: 1, inChannels: 70, kernelH: 3, kernelW: 3, encoding: .bipolar, bits: 1)
        let ones = [Int8](repeating: 1, count: 70 * 9)
        var a = [UInt64](repeating: 0, count: al.wordCount), w = [UInt64](repeating: 0, count: wl.wordCount)
        BitPacking.packActivations(values: ones, layout: al, into: &a)
        BitPacking.packWeights(values: ones, outChannels: 1, layout: wl, into: &w)
        let scratch = AlignedBuffer<UInt8>(count: BinaryConv.scratchByteCount(g, activationBits: 1), fill: 0)
        let one: [Float] = [1]
        for isa in KernelISA.supported {
            var acc = [Int32](repeating: 0, count: 9)
            BinaryConv.run(g, activations: a, activationLayout: al, weights: w, weightLayout: wl, scales: one, bias: nil,
                           accumulators: &acc, output: nil, scratch: scratch.raw, isa: isa)
            XCTAssertEqual(acc, [4, 6, 4, 6, 9, 6, 4, 6, 4].map { Int32($0 * 70) }, isa.name)
        }
    }
}
