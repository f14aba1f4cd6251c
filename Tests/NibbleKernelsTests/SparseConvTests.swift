import XCTest
import NibbleKernels

/// Direct sparse K×K convolution (CSR over OIHW rows) at every level against the dense reference convolution of
/// the same weights: int8 bit for bit, fp32 within rounding; random kernels, paddings, odd sizes, empty rows.
final class SparseConvTests: XCTestCase {
    func randomStrideOneGeometry(_ rng: inout SplitMix) -> ConvGeometry {
        while true {
            var g = randomGeometry(&rng, groupsKind: 0)
            g.strideH = 1; g.strideW = 1; g.dilationH = 1; g.dilationW = 1
            // Bottom/right padding: any amount up to kernel − 1, implied by the output size.
            let pb = rng.int(0...(g.kernelH - 1)), pr = rng.int(0...(g.kernelW - 1))
            g.outH = g.inH + g.padTop + pb - g.kernelH + 1
            g.outW = g.inW + g.padLeft + pr - g.kernelW + 1
            if g.outH >= 1 && g.outW >= 1 { return g }
        }
    }

    func check(_ g: ConvGeometry, density: Double, int8: Bool, seed: UInt64) {
        var rng = SplitMix(seed: seed)
        let k = g.reductionLength
        var dense = [Float](repeating: 0, count: g.outC * k)
        for o in 0..<g.outC where o % 5 != 3 {  // every fifth row empty
            for j in 0..<k where Double(rng.next() % 1000) / 1000 < density { dense[o * k + j] = rng.float(-1, 1) }
        }
        let q = dense.map { $0 == 0 ? Int8(0) : Int8(max(-127, min(127, ($0 * 127).rounded()))) | 1 }
        let x = (0..<(g.inC * g.inH * g.inW)).map { _ in rng.float(-1.3, 3.5) }
        let bias = (0..<g.outC).map { _ in rng.float(-1, 1) }, scales = (0..<g.outC).map { _ in rng.float(0.001, 0.02) }
        let n = g.outC * g.outH * g.outW
        var expected = [Float](repeating: 0, count: n)
        if int8 {
            Int8ConvReference.run(g, input: x, inputScale: 3.0 / 255, inputZeroPoint: 77, weights: q, weightScales: scales, bias: bias,
                                  output: &expected, outputMin: -0.5, outputMax: .infinity)
        } else {
            FP32ConvReference.run(g, input: x, weights: dense, bias: bias, output: &expected, outputMin: -0.5, outputMax: .infinity)
        }
        let e = int8 ? { let c = SparseEncoding.csr(q, rows: g.outC, columns: k); return (c.rowPointers, c.columnIndices, c.values.map { Float($0) }) }()
                     : SparseEncoding.csr(dense, rows: g.outC, columns: k)
        let rp = e.0, ci = e.1.isEmpty ? [Int32(0)] : e.1
        let vf = e.2.isEmpty ? [Float(0)] : e.2, vq = vf.map { Int8($0) }
        let scratch = AlignedBuffer<UInt8>(count: SparseConv.scratchByteCount(g), fill: 0xA5)
        rp.withUnsafeBufferPointer { r in ci.withUnsafeBufferPointer { c in
            let csr = SparseCSR(rows: g.outC, columns: k, rowPointers: r.baseAddress!, columnIndices: c.baseAddress!)
            XCTAssertNil(SparseValidation.check(csr, valueCount: e.2.count, indexCount: e.1.count))
            for isa in KernelISA.supported {
                var out = [Float](repeating: .nan, count: n)
                if int8 {
                    SparseConv.run(g, csr, values: vq, input: x, inputScale: 3.0 / 255, inputZeroPoint: 77, weightScales: scales,
                                   bias: bias, output: &out, scratch: scratch.raw, outputMin: -0.5, isa: isa)
                    XCTAssertEqual(out, expected, "\(isa.name) \(g)")
                } else {
                    SparseConv.run(g, csr, values: vf, input: x, bias: bias, output: &out, scratch: scratch.raw, outputMin: -0.5, isa: isa)
                    var bad = 0
                    for i in 0..<n where !(abs(out[i] - expected[i]) <= 1e-4 * max(1, abs(expected[i]))) { bad += 1 }
                    XCTAssertEqual(bad, 0, "\(isa.name) \(g)")
                }
            }
        }}
    }

    func testRandomGeometries() {
        var rng = SplitMix(seed: 21)
        for i in 0..<80 {
            check(randomStrideOneGeometry(&rng), density: [0.5, 0.1, 0.0, 1.0][i % 4], int8: i % 2 == 1, seed: UInt64(i))
        }
    }

    func testCanonicalShapeSlices() {
        // L3-like (3x3 pad 1 @14², 256 channels) with fewer output channels; a wide row (56) as in L1.
        var g = CanonicalLayers.l3
        g.outC = 19
        check(g, density: 0.1, int8: false, seed: 1)
        check(g, density: 0.1, int8: true, seed: 2)
        check(ConvGeometry(inC: 5, inH: 56, inW: 56, outC: 7, outH: 56, outW: 56, kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1),
              density: 0.3, int8: false, seed: 3)
    }
}
