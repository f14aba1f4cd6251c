import NibbleKernels
import XCTest

/// The tiled ternary kernel against TernaryConvReference, bit for bit, at every ISA level this machine has.
final class TernaryConvTests: XCTestCase {
    struct Rng {
        var state: UInt64
        mutating func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 17 }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    /// Runs `edges` edges of random ternary planes (density `nonzero`) on random uint8 input with both kernels, the
    /// last edge adding a random bias and clamping to outputMin...outputMax (TernaryEdgeOutput; the output starts as
    /// NaN, so the first edge must store). `firstChunk` pixels go in a chunk of their own, so the following tiles
    /// start inside an output row.
    func check(_ g: ConvGeometry, groupSize: Int, edges: Int, nonzero: Int = 50, sign: Int8? = nil, zeroPoint: Int32 = 7,
               inputs: ((inout Rng) -> UInt8)? = nil, firstChunk: Int? = nil, outputMin: Float = -.infinity,
               outputMax: Float = .infinity, line: UInt = #line) {
        var rng = Rng(state: UInt64(g.inC * 131 + g.outC * 17 + g.kernelH * 7 + g.inW * 1009 + g.strideW * 3 + groupSize + edges))
        let rowLength = g.reductionLength
        let groups = (g.inC + groupSize - 1) / groupSize
        let q = (0..<(g.inC * g.inH * g.inW)).map { _ in inputs?(&rng) ?? UInt8(rng.below(256)) }
        var planes: [[UInt64]] = [], alphas: [[Float]] = []
        for _ in 0..<edges {
            let values = (0..<(g.outC * rowLength)).map { _ -> Int8 in rng.below(100) < nonzero ? sign ?? (rng.below(2) == 0 ? 1 : -1) : 0 }
            var words = [UInt64](repeating: 0, count: TernaryPlanes.wordCount(rows: g.outC, rowLength: rowLength))
            values.withUnsafeBufferPointer { v in words.withUnsafeMutableBufferPointer { TernaryPlanes.pack(v.baseAddress!, rows: g.outC, rowLength: rowLength, into: $0.baseAddress!) } }
            planes.append(words)
            alphas.append((0..<(g.outC * groups)).map { _ in Float(rng.below(1000) + 1) / 997 })
        }
        let bias = (0..<g.outC).map { _ in Float(rng.below(2001)) / 500 - 2 }
        let inputScale: Float = 0.0371
        var expected = [Float](repeating: 0, count: g.outC * g.outPixels)
        var row = [Int8](repeating: 0, count: rowLength)
        for e in 0..<edges {
            for o in 0..<g.outC {
                row.withUnsafeMutableBufferPointer { TernaryPlanes.unpackRow(planes[e], rows: g.outC, rowLength: rowLength, row: o, into: $0.baseAddress!) }
                TernaryConvReference.accumulateRow(g, outChannel: o, input: q, zeroPoint: zeroPoint, inputScale: inputScale, row: row,
                                                   alpha: alphas[e].withUnsafeBufferPointer { $0.baseAddress! + o * groups }, groupSize: groupSize, output: &expected)
            }
        }
        TernaryConvReference.epilogue(&expected, outC: g.outC, pixels: g.outPixels, bias: bias, outputMin: outputMin, outputMax: outputMax)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: TernaryConv.scratchByteCount(g, groupSize: groupSize), alignment: 64)
        defer { scratch.deallocate() }
        for isa in KernelISA.supported {
            var out = [Float](repeating: .nan, count: expected.count)
            TernaryConv.prepareInput(g, groupSize: groupSize, input: q, zeroPoint: zeroPoint, scratch: scratch, isa: isa)
            var start = 0
            while start < g.outPixels {
                let count = min(start == 0 ? firstChunk ?? TernaryConv.chunkPixels(g) : TernaryConv.chunkPixels(g), g.outPixels - start)
                TernaryConv.buildPanel(g, groupSize: groupSize, input: q, zeroPoint: zeroPoint, pixelStart: start, count: count,
                                       scratch: scratch, isa: isa)
                for e in 0..<edges {
                    out.withUnsafeMutableBufferPointer { y in
                        bias.withUnsafeBufferPointer { b in
                            let output = TernaryEdgeOutput(y.baseAddress!, first: e == 0, last: e == edges - 1, bias: b.baseAddress,
                                                           outputMin: outputMin, outputMax: outputMax)
                            TernaryConv.accumulateEdge(g, groupSize: groupSize, scratch: scratch, count: count, pixelStart: start,
                                                       planes: planes[e], alpha: alphas[e], zeroPoint: zeroPoint, inputScale: inputScale,
                                                       output: output, isa: isa)
                        }
                    }
                }
                start += count
            }
            XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern), "\(isa.name) \(g) group size \(groupSize) edges \(edges)", line: line)
        }
    }

    func conv(_ c: Int, _ h: Int, _ w: Int, _ o: Int, k: Int, stride: Int = 1, pad: Int = 0, dilation: Int = 1) -> ConvGeometry {
        let oh = (h + 2 * pad - dilation * (k - 1) - 1) / stride + 1, ow = (w + 2 * pad - dilation * (k - 1) - 1) / stride + 1
        return ConvGeometry(inC: c, inH: h, inW: w, outC: o, outH: oh, outW: ow, kernelH: k, kernelW: k, strideH: stride, strideW: stride,
                            padTop: pad, padLeft: pad, dilationH: dilation, dilationW: dilation, groups: 1)
    }

    func testRandomShapes() {
        check(conv(16, 8, 8, 8, k: 3, pad: 1), groupSize: 16, edges: 2)
        check(conv(5, 7, 9, 3, k: 3, pad: 1), groupSize: 4, edges: 1)              // odd channels, short last group
        check(conv(33, 9, 9, 7, k: 3, stride: 2, pad: 1), groupSize: 16, edges: 3) // stride 2, groups past a word
        check(conv(64, 6, 6, 5, k: 1), groupSize: 64, edges: 2)                    // 1×1
        check(conv(3, 11, 11, 4, k: 5, pad: 2, dilation: 2), groupSize: 2, edges: 1)
        check(conv(70, 1, 1, 9, k: 1), groupSize: 16, edges: 2)                    // fully connected: one pixel
        check(conv(6, 1, 1, 3, k: 1, stride: 3, pad: 1), groupSize: 4, edges: 1)    // one padded pixel, not dense
        check(conv(77, 1, 1, 5, k: 1), groupSize: 5, edges: 1)                     // groups across 16-weight chunks
        check(conv(8, 12, 12, 2, k: 3, pad: 0), groupSize: 3, edges: 2, nonzero: 5)
        check(conv(8, 5, 5, 2, k: 3, pad: 1), groupSize: 8, edges: 1, nonzero: 0)  // all-zero planes
    }

    /// Groups with far more than 128 nonzero terms at the extreme inputs: the int16 partial sums must be widened in time.
    func testLongGroupsAtExtremeInputsDoNotOverflow() {
        check(conv(64, 4, 4, 3, k: 3, pad: 1), groupSize: 64, edges: 1, nonzero: 100, sign: 1, zeroPoint: 0, inputs: { _ in 255 })
        check(conv(64, 4, 4, 3, k: 3, pad: 1), groupSize: 64, edges: 1, nonzero: 100, sign: -1, zeroPoint: 255, inputs: { _ in 0 })
        check(conv(64, 4, 4, 3, k: 3, pad: 1), groupSize: 64, edges: 2, nonzero: 100, zeroPoint: 128, inputs: { $0.below(2) == 0 ? 0 : 255 })
    }

    /// Random dense geometries (asymmetric padding and strides, dilation, kW ≠ kH) with group sizes that do not divide
    /// the channels, 1–3 edges and random zero points: every shape takes the vector im2col or the scalar packing.
    func testRandomGeometries() {
        var r = SplitMix(seed: 77)
        for i in 0..<80 {
            let g = randomGeometry(&r, groupsKind: 0)
            check(g, groupSize: r.int(1...(g.inC + 3)), edges: r.int(1...3), nonzero: [5, 50, 90][i % 3],
                  zeroPoint: Int32(r.int(0...255)))
        }
    }

    /// Wide maps (the vector im2col with tiles across 2–3 output rows, stride 2 in H only), several panel chunks,
    /// L3-like long groups, and a 1×1 conv over many channels (groups of 16 = 4 quads each).
    func testLargeShapes() {
        check(conv(24, 20, 23, 19, k: 3, pad: 1), groupSize: 16, edges: 2, zeroPoint: 0)
        var tall = conv(7, 31, 12, 6, k: 3, pad: 1); tall.strideH = 2; tall.outH = 16
        check(tall, groupSize: 3, edges: 1)
        check(conv(64, 40, 40, 9, k: 3, pad: 1), groupSize: 16, edges: 1)  // two chunks of 896 pixels
        check(conv(256, 14, 14, 12, k: 3, pad: 1), groupSize: 16, edges: 1, zeroPoint: 128)
        check(conv(256, 14, 14, 37, k: 1), groupSize: 16, edges: 3)
        check(conv(4096, 1, 1, 21, k: 1), groupSize: 16, edges: 1)          // fully connected, G1-like
        check(conv(9, 16, 16, 5, k: 3, pad: 2, dilation: 2), groupSize: 9, edges: 2, zeroPoint: 255)
        // Rows under 8 pixels: a tile spans 4 output rows (L4-like 7×7) or 5 (4×4).
        check(conv(64, 7, 7, 11, k: 3, pad: 1), groupSize: 16, edges: 2, zeroPoint: 3)
        check(conv(24, 4, 4, 6, k: 3, pad: 1), groupSize: 8, edges: 1)
        check(conv(24, 8, 4, 6, k: 3, pad: 1), groupSize: 8, edges: 1, firstChunk: 3)
    }

    /// A chunk's last 1 or 2 pixels past a multiple of 16 (VNNI: `TernaryTile.column` dot products): 49 pixels with
    /// groups of 3 channels (27 indices: unaligned quads shared with the neighbour group), a first chunk of 17 and 18
    /// pixels, and 648-index groups at the extreme codes (ten 64-byte steps, the last one masked).
    func testChunkTailPixels() {
        check(conv(5, 7, 7, 3, k: 3, pad: 1), groupSize: 3, edges: 2, zeroPoint: 200)
        check(conv(16, 7, 7, 9, k: 3, pad: 1), groupSize: 16, edges: 1, firstChunk: 17)
        check(conv(16, 6, 6, 5, k: 3, pad: 1), groupSize: 4, edges: 1, firstChunk: 18)
        for zp: Int32 in [0, 255] {
            check(conv(72, 7, 7, 6, k: 3, pad: 1), groupSize: 72, edges: 1, nonzero: 100, sign: zp == 0 ? 1 : -1, zeroPoint: zp,
                  inputs: { _ in 255 })
        }
    }

    /// The last edge's fused bias and clamp on every output path: full and partial tiles across chunks, a chunk's
    /// column-dot tail pixels, and the direct few-pixel path, clamped on both sides and on one.
    func testFusedBiasAndClamp() {
        for (lo, hi): (Float, Float) in [(-1.5, 2.25), (0, .infinity), (-.infinity, 0.5)] {
            check(conv(24, 20, 23, 19, k: 3, pad: 1), groupSize: 16, edges: 2, outputMin: lo, outputMax: hi)
            check(conv(16, 7, 7, 9, k: 3, pad: 1), groupSize: 16, edges: 3, firstChunk: 17, outputMin: lo, outputMax: hi)
            check(conv(256, 14, 14, 13, k: 1), groupSize: 16, edges: 1, outputMin: lo, outputMax: hi)
            check(conv(77, 1, 2, 13, k: 1), groupSize: 16, edges: 2, outputMin: lo, outputMax: hi)
        }
    }

    /// Extreme codes: every input 255 with zero point 0 and 255, every weight +1 or −1, groups of 9 and of 72 channels
    /// × 3×3 (648 indices: the int16 pair sums are widened every 64 quads), and of 256 × 1×1 (64 quads: one widen,
    /// the lanes starting at −zp·Σw end at ±32640).
    func testExtremeInputs() {
        for zp: Int32 in [0, 255] {
            for sign: Int8 in [1, -1] {
                check(conv(72, 9, 10, 5, k: 3, pad: 1), groupSize: 72, edges: 1, nonzero: 100, sign: sign, zeroPoint: zp, inputs: { _ in 255 })
                check(conv(72, 9, 10, 5, k: 3, pad: 1), groupSize: 9, edges: 2, nonzero: 100, sign: sign, zeroPoint: zp, inputs: { _ in 0 })
                check(conv(256, 4, 5, 6, k: 1), groupSize: 256, edges: 1, nonzero: 100, sign: sign, zeroPoint: zp, inputs: { _ in 255 &- UInt8(zp) })
            }
        }
    }

    /// Few output pixels (fully connected, batch as a 1×B image; tiny convs) take the direct path that reads the packed
    /// masks in place when the group length is a multiple of 16: odd in/out sizes, groups that do and do not divide the
    /// row, output channels not a multiple of 8, zero points 0, 128 and random.
    func testFewPixelsDirectPath() {
        for batch in 1...3 {
            check(conv(77, 1, batch, 13, k: 1), groupSize: 16, edges: 2)                   // short last group (13)
            check(conv(96, 1, batch, 9, k: 1), groupSize: 32, edges: 1, zeroPoint: 0)       // groups divide the row
            check(conv(1000, 1, batch, 3, k: 1), groupSize: 48, edges: 3, zeroPoint: 128)   // last group of 40
            check(conv(33, 1, batch, 17, k: 1), groupSize: 16, edges: 1, nonzero: 5)
            check(conv(4096, 1, batch, 11, k: 1), groupSize: 16, edges: 1, zeroPoint: 200) // G1-like rows
            check(conv(70, 1, batch, 8, k: 1), groupSize: 5, edges: 1)                      // group of 5: the GEMM
            check(conv(560, 1, batch, 37, k: 1), groupSize: 16, edges: 2, zeroPoint: 0)     // 16-channel blocks, 35 groups
        }
        check(conv(32, 3, 3, 7, k: 3), groupSize: 16, edges: 2)                             // one pixel, 3×3
        check(conv(16, 1, 3, 5, k: 3, pad: 1), groupSize: 16, edges: 1, zeroPoint: 255)     // 3 pixels, padded
        check(conv(16, 2, 2, 12, k: 3, pad: 1), groupSize: 32, edges: 2, zeroPoint: 128)    // 4 pixels, all padded
        check(conv(48, 3, 3, 9, k: 3, stride: 2, pad: 1), groupSize: 16, edges: 1)         // stride 2: 2×2
        check(conv(40, 5, 5, 6, k: 3, stride: 2, pad: 0, dilation: 2), groupSize: 16, edges: 1, zeroPoint: 31) // one dilated pixel
        check(conv(24, 2, 1, 19, k: 1), groupSize: 16, edges: 2)                            // 1×1 over 2 pixels
    }

    /// The direct path at the extreme codes on long rows (a single group of 4096 and groups of 16 channels × 3×3): every
    /// input 255 or 0, zero point 0 or 255, every weight +1 or −1 — the largest unit and group sums.
    func testFewPixelsExtremeInputs() {
        for zp: Int32 in [0, 255] {
            for sign: Int8 in [1, -1] {
                for code: UInt8 in [0, 255] {
                    check(conv(4096, 1, 1, 9, k: 1), groupSize: 4096, edges: 1, nonzero: 100, sign: sign, zeroPoint: zp, inputs: { _ in code })
                    check(conv(4099, 1, 2, 3, k: 1), groupSize: 1024, edges: 1, nonzero: 100, sign: sign, zeroPoint: zp, inputs: { _ in code })
                    check(conv(64, 2, 2, 5, k: 3, pad: 1), groupSize: 16, edges: 1, nonzero: 100, sign: sign, zeroPoint: zp, inputs: { _ in code })
                }
            }
        }
        check(conv(4096, 1, 3, 5, k: 1), groupSize: 16, edges: 2, nonzero: 100, zeroPoint: 128, inputs: { $0.below(2) == 0 ? 0 : 255 })
    }

    /// The vector quantization loop gives the scalar rule's bytes at every level: halves (round to even), the clamps,
    /// NaN and infinities, and a tail shorter than a vector.
    func testQuantizeMatchesScalarAtEveryLevel() {
        var r = SplitMix(seed: 9)
        var x: [Float] = [0.5, 1.5, 2.5, -0.5, -1.5, 254.5, 255.5, 127.5, .nan, .infinity, -.infinity, 1e30, -1e30, -0.0]
        for _ in 0..<203 { x.append(r.float(-40, 300)) }
        for (scale, zp) in [(Float(1), Int32(0)), (0.37, 128), (2.0 / 255, 255)] {
            let expected = x.map { Int8Quantization.quantize($0, scale: scale, zeroPoint: zp) }
            for isa in KernelISA.supported {
                var q = [UInt8](repeating: 0xA5, count: x.count)
                QuantizeRows.uint8(x, count: x.count, scale: scale, zeroPoint: zp, into: &q, isa: isa)
                XCTAssertEqual(q, expected, "\(isa.name) scale \(scale) zero point \(zp)")
            }
        }
    }
}
