import Foundation
import NibbleConvert
import NibbleFormat
import XCTest

final class ImporterTests: XCTestCase {
    func importFixture(_ name: String) throws -> ImportedModel {
        try ONNXImporter.importModel(onnxBytes: try Fixtures.bytes("\(name).onnx"))
    }

    func assertSerializesAndReads(_ m: ImportedModel, file: StaticString = #filePath, line: UInt = #line) throws {
        let nib = try Writer.serialize(m.graph, constantData: m.constantData)
        let read = try nib.withUnsafeBytes { try Reader.read($0) }
        XCTAssertEqual(read.graph.nodes.count, m.graph.nodes.count, file: file, line: line)
    }

    func testMLP() throws {
        let m = try importFixture("mlp")
        let ops = m.graph.nodes.map { $0.op }
        // Gemm+Relu fused, MatMul+Add fused into one FullyConnected, Sigmoid, Gemm, Softmax.
        XCTAssertEqual(ops, [.fullyConnected, .fullyConnected, .sigmoid, .fullyConnected, .softmax])
        XCTAssertEqual(m.graph.nodes[0].attribute(.outputMin)?.floats, [0])
        XCTAssertNotEqual(m.graph.nodes[1].inputs[2], absentTensor, "MatMul's Add bias should be fused")
        // Weights stored [out, in].
        XCTAssertEqual(m.graph.tensors[m.graph.nodes[1].inputs[1]].shape, [16, 32])
        XCTAssertEqual(m.graph.tensors[m.graph.nodes[3].inputs[1]].shape, [10, 16])
        XCTAssertEqual(m.graph.tensors[m.graph.inputs[0]].shape, [1, 64])
        XCTAssertEqual(m.graph.tensors[m.graph.outputs[0]].name, "output")
        XCTAssertEqual(m.graph.tensors[m.graph.outputs[0]].shape, [1, 10])
        try assertSerializesAndReads(m)
    }

    func testResNetFoldsBatchNormAndShapeSubgraph() throws {
        let m = try importFixture("resnet_small")
        let ops = m.graph.nodes.map { $0.op }
        XCTAssertEqual(ops.filter { $0 == .conv }.count, 6)
        // 6 BatchNorms folded away, no Mul/Add for them; the only Adds are the two residual sums.
        XCTAssertEqual(ops.filter { $0 == .add }.count, 2)
        XCTAssertFalse(ops.contains(.mul))
        // Shape→Gather→Unsqueeze→Concat folded: at most one Reshape left (Flatten of [1,32,1,1]); no int64 tensors.
        XCTAssertLessThanOrEqual(ops.filter { $0 == .reshape }.count, 1)
        XCTAssertFalse(m.graph.tensors.contains { $0.dtype != .float32 })
        // Relu after Conv+BN fused into the conv.
        XCTAssertEqual(m.graph.nodes.first?.op, .conv)
        XCTAssertEqual(m.graph.nodes.first?.attribute(.outputMin)?.floats, [0])
        XCTAssertEqual(ops.last, .fullyConnected)
        for n in m.graph.nodes where n.op == .conv {
            for key in [AttributeKey.kernelShape, .strides, .pads, .dilations, .group] {
                XCTAssertNotNil(n.attribute(key), "conv '\(n.name)' lacks \(key.name)")
            }
            XCTAssertNotEqual(n.inputs[2], absentTensor, "folded BN gives every conv a bias")
        }
        try assertSerializesAndReads(m)
    }

    func testMobileNetBlock() throws {
        let m = try importFixture("mobilenetv3_block")
        let g = m.graph
        let ops = g.nodes.map { $0.op }
        XCTAssertEqual(ops.filter { $0 == .conv }.count, 6)
        XCTAssertTrue(ops.contains(.hardSwish))
        XCTAssertTrue(ops.contains(.hardSigmoid))
        XCTAssertTrue(ops.contains(.transpose))
        XCTAssertTrue(ops.contains(.averagePool))
        XCTAssertFalse(ops.contains(.clip), "Clip(0,6) after the dilated conv should be fused")
        let depthwise = try XCTUnwrap(g.nodes.first { $0.attribute(.group)?.ints == [48] })
        XCTAssertEqual(depthwise.attribute(.strides)?.ints, [2, 2])
        let dilated = try XCTUnwrap(g.nodes.first { $0.attribute(.dilations)?.ints == [2, 2] })
        XCTAssertEqual(dilated.attribute(.pads)?.ints, [2, 1, 2, 3])
        XCTAssertEqual(dilated.attribute(.outputMin)?.floats, [0])
        XCTAssertEqual(dilated.attribute(.outputMax)?.floats, [6])
        let pool = try XCTUnwrap(g.nodes.first { $0.op == .averagePool })
        XCTAssertEqual(pool.attribute(.countIncludePad)?.ints, [0])
        let hs = try XCTUnwrap(g.nodes.first { $0.op == .hardSigmoid })
        XCTAssertEqual(hs.attribute(.alpha)?.floats.first ?? 0, 1.0 / 6.0, accuracy: 1e-6)
        let shuffle = try XCTUnwrap(g.nodes.first { $0.op == .transpose })
        XCTAssertEqual(shuffle.attribute(.perm)?.ints, [0, 2, 1, 3, 4])
        XCTAssertEqual(g.tensors[shuffle.inputs[0]].shape, [1, 2, 24, 10, 10])
        XCTAssertEqual(g.nodes.first { $0.op == .concat }?.attribute(.axis)?.ints, [1])
        try assertSerializesAndReads(m)
    }

    func testUnsupportedOpNamesTheNode() throws {
        let bytes = try Fixtures.bytes("unsupported_op.onnx")
        XCTAssertThrowsError(try ONNXImporter.importModel(onnxBytes: bytes)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("bad_node"), text)
            XCTAssertTrue(text.contains("LSTM"), text)
            XCTAssertTrue(text.contains("supported: "), text)
        }
    }

    func testTruncatedAndGarbageAreErrors() throws {
        for name in ["truncated.onnx", "not_onnx.onnx"] {
            let bytes = try Fixtures.bytes(name)
            XCTAssertThrowsError(try ONNXImporter.importModel(onnxBytes: bytes), name) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("ONNX model"), text)
                XCTAssertTrue(text.contains("\(bytes.count) bytes"), text)
            }
        }
        XCTAssertThrowsError(try ONNXImporter.importModel(onnxBytes: []))
    }

    /// Every prefix of a valid model either converts or throws; nothing traps.
    func testPrefixesNeverCrash() throws {
        let bytes = try Fixtures.bytes("resnet_small.onnx")
        var step = 1
        var n = 0
        while n < bytes.count {
            _ = try? ONNXImporter.importModel(onnxBytes: Array(bytes[0..<n]))
            n += step
            step = max(1, n / 8)
        }
    }

    func testDigitsModelsImport() throws {
        for name in ["digits_mlp.onnx", "digits_cnn.onnx"] {
            let m = try ONNXImporter.importModel(onnxBytes: try Fixtures.bytes(name, in: Fixtures.samplesDir))
            XCTAssertFalse(m.graph.nodes.isEmpty)
            try assertSerializesAndReads(m)
        }
    }
}

final class ImporterRobustnessTests: XCTestCase {
    /// Random byte flips in valid models: the importer either succeeds or throws, never traps.
    func testMutatedModelsNeverCrash() throws {
        var rng = SplitMix64(seed: 0x5EED)
        for name in ["mlp.onnx", "resnet_small.onnx", "mobilenetv3_block.onnx"] {
            let original = try Fixtures.bytes(name)
            var accepted = 0
            for _ in 0..<80 {
                var bytes = original
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    let at = Int(rng.next() % UInt64(bytes.count))
                    bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                }
                if let m = try? ONNXImporter.importModel(onnxBytes: bytes) {
                    accepted += 1
                    // Whatever imports must serialize into a .nib the reader accepts.
                    let nib = try Writer.serialize(m.graph, constantData: m.constantData)
                    XCTAssertNoThrow(try nib.withUnsafeBytes { try Reader.read($0) }, name)
                }
            }
            XCTAssertGreaterThan(accepted, 0, "\(name): some mutations (e.g. inside weights) must still import")
        }
    }
}

/// Deterministic generator for the mutation test (seed printed by the assertion messages' reproducibility).
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
