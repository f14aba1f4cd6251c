import Foundation
@testable import NibbleConvert
import NibbleFormat
import XCTest

/// Importer cases the fixtures do not cover, on small models built in memory; numeric checks run the
/// converted model with the runtime against values computed here.
final class SyntheticModelTests: XCTestCase {
    func testStandaloneBatchNormBecomesMulAdd() throws {
        var b = ONNXBuilder()
        b.input("x", ["N", 2, 1, 2])
        b.initializer("s", [2], [2, 0.5]); b.initializer("b", [2], [1, -1])
        b.initializer("m", [2], [0.5, 0]); b.initializer("v", [2], [1, 4])
        b.node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], ["epsilon": .float(0)])
        b.outputs = ["y"]
        let (g, run) = try convert(b)
        XCTAssertEqual(g.nodes.map { $0.op }, [.mul, .add])
        XCTAssertEqual(g.tensors[g.nodes[0].inputs[1]].shape, [2, 1, 1])
        let y = try run.run([1, 2, 3, 4])
        // channel 0: (x - 0.5) * 2 + 1; channel 1: x / 2 * 0.5 - 1
        let expected: [Float] = [2, 4, -0.25, 0]
        XCTAssertEqual(y, expected)
    }

    /// SiLU as PyTorch exports it, Mul(x, Sigmoid(x)) in either operand order, becomes one Swish node; a Sigmoid
    /// another node also reads, or one of another tensor (an SE block's gate), stays. Last, a Swish or HardSwish that
    /// alone reads a conv becomes the conv's `output_activation` (`ConvActivationFusion`); with the conv's output
    /// also a graph output, the Swish node stays.
    func testMulOfASigmoidOfItsOtherOperandBecomesSwish() throws {
        func model(_ order: [String], gateReadTwice: Bool = false, gateOfOther: Bool = false, convIsOutput: Bool = false,
                   hardSwish: Bool = false) -> ONNXBuilder {
            var b = ONNXBuilder()
            b.input("x", ["N", 2, 1, 3])
            b.initializer("w", [2, 2, 1, 1], [1, -0.5, 0.25, 2])
            b.node("Conv", ["x", "w"], ["c"])
            if hardSwish {
                b.node("HardSwish", ["c"], ["m"])
            } else {
                b.node("Sigmoid", [gateOfOther ? "x" : "c"], ["s"])
                b.node("Mul", order.map { $0 == "s" ? "s" : "c" }, ["m"])
            }
            if gateReadTwice {
                b.node("Add", ["m", "s"], ["y"])
            } else {
                b.node("Relu", ["m"], ["y"])
            }
            b.outputs = convIsOutput ? ["y", "c"] : ["y"]
            return b
        }
        let x: [Float] = [-3, -1, 0, 0.5, 2, 7]
        func swish(_ v: Float) -> Float { v * (1 / (1 + Float(Foundation.exp(-Double(v))))) }
        func hardSwish(_ v: Float) -> Float { v * max(0, min(1, v / 6 + 0.5)) }
        let c: [Float] = (0..<6).map { i in i < 3 ? x[i] - 0.5 * x[i + 3] : 0.25 * x[i - 3] + 2 * x[i] }
        for (order, hard) in [(["c", "s"], false), (["s", "c"], false), ([], true)] {
            let (g, run) = try convert(model(order, hardSwish: hard))
            XCTAssertEqual(g.nodes.map { $0.op }, [.conv, .relu], "\(order)")
            XCTAssertEqual(g.nodes[0].attribute(.outputActivation)?.ints, [hard ? 2 : 1])
            let y = try run.run(x)
            for i in 0..<6 { XCTAssertEqual(y[i], max(0, hard ? hardSwish(c[i]) : swish(c[i])), accuracy: 1e-6, "\(order) element \(i)") }
        }
        XCTAssertEqual(try convert(model(["c", "s"], convIsOutput: true)).0.nodes.map { $0.op }, [.conv, .swish, .relu])
        XCTAssertEqual(try convert(model(["c", "s"], gateReadTwice: true)).0.nodes.map { $0.op }, [.conv, .sigmoid, .mul, .add])
        XCTAssertEqual(try convert(model(["c", "s"], gateOfOther: true)).0.nodes.map { $0.op }, [.conv, .sigmoid, .mul], "the Relu fused into the Mul")
    }

    func testGemmAlphaBetaTransB0() throws {
        var b = ONNXBuilder()
        b.input("x", [3, 2])  // a numeric batch dim is also the batch
        b.initializer("w", [2, 3], [1, 2, 3, 4, 5, 6])
        b.initializer("c", [3], [1, 1, 1])
        b.node("Gemm", ["x", "w", "c"], ["y"], ["alpha": .float(2), "beta": .float(3)])
        b.outputs = ["y"]
        let (g, run) = try convert(b)
        XCTAssertEqual(g.tensors[g.nodes[0].inputs[1]].shape, [3, 2])
        let expected: [Float] = [13, 17, 21]  // 2·(x·W) + 3·c with x·W = [5, 7, 9]
        XCTAssertEqual(try run.run([1, 1]), expected)
    }

    func testAutoPadSameUpperAndFusedClipOpset10() throws {
        var b = ONNXBuilder()
        b.opset = 10
        b.input("x", ["N", 1, 5, 5])
        b.initializer("w", [1, 1, 2, 2], [1, 1, 1, 1])
        b.node("Conv", ["x", "w"], ["c"], ["strides": .ints([2, 2]), "auto_pad": .string("SAME_UPPER")])
        b.node("Clip", ["c"], ["y"], ["min": .float(0), "max": .float(3)])
        b.outputs = ["y"]
        let (g, run) = try convert(b)
        XCTAssertEqual(g.nodes.count, 1)
        XCTAssertEqual(g.nodes[0].attribute(.pads)?.ints, [0, 0, 1, 1])
        XCTAssertEqual(g.nodes[0].attribute(.outputMax)?.floats, [3])
        XCTAssertEqual(g.tensors[g.outputs[0]].shape, [1, 1, 3, 3])
        XCTAssertEqual(g.tensors[g.outputs[0]].name, "y")
        let y = try run.run([Float](repeating: 1, count: 25))
        XCTAssertEqual(y, [3, 3, 2, 3, 3, 2, 2, 2, 1])
    }

    /// tf2onnx keeps a depthwise conv's batch norm as Mul then Add of [1, C, 1, 1] constants: both fold into the conv
    /// (weights and bias), and the Relu6 after them into its clamp. A [C] constant after a conv broadcasts along W, and
    /// a Mul of a conv that has another reader changes only that path: neither folds.
    func testChannelMulAndAddFoldIntoTheConv() throws {
        func model(scale: [Float], scaleShape: [Int], extraReader: Bool = false) -> ONNXBuilder {
            var b = ONNXBuilder()
            b.input("x", ["N", 2, 2, 2])
            b.initializer("w", [2, 1, 1, 1], [1, 2])
            b.initializer("s", scaleShape, scale)
            b.initializer("t", [1, 2, 1, 1], [0.5, -1])
            b.node("Conv", ["x", "w"], ["c"], ["group": .int(2)])
            b.node("Mul", ["c", "s"], ["m"])
            b.node("Add", ["t", "m"], ["a"])
            b.initializer("lo", [], [0]); b.initializer("hi", [], [6])
            b.node("Clip", ["a", "lo", "hi"], ["y"])
            b.outputs = extraReader ? ["y", "c"] : ["y"]
            return b
        }
        let x: [Float] = [1, 2, 3, 4, 1, 2, 3, 4]
        // Channel 0: clip(3·x + 0.5); channel 1: clip(−1·2x − 1).
        let (g, run) = try convert(model(scale: [3, -1], scaleShape: [1, 2, 1, 1]))
        XCTAssertEqual(g.nodes.map { $0.op }, [.conv])
        XCTAssertEqual(g.nodes[0].attribute(.outputMax)?.floats, [6])
        XCTAssertEqual(try run.run(x), [3.5, 6, 6, 6, 0, 0, 0, 0])
        let (gs, runs) = try convert(model(scale: [0.5], scaleShape: []))   // one value for every channel
        XCTAssertEqual(gs.nodes.map { $0.op }, [.conv])
        XCTAssertEqual(try runs.run(x), [1, 1.5, 2, 2.5, 0, 1, 2, 3])
        let (gw, runw) = try convert(model(scale: [3, -1], scaleShape: [2]))   // along W
        XCTAssertEqual(gw.nodes.map { $0.op }, [.conv, .mul, .add])
        XCTAssertEqual(try runw.run(x), [3.5, 0, 6, 0, 5, 0, 6, 0])
        let (ge, rune) = try convert(model(scale: [3, -1], scaleShape: [1, 2, 1, 1], extraReader: true))
        XCTAssertEqual(ge.nodes.map { $0.op }, [.conv, .mul, .add])
        XCTAssertEqual(try rune.run(x), [3.5, 6, 6, 6, 0, 0, 0, 0])
    }

    func testSoftmaxOpset11CoercesTo2D() throws {
        var b = ONNXBuilder()
        b.opset = 11
        b.input("x", ["N", 2, 2])
        b.node("Softmax", ["x"], ["y"], ["axis": .int(1)])
        b.outputs = ["y"]
        let (g, run) = try convert(b)
        XCTAssertEqual(g.nodes.map { $0.op }, [.reshape, .softmax, .reshape])
        let y = try run.run([0, 0, 0, 0])
        for v in y { XCTAssertEqual(v, 0.25, accuracy: 1e-6) }
    }

    func testShapeSubgraphWithSliceCastConstantOfShape() throws {
        var b = ONNXBuilder()
        b.input("x", ["N", 2, 3])
        b.node("Shape", ["x"], ["s"])
        b.initializer("st", [1], ints: [1]); b.initializer("en", [1], ints: [Int64.max])
        b.node("Slice", ["s", "st", "en"], ["tail"])              // [2, 3]
        b.node("Cast", ["tail"], ["tailf"], ["to": .int(1)])
        b.node("Cast", ["tailf"], ["tail2"], ["to": .int(7)])
        b.initializer("one", [1], ints: [1])
        b.node("ConstantOfShape", ["one"], ["minus"], ["value": .tensor(ONNXBuilder.tensor("v", [1], ints: [-1]))])
        b.node("Mul", ["tail2", "one"], ["prod"])                  // [2, 3]
        b.node("Concat", ["minus", "prod"], ["shape"], ["axis": .int(0)])  // [-1, 2, 3]
        b.node("Reshape", ["x", "shape"], ["r"])
        b.node("Constant", [], ["k"], ["value_floats": .floats([10])])
        b.node("Add", ["r", "k"], ["y"])
        b.outputs = ["y"]
        let (g, run) = try convert(b)
        XCTAssertEqual(g.nodes.map { $0.op }, [.add], "Reshape to the same shape is an alias; the shape subgraph folds away")
        XCTAssertEqual(try run.run([1, 2, 3, 4, 5, 6]), [11, 12, 13, 14, 15, 16])
    }

    func testSymbolicNonBatchDimIsAnError() throws {
        var b = ONNXBuilder()
        b.input("x", ["N", "C"])
        b.node("Relu", ["x"], ["y"])
        b.outputs = ["y"]
        XCTAssertThrowsError(try Converter.convert(onnxBytes: try b.bytes())) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("'x'") && text.contains("dimension 1") && text.contains("'C'"), text)
        }
    }

    func testBadRawDataLengthIsAnError() throws {
        var b = ONNXBuilder()
        b.input("x", ["N", 2])
        var w = ONNXBuilder.tensor("w", [2, 2], floats: [])
        w.rawData = Data([0, 0, 0])
        b.initializers.append(w)
        b.node("MatMul", ["x", "w"], ["y"])
        b.outputs = ["y"]
        XCTAssertThrowsError(try Converter.convert(onnxBytes: try b.bytes())) { error in
            XCTAssertTrue("\(error)".contains("initializer 'w'") && "\(error)".contains("raw_data has 3 bytes"), "\(error)")
        }
    }

    func testUnsupportedAttributeNamesNodeAndValue() throws {
        var b = ONNXBuilder()
        b.input("x", ["N", 2])
        b.initializer("w", [2, 2], [1, 0, 0, 1])
        b.node("Gemm", ["w", "x"], ["y"], name: "g", ["transA": .int(1)])
        b.outputs = ["y"]
        XCTAssertThrowsError(try Converter.convert(onnxBytes: try b.bytes())) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("node 'g' (Gemm)") && text.contains("transA=1"), text)
        }
        // Clip's opset-6 attributes at opset 13 would otherwise clamp nothing.
        var c = ONNXBuilder()
        c.input("x", ["N", 2])
        c.node("Clip", ["x"], ["y"], name: "clip", ["min": .float(0)])
        c.outputs = ["y"]
        XCTAssertThrowsError(try Converter.convert(onnxBytes: try c.bytes())) { error in
            XCTAssertTrue("\(error)".contains("node 'clip' (Clip): attribute 'min'"), "\(error)")
        }
    }

    /// LeakyRelu (its alpha, and ONNX's default 0.01) and Tanh as PyTorch and Keras export them.
    func testLeakyReluAndTanh() throws {
        var b = ONNXBuilder()
        b.input("x", ["N", 4])
        b.node("LeakyRelu", ["x"], ["l"], ["alpha": .float(0.25)])
        b.node("LeakyRelu", ["l"], ["d"])
        b.node("Tanh", ["d"], ["y"])
        b.outputs = ["y"]
        let (g, run) = try convert(b)
        XCTAssertEqual(g.nodes.map { $0.op }, [.leakyRelu, .leakyRelu, .tanh])
        let y = try run.run([-2, -0.5, 0.5, 3])
        let expected = [-2 * 0.25 * 0.01, -0.5 * 0.25 * 0.01, 0.5, 3].map { Float(Foundation.tanh($0)) }
        for (got, want) in zip(y, expected) { XCTAssertEqual(got, want, accuracy: 1e-6) }
    }

    func testDynamicMatMulAndIdentity() throws {
        var b = ONNXBuilder()
        b.input("x", ["N", 2, 2])
        b.node("Identity", ["x"], ["i"])
        b.node("Transpose", ["i"], ["t"], ["perm": .ints([0, 2, 1])])
        b.node("MatMul", ["i", "t"], ["y"])
        b.outputs = ["y"]
        let (g, run) = try convert(b)
        XCTAssertEqual(g.nodes.map { $0.op }, [.transpose, .matMul])
        // [[1,2],[3,4]] · its transpose
        XCTAssertEqual(try run.run([1, 2, 3, 4]), [5, 11, 11, 25])
    }

    /// skl2onnx's classifiers: probabilities beside an int64 label (ArgMax) that Nibble cannot produce. The whole
    /// graph is refused naming the ArgMax; `outputs` keeps the probabilities and leaves the label's nodes out.
    func testSelectedOutputsLeaveTheRestOfTheGraphOut() throws {
        var b = ONNXBuilder()
        b.input("x", ["N", 2])
        b.initializer("w", [2, 3], [1, 0, -1, 0, 1, 2])
        b.node("MatMul", ["x", "w"], ["logits"])
        b.node("Softmax", ["logits"], ["probabilities"], ["axis": .int(1)])
        b.node("ArgMax", ["probabilities"], ["label"], name: "argmax", ["axis": .int(1)])
        b.node("Relu", ["logits"], ["hidden"])
        b.outputs = ["label", "probabilities"]
        XCTAssertThrowsError(try Converter.convert(onnxBytes: try b.bytes())) { error in
            XCTAssertTrue("\(error)".contains("node 'argmax' (ArgMax)"), "\(error)")
        }
        let (nib, _) = try Converter.convert(onnxBytes: try b.bytes(), outputs: ["probabilities"])
        let run = try NibRunner(nib)
        XCTAssertEqual(run.model.graph.nodes.map { $0.op }, [.fullyConnected, .softmax])
        let y = try run.run([1, 2])
        let e: [Float] = [1, 2, 3].map { exp($0 - 3) }, sum = e.reduce(0, +)
        for (a, b) in zip(y, e.map { $0 / sum }) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        // An intermediate value may be an output too, in the order given.
        let (both, _) = try Converter.convert(onnxBytes: try b.bytes(), outputs: ["hidden", "probabilities"])
        XCTAssertEqual(try NibRunner(both).model.graph.outputs.count, 2)
        for bad in [["nothing"], ["x"], ["probabilities", "probabilities"]] {
            XCTAssertThrowsError(try Converter.convert(onnxBytes: try b.bytes(), outputs: bad)) { error in
                XCTAssertTrue("\(error)".contains("--outputs"), "\(bad): \(error)")
            }
        }
    }

    /// tf2onnx writes Keras' explicit padding as a zero Pad before the Conv (MobileNetV2's strided blocks: bottom/right only).
    func testZeroPadFoldsIntoConvPads() throws {
        for opset: Int64 in [10, 13] {
            var b = ONNXBuilder()
            b.opset = opset
            b.input("x", ["N", 1, 3, 3])
            b.initializer("w", [1, 1, 2, 2], [1, 1, 1, 1])
            if opset < 11 {
                b.node("Pad", ["x"], ["p"], ["pads": .ints([0, 0, 0, 0, 0, 0, 1, 1])])
            } else {
                b.initializer("pads", [8], ints: [0, 0, 0, 0, 0, 0, 1, 1])
                b.node("Pad", ["x", "pads"], ["p"], ["mode": .string("constant")])
            }
            b.node("Conv", ["p", "w"], ["y"], ["strides": .ints([2, 2])])
            b.outputs = ["y"]
            let (g, run) = try convert(b)
            XCTAssertEqual(g.nodes.map { $0.op }, [.conv], "opset \(opset)")
            XCTAssertEqual(g.nodes[0].attribute(.pads)?.ints, [0, 0, 1, 1])
            XCTAssertEqual(g.tensors[g.outputs[0]].shape, [1, 1, 2, 2])
            XCTAssertEqual(try run.run([1, 2, 3, 4, 5, 6, 7, 8, 9]), [12, 9, 15, 9])
        }
    }

    /// Keras ResNet's pool1_pad: a zero Pad before a MaxPool folds only when the input is non-negative (after Relu).
    func testZeroPadFoldsIntoMaxPoolAfterRelu() throws {
        func model(relu: Bool) -> ONNXBuilder {
            var b = ONNXBuilder()
            b.input("x", ["N", 1, 3, 3])
            b.node("Relu", ["x"], ["r"])
            b.initializer("pads", [8], ints: [0, 0, 1, 1, 0, 0, 1, 1])
            b.node("Pad", [relu ? "r" : "x", "pads"], ["p"], name: "pool_pad")
            b.node("MaxPool", ["p"], ["y"], ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2])])
            b.outputs = ["y"]
            return b
        }
        let (g, run) = try convert(model(relu: true))
        XCTAssertEqual(g.nodes.map { $0.op }, [.relu, .maxPool])
        XCTAssertEqual(g.nodes[1].attribute(.pads)?.ints, [1, 1, 1, 1])
        XCTAssertEqual(try run.run([-1, 2, -3, 4, -5, 6, -7, 8, -9]), [4, 6, 8, 8])
        XCTAssertThrowsError(try convert(model(relu: false))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("MaxPool") && text.contains("pool_pad") && text.contains("non-negative"), text)
        }
    }

    func testUnsupportedPadsNameThePad() throws {
        func model(_ edit: (inout ONNXBuilder) -> Void) -> ONNXBuilder {
            var b = ONNXBuilder()
            b.input("x", ["N", 1, 3, 3])
            b.initializer("w", [1, 1, 2, 2], [1, 1, 1, 1])
            b.initializer("pads", [8], ints: [0, 0, 1, 1, 0, 0, 1, 1])
            edit(&b)
            b.outputs = ["y"]
            return b
        }
        let cases: [(ONNXBuilder, [String])] = [
            (model { b in
                b.initializer("v", [], [1])
                b.node("Pad", ["x", "pads", "v"], ["p"], name: "pad_one")
                b.node("Conv", ["p", "w"], ["y"]) }, ["pad_one", "constant value 1"]),
            (model { b in
                b.node("Pad", ["x", "pads"], ["p"], name: "pad_reflect", ["mode": .string("reflect")])
                b.node("Conv", ["p", "w"], ["y"]) }, ["pad_reflect", "reflect"]),
            (model { b in
                b.node("Pad", ["x", "pads"], ["p"], name: "pad_then_add")
                b.node("Add", ["p", "p"], ["y"], name: "adder") }, ["adder", "pad_then_add"]),
            (model { b in
                b.initializer("cp", [8], ints: [0, 1, 0, 0, 0, 0, 0, 0])
                b.node("Pad", ["x", "cp"], ["p"], name: "pad_channels")
                b.node("Conv", ["p", "w"], ["y"]) }, ["pad_channels", "spatial"]),
            (model { b in
                b.node("Pad", ["x", "pads"], ["y"], name: "pad_out") }, ["pad_out", "graph output"]),
        ]
        for (b, needles) in cases {
            XCTAssertThrowsError(try convert(b)) { error in
                let text = "\(error)"
                for s in needles { XCTAssertTrue(text.contains(s), "\(s) not in: \(text)") }
            }
        }
    }
}
