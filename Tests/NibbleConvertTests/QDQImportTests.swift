import Foundation
@testable import NibbleConvert
import NibbleFormat
import XCTest

/// Pre-quantized (QDQ) ONNX models convert to int8 with their own scales (Importer+QDQ.swift, QDQRecipe.swift);
/// fixtures from scripts/make-qdq-fixtures.py, references from ONNX Runtime.
final class QDQImportTests: XCTestCase {
    /// The scale of the DequantizeLinear that produces graph output 0 (the output's quantization step), if any.
    func outputStep(_ onnx: [UInt8]) throws -> Float? {
        let m = try ONNXImporter.decode(onnx)
        let out = m.graph.output[0].name
        guard let dq = m.graph.node.first(where: { $0.output.first == out && $0.opType == "DequantizeLinear" }),
              let s = m.graph.initializer.first(where: { $0.name == dq.input[1] }) else { return nil }
        return try HostTensor(proto: s, context: "scale").floats.first
    }

    /// `steps`: tolerance in steps of the output's DequantizeLinear, or `absolute` when the output has none.
    func convertAndCompare(_ name: String, input: String, output: String, steps: Float, absolute: Float? = nil) throws -> (nib: [UInt8], report: ConversionReport) {
        let onnx = try Fixtures.bytes(name)
        let x = try Fixtures.npy(input)
        let ref = try XCTUnwrap(try Fixtures.npy(output).floats)
        let (nib, report) = try Converter.convert(onnxBytes: onnx, recipe: .fp32)
        let got = try NibRunner(nib).run(try XCTUnwrap(x.floats))
        XCTAssertEqual(got.count, ref.count)
        var worst: Float = 0
        for (a, b) in zip(got, ref) { worst = max(worst, abs(a - b)) }
        let step = try outputStep(onnx) ?? (absolute ?? 0) / steps
        XCTAssertGreaterThan(step, 0, "\(name): expected a DequantizeLinear on the output")
        XCTAssertLessThanOrEqual(worst, steps * step, "\(name): max |nibble − onnxruntime| = \(worst), output step \(step)")
        print("\(name): max |nibble − onnxruntime| = \(worst) (\(worst / step) output steps of \(step))")
        return (nib, report)
    }

    func testONNXRuntimeQDQModelsRunInt8WithTheirOwnScales() throws {
        for name in ["mlp", "resnet_small"] {
            let (nib, report) = try convertAndCompare("\(name).qdq.onnx", input: "\(name).input.npy", output: "\(name).qdq.output.npy", steps: 2)
            let heavy = report.rows.filter { $0.op == "Conv" || $0.op == "FullyConnected" }
            XCTAssertFalse(heavy.isEmpty)
            XCTAssertTrue(heavy.allSatisfy { $0.precision == "int8" }, "\(report)")
            // The first layer's input quantization is the model's own input Q/DQ pair, not a calibrated one.
            let m = try ONNXImporter.decode(try Fixtures.bytes("\(name).qdq.onnx"))
            func initializer(_ n: String) throws -> HostTensor {
                try HostTensor(proto: try XCTUnwrap(m.graph.initializer.first { $0.name == n }), context: n)
            }
            let g = try nib.withUnsafeBytes { try Reader.read($0) }.graph
            let first = try XCTUnwrap(g.nodes.first { $0.op == .conv || $0.op == .fullyConnected })
            XCTAssertEqual(first.attribute(.inputScale)?.floats.first, try initializer("input_scale").floats[0])
            XCTAssertEqual(first.attribute(.inputZeroPoint)?.ints.first, try initializer("input_zero_point").ints?[0])
            XCTAssertNotNil(g.metadataValue("qdq"))
        }
    }

    func testInt4AndUint4WeightsWidenToInt8WithTheSameScale() throws {
        // No Q/DQ after the last layer and every rounding is reproduced exactly: only float summation order differs.
        let (nib, _) = try convertAndCompare("int4_mlp.qdq.onnx", input: "int4_mlp.qdq.input.npy", output: "int4_mlp.qdq.output.npy", steps: 1, absolute: 1e-4)
        let (g, data) = try readNib(nib)
        let fcs = g.nodes.filter { $0.op == .fullyConnected }
        XCTAssertEqual(fcs.count, 2)
        XCTAssertTrue(fcs.allSatisfy { $0.precision == .int8 })
        let m = try ONNXImporter.decode(try Fixtures.bytes("int4_mlp.qdq.onnx"))
        func initializer(_ n: String) throws -> HostTensor {
            try HostTensor(proto: try XCTUnwrap(m.graph.initializer.first { $0.name == n }), context: n)
        }
        func int8s(_ t: Int) -> [Int64] { (data[t] ?? []).map { Int64(Int8(bitPattern: $0)) } }
        func floats(_ t: Int) -> [Float] {
            let b = data[t] ?? []
            return stride(from: 0, to: b.count, by: 4).map { i in Float(bitPattern: UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24) }
        }
        // fc1: int4 weights [24, 16] per output channel, zero point 0 → the same integers and scales.
        let w1 = try XCTUnwrap(try initializer("w1_q").ints)
        XCTAssertEqual(int8s(fcs[0].inputs[1]), w1)
        XCTAssertTrue(w1.allSatisfy { (-8...7).contains($0) })
        XCTAssertEqual(floats(fcs[0].inputs[3]), try initializer("w1_scale").floats)
        // fc2: uint4 [24, 10] per tensor with zero point 8, read by MatMul → [10, 24] int8 values q − 8.
        let w2 = try XCTUnwrap(try initializer("w2_q").ints)
        let stored2 = int8s(fcs[1].inputs[1])
        XCTAssertEqual(stored2.count, 240)
        for o in 0..<10 { for k in 0..<24 { XCTAssertEqual(stored2[o * 24 + k], w2[k * 10 + o] - 8) } }
        XCTAssertEqual(floats(fcs[1].inputs[3]), [Float](repeating: try initializer("w2_scale").floats[0], count: 10))
        // Signed int8 activations map to uint8 with zero point + 128 and the same scale.
        XCTAssertEqual(fcs[0].attribute(.inputZeroPoint)?.ints.first, -5 + 128)
        XCTAssertEqual(fcs[1].attribute(.inputZeroPoint)?.ints.first, -128 + 128)
        XCTAssertEqual(fcs[1].attribute(.inputScale)?.floats.first, try initializer("h_scale").floats[0])
    }

    /// The graph of a `.nib` and the stored bytes of each constant tensor.
    func readNib(_ nib: [UInt8]) throws -> (Graph, [Int: [UInt8]]) {
        try nib.withUnsafeBytes { raw in
            let f = try Reader.read(raw)
            var data: [Int: [UInt8]] = [:]
            for (i, t) in f.graph.tensors.enumerated() where t.role == .constant {
                data[i] = Array(f.weights[t.dataOffset..<(t.dataOffset + t.dataSize)])
            }
            return (f.graph, data)
        }
    }

    /// Accuracy on the digits test set of the demo models quantized by ONNX Runtime (QDQ) vs Nibble's import of them.
    func testDigitsQDQAccuracyMatchesONNXRuntime() throws {
        let dir = Fixtures.samplesDir
        guard case .int64(let labels) = try Fixtures.npy("digits_test_y.npy", in: dir).storage else { return XCTFail("labels") }
        for (model, x) in [("digits_mlp", "digits_test_x.npy"), ("digits_cnn", "digits_test_x_img.npy")] {
            guard case .int64(let ortPred) = try Fixtures.npy("\(model).qdq.pred.npy").storage else { return XCTFail("predictions") }
            let (nib, _) = try Converter.convert(onnxBytes: try Fixtures.bytes("\(model).qdq.onnx"))
            let out = try NibRunner(nib).run(try XCTUnwrap(try Fixtures.npy(x, in: dir).floats))
            var correct = 0, ortCorrect = 0, agree = 0
            for i in labels.indices {
                let row = out[(i * 10)..<((i + 1) * 10)]
                let pred = Int64(row.indices.max { row[$0] < row[$1] }! - i * 10)
                if pred == labels[i] { correct += 1 }
                if ortPred[i] == labels[i] { ortCorrect += 1 }
                if pred == ortPred[i] { agree += 1 }
            }
            let n = Double(labels.count)
            print("\(model) QDQ: ONNX Runtime \(Double(ortCorrect) / n * 100)%, Nibble \(Double(correct) / n * 100)%, same prediction \(agree)/\(labels.count)")
            XCTAssertLessThanOrEqual(abs(correct - ortCorrect), Int(0.01 * n), "\(model): Nibble \(correct) vs ONNX Runtime \(ortCorrect) correct of \(labels.count)")
        }
    }

    // MARK: - malformed and unsupported QDQ

    static func quantized(_ name: String, _ shape: [Int], type: Int32, _ values: [Int64]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = shape.map { Int64($0) }
        t.dataType = type
        var raw = Data()
        if type == 21 || type == 22 {
            for i in stride(from: 0, to: values.count, by: 2) {
                let lo = UInt8(truncatingIfNeeded: values[i]) & 0xF
                let hi = i + 1 < values.count ? UInt8(truncatingIfNeeded: values[i + 1]) & 0xF : 0
                raw.append(lo | hi << 4)
            }
        } else {
            for v in values { raw.append(UInt8(truncatingIfNeeded: v)) }
        }
        t.rawData = raw
        return t
    }

    /// x [1, 4] → (optional Q/DQ) → Gemm(transB=1) with DequantizeLinear int8 weights [3, 4] → y.
    func model(weightScale: [Float] = [0.5, 0.25, 0.125], axis: Int64 = 0, weightType: Int32 = 3, weights: [Int64]? = nil,
               activation: Bool = true, dqScale: Float = 0.1, edit: (inout ONNXBuilder) -> Void = { _ in }) throws -> [UInt8] {
        var m = ONNXBuilder()
        m.input("x", ["N", 4])
        m.initializers.append(Self.quantized("w_q", [3, 4], type: weightType, weights ?? (0..<12).map { Int64($0 % 7) - 3 }))
        m.initializer("w_s", [weightScale.count], weightScale)
        m.initializer("a_s", [], [0.1])
        m.initializer("a_s2", [], [dqScale])
        m.initializers.append(Self.quantized("a_zp", [], type: 2, [0]))
        m.node("DequantizeLinear", ["w_q", "w_s"], ["w"], name: "w_dq", ["axis": .int(axis)])
        if activation {
            m.node("QuantizeLinear", ["x", "a_s", "a_zp"], ["x_q"], name: "x_q")
            m.node("DequantizeLinear", ["x_q", "a_s2", "a_zp"], ["x_dq"], name: "x_dq")
        }
        m.node("Gemm", [activation ? "x_dq" : "x", "w"], ["y"], name: "fc", ["transB": .int(1)])
        m.outputs = ["y"]
        edit(&m)
        return try m.bytes()
    }

    func expectError(_ onnx: [UInt8], _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Converter.convert(onnxBytes: onnx), file: file, line: line) { error in
            for f in fragments { XCTAssertTrue("\(error)".contains(f), "'\(f)' not in: \(error)", file: file, line: line) }
        }
    }

    /// uint4/int4 activation pairs (opset 21) of a QAT ResNet: each records its grid on the node that produces the
    /// map (`output_grid` [step, zero point, 4]), and the Relu/Clip after a residual Add fuses into the Add.
    func testFourBitActivationPairsRecordTheirGridAndClampsFuseIntoAdd() throws {
        let r = try ONNXImporter.importGraph(try ONNXImporter.decode(try Fixtures.bytes("digits_resnet_q4.qdq.onnx", in: Fixtures.samplesDir)))
        let g = r.graph
        let grids = g.nodes.compactMap { $0.attribute(.outputGrid)?.floats }
        XCTAssertGreaterThanOrEqual(grids.count, 10)
        for grid in grids {
            XCTAssertEqual(grid.count, 3)
            XCTAssertGreaterThan(grid[0], 0)
        }
        XCTAssertTrue(grids.contains { $0[1] == 0 && $0[2] == 4 }, "uint4 after ReLU: zero point 0")
        XCTAssertTrue(grids.contains { $0[1] == 8 && $0[2] == 4 }, "int4 on signed maps: zero point 8 on the unsigned symbols")
        let adds = g.nodes.filter { $0.op == .add }
        XCTAssertEqual(adds.count, 3)
        for add in adds { XCTAssertEqual(add.attribute(.outputMin)?.floats, [0], add.name) }
        XCTAssertFalse(g.nodes.contains { $0.op == .relu }, "every Relu fused")
    }

    func testWellFormedSyntheticModelConverts() throws {
        let (nib, report) = try Converter.convert(onnxBytes: try model())
        XCTAssertEqual(report.rows.first { $0.name == "fc" }?.precision, "int8")
        // y = x_dq · (q·s)ᵀ exactly: inputs on the 0.1 grid within the uint8 range are represented exactly.
        let x: [Float] = [0.3, 1.2, 0, 2.5]
        let y = try NibRunner(nib).run(x)
        let q = (0..<12).map { Float($0 % 7 - 3) }, s: [Float] = [0.5, 0.25, 0.125]
        for o in 0..<3 {
            let want = (0..<4).reduce(Float(0)) { $0 + x[$1] * q[o * 4 + $1] * s[o] }
            XCTAssertEqual(y[o], want, accuracy: 1e-4)
        }
        // A Q/DQ pair clamps like the integer type: uint8 zero point 0 is a Relu (onnxruntime drops Relu before Q).
        let neg = try NibRunner(nib).run([-1, -2, -3, -4])
        XCTAssertEqual(neg, [0, 0, 0])
    }

    /// DQ(int8 W) → Conv → BatchNormalization: BN folds into the conv and the weights stay on their grid, with
    /// scale[o]·|bn_scale[o]| (a negative BN scale flips q's sign).
    func testBatchNormFoldsIntoPrequantizedWeights() throws {
        let q: [Int64] = [3, -2, 1, 5, -4, 0, 2, 1]  // [4, 2, 1, 1]
        let wScale: [Float] = [0.5, 0.25, 0.125, 1], bnScale: [Float] = [2, -0.5, 1, 0.25]
        func build(dequantized: Bool) throws -> [UInt8] {
            var m = ONNXBuilder()
            m.input("x", ["N", 2, 3, 3])
            if dequantized {
                m.initializers.append(Self.quantized("w_q", [4, 2, 1, 1], type: 3, q))
                m.initializer("w_s", [4], wScale)
                m.node("DequantizeLinear", ["w_q", "w_s"], ["w"], name: "w_dq", ["axis": .int(0)])
            } else {
                m.initializer("w", [4, 2, 1, 1], (0..<8).map { Float(q[$0]) * wScale[$0 / 2] })
            }
            m.initializer("a_s", [], [0.25])
            m.initializers.append(Self.quantized("a_zp", [], type: 2, [128]))
            m.node("QuantizeLinear", ["x", "a_s", "a_zp"], ["x_q"], name: "x_q")
            m.node("DequantizeLinear", ["x_q", "a_s", "a_zp"], ["x_dq"], name: "x_dq")
            m.node("Conv", ["x_dq", "w"], ["c"], name: "conv")
            m.initializer("bn_s", [4], bnScale)
            m.initializer("bn_b", [4], [0.1, 0.2, -0.3, 0])
            m.initializer("bn_m", [4], [0, 1, -1, 0.5])
            m.initializer("bn_v", [4], [1, 4, 0.25, 1])
            m.node("BatchNormalization", ["c", "bn_s", "bn_b", "bn_m", "bn_v"], ["y"], name: "bn", ["epsilon": .float(0)])
            m.outputs = ["y"]
            return try m.bytes()
        }
        let (nib, _) = try Converter.convert(onnxBytes: try build(dequantized: true))
        let (g, data) = try readNib(nib)
        let conv = try XCTUnwrap(g.nodes.first { $0.op == .conv })
        XCTAssertEqual(conv.precision, .int8)
        XCTAssertEqual(g.nodes.count, 2, "BN folded: the input clamp and the conv remain")
        let stored = (data[conv.inputs[1]] ?? []).map { Int64(Int8(bitPattern: $0)) }
        XCTAssertEqual(stored, (0..<8).map { bnScale[$0 / 2] < 0 ? -q[$0] : q[$0] })
        let scales = (data[conv.inputs[3]] ?? []).withUnsafeBytes { raw in (0..<4).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } }
        let bnStd: [Float] = [1, 2, 0.5, 1]
        for o in 0..<4 { XCTAssertEqual(scales[o], wScale[o] * abs(bnScale[o] / bnStd[o]), accuracy: 1e-7) }
        // Same function as the float model on inputs the Q/DQ pair represents exactly (multiples of 0.25 in range).
        let x: [Float] = (0..<18).map { Float($0 % 9 - 4) * 0.25 }
        let want = try NibRunner(try Converter.convert(onnxBytes: try build(dequantized: false)).nib).run(x)
        let got = try NibRunner(nib).run(x)
        for (a, b) in zip(got, want) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testPerInputChannelWeightScalesAreRejected() throws {
        expectError(try model(weightScale: [0.5, 0.25, 0.125, 1], axis: 1), ["node 'fc' (Gemm)", "w_dq", "axis 1", "output channel"])
    }

    func testRequantizationBetweenDifferentScalesIsRejected() throws {
        expectError(try model(dqScale: 0.2), ["node 'x_dq' (DequantizeLinear)", "QuantizeLinear 'x_q'", "requantization"])
    }

    func testIntegerOutputOfQuantizeLinearReadByAnotherOperator() throws {
        let onnx = try model { m in
            m.node("Relu", ["x_q"], ["r"], name: "bad_relu")
            m.outputs.append("r")
        }
        expectError(onnx, ["node 'bad_relu' (Relu)", "QuantizeLinear 'x_q'", "only a DequantizeLinear"])
    }

    func testBlockedQuantizationIsRejected() throws {
        let onnx = try model { m in
            m.nodes[0].attribute.append({ var a = Onnx_AttributeProto(); a.name = "block_size"; a.type = .int; a.i = 2; return a }())
        }
        expectError(onnx, ["node 'w_dq' (DequantizeLinear)", "block_size 2"])
    }

    func testBadScalesAndZeroPoints() throws {
        expectError(try model(weightScale: [0.5, 0, 0.125]), ["node 'w_dq'", "w_s", "positive finite"])
        expectError(try model(weightScale: [0.5, 0.25]), ["node 'w_dq'", "2 values but axis 0", "[3, 4]"])
        let zpShape = try model { m in
            m.initializers.append(Self.quantized("w_zp", [2], type: 3, [0, 0]))
            m.nodes[0].input.append("w_zp")
        }
        expectError(zpShape, ["node 'w_dq'", "zero point 'w_zp'", "must match"])
        let zpType = try model { m in
            m.initializers.append(Self.quantized("w_zp", [3], type: 2, [0, 0, 0]))
            m.nodes[0].input.append("w_zp")
        }
        expectError(zpType, ["node 'w_dq'", "uint8", "int8", "same type"])
        let zpRange = try model { m in
            var zp = Onnx_TensorProto()
            zp.name = "w_zp"; zp.dims = [3]; zp.dataType = 3; zp.int32Data = [0, 300, 0]
            m.initializers.append(zp)
            m.nodes[0].input.append("w_zp")
        }
        expectError(zpRange, ["node 'w_dq'", "zero point 'w_zp' holds 300", "int8 -128...127"])
    }

    func testTruncatedInt4DataIsRejected() throws {
        let onnx = try model(weightType: 22) { m in m.initializers[0].rawData.removeLast() }
        expectError(onnx, ["initializer 'w_q'", "raw_data has 5 bytes", "need 6", "two 4-bit values per byte"])
    }

    func testWeightsOutsideInt8AreRequantizedAndReported() throws {
        let (nib, report) = try Converter.convert(onnxBytes: try model(weightType: 2, weights: (0..<12).map { Int64(190 + $0) }))
        XCTAssertEqual(report.rows.first { $0.name == "fc" }?.precision, "int8")
        let (g, _) = try readNib(nib)
        let note = try XCTUnwrap(g.metadataValue("qdq"))
        XCTAssertTrue(note.contains("requantized") && note.contains("fc (weight [0, 0] is 190 steps"), note)
        // Still the model's function: y = x_dq · (q·s)ᵀ up to the new per-channel int8 rounding (≤ half a step per weight).
        let x: [Float] = [0.3, 1.2, 0, 2.5]
        let y = try NibRunner(nib).run(x)
        let s: [Float] = [0.5, 0.25, 0.125]
        for o in 0..<3 {
            let want = (0..<4).reduce(Float(0)) { $0 + x[$1] * Float(190 + o * 4 + $1) * s[o] }
            XCTAssertEqual(y[o], want, accuracy: want * 0.01)
        }
    }

    func testPrequantizedWeightsWithoutActivationPairNeedCalibration() throws {
        expectError(try model(activation: false), ["node 'fc'", "w_dq", "--calibrate"])
        let calib = try CalibrationData(NPYArray(shape: [2, 4], floats: [0, 1, 2, 3, -1, 0.5, 1, 2]))
        let (_, report) = try Converter.convert(onnxBytes: try model(activation: false), recipe: .fp32, calibration: calib)
        XCTAssertEqual(report.rows.first { $0.name == "fc" }?.precision, "int8")
    }

    func testQOperatorFormatIsRejected() throws {
        var m = ONNXBuilder()
        m.input("x", ["N", 4])
        m.node("QLinearConv", ["x"], ["y"], name: "qconv")
        m.outputs = ["y"]
        expectError(try m.bytes(), ["node 'qconv' (QLinearConv)", "QDQ format"])
    }
}
