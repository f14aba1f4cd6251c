import XCTest
import NibbleKernels

/// Optimized fp32 convolutions at every level the host runs, against FP32ConvReference.
final class FP32ConvTests: XCTestCase {
    func check(_ g: ConvGeometry, seed: UInt64, bias useBias: Bool, clamp: (Float, Float),
               file: StaticString = #filePath, line: UInt = #line) {
        var rng = SplitMix(seed: seed)
        let input = AlignedBuffer<Float>(count: g.inC * g.inH * g.inW, fill: 0)
        let weights = AlignedBuffer<Float>(count: g.outC * g.reductionLength, fill: 0)
        let bias = AlignedBuffer<Float>(count: g.outC, fill: 0)
        for i in 0..<input.count { input.pointer[i] = rng.float(-1, 1) }
        for i in 0..<weights.count { weights.pointer[i] = rng.float(-1, 1) }
        for i in 0..<bias.count { bias.pointer[i] = rng.float(-1, 1) }
        let n = g.outC * g.outH * g.outW
        let expected = AlignedBuffer<Float>(count: n, fill: 0)
        FP32ConvReference.run(g, input: input.pointer, weights: weights.pointer, bias: useBias ? bias.pointer : nil,
                              output: expected.pointer, outputMin: clamp.0, outputMax: clamp.1)
        var maxRef: Float = 0
        for i in 0..<n { maxRef = max(maxRef, abs(expected.pointer[i])) }
        let tol = 1e-4 * max(1, maxRef)
        let scratch = AlignedBuffer<Float>(count: FP32Conv.scratchFloatCount(g), fill: .nan)
        for isa in KernelISA.supported {
            // 32 floats past the output stay untouched (kernels store whole vectors where they may).
            let out = AlignedBuffer<Float>(count: n + 32, fill: .nan)
            FP32Conv.run(g, input: input.pointer, weights: weights.pointer, bias: useBias ? bias.pointer : nil,
                         output: out.pointer, scratch: scratch.pointer, outputMin: clamp.0, outputMax: clamp.1, isa: isa)
            var worst: Float = 0
            for i in 0..<n {
                let d = abs(out.pointer[i] - expected.pointer[i])
                if !(d <= worst) { worst = d.isNaN ? .infinity : d }
            }
            XCTAssertLessThanOrEqual(worst, tol, "\(isa.name) \(g)", file: file, line: line)
            XCTAssert((n..<(n + 32)).allSatisfy { out.pointer[$0].isNaN }, "\(isa.name) wrote past the output \(g)", file: file, line: line)
        }
    }

    func testRandomShapes() {
        var rng = SplitMix(seed: 1)
        for i in 0..<150 {
            let g = randomGeometry(&rng)
            let clamps: [(Float, Float)] = [(-.infinity, .infinity), (0, .infinity), (-0.5, 0.75)]
            check(g, seed: UInt64(i), bias: i % 3 != 0, clamp: clamps[i % 3])
        }
    }

    func testDepthwise3x3And5x5() {
        var rng = SplitMix(seed: 2)
        for i in 0..<40 {
            check(randomGeometry(&rng, kernel: [3, 5][i % 2], groupsKind: 2), seed: UInt64(100 + i),
                  bias: true, clamp: (0, 6))
        }
        // Wide rows so the vector path runs several lanes-wide steps plus a tail.
        check(ConvGeometry(inC: 5, inH: 9, inW: 53, outC: 5, outH: 9, outW: 53, kernelH: 3, kernelW: 3,
                           padTop: 1, padLeft: 1, groups: 5), seed: 7, bias: true, clamp: (-.infinity, .infinity))
        check(ConvGeometry(inC: 3, inH: 20, inW: 40, outC: 3, outH: 10, outW: 20, kernelH: 5, kernelW: 5,
                           strideH: 2, strideW: 2, padTop: 2, padLeft: 2, groups: 3), seed: 8, bias: false, clamp: (0, 6))
    }

    func testStridesReadFromPhasePlanes() {
        // Every stride runs as implicit GEMM over s×s phase planes of the padded input: stride 3 with dilation 2, a
        // patch embedding (kernel = stride = 4), a 1×1 stride 2 (phases never read), unequal strides, and stride 2
        // where the map's last rows and columns are not reached.
        check(ConvGeometry(inC: 5, inH: 17, inW: 19, outC: 11, outH: 5, outW: 6, kernelH: 3, kernelW: 3,
                           strideH: 3, strideW: 3, padTop: 1, padLeft: 1, dilationH: 2, dilationW: 2),
              seed: 30, bias: true, clamp: (-.infinity, .infinity))
        check(ConvGeometry(inC: 3, inH: 32, inW: 32, outC: 20, outH: 8, outW: 8, kernelH: 4, kernelW: 4,
                           strideH: 4, strideW: 4), seed: 31, bias: true, clamp: (-.infinity, .infinity))
        check(ConvGeometry(inC: 24, inH: 14, inW: 14, outC: 40, outH: 7, outW: 7, kernelH: 1, kernelW: 1,
                           strideH: 2, strideW: 2), seed: 32, bias: false, clamp: (0, .infinity))
        check(ConvGeometry(inC: 7, inH: 12, inW: 21, outC: 9, outH: 10, outW: 7, kernelH: 3, kernelW: 3,
                           strideH: 1, strideW: 3, padTop: 0, padLeft: 1), seed: 33, bias: true, clamp: (-0.5, 0.5))
        check(ConvGeometry(inC: 6, inH: 10, inW: 11, outC: 13, outH: 4, outW: 4, kernelH: 3, kernelW: 3,
                           strideH: 2, strideW: 2), seed: 34, bias: true, clamp: (-.infinity, .infinity))
        // Wide stride-2 rows, whose two column phases are split 16 inputs at a time, with odd and even padding.
        check(ConvGeometry(inC: 3, inH: 9, inW: 70, outC: 8, outH: 5, outW: 35, kernelH: 3, kernelW: 3,
                           strideH: 2, strideW: 2, padTop: 1, padLeft: 1), seed: 35, bias: true, clamp: (0, 6))
        check(ConvGeometry(inC: 2, inH: 8, inW: 61, outC: 5, outH: 3, outW: 29, kernelH: 4, kernelW: 5,
                           strideH: 2, strideW: 2, padTop: 0, padLeft: 2), seed: 36, bias: false,
              clamp: (-.infinity, .infinity))
    }

    func testUnpaddedConvsReadTheInputInPlace() {
        // Stride 1 without padding reads panels from the input itself: a 1×1 whose last tile is partial (63
        // positions), a valid 3×3 that leaves the input's last rows unread (outH 5 of 7), a 5×5 over a wide map.
        check(ConvGeometry(inC: 21, inH: 7, inW: 9, outC: 10, outH: 7, outW: 9, kernelH: 1, kernelW: 1),
              seed: 40, bias: true, clamp: (-.infinity, .infinity))
        check(ConvGeometry(inC: 6, inH: 9, inW: 11, outC: 7, outH: 5, outW: 9, kernelH: 3, kernelW: 3),
              seed: 41, bias: true, clamp: (0, .infinity))
        check(ConvGeometry(inC: 3, inH: 8, inW: 40, outC: 5, outH: 4, outW: 36, kernelH: 5, kernelW: 5),
              seed: 42, bias: false, clamp: (-1, 1))
    }

    func testDepthwiseChannelBlocks() {
        // Maps at most half a vector wide run with channels along the lanes (FP32DepthwiseBlocked): a partial last
        // block (37 = 2·16 + 5 channels), stride 2 from 14×14, dilation 2, uneven padding, two channels, a 1×1 map.
        check(ConvGeometry(inC: 37, inH: 7, inW: 7, outC: 37, outH: 7, outW: 7, kernelH: 5, kernelW: 5,
                           padTop: 2, padLeft: 2, groups: 37), seed: 20, bias: true, clamp: (0, 6))
        check(ConvGeometry(inC: 19, inH: 14, inW: 14, outC: 19, outH: 7, outW: 7, kernelH: 5, kernelW: 5,
                           strideH: 2, strideW: 2, padTop: 1, padLeft: 2, groups: 19), seed: 21, bias: false,
              clamp: (-.infinity, .infinity))
        check(ConvGeometry(inC: 16, inH: 8, inW: 6, outC: 16, outH: 8, outW: 4, kernelH: 3, kernelW: 3,
                           padTop: 2, padLeft: 1, dilationH: 2, dilationW: 2, groups: 16), seed: 22, bias: true,
              clamp: (-0.5, 0.75))
        check(ConvGeometry(inC: 2, inH: 3, inW: 3, outC: 2, outH: 3, outW: 3, kernelH: 3, kernelW: 3,
                           padTop: 1, padLeft: 1, groups: 2), seed: 23, bias: true, clamp: (0, .infinity))
        check(ConvGeometry(inC: 24, inH: 1, inW: 1, outC: 24, outH: 1, outW: 1, kernelH: 3, kernelW: 3,
                           padTop: 1, padLeft: 1, groups: 24), seed: 24, bias: true, clamp: (-.infinity, .infinity))
    }

    func testDepthwiseClampKeepsTheReferencesSignOfZero() {
        // Zero inputs, biases of −0 and negative weights make every sum −0: the reference's
        // Swift.max(Swift.min(−0, 6), +0) is +0, and every kernel must store those bits (row kernel and channel blocks).
        for (h, w) in [(5, 40), (7, 7)] {
            let g = ConvGeometry(inC: 19, inH: h, inW: w, outC: 19, outH: h, outW: w, kernelH: 3, kernelW: 3,
                                 padTop: 1, padLeft: 1, groups: 19)
            let input = AlignedBuffer<Float>(count: g.inC * h * w, fill: 0)
            let weights = AlignedBuffer<Float>(count: g.outC * 9, fill: -0.5)
            let bias = AlignedBuffer<Float>(count: g.outC, fill: -0.0)
            let n = g.outC * h * w
            let expected = AlignedBuffer<Float>(count: n, fill: .nan)
            FP32ConvReference.run(g, input: input.pointer, weights: weights.pointer, bias: bias.pointer,
                                  output: expected.pointer, outputMin: 0, outputMax: 6)
            let scratch = AlignedBuffer<Float>(count: FP32Conv.scratchFloatCount(g), fill: .nan)
            for isa in KernelISA.supported {
                let out = AlignedBuffer<Float>(count: n, fill: .nan)
                FP32Conv.run(g, input: input.pointer, weights: weights.pointer, bias: bias.pointer, output: out.pointer,
                             scratch: scratch.pointer, outputMin: 0, outputMax: 6, isa: isa)
                let differing = (0..<n).filter { out.pointer[$0].bitPattern != expected.pointer[$0].bitPattern }.count
                XCTAssertEqual(differing, 0, "\(isa.name) \(h)×\(w)")
            }
        }
    }

    func testGroupedAndDepthwiseMultiplier() {
        // groups 3, and a depthwise multiplier of 2 (groups == inC, outC = 2·inC) take the grouped GEMM path.
        check(ConvGeometry(inC: 9, inH: 8, inW: 7, outC: 12, outH: 8, outW: 7, kernelH: 3, kernelW: 3,
                           padTop: 1, padLeft: 1, groups: 3), seed: 9, bias: true, clamp: (-.infinity, .infinity))
        check(ConvGeometry(inC: 4, inH: 6, inW: 6, outC: 8, outH: 6, outW: 6, kernelH: 3, kernelW: 3,
                           padTop: 1, padLeft: 1, groups: 4), seed: 10, bias: true, clamp: (0, .infinity))
    }

    func testTinyAndDegenerate() {
        // 1x1 image, 1x1 kernel; 1x1 image with 3x3 kernel and padding; single channel.
        check(ConvGeometry(inC: 1, inH: 1, inW: 1, outC: 1, outH: 1, outW: 1, kernelH: 1, kernelW: 1),
              seed: 11, bias: true, clamp: (-.infinity, .infinity))
        check(ConvGeometry(inC: 3, inH: 1, inW: 1, outC: 7, outH: 1, outW: 1, kernelH: 3, kernelW: 3,
                           padTop: 1, padLeft: 1), seed: 12, bias: false, clamp: (-.infinity, .infinity))
    }

    func testLongReductionAndManyPanels() {
        // K = 70·9 = 630 crosses the 512 reduction block; N = 15·17 spans several panels with a tail.
        check(ConvGeometry(inC: 70, inH: 15, inW: 17, outC: 13, outH: 15, outW: 17, kernelH: 3, kernelW: 3,
                           padTop: 1, padLeft: 1), seed: 13, bias: true, clamp: (0, .infinity))
        // 1x1 stride 1 (pure GEMM) and 7x7 stride 2 pad 3 (a ResNet stem).
        check(ConvGeometry(inC: 33, inH: 7, inW: 9, outC: 31, outH: 7, outW: 9, kernelH: 1, kernelW: 1),
              seed: 14, bias: true, clamp: (-.infinity, .infinity))
        check(ConvGeometry(inC: 3, inH: 32, inW: 32, outC: 16, outH: 16, outW: 16, kernelH: 7, kernelW: 7,
                           strideH: 2, strideW: 2, padTop: 3, padLeft: 3), seed: 15, bias: true, clamp: (0, .infinity))
    }

    func testCanonicalLayerShapes() {
        // Full-size canonical layers are benchmarked, not tested (the naive reference is too slow in debug);
        // a narrowed L4 (7x7, 3x3 pad 1) exercises the same geometry.
        XCTAssertEqual(CanonicalLayers.l1.macCount, 64 * 56 * 56 * 64 * 9)
        XCTAssertEqual(CanonicalLayers.l5.reductionLength, 256)
        XCTAssertEqual(CanonicalLayers.convolutions.count, 5)
        var g = CanonicalLayers.l4
        g.inC = 37; g.outC = 29
        check(g, seed: 16, bias: true, clamp: (0, .infinity))
    }
}
