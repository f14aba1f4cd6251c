import XCTest
import NibbleFormat
import NibbleKernels
@testable import NibbleRuntime

/// Ops against values worked out by hand or by the kernels' reference twins.
final class OpTests: XCTestCase {
    func testConvWithFusedReluMatchesReference() throws {
        var h = GraphHarness()
        let x = h.input("x", [1, 3, 7, 6])
        let wv: [Float] = (0..<108).map { (i: Int) -> Float in Float((i * 37) % 11) / 11 - 0.5 }
        let bv: [Float] = [0.1, -0.2, 0.3, -2]
        let w = h.constant("w", [4, 3, 3, 3], wv), b = h.constant("b", [4], bv)
        let y = h.node(.conv, [x, w, b], [1, 4, 4, 3], [
            Attribute(.kernelShape, ints: [3, 3]), Attribute(.strides, ints: [2, 2]), Attribute(.pads, ints: [1, 1, 1, 0]),
            Attribute(.dilations, ints: [1, 1]), Attribute(.group, ints: [1]), Attribute(.outputMin, floats: [0]),
        ])
        let input: [Float] = (0..<126).map { (i: Int) -> Float in Float((i * 13) % 17) / 17 - 0.3 }
        let got = try h.run(outputs: [y], input)
        let g = ConvGeometry(inC: 3, inH: 7, inW: 6, outC: 4, outH: 4, outW: 3, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2,
                             padTop: 1, padLeft: 1, dilationH: 1, dilationW: 1, groups: 1)
        var want = [Float](repeating: 0, count: 48)
        input.withUnsafeBufferPointer { i in wv.withUnsafeBufferPointer { w in bv.withUnsafeBufferPointer { b in
            want.withUnsafeMutableBufferPointer { o in
                FP32ConvReference.run(g, input: i.baseAddress!, weights: w.baseAddress!, bias: b.baseAddress!, output: o.baseAddress!,
                                      outputMin: 0, outputMax: .infinity)
            }
        }}}
        for i in 0..<48 { XCTAssertEqual(got[i], want[i], accuracy: 1e-5) }
        XCTAssertTrue(got.allSatisfy { $0 >= 0 })
    }

    func testSoftmaxAndBroadcastAdd() throws {
        var h = GraphHarness()
        let x = h.input("x", [1, 2, 1, 2])
        let c = h.constant("c", [2, 1, 1], [10, 20])
        let s = h.node(.add, [x, c], [1, 2, 1, 2])
        let out = try h.run(outputs: [s], [1, 2, 3, 4])
        XCTAssertEqual(out, [11, 12, 23, 24])

        var k = GraphHarness()
        let x2 = k.input("x", [1, 3])
        let y = k.node(.softmax, [x2], [1, 3], [Attribute(.axis, ints: [1])])
        let p = try k.run(outputs: [y], [1, 2, 3])
        let e: [Double] = [1, 2, 3].map { Foundation.exp($0) }
        let sum = e.reduce(0, +)
        for i in 0..<3 { XCTAssertEqual(Double(p[i]), e[i] / sum, accuracy: 1e-6) }
    }

    /// Add/Sub/Mul with a fused clamp (the converter folds the Relu after a residual add into it), on the flat
    /// equal-shape path, the scalar path and the general broadcast walk.
    func testElementwiseWithFusedClamp() throws {
        let xs: [Float] = [-3, -1, 0, 0.5, 2, 7]
        let clamp = [Attribute(.outputMin, floats: [0]), Attribute(.outputMax, floats: [4])]
        for (op, other, shape, f) in [
            (OpType.add, [Float]([1, -1, 2, -2, 3, -3]), [2, 3], { (a: Float, b: Float) in a + b }),
            (.sub, [0.5], [1], { (a: Float, b: Float) in a - b }),
            (.mul, [2, -1], [2, 1], { (a: Float, b: Float) in a * b }),
        ] {
            var h = GraphHarness()
            let x = h.input("x", [2, 3])
            let c = h.constant("c", shape, other)
            let y = h.node(op, [x, c], [2, 3], clamp)
            let got = try h.run(outputs: [y], xs)
            for i in 0..<6 {
                let b = other.count == 6 ? other[i] : other.count == 1 ? other[0] : other[i / 3]
                XCTAssertEqual(got[i], min(max(f(xs[i], b), 0), 4), "\(op.name) element \(i)")
            }
        }
    }

    func testActivations() throws {
        let xs: [Float] = [-4, -1, 0, 0.5, 3, 7]
        for (op, attrs, f) in [
            (OpType.sigmoid, [Attribute](), { (v: Float) in Float(1 / (1 + Foundation.exp(-Double(v)))) }),
            (.hardSwish, [], { (v: Float) in v * max(0, min(1, v / 6 + 0.5)) }),
            (.hardSigmoid, [Attribute(.alpha, floats: [0.2]), Attribute(.beta, floats: [0.5])], { (v: Float) in max(0, min(1, 0.2 * v + 0.5)) }),
            (.clip, [Attribute(.outputMin, floats: [0]), Attribute(.outputMax, floats: [6])], { (v: Float) in min(max(v, 0), 6) }),
            (.relu, [], { (v: Float) in max(v, 0) }),
            (.leakyRelu, [Attribute(.alpha, floats: [0.2])], { (v: Float) in v < 0 ? 0.2 * v : v }),
            (.leakyRelu, [], { (v: Float) in v < 0 ? 0.01 * v : v }),
            (.tanh, [], { (v: Float) in Float(Foundation.tanh(Double(v))) }),
            (.swish, [], { (v: Float) in Float(Double(v) / (1 + Foundation.exp(-Double(v)))) }),
        ] {
            var h = GraphHarness()
            let x = h.input("x", [1, 6])
            let y = h.node(op, [x], [1, 6], attrs)
            let got = try h.run(outputs: [y], xs)
            for i in 0..<6 { XCTAssertEqual(got[i], f(xs[i]), accuracy: 1e-6, "\(op.name)(\(xs[i]))") }
        }
    }

    /// Tanh within 2.5e-7 relative of float64 tanh across its range (the Padé form below 1, the exp form above), odd,
    /// ±1 far out, NaN kept.
    func testTanhAcrossItsRange() throws {
        var xs: [Float] = stride(from: Float(-12), through: 12, by: 0.0037).map { $0 }
        xs += [0, -0.0, 1e-30, -1e-30, 1, -1, Float(1).nextDown, Float(1).nextUp, 50, -50, .infinity, -.infinity, .nan]
        var h = GraphHarness()
        let x = h.input("x", [1, xs.count])
        let y = h.node(.tanh, [x], [1, xs.count])
        let got = try h.run(outputs: [y], xs)
        for (v, t) in zip(xs, got) {
            if v.isNaN { XCTAssertTrue(t.isNaN); continue }
            let reference = Foundation.tanh(Double(v))
            XCTAssertLessThanOrEqual(abs(Double(t) - reference), 2.5e-7 * abs(reference), "tanh(\(v)) = \(t)")
            XCTAssertEqual(t.sign, v.sign, "tanh(\(v)) keeps the sign")
        }
    }

    func testPools() throws {
        // 4x4 input 0..15; 2x2 stride 2.
        let input: [Float] = (0..<16).map { Float($0) }
        var h = GraphHarness()
        let x = h.input("x", [1, 1, 4, 4])
        let m = h.node(.maxPool, [x], [1, 1, 2, 2], [Attribute(.kernelShape, ints: [2, 2]), Attribute(.strides, ints: [2, 2])])
        XCTAssertEqual(try h.run(outputs: [m], input), [5, 7, 13, 15])

        var a = GraphHarness()
        let xa = a.input("x", [1, 1, 4, 4])
        // 3x3, stride 1, pad 1, count_include_pad 0: corner averages 4 cells.
        let avg = a.node(.averagePool, [xa], [1, 1, 4, 4], [Attribute(.kernelShape, ints: [3, 3]), Attribute(.pads, ints: [1, 1, 1, 1])])
        let got = try a.run(outputs: [avg], input)
        XCTAssertEqual(got[0], (0 + 1 + 4 + 5) / 4)
        XCTAssertEqual(got[5], (0 + 1 + 2 + 4 + 5 + 6 + 8 + 9 + 10) / 9)

        var g = GraphHarness()
        let xg = g.input("x", [1, 2, 2, 2])
        let gap = g.node(.globalAveragePool, [xg], [1, 2, 1, 1])
        XCTAssertEqual(try g.run(outputs: [gap], [1, 2, 3, 4, 10, 20, 30, 40]), [2.5, 25])
    }

    /// Max and average pooling against a direct evaluation of the ONNX definition, on shapes where the
    /// interior fast path (8 outputs at a time, rows up to 40 wide) and the border path both run: kernels 1…3,
    /// strides 1…3, pads, dilation, ceil mode, count_include_pad; ±0 compared bit for bit (ties of ±0 are frequent).
    func testPoolsMatchDefinition() throws {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<480 {
            let c = Int.random(in: 1...3, using: &rng), ih = Int.random(in: 3...9, using: &rng), iw = Int.random(in: 3...40, using: &rng)
            let kh = Int.random(in: 1...3, using: &rng), kw = Int.random(in: 1...3, using: &rng)
            let sh = Int.random(in: 1...3, using: &rng), sw = Int.random(in: 1...3, using: &rng)
            let isMax = trial % 2 == 0   // AveragePool has no dilation
            let dh = isMax && trial % 5 == 0 ? 2 : 1, dw = isMax && trial % 3 == 1 ? 2 : 1
            let pads = (0..<4).map { i in Int.random(in: 0...((i % 2 == 0 ? kh : kw) - 1), using: &rng) }
            let ceil = trial % 3 == 0, include = trial % 4 == 0
            func out(_ n: Int, _ k: Int, _ s: Int, _ p0: Int, _ p1: Int, _ d: Int) -> Int {
                let span = n + p0 + p1 - ((k - 1) * d + 1)
                var o = (ceil ? (span + s - 1) / s : span / s) + 1
                if ceil && (o - 1) * s >= n + p0 { o -= 1 }
                return o
            }
            let oh = out(ih, kh, sh, pads[0], pads[2], dh), ow = out(iw, kw, sw, pads[1], pads[3], dw)
            if oh < 1 || ow < 1 || (kh - 1) * dh + 1 > ih + pads[0] + pads[2] || (kw - 1) * dw + 1 > iw + pads[1] + pads[3] { continue }
            // Every other pair of trials draws from -3/8 … 0, so most windows tie at a maximum of ±0: which zero
            // wins shows the order taps are compared in.
            let lowest = trial % 4 < 2 ? -50 : -3, highest = trial % 4 < 2 ? 50 : 0
            let x = (0..<(c * ih * iw)).map { _ -> Float in
                Int.random(in: 0...9, using: &rng) == 0 ? -0.0 : Float(Int.random(in: lowest...highest, using: &rng)) / 8
            }
            var want = [Float](repeating: 0, count: c * oh * ow)
            for ch in 0..<c {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var acc: Float = isMax ? -.infinity : 0, n = 0
                        for ky in 0..<kh {
                            for kx in 0..<kw {
                                let y = oy * sh - pads[0] + ky * dh, xx = ox * sw - pads[1] + kx * dw
                                if y < 0 || y >= ih || xx < 0 || xx >= iw { continue }
                                let v = x[(ch * ih + y) * iw + xx]
                                if isMax { acc = max(acc, v) } else { acc += v }
                                n += 1
                            }
                        }
                        if !isMax {
                            let y0 = oy * sh - pads[0], x0 = ox * sw - pads[1]
                            let d = include ? (min(y0 + kh, ih + pads[2]) - y0) * (min(x0 + kw, iw + pads[3]) - x0) : n
                            acc = d > 0 ? acc / Float(d) : 0
                        }
                        want[(ch * oh + oy) * ow + ox] = acc
                    }
                }
            }
            var h = GraphHarness()
            let xi = h.input("x", [1, c, ih, iw])
            let y = h.node(isMax ? .maxPool : .averagePool, [xi], [1, c, oh, ow], [
                Attribute(.kernelShape, ints: [kh, kw].map(Int64.init)), Attribute(.strides, ints: [sh, sw].map(Int64.init)),
                Attribute(.pads, ints: pads.map(Int64.init)), Attribute(.dilations, ints: [dh, dw].map(Int64.init)),
                Attribute(.ceilMode, ints: [ceil ? 1 : 0]),
                Attribute(.countIncludePad, ints: [include ? 1 : 0]),
            ])
            XCTAssertEqual(try h.run(outputs: [y], x).map(\.bitPattern), want.map(\.bitPattern), "trial \(trial): \(isMax ? "max" : "avg") k \(kh)x\(kw) s \(sh)x\(sw) d \(dh)x\(dw) pads \(pads) ceil \(ceil) include \(include) in \(ih)x\(iw)")
        }
    }

    func testTransposeConcatReshape() throws {
        var h = GraphHarness()
        let x = h.input("x", [1, 2, 3])
        let t = h.node(.transpose, [x], [1, 3, 2], [Attribute(.perm, ints: [0, 2, 1])])
        let c = h.node(.concat, [t, t], [1, 3, 4], [Attribute(.axis, ints: [2])])
        let r = h.node(.reshape, [c], [1, 12])
        XCTAssertEqual(try h.run(outputs: [r], [1, 2, 3, 4, 5, 6]), [1, 4, 1, 4, 2, 5, 2, 5, 3, 6, 3, 6])
    }

    /// Broadcast Add/Sub/Mul/Div against a by-definition loop, with the constant operand on either side: per-channel
    /// (a squeeze-and-excitation scale), a row, a column, a middle dimension, mixed, and the output's own shape.
    func testBroadcastingMatchesTheDefinition() throws {
        let outShape = [1, 3, 4, 5]
        for constShape in [[1, 3, 1, 1], [3, 1, 1], [5], [1, 1, 4, 1], [3, 4, 1], [1, 3, 1, 5], [1, 1, 4, 5]] {
            for (op, f) in [(OpType.add, { (x: Float, y: Float) in x + y }), (.sub, { $0 - $1 }), (.mul, { $0 * $1 }), (.div, { $0 / $1 })] {
                for constFirst in [false, true] {
                    var h = GraphHarness()
                    let x = h.input("x", outShape)
                    let n = constShape.reduce(1, *)
                    let values = (0..<n).map { Float($0 % 7) * 0.75 + 0.5 }
                    let c = h.constant("c", constShape, values)
                    let y = h.node(op, constFirst ? [c, x] : [x, c], outShape)
                    let input = (0..<60).map { Float($0) * 0.25 - 3 }
                    let out = try h.run(outputs: [y], input)
                    // Element (c, i, j) of the output reads the constant at its right-aligned, broadcast coordinates.
                    let padded = [Int](repeating: 1, count: 4 - constShape.count) + constShape
                    for e in 0..<60 {
                        let coord = [0, e / 20, e / 5 % 4, e % 5]
                        var k = 0
                        for d in 0..<4 { k = k * padded[d] + (padded[d] == 1 ? 0 : coord[d]) }
                        let expected = constFirst ? f(values[k], input[e]) : f(input[e], values[k])
                        XCTAssertEqual(out[e].bitPattern, expected.bitPattern, "\(op) \(constShape) const first \(constFirst) at \(e)")
                    }
                }
            }
        }
    }

    /// Slice as a strided view: an offset and per-dimension steps, negative ones included; starts, steps or counts
    /// that would read outside the input are refused at load, naming the dimension.
    func testSliceAndItsBounds() throws {
        var h = GraphHarness()
        let x = h.input("x", [1, 3, 4])
        let y = h.node(.slice, [x], [1, 2, 2], [Attribute(.starts, ints: [0, 2, 1]), Attribute(.steps, ints: [1, -1, 2])])
        // Rows 2, 1 of [[0…3], [4…7], [8…11]], columns 1, 3.
        XCTAssertEqual(try h.run(outputs: [y], (0..<12).map(Float.init)), [9, 11, 5, 7])
        for (starts, steps, dimension) in [([0, 3, 0], [1, 1, 1], 1), ([0, 0, 0], [1, 0, 1], 1), ([0, 0, 1], [1, 1, 3], 2),
                                           ([0, 1, 0], [1, -2, 1], 1), ([0, 0, -1], [1, 1, 1], 2)] {
            var bad = GraphHarness()
            let bx = bad.input("x", [1, 3, 4])
            let by = bad.node(.slice, [bx], [1, 2, 2], [Attribute(.starts, ints: starts.map(Int64.init)),
                                                        Attribute(.steps, ints: steps.map(Int64.init))])
            XCTAssertThrowsError(try bad.model(outputs: [by]), "\(starts) \(steps)") { e in
                XCTAssertTrue("\(e)".contains("dimension \(dimension):"), "\(starts) \(steps): \(e)")
            }
        }
    }

    func testArenaReusesMemoryAlongAChain() throws {
        var h = GraphHarness()
        var t = h.input("x", [1, 1024])
        for _ in 0..<6 { t = h.node(.relu, [t], [1, 1024]) }
        let model = try h.model(outputs: [t])
        // Input and output stay live; the four middle tensors can share two slots.
        XCTAssertLessThanOrEqual(model.plan.tensorBytes, 4 * 4096)
        XCTAssertEqual(model.plan.ioBytes, 2 * 4096)
    }

    func testCallerArenaAndInputSizeErrors() throws {
        var h = GraphHarness()
        let x = h.input("x", [1, 8])
        let y = h.node(.relu, [x], [1, 8])
        let model = try h.model(outputs: [y])
        let small = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 64)
        defer { small.deallocate() }
        XCTAssertThrowsError(try Session(model: model, arena: small)) { e in
            XCTAssertTrue((e as? NibbleError)?.message.contains("needed \(model.plan.totalBytes) bytes, got 64") ?? false, "\(e)")
        }
        let exact = UnsafeMutableRawBufferPointer.allocate(byteCount: model.plan.totalBytes, alignment: 64)
        defer { exact.deallocate() }
        let session = try Session(model: model, arena: exact)
        XCTAssertThrowsError(try [Float](repeating: 1, count: 7).withUnsafeBufferPointer { try session.setInput(0, floats: $0) })
        XCTAssertThrowsError(try session.setInput(1, bytes: UnsafeRawBufferPointer(start: nil, count: 0)))
        try [Float](repeating: -1, count: 8).withUnsafeBufferPointer { try session.setInput(0, floats: $0) }
        session.run()
        XCTAssertEqual(Array(session.output(0).bindMemory(to: Float.self)), [Float](repeating: 0, count: 8))
    }

    func testInvalidNodesAreNamed() throws {
        var h = GraphHarness()
        let x = h.input("x", [1, 3, 4, 4])
        let w = h.constant("w", [4, 3, 3, 3], [Float](repeating: 0, count: 108))
        let y = h.node(.conv, [x, w], [1, 4, 2, 2], [Attribute(.group, ints: [2])], name: "conv_bad")
        XCTAssertThrowsError(try h.model(outputs: [y])) { e in
            let m = (e as? NibbleError)?.message ?? ""
            XCTAssertTrue(m.contains("conv_bad") && m.contains("group 2"), m)
        }
        var k = GraphHarness()
        let a = k.input("x", [1, 4])
        let b = k.node(.relu, [a], [1, 5], name: "relu_wrong_shape")
        XCTAssertThrowsError(try k.model(outputs: [b])) { e in
            XCTAssertTrue((e as? NibbleError)?.message.contains("relu_wrong_shape") ?? false)
        }
    }
}
