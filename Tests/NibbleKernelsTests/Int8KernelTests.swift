import XCTest
import NibbleKernels

/// Optimized int8 kernels at every level the host runs must equal the references bit for bit.
final class Int8KernelTests: XCTestCase {
    func checkConv(_ g: ConvGeometry, seed: UInt64, bias useBias: Bool, clamp: (Float, Float),
                   file: StaticString = #filePath, line: UInt = #line) {
        var rng = SplitMix(seed: seed)
        let input = AlignedBuffer<Float>(count: g.inC * g.inH * g.inW, fill: 0)
        let weights = AlignedBuffer<Int8>(count: g.outC * g.reductionLength, fill: 0)
        let scales = AlignedBuffer<Float>(count: g.outC, fill: 0)
        let bias = AlignedBuffer<Float>(count: g.outC, fill: 0)
        // Range past the representable window so quantization also clamps at 0 and 255.
        for i in 0..<input.count { input.pointer[i] = rng.float(-1.3, 3.5) }
        for i in 0..<weights.count { weights.pointer[i] = Int8(truncatingIfNeeded: rng.int(-128...127)) }
        for i in 0..<g.outC { scales.pointer[i] = rng.float(0.001, 0.02); bias.pointer[i] = rng.float(-1, 1) }
        let inputScale: Float = 3.0 / 255, zp = Int32(rng.int(0...255))
        let n = g.outC * g.outH * g.outW
        let expected = AlignedBuffer<Float>(count: n, fill: 0)
        Int8ConvReference.run(g, input: input.pointer, inputScale: inputScale, inputZeroPoint: zp,
                              weights: weights.pointer, weightScales: scales.pointer,
                              bias: useBias ? bias.pointer : nil, output: expected.pointer,
                              outputMin: clamp.0, outputMax: clamp.1)
        let scratch = AlignedBuffer<UInt8>(count: Int8Conv.scratchByteCount(g), fill: 0xA5)
        // Counted by the kernel, and counted once beforehand as a loaded model passes them.
        let rowSums = Int8Conv.rowSums(g, weights: weights.pointer)
        for isa in KernelISA.supported {
            for precounted in [false, true] {
                let out = AlignedBuffer<Float>(count: n, fill: .nan)
                rowSums.withUnsafeBufferPointer { sums in
                    Int8Conv.run(g, input: input.pointer, inputScale: inputScale, inputZeroPoint: zp,
                                 weights: weights.pointer, weightScales: scales.pointer, bias: useBias ? bias.pointer : nil,
                                 output: out.pointer, scratch: scratch.raw, outputMin: clamp.0, outputMax: clamp.1,
                                 rowSums: precounted ? sums.baseAddress : nil, isa: isa)
                }
                var mismatches = 0
                for i in 0..<n where out.pointer[i] != expected.pointer[i] { mismatches += 1 }
                XCTAssertEqual(mismatches, 0, "\(isa.name) \(g) row sums \(precounted ? "given" : "counted")", file: file, line: line)
            }
        }
    }

    func testConvRandomShapes() {
        var rng = SplitMix(seed: 5)
        for i in 0..<150 {
            let clamps: [(Float, Float)] = [(-.infinity, .infinity), (0, .infinity), (-0.5, 0.75)]
            checkConv(randomGeometry(&rng), seed: UInt64(i), bias: i % 3 != 2, clamp: clamps[i % 3])
        }
    }

    func testConvEdges() {
        // K = 70·9 = 630 (K % 4 = 2), many panels; 1x1; tiny; 7x7 stride 2.
        checkConv(ConvGeometry(inC: 70, inH: 15, inW: 17, outC: 13, outH: 15, outW: 17, kernelH: 3, kernelW: 3,
                               padTop: 1, padLeft: 1), seed: 1, bias: true, clamp: (0, .infinity))
        checkConv(ConvGeometry(inC: 33, inH: 7, inW: 9, outC: 31, outH: 7, outW: 9, kernelH: 1, kernelW: 1),
                  seed: 2, bias: true, clamp: (-.infinity, .infinity))
        checkConv(ConvGeometry(inC: 1, inH: 1, inW: 1, outC: 1, outH: 1, outW: 1, kernelH: 1, kernelW: 1),
                  seed: 3, bias: false, clamp: (-.infinity, .infinity))
        checkConv(ConvGeometry(inC: 3, inH: 32, inW: 32, outC: 16, outH: 16, outW: 16, kernelH: 7, kernelW: 7,
                               strideH: 2, strideW: 2, padTop: 3, padLeft: 3), seed: 4, bias: true, clamp: (0, 6))
        var g = CanonicalLayers.l4
        g.inC = 37; g.outC = 29
        checkConv(g, seed: 5, bias: true, clamp: (0, .infinity))
        // Few output pixels (Int8ConvTiled.runFewPixels, K a multiple of 64): a ResNet's last 2×2 maps (K = 576, 37
        // channels: a partial group of 4 weight rows), a grouped 3×3 on 3×3 with padding, 16 pixels (half a VNNI
        // tile), and the same with K = 630 (the GEMM).
        checkConv(ConvGeometry(inC: 64, inH: 4, inW: 4, outC: 37, outH: 2, outW: 2, kernelH: 3, kernelW: 3,
                               strideH: 2, strideW: 2, padTop: 1, padLeft: 1), seed: 6, bias: true, clamp: (0, 6))
        checkConv(ConvGeometry(inC: 128, inH: 3, inW: 3, outC: 10, outH: 3, outW: 3, kernelH: 3, kernelW: 3,
                               padTop: 1, padLeft: 1, groups: 2), seed: 7, bias: false, clamp: (-.infinity, .infinity))
        checkConv(ConvGeometry(inC: 256, inH: 4, inW: 4, outC: 23, outH: 4, outW: 4, kernelH: 1, kernelW: 1),
                  seed: 8, bias: true, clamp: (-.infinity, .infinity))
        checkConv(ConvGeometry(inC: 70, inH: 4, inW: 4, outC: 37, outH: 2, outW: 2, kernelH: 3, kernelW: 3,
                               strideH: 2, strideW: 2, padTop: 1, padLeft: 1), seed: 9, bias: true, clamp: (0, 6))
        // A map's last 1 or 2 pixels past a multiple of 16 as dot products (Int8ConvTiled.dotTail, K = 576): a 7² map
        // at stride 1 (read from the padded grid; 13 channels: a partial tile), 6 × 3 at stride 2 (from the plain
        // input), two groups, and dilation 2.
        checkConv(ConvGeometry(inC: 64, inH: 7, inW: 7, outC: 13, outH: 7, outW: 7, kernelH: 3, kernelW: 3,
                               padTop: 1, padLeft: 1), seed: 10, bias: true, clamp: (0, .infinity))
        checkConv(ConvGeometry(inC: 64, inH: 12, inW: 6, outC: 9, outH: 6, outW: 3, kernelH: 3, kernelW: 3,
                               strideH: 2, strideW: 2, padTop: 1, padLeft: 1), seed: 11, bias: false, clamp: (-.infinity, .infinity))
        checkConv(ConvGeometry(inC: 128, inH: 7, inW: 7, outC: 14, outH: 7, outW: 7, kernelH: 3, kernelW: 3,
                               padTop: 1, padLeft: 1, groups: 2), seed: 12, bias: true, clamp: (-0.5, 0.5))
        checkConv(ConvGeometry(inC: 64, inH: 7, inW: 7, outC: 7, outH: 7, outW: 7, kernelH: 3, kernelW: 3,
                               padTop: 2, padLeft: 2, dilationH: 2, dilationW: 2), seed: 13, bias: true, clamp: (0, 6))
    }

    /// A session's threads each take a range of output pixels, and a CAT window hands the kernel its input already
    /// quantized: both must give the whole float pass's values, and write nothing outside the range.
    func testConvPixelRangesAndQuantizedInput() {
        checkPixelRanges(ConvGeometry(inC: 5, inH: 11, inW: 13, outC: 21, outH: 6, outW: 7, kernelH: 3, kernelW: 3,
                                      strideH: 2, strideW: 2, padTop: 1, padLeft: 1))
        // Depthwise (Int8DepthwiseDirect): 19 channels (a partial vector), dilation 2, and stride 2.
        checkPixelRanges(ConvGeometry(inC: 19, inH: 11, inW: 13, outC: 19, outH: 7, outW: 9, kernelH: 3, kernelW: 3,
                                      padTop: 0, padLeft: 0, dilationH: 2, dilationW: 2, groups: 19))
        checkPixelRanges(ConvGeometry(inC: 9, inH: 11, inW: 13, outC: 9, outH: 6, outW: 7, kernelH: 3, kernelW: 3,
                                      strideH: 2, strideW: 2, padTop: 1, padLeft: 1, groups: 9))
        // Ranges of 49 and 18 pixels end in dot-product pixels (Int8ConvTiled.dotTail).
        checkPixelRanges(ConvGeometry(inC: 64, inH: 7, inW: 7, outC: 13, outH: 7, outW: 7, kernelH: 3, kernelW: 3,
                                      padTop: 1, padLeft: 1))
    }

    /// Depthwise convs (Int8DepthwiseDirect) on maps wider than a vector, with partial last vectors, every stride and
    /// dilation phase layout, a 1-wide map, a tall kernel and the largest kernel it takes (512 taps, sums near 2^24:
    /// all weights −128 and inputs at the far end of the zero point).
    func testDepthwiseWideMaps() {
        let shapes = [
            ConvGeometry(inC: 5, inH: 9, inW: 40, outC: 5, outH: 9, outW: 40, kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, groups: 5),
            ConvGeometry(inC: 3, inH: 12, inW: 57, outC: 3, outH: 6, outW: 29, kernelH: 5, kernelW: 5, strideH: 2, strideW: 2,
                         padTop: 2, padLeft: 2, groups: 3),
            ConvGeometry(inC: 4, inH: 11, inW: 35, outC: 4, outH: 4, outW: 11, kernelH: 3, kernelW: 3, strideH: 3, strideW: 3,
                         padTop: 1, padLeft: 0, dilationH: 2, dilationW: 2, groups: 4),
            ConvGeometry(inC: 6, inH: 50, inW: 1, outC: 6, outH: 50, outW: 1, kernelH: 5, kernelW: 1, padTop: 2, padLeft: 0, groups: 6),
            ConvGeometry(inC: 2, inH: 16, inW: 32, outC: 2, outH: 1, outW: 1, kernelH: 16, kernelW: 32, groups: 2),
        ]
        for (i, g) in shapes.enumerated() {
            checkConv(g, seed: UInt64(40 + i), bias: i % 2 == 0, clamp: i % 2 == 0 ? (0, 6) : (-.infinity, .infinity))
            if g.outPixels >= 49 { checkPixelRanges(g) }
        }
        // The largest sums: 512 taps of (255 − 0)·(−128).
        let g = shapes[4]
        let input = [Float](repeating: 10, count: g.inC * g.inH * g.inW), weights = [Int8](repeating: -128, count: g.inC * 512)
        let scales: [Float] = [1, 1]
        let scratch = AlignedBuffer<UInt8>(count: Int8Conv.scratchByteCount(g), fill: 0xA5)
        for isa in KernelISA.supported {
            var out = [Float](repeating: 0, count: g.outC)
            Int8Conv.run(g, input: input, inputScale: 1.0 / 255, inputZeroPoint: 0, weights: weights, weightScales: scales,
                         bias: nil, output: &out, scratch: scratch.raw, isa: isa)
            XCTAssertEqual(out, [Float(-512 * 255 * 128 / 255), Float(-512 * 255 * 128 / 255)], isa.name)
        }
    }

    func checkPixelRanges(_ g: ConvGeometry, file: StaticString = #filePath, line: UInt = #line) {
        var rng = SplitMix(seed: 9)
        let input = (0..<(g.inC * g.inH * g.inW)).map { _ in rng.float(-1, 3) }
        let weights = (0..<(g.outC * g.reductionLength)).map { _ in Int8(truncatingIfNeeded: rng.int(-128...127)) }
        let scales = (0..<g.outC).map { _ in rng.float(0.001, 0.02) }
        let inputScale: Float = 3.0 / 255, zp: Int32 = 77
        let q = input.map { Int8Quantization.quantize($0, scale: inputScale, zeroPoint: zp) }
        let n = g.outC * g.outPixels
        let scratch = AlignedBuffer<UInt8>(count: Int8Conv.scratchByteCount(g), fill: 0xA5)
        for isa in KernelISA.supported {
            var whole = [Float](repeating: 0, count: n)
            Int8Conv.run(g, input: input, inputScale: inputScale, inputZeroPoint: zp, weights: weights, weightScales: scales,
                         bias: nil, output: &whole, scratch: scratch.raw, isa: isa)
            for pixels in [0..<g.outPixels, 5..<23, 41..<42, (g.outPixels / 3)..<(g.outPixels - 7)] {
                var part = [Float](repeating: -7, count: n)
                Int8Conv.run(g, input: input, inputScale: inputScale, inputZeroPoint: zp, weights: weights, weightScales: scales,
                             bias: nil, output: &part, scratch: scratch.raw, outputPixels: pixels, quantizedInput: q, isa: isa)
                var bad = 0
                for o in 0..<g.outC {
                    for p in 0..<g.outPixels where part[o * g.outPixels + p] != (pixels.contains(p) ? whole[o * g.outPixels + p] : -7) {
                        bad += 1
                    }
                }
                XCTAssertEqual(bad, 0, "\(isa.name) pixels \(pixels) \(g)", file: file, line: line)
            }
        }
    }

    func checkFC(inF: Int, outF: Int, batch: Int, seed: UInt64, bias useBias: Bool, clamp: (Float, Float)) {
        var rng = SplitMix(seed: seed)
        let x = AlignedBuffer<Float>(count: batch * inF, fill: 0)
        let w = AlignedBuffer<Int8>(count: outF * inF, fill: 0)
        let scales = AlignedBuffer<Float>(count: outF, fill: 0)
        let b = AlignedBuffer<Float>(count: outF, fill: 0)
        for i in 0..<x.count { x.pointer[i] = rng.float(-2, 2) }
        for i in 0..<w.count { w.pointer[i] = Int8(truncatingIfNeeded: rng.int(-128...127)) }
        for i in 0..<outF { scales.pointer[i] = rng.float(0.001, 0.02); b.pointer[i] = rng.float(-1, 1) }
        let inputScale: Float = 4.0 / 255, zp = Int32(rng.int(0...255))
        let n = batch * outF
        let expected = AlignedBuffer<Float>(count: n, fill: 0)
        Int8FullyConnectedReference.run(inFeatures: inF, outFeatures: outF, batch: batch, input: x.pointer,
                                        inputScale: inputScale, inputZeroPoint: zp, weights: w.pointer,
                                        weightScales: scales.pointer, bias: useBias ? b.pointer : nil,
                                        output: expected.pointer, outputMin: clamp.0, outputMax: clamp.1)
        let scratch = AlignedBuffer<UInt8>(
            count: Int8FullyConnected.scratchByteCount(inFeatures: inF, outFeatures: outF, batch: batch), fill: 0)
        // Counted by the kernel, and counted once beforehand as a loaded model passes them.
        let rowSums = Int8FullyConnected.rowSums(weights: w.pointer, inFeatures: inF, outFeatures: outF)
        for isa in KernelISA.supported {
            for precounted in [false, true] {
                let out = AlignedBuffer<Float>(count: n, fill: .nan)
                rowSums.withUnsafeBufferPointer { sums in
                    Int8FullyConnected.run(inFeatures: inF, outFeatures: outF, batch: batch, input: x.pointer,
                                           inputScale: inputScale, inputZeroPoint: zp, weights: w.pointer,
                                           weightScales: scales.pointer, bias: useBias ? b.pointer : nil, output: out.pointer,
                                           scratch: scratch.raw, outputMin: clamp.0, outputMax: clamp.1,
                                           rowSums: precounted ? sums.baseAddress : nil, isa: isa)
                }
                var mismatches = 0
                for i in 0..<n where out.pointer[i] != expected.pointer[i] { mismatches += 1 }
                XCTAssertEqual(mismatches, 0, "\(isa.name) \(inF)->\(outF) x\(batch) row sums \(precounted ? "given" : "counted")")
            }
        }
    }

    func testFullyConnected() {
        var rng = SplitMix(seed: 6)
        for i in 0..<60 {
            checkFC(inF: rng.int(1...300), outF: rng.int(1...37), batch: rng.int(1...3), seed: UInt64(i),
                    bias: i % 2 == 0, clamp: i % 3 == 0 ? (0, 6) : (-.infinity, .infinity))
        }
        let s = CanonicalLayers.g1
        checkFC(inF: s.inFeatures, outF: s.outFeatures, batch: 1, seed: 99, bias: true, clamp: (-.infinity, .infinity))
    }

    func testQuantizeRoundsHalfToEven() {
        XCTAssertEqual(Int8Quantization.quantize(0.5, scale: 1, zeroPoint: 0), 0)
        XCTAssertEqual(Int8Quantization.quantize(1.5, scale: 1, zeroPoint: 0), 2)
        XCTAssertEqual(Int8Quantization.quantize(-3, scale: 1, zeroPoint: 1), 0)
        XCTAssertEqual(Int8Quantization.quantize(300, scale: 1, zeroPoint: 0), 255)
        XCTAssertEqual(Int8Quantization.quantize(.nan, scale: 1, zeroPoint: 0), 0)
    }

    /// Σ w per row at lengths around its 64-byte steps and its 128-step folds, all-extreme rows included.
    func testRowSumsMatchScalarSums() {
        var rng = SplitMix(seed: 9)
        for length in [0, 1, 63, 64, 65, 200, 8191, 8192, 8193, 20_000] {
            for fill in [nil, Int8.min, Int8.max] as [Int8?] {
                let rows = 3
                let w: [Int8] = (0..<(rows * length)).map { _ in fill ?? Int8(truncatingIfNeeded: rng.int(-128...127)) }
                var sums = [Int32](repeating: 7, count: rows)
                w.withUnsafeBufferPointer { wb in
                    sums.withUnsafeMutableBufferPointer {
                        Int8Quantization.rowSums(wb.baseAddress!, rows: rows, length: length, into: $0.baseAddress!)
                    }
                }
                let expected = (0..<rows).map { o in w[(o * length)..<((o + 1) * length)].reduce(Int32(0)) { $0 + Int32($1) } }
                XCTAssertEqual(sums, expected, "length \(length) fill \(String(describing: fill))")
            }
        }
    }
}
