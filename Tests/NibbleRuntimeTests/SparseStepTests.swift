import XCTest
import NibbleFormat
import NibbleKernels
@testable import NibbleRuntime

/// Sparse 1x1 Conv nodes (docs/FORMAT.md §4.6) built in code: the same weights as a dense node give the same
/// output (fp32 within rounding, int8 bit for bit); CSR and 2:4; empty rows and an all-zero layer; bad nodes refused.
final class SparseStepTests: XCTestCase {
    let c = 13, h = 5, w = 7, o = 9

    func bytes<T>(_ v: [T]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }

    /// Random [o][c] weights: N:M-pruned (2:4) or with `zeroRows` empty rows and ~70 % zeros.
    func weights(nm: Bool, allZero: Bool = false, seed: UInt64, taps: Int = 1) -> [Float] {
        var s = seed
        func r() -> Float { s = s &* 6364136223846793005 &+ 1442695040888963407; return Float(Int(s >> 40) % 2001 - 1000) / 1000 }
        let cols = c * taps
        var wv = (0..<(o * cols)).map { _ in r() }
        if allZero { return [Float](repeating: 0, count: o * cols) }
        for row in 0..<o {
            for k in 0..<cols {
                if nm { if k % 4 >= 2 { wv[row * cols + k] = 0 } } else if row % 4 == 1 || abs(wv[row * cols + k]) < 0.7 { wv[row * cols + k] = 0 }
            }
        }
        return wv
    }

    /// Dense and sparse versions of one 1x1 conv; int8 quantizes the weights by 1/100 with per-channel scales.
    func build(sparse: Bool, nm: Bool, int8: Bool, weights wv: [Float], kernel k: Int = 1,
               attributes extra: [Attribute] = []) throws -> (GraphHarness, Int) {
        var g = GraphHarness()
        let x = g.input("x", [1, c, h, w])
        let bias = g.constant("b", [o], (0..<o).map { Float($0) / 10 - 0.3 })
        let cols = c * k * k
        var attrs = [Attribute(.kernelShape, ints: [Int64(k), Int64(k)]), Attribute(.outputMin, floats: [-0.5])] + extra
        if k > 1 { attrs.append(Attribute(.pads, ints: [Int64](repeating: Int64(k / 2), count: 4))) }
        let q = wv.map { Int8(($0 * 100).rounded()) }
        var scales = absentTensor
        if int8 {
            scales = g.constant("s", [o], (0..<o).map { 0.01 + Float($0) * 0.001 })
            attrs += [Attribute(.inputScale, floats: [4.0 / 255]), Attribute(.inputZeroPoint, ints: [100])]
        }
        let out: Int
        if !sparse {
            let wt = int8 ? g.add(TensorDesc(name: "w", dtype: .int8, shape: [o, c, k, k], role: .constant), bytes(q))
                          : g.constant("w", [o, c, k, k], wv)
            out = g.node(.conv, int8 ? [x, wt, bias, scales] : [x, wt, bias], [1, o, h, w], attrs)
            if int8 { g.graph.nodes[g.graph.nodes.count - 1].precision = .int8 }
            return (g, out)
        }
        let vType: DType = int8 ? .int8 : .float32
        func values<T: Numeric>(_ v: [T]) -> [UInt8] { int8 ? bytes(v.map { $0 as! Int8 }) : bytes(v.map { $0 as! Float }) }
        var inputs: [Int]
        if nm {
            let slots = SparseNM.slotsPerRow(columns: c, n: 2, m: 4), ib = SparseNM.indexBytesPerRow(columns: c, n: 2, m: 4)
            let (vb, ix): ([UInt8], [UInt8]) = int8 ? { let e = SparseEncoding.nm(q, rows: o, columns: c, n: 2, m: 4)!; return (bytes(e.values), e.indices) }()
                                                    : { let e = SparseEncoding.nm(wv, rows: o, columns: c, n: 2, m: 4)!; return (bytes(e.values), e.indices) }()
            let v = g.add(TensorDesc(name: "v", dtype: vType, shape: [o, slots], role: .constant), vb)
            let i = g.add(TensorDesc(name: "i", dtype: .uint8, shape: [o, ib], role: .constant), ix)
            inputs = [x, v, bias, scales, i]
            attrs += [Attribute(.sparseFormat, ints: [1]), Attribute(.sparseNM, ints: [2, 4])]
        } else {
            var (rp, ci, vb): ([Int32], [Int32], [UInt8])
            if int8 { let e = SparseEncoding.csr(q, rows: o, columns: cols); (rp, ci, vb) = (e.rowPointers, e.columnIndices, bytes(e.values)) }
            else { let e = SparseEncoding.csr(wv, rows: o, columns: cols); (rp, ci, vb) = (e.rowPointers, e.columnIndices, bytes(e.values)) }
            if ci.isEmpty { ci = [0]; vb = [UInt8](repeating: 0, count: int8 ? 1 : 4) }  // the one unused entry of §4.6
            let v = g.add(TensorDesc(name: "v", dtype: vType, shape: [ci.count], role: .constant), vb)
            let i = g.add(TensorDesc(name: "i", dtype: .int32, shape: [ci.count], role: .constant), bytes(ci))
            let p = g.add(TensorDesc(name: "p", dtype: .int32, shape: [o + 1], role: .constant), bytes(rp))
            inputs = [x, v, bias, scales, i, p]
            attrs.append(Attribute(.sparseFormat, ints: [0]))
        }
        out = g.node(.conv, inputs, [1, o, h, w], attrs)
        g.graph.nodes[g.graph.nodes.count - 1].precision = .sparse
        return (g, out)
    }

    func testSparseConvMatchesDense() throws {
        let x = (0..<(c * h * w)).map { Float(($0 * 37) % 101) / 25 - 1.5 }
        for (nm, allZero, k) in [(false, false, 1), (true, false, 1), (false, true, 1), (false, false, 3), (false, true, 3)] {
            for int8 in [false, true] {
                let wv = weights(nm: nm, allZero: allZero, seed: 7, taps: k * k)
                let (dg, dout) = try build(sparse: false, nm: nm, int8: int8, weights: wv, kernel: k)
                let (sg, sout) = try build(sparse: true, nm: nm, int8: int8, weights: wv, kernel: k)
                let model = try sg.model(outputs: [sout])
                let op = k == 1 ? "conv1x1" : "conv3x3 direct"
                XCTAssertTrue(model.kernelNames[0].hasPrefix("sparse \(nm ? "2:4" : "CSR") \(int8 ? "int8" : "fp32") \(op)"), model.kernelNames[0])
                let expected = try dg.run(outputs: [dout], x), got = try sg.run(outputs: [sout], x)
                if int8 {
                    XCTAssertEqual(got, expected, "nm \(nm) zero \(allZero)")
                } else {
                    for i in expected.indices { XCTAssertEqual(got[i], expected[i], accuracy: 1e-5 * max(1, abs(expected[i])), "nm \(nm) zero \(allZero) \(i)") }
                }
            }
        }
    }

    func testBadSparseNodesRefused() throws {
        let wv = weights(nm: false, seed: 3)
        // Stride 2 (the kernel reads stride-1 pixel rows).
        var (g, out) = try build(sparse: true, nm: false, int8: false, weights: wv, attributes: [Attribute(.strides, ints: [2, 2])])
        g.graph.tensors[out].shape = [1, o, 3, 4]
        XCTAssertThrowsError(try g.model(outputs: [out])) { XCTAssertTrue("\($0)".contains("stride 1"), "\($0)") }
        // N:M on a 3x3 conv (the direct kernel is CSR only), and an N:M pair the 2-bit indices cannot hold.
        (g, out) = try build(sparse: true, nm: true, int8: false, weights: weights(nm: true, seed: 3))
        g.graph.nodes[0].attributes[0] = Attribute(.kernelShape, ints: [3, 3])
        g.graph.nodes[0].attributes.append(Attribute(.pads, ints: [1, 1, 1, 1]))
        XCTAssertThrowsError(try g.model(outputs: [out])) { XCTAssertTrue("\($0)".contains("need CSR"), "\($0)") }
        (g, out) = try build(sparse: true, nm: true, int8: false, weights: weights(nm: true, seed: 3))
        g.graph.nodes[0].attributes.removeAll { $0.key == .sparseNM }
        g.graph.nodes[0].attributes.append(Attribute(.sparseNM, ints: [2, 8]))
        XCTAssertThrowsError(try g.model(outputs: [out])) { XCTAssertTrue("\($0)".contains("1 ≤ N < M ≤ 4"), "\($0)") }
        // fp32 values with weight scales present.
        (g, out) = try build(sparse: true, nm: false, int8: false, weights: wv)
        g.graph.nodes[0].inputs[3] = g.graph.nodes[0].inputs[2]
        XCTAssertThrowsError(try g.model(outputs: [out])) { XCTAssertTrue("\($0)".contains("must be absent"), "\($0)") }
    }
}
