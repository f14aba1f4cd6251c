import XCTest
import NibbleFormat
import NibbleKernels
@testable import NibbleRuntime

/// Ternary residual edges (docs/FORMAT.md §4.4): values worked out by hand, a conv against the fp32 reference
/// on the dequantized weights, run-time levels, and refusal of bad files.
final class TernaryStepTests: XCTestCase {
    static func floats(_ v: [Float]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }

    /// Adds ternary edges (planes and scales) and returns the node inputs after X: [T₀, B, S₀, T₁, S₁, …].
    static func edges(_ h: inout GraphHarness, shape: [Int], planes: [[Int8]], scales: [[Float]], groups: Int, bias: Int) -> [Int] {
        var inputs: [Int] = []
        for (e, p) in planes.enumerated() {
            let t = h.add(TensorDesc(name: "T\(e)", dtype: .int8, shape: shape, role: .constant), p.map { UInt8(bitPattern: $0) })
            let s = h.add(TensorDesc(name: "S\(e)", dtype: .float32, shape: [shape[0], groups], role: .constant), floats(scales[e]))
            inputs += e == 0 ? [t, bias, s] : [t, s]
        }
        return inputs
    }

    /// x[1,4] → ternary FC (2 outputs, group size 2, edges at levels `levels`) → Relu.
    /// x = [1, 2, 0.5, 3] is exact in uint8 with scale 0.5, zero point 0.
    /// Edge 0: W₀ = [[0.5, 0, −0.25, 0.25], [0, 1, 2, −2]] → W₀·x = [1.125, −3]; edge 1 adds [0.2, 0.3]; bias [0.5, 0].
    static func tinyFC(levels: [Int64] = [0, 2], plane0: [Int8] = [1, 0, -1, 1, 0, 1, 1, -1]) -> (GraphHarness, Int) {
        var h = GraphHarness()
        let x = h.input("x", [1, 4])
        let b = h.constant("b", [2], [0.5, 0])
        let rest = edges(&h, shape: [2, 4], planes: [plane0, [0, 1, 0, 0, 1, 0, 0, 0]],
                         scales: [[0.5, 0.25, 1, 2], [0.1, 0.2, 0.3, 0.4]], groups: 2, bias: b)
        let y = h.node(.fullyConnected, [x] + rest, [1, 2], [
            Attribute(.inputScale, floats: [0.5]), Attribute(.inputZeroPoint, ints: [0]),
            Attribute(.groupSize, ints: [2]), Attribute(.edgeLevels, ints: levels),
        ], name: "fc")
        h.graph.nodes[0].precision = .ternary
        let r = h.node(.relu, [y], [1, 2], name: "relu")
        return (h, r)
    }

    func testFullyConnectedByHandAndLevels() throws {
        let (h, r) = Self.tinyFC()
        let model = try h.model(outputs: [r])
        XCTAssertEqual(model.maxResidualLevel, 2)
        XCTAssertEqual(model.edgeLevels, [[0, 2], []])
        XCTAssertEqual(model.residualEdgeCount(layer: 0), 2)
        XCTAssertEqual(model.kernelNames[0], "ternary fully connected (reference)")
        let session = try Session(model: model)
        func run() throws -> [Float] {
            try [Float(1), 2, 0.5, 3].withUnsafeBufferPointer { try session.setInput(0, floats: $0) }
            session.run()
            return Array(session.output(0).bindMemory(to: Float.self))
        }
        // Default: all edges.
        var y = try run()
        XCTAssertEqual(y[0], 1.825, accuracy: 1e-6)
        XCTAssertEqual(y[1], 0)  // −2.7 through the Relu
        // Level 0 and 1 run edge 0 only; level 2 and −1 run both. Same session, no reload.
        for (level, want) in [(0, Float(1.625)), (1, 1.625), (2, 1.825), (-1, 1.825)] {
            try session.setResidualLevel(level)
            XCTAssertEqual(session.enabledResidualEdges(layer: 0), level == 0 || level == 1 ? 1 : 2)
            y = try run()
            XCTAssertEqual(y[0], want, accuracy: 1e-6, "level \(level)")
        }
        // Per layer.
        try session.setResidualLevel(0, layer: 0)
        XCTAssertEqual(try run()[0], 1.625, accuracy: 1e-6)
        try session.setResidualLevel(-1, layer: 0)
        XCTAssertEqual(try run()[0], 1.825, accuracy: 1e-6)
    }

    func testBadLevelsAreErrorsNamingTheRange() throws {
        let (h, r) = Self.tinyFC()
        let session = try Session(model: try h.model(outputs: [r]))
        XCTAssertThrowsError(try session.setResidualLevel(3)) { e in
            guard case NibbleError.invalidArgument(let mMessage) = e else { return XCTFail("\(e)") }
            let m = mMessage.text
            XCTAssertTrue(m.contains("-1...2"), m)
        }
        XCTAssertThrowsError(try session.setResidualLevel(-2))
        XCTAssertThrowsError(try session.setResidualLevel(5, layer: 0)) { e in
            guard case NibbleError.invalidArgument(let mMessage) = e else { return XCTFail("\(e)") }
            let m = mMessage.text
            XCTAssertTrue(m.contains("'fc'") && m.contains("-1...2"), m)
        }
        XCTAssertThrowsError(try session.setResidualLevel(1, layer: 1)) { e in
            guard case NibbleError.unsupported(let mMessage) = e else { return XCTFail("\(e)") }
            let m = mMessage.text
            XCTAssertTrue(m.contains("'relu'") && m.contains("no ternary residual edges"), m)
        }
        XCTAssertNoThrow(try session.setResidualLevel(0, layer: 1))
        XCTAssertThrowsError(try session.setResidualLevel(0, layer: 2))
        XCTAssertEqual(session.enabledResidualEdges(layer: 0), 2, "failed calls change nothing")
    }

    func testModelsWithoutEdgesAcceptOnlyMinusOneAndZero() throws {
        var h = GraphHarness()
        let x = h.input("x", [1, 2])
        let y = h.node(.relu, [x], [1, 2])
        let session = try Session(model: try h.model(outputs: [y]))
        XCTAssertEqual(session.model.maxResidualLevel, 0)
        XCTAssertNoThrow(try session.setResidualLevel(-1))
        XCTAssertNoThrow(try session.setResidualLevel(0))
        XCTAssertThrowsError(try session.setResidualLevel(1)) { e in
            guard case NibbleError.unsupported = e else { return XCTFail("\(e)") }
        }
    }

    func testRefusesBadTernaryNodes() throws {
        func refuse(_ make: () -> (GraphHarness, Int), _ text: String, line: UInt = #line) {
            let (h, r) = make()
            XCTAssertThrowsError(try h.model(outputs: [r]), line: line) { e in
                XCTAssertTrue("\(e)".contains(text), "\(e)", line: line)
            }
        }
        refuse({ Self.tinyFC(levels: [1, 2]) }, "edge 0 must have level 0")
        refuse({ Self.tinyFC(levels: [0, 2, 3]) }, "edge_levels has 3 values, expected 2")
        refuse({ Self.tinyFC(plane0: [1, 0, -1, 1, 0, 2, 1, -1]) }, "has value 2 at element 5")
        refuse({
            var (h, r) = Self.tinyFC()
            h.graph.nodes[0].attributes.removeAll { $0.key == .groupSize }
            h.graph.nodes[0].attributes.append(Attribute(.groupSize, ints: [4]))
            r += 0
            return (h, r)
        }, "expected [2, 1]")
        refuse({
            var (h, r) = Self.tinyFC()
            h.graph.nodes[0].inputs.removeLast()
            r += 0
            return (h, r)
        }, "expected an even count")
    }

    /// A strided, padded ternary conv with 3 input channels in groups of 2 (the last group shorter) equals the
    /// fp32 reference conv on Σ αₑTₑ and the uint8-rounded input.
    func testConvMatchesFP32ReferenceOnDequantizedWeights() throws {
        let outC = 4, inC = 3, k = 3, groups = 2
        let n = outC * inC * k * k
        var planes: [[Int8]] = [], scales: [[Float]] = []
        for e in 0..<2 {
            planes.append((0..<n).map { (i: Int) -> Int8 in Int8((i * (7 + e) + e) % 3 - 1) })
            let denominator = Float(8 << (2 * e))
            scales.append((0..<(outC * groups)).map { (i: Int) -> Float in Float(i % 5 + 1) / denominator })
        }
        for levels in [[Int64(0), 1], [0, 0]] {
            var h = GraphHarness()
            let x = h.input("x", [1, inC, 7, 6])
            let b = h.constant("b", [outC], [0.1, -0.2, 0.3, -0.4])
            let rest = Self.edges(&h, shape: [outC, inC, k, k], planes: planes, scales: scales, groups: groups, bias: b)
            let inputScale: Float = 1.0 / 64, zp: Int64 = 40
            let y = h.node(.conv, [x] + rest, [1, outC, 4, 3], [
                Attribute(.kernelShape, ints: [3, 3]), Attribute(.strides, ints: [2, 2]), Attribute(.pads, ints: [1, 1, 1, 0]),
                Attribute(.inputScale, floats: [inputScale]), Attribute(.inputZeroPoint, ints: [zp]),
                Attribute(.groupSize, ints: [2]), Attribute(.edgeLevels, ints: levels),
            ], name: "conv")
            h.graph.nodes[0].precision = .ternary
            let input: [Float] = (0..<(inC * 42)).map { Float(($0 * 13) % 17) / 17 - 0.3 }
            let session = try Session(model: try h.model(outputs: [y]))
            for level in [0, 1] where level <= session.model.maxResidualLevel {
                try session.setResidualLevel(level)
                try input.withUnsafeBufferPointer { try session.setInput(0, floats: $0) }
                session.run()
                let got = Array(session.output(0).bindMemory(to: Float.self))
                let edgesOn = levels.filter { $0 <= level }.count
                var w = [Float](repeating: 0, count: n)
                for e in 0..<edgesOn {
                    for i in 0..<n {
                        let o = i / (inC * k * k), c = (i / (k * k)) % inC
                        w[i] += scales[e][o * groups + c / 2] * Float(planes[e][i])
                    }
                }
                let xq = input.map { (Float(Int8Quantization.quantize($0, scale: inputScale, zeroPoint: Int32(zp))) - Float(zp)) * inputScale }
                let g = ConvGeometry(inC: inC, inH: 7, inW: 6, outC: outC, outH: 4, outW: 3, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2,
                                     padTop: 1, padLeft: 1, dilationH: 1, dilationW: 1, groups: 1)
                var want = [Float](repeating: 0, count: got.count)
                let bias: [Float] = [0.1, -0.2, 0.3, -0.4]
                xq.withUnsafeBufferPointer { i in w.withUnsafeBufferPointer { wp in bias.withUnsafeBufferPointer { bp in
                    want.withUnsafeMutableBufferPointer { o in
                        FP32ConvReference.run(g, input: i.baseAddress!, weights: wp.baseAddress!, bias: bp.baseAddress!, output: o.baseAddress!,
                                              outputMin: -.infinity, outputMax: .infinity)
                    }
                }}}
                for i in got.indices { XCTAssertEqual(got[i], want[i], accuracy: 1e-4, "levels \(levels) level \(level) element \(i)") }
            }
        }
    }
}
