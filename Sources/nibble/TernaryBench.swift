import NibbleKernels

/// `nibble bench kernels --kernels ternary`: one FGQ ternary residual edge (TWN threshold 0.7·mean|w|, scale
/// groups of 16 input channels) on packed two-mask planes — 2 bits per weight in memory, a quarter of int8 —
/// timed as a session runs it: uint8 input quantization, the tiled kernel (TernaryConv) with bias and clamp fused.
enum TernaryBench {
    static let kernels = ["ternary"]
    static let groupSize = 16

    static func conv(_ g: ConvGeometry, input: [Float], weights: [Float], bias: [Float], seconds: Double) -> Timing {
        let rowLength = g.reductionLength
        let threshold = 0.7 * weights.reduce(0) { $0 + abs($1) } / Float(weights.count)
        let ternary = weights.map { abs($0) <= threshold ? Int8(0) : ($0 > 0 ? 1 : -1) }
        var planes = [UInt64](repeating: 0, count: TernaryPlanes.wordCount(rows: g.outC, rowLength: rowLength))
        ternary.withUnsafeBufferPointer { t in planes.withUnsafeMutableBufferPointer { TernaryPlanes.pack(t.baseAddress!, rows: g.outC, rowLength: rowLength, into: $0.baseAddress!) } }
        let alpha = [Float](repeating: threshold, count: g.outC * ((g.inC + groupSize - 1) / groupSize))
        var q = [UInt8](repeating: 0, count: input.count)
        var output = [Float](repeating: 0, count: g.outC * g.outPixels)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: TernaryConv.scratchByteCount(g, groupSize: groupSize), alignment: 64)
        defer { scratch.deallocate() }
        return Timing.measure(seconds: seconds) {
            QuantizeRows.uint8(input, count: input.count, scale: 2.0 / 255, zeroPoint: 128, into: &q)
            output.withUnsafeMutableBufferPointer { y in
                bias.withUnsafeBufferPointer { b in
                    TernaryConv.prepareInput(g, groupSize: groupSize, input: q, zeroPoint: 128, scratch: scratch)
                    var start = 0
                    while start < g.outPixels {
                        let count = min(TernaryConv.chunkPixels(g), g.outPixels - start)
                        TernaryConv.buildPanel(g, groupSize: groupSize, input: q, zeroPoint: 128, pixelStart: start, count: count, scratch: scratch)
                        TernaryConv.accumulateEdge(g, groupSize: groupSize, scratch: scratch, count: count, pixelStart: start, planes: planes,
                                                   alpha: alpha, zeroPoint: 128, inputScale: 2.0 / 255,
                                                   output: TernaryEdgeOutput(y.baseAddress!, first: true, last: true, bias: b.baseAddress))
                        start += count
                    }
                }
            }
        }
    }
}
