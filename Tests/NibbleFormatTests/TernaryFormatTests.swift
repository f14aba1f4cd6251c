import XCTest
@testable import NibbleFormat

/// The ternary additions (docs/FORMAT.md §4.4): precision code 3, attribute keys 16 (group_size) and
/// 17 (edge_levels), int8 planes and float32 scale tensors survive a write/read round trip.
final class TernaryFormatTests: XCTestCase {
    func testCodesAreTheDocumentedOnes() {
        XCTAssertEqual(Precision.ternary.rawValue, 3)
        XCTAssertEqual(Precision.ternary.name, "ternary")
        XCTAssertEqual(AttributeKey.groupSize.rawValue, 16)
        XCTAssertEqual(AttributeKey.edgeLevels.rawValue, 17)
        XCTAssertEqual(AttributeKey.groupSize.name, "group_size")
        XCTAssertEqual(AttributeKey.edgeLevels.name, "edge_levels")
    }

    func testTernaryNodeRoundTrip() throws {
        let planeShape = [3, 4]
        let graph = Graph(
            tensors: [
                TensorDesc(name: "x", dtype: .float32, shape: [1, 4], role: .input),
                TensorDesc(name: "T0", dtype: .int8, shape: planeShape, role: .constant),
                TensorDesc(name: "S0", dtype: .float32, shape: [3, 2], role: .constant),
                TensorDesc(name: "T1", dtype: .int8, shape: planeShape, role: .constant),
                TensorDesc(name: "S1", dtype: .float32, shape: [3, 2], role: .constant),
                TensorDesc(name: "y", dtype: .float32, shape: [1, 3], role: .intermediate),
            ],
            nodes: [Node(name: "fc", op: .fullyConnected, precision: .ternary, inputs: [0, 1, absentTensor, 2, 3, 4], outputs: [5],
                         attributes: [Attribute(.inputScale, floats: [0.5]), Attribute(.inputZeroPoint, ints: [3]),
                                      Attribute(.groupSize, ints: [2]), Attribute(.edgeLevels, ints: [0, 4])])],
            inputs: [0], outputs: [5], metadata: [("recipe", "ternary")])
        let plane0: [UInt8] = [1, 0, 0xFF, 1, 0, 0, 1, 0xFF, 0xFF, 0xFF, 1, 1]
        let plane1: [UInt8] = [0, 1, 0, 0, 0xFF, 0, 0, 0, 0, 1, 0, 0]
        let scales = (0..<6).flatMap { withUnsafeBytes(of: Float($0).bitPattern.littleEndian, Array.init) }
        let bytes = try Writer.serialize(graph, constantData: [[], plane0, scales, plane1, scales, []])
        let file = try bytes.withUnsafeBytes { try Reader.read($0) }
        var expected = graph
        for i in expected.tensors.indices { expected.tensors[i].dataOffset = file.graph.tensors[i].dataOffset; expected.tensors[i].dataSize = file.graph.tensors[i].dataSize }
        XCTAssertEqual(file.graph, expected)
        XCTAssertEqual(Array(file.constantBytes(1)), plane0)
        XCTAssertEqual(Array(file.constantBytes(3)), plane1)
        XCTAssertEqual(file.graph.nodes[0].attribute(.edgeLevels)?.ints, [0, 4])
        // The precision byte on disk is 3: node records start right after the tensors in the graph section.
        XCTAssertEqual(file.graph.nodes[0].precision, .ternary)
    }
}
