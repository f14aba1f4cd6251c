import XCTest
@testable import NibbleFormat

/// The bit-serial additions (docs/FORMAT.md §4.5): precision code 4, dtype code 6 (bits64 words), attribute
/// keys 18–22; a packed node survives a write/read round trip.
final class BitSerialFormatTests: XCTestCase {
    func testCodesAreTheDocumentedOnes() {
        XCTAssertEqual(Precision.bitSerial.rawValue, 4)
        XCTAssertEqual(DType.bits64.rawValue, 6)
        XCTAssertEqual(DType.bits64.byteSize, 8)
        XCTAssertEqual(DType.bits64.name, "bits64")
        XCTAssertEqual([AttributeKey.weightBits, .weightEncoding, .activationBits, .activationEncoding, .activationStep].map(\.rawValue),
                       [18, 19, 20, 21, 22])
        XCTAssertEqual([AttributeKey.weightBits, .weightEncoding, .activationBits, .activationEncoding, .activationStep].map(\.name),
                       ["weight_bits", "weight_encoding", "activation_bits", "activation_encoding", "activation_step"])
    }

    func testBitSerialNodeRoundTrip() throws {
        let graph = Graph(
            tensors: [
                TensorDesc(name: "x", dtype: .float32, shape: [1, 70], role: .input),
                TensorDesc(name: "W", dtype: .bits64, shape: [2, 3, 2], role: .constant),
                TensorDesc(name: "S", dtype: .float32, shape: [3], role: .constant),
                TensorDesc(name: "y", dtype: .float32, shape: [1, 3], role: .intermediate),
            ],
            nodes: [Node(name: "fc", op: .fullyConnected, precision: .bitSerial, inputs: [0, 1, absentTensor, 2], outputs: [3],
                         attributes: [Attribute(.weightBits, ints: [2]), Attribute(.weightEncoding, ints: [2]),
                                      Attribute(.activationBits, ints: [3]), Attribute(.activationEncoding, ints: [1]),
                                      Attribute(.activationStep, floats: [0.25])])],
            inputs: [0], outputs: [3], metadata: [("recipe", "w2a3")])
        let words: [UInt64] = [1, 0x3F, 0xFFFF_FFFF_FFFF_FFFF, 0x20, 7, 0, 1 << 63, 0x11, 2, 3, 4, 5]
        let wBytes = words.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
        let scales = (0..<3).flatMap { withUnsafeBytes(of: Float($0).bitPattern.littleEndian, Array.init) }
        let bytes = try Writer.serialize(graph, constantData: [[], wBytes, scales, []])
        let file = try bytes.withUnsafeBytes { try Reader.read($0) }
        XCTAssertEqual(file.graph.nodes[0].precision, .bitSerial)
        XCTAssertEqual(file.graph.nodes[0].precisionLabel, "w2a3")
        XCTAssertEqual(file.graph.tensors[1].dtype, .bits64)
        XCTAssertEqual(file.graph.tensors[1].dataSize, 12 * 8)
        XCTAssertEqual(Array(file.constantBytes(1)), wBytes)
        XCTAssertEqual(file.graph.nodes[0].attribute(.activationStep)?.floats, [0.25])
        XCTAssertEqual(Precision.int8.name, Node(name: "n", op: .conv, precision: .int8, inputs: [], outputs: []).precisionLabel)
    }
}
