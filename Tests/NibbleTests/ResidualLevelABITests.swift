import CNibble
import Nibble
import NibbleFormat
import XCTest

/// The residual-level functions of the C ABI on a hand-built ternary model (docs/FORMAT.md §4.4).
final class ResidualLevelABITests: XCTestCase {
    /// x[1,4] → ternary FC (2 outputs, group size 2, edges at levels 0 and 2) → Relu. With x = [1, 2, 0.5, 3]:
    /// edge 0 alone gives y₀ = 1.625, both edges 1.825 (worked out in NibbleRuntimeTests/TernaryStepTests).
    static func ternaryModel() throws -> [UInt8] {
        func floats(_ v: [Float]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }
        let graph = Graph(
            tensors: [
                TensorDesc(name: "x", dtype: .float32, shape: [1, 4], role: .input),
                TensorDesc(name: "T0", dtype: .int8, shape: [2, 4], role: .constant),
                TensorDesc(name: "b", dtype: .float32, shape: [2], role: .constant),
                TensorDesc(name: "S0", dtype: .float32, shape: [2, 2], role: .constant),
                TensorDesc(name: "T1", dtype: .int8, shape: [2, 4], role: .constant),
                TensorDesc(name: "S1", dtype: .float32, shape: [2, 2], role: .constant),
                TensorDesc(name: "h", dtype: .float32, shape: [1, 2], role: .intermediate),
                TensorDesc(name: "y", dtype: .float32, shape: [1, 2], role: .intermediate),
            ],
            nodes: [
                Node(name: "fc", op: .fullyConnected, precision: .ternary, inputs: [0, 1, 2, 3, 4, 5], outputs: [6],
                     attributes: [Attribute(.inputScale, floats: [0.5]), Attribute(.inputZeroPoint, ints: [0]),
                                  Attribute(.groupSize, ints: [2]), Attribute(.edgeLevels, ints: [0, 2])]),
                Node(name: "relu", op: .relu, inputs: [6], outputs: [7]),
            ],
            inputs: [0], outputs: [7])
        let t0: [Int8] = [1, 0, -1, 1, 0, 1, 1, -1], t1: [Int8] = [0, 1, 0, 0, 1, 0, 0, 0]
        return try Writer.serialize(graph, constantData: [
            [], t0.map { UInt8(bitPattern: $0) }, floats([0.5, 0]), floats([0.5, 0.25, 1, 2]),
            t1.map { UInt8(bitPattern: $0) }, floats([0.1, 0.2, 0.3, 0.4]), [], [],
        ])
    }

    func testResidualLevelsThroughTheABI() throws {
        let file = try Self.ternaryModel()
        var model: OpaquePointer?
        XCTAssertEqual(file.withUnsafeBytes { nibble_model_load_memory($0.baseAddress, $0.count, &model) }, NIBBLE_OK,
                       String(cString: nibble_last_error()))
        defer { nibble_model_free(model) }
        var level: Int32 = -5
        XCTAssertEqual(nibble_model_max_residual_level(model, &level), NIBBLE_OK)
        XCTAssertEqual(level, 2)
        XCTAssertEqual(nibble_model_layer_count(model), 2)
        var edges: Int32 = -1
        XCTAssertEqual(nibble_model_layer_residual_edges(model, 0, &edges), NIBBLE_OK)
        XCTAssertEqual(edges, 2)
        XCTAssertEqual(nibble_model_layer_residual_edges(model, 1, &edges), NIBBLE_OK)
        XCTAssertEqual(edges, 0)
        edges = 7
        XCTAssertEqual(nibble_model_layer_residual_edges(model, 2, &edges), NIBBLE_INVALID_ARGUMENT)
        XCTAssertEqual(edges, 7, "out-parameter untouched on failure")

        var options = nibble_session_options()
        nibble_session_options_default(&options)
        options.residual_level = 0
        var session: OpaquePointer?
        XCTAssertEqual(nibble_session_create(model, &options, &session), NIBBLE_OK)
        defer { nibble_session_free(session) }
        func run() -> Float {
            let x: [Float] = [1, 2, 0.5, 3]
            XCTAssertEqual(x.withUnsafeBytes { nibble_session_set_input(session, 0, $0.baseAddress, $0.count) }, NIBBLE_OK)
            XCTAssertEqual(nibble_session_run(session), NIBBLE_OK)
            var y: [Float] = [0, 0]
            XCTAssertEqual(y.withUnsafeMutableBytes { nibble_session_get_output(session, 0, $0.baseAddress, $0.count) }, NIBBLE_OK)
            return y[0]
        }
        XCTAssertEqual(run(), 1.625, accuracy: 1e-6, "options.residual_level = 0")
        XCTAssertEqual(nibble_session_set_residual_level(session, 2), NIBBLE_OK)
        XCTAssertEqual(run(), 1.825, accuracy: 1e-6)
        XCTAssertEqual(nibble_session_set_layer_residual_level(session, 0, 1), NIBBLE_OK)
        XCTAssertEqual(run(), 1.625, accuracy: 1e-6)
        XCTAssertEqual(nibble_session_set_residual_level(session, -1), NIBBLE_OK)
        XCTAssertEqual(run(), 1.825, accuracy: 1e-6)

        XCTAssertEqual(nibble_session_set_residual_level(session, 3), NIBBLE_INVALID_ARGUMENT)
        XCTAssertTrue(String(cString: nibble_session_last_error(session)).contains("-1...2"))
        XCTAssertEqual(nibble_session_set_layer_residual_level(session, 1, 1), NIBBLE_UNSUPPORTED)
        XCTAssertTrue(String(cString: nibble_session_last_error(session)).contains("'relu'"))
        XCTAssertEqual(nibble_session_set_layer_residual_level(session, 9, 0), NIBBLE_INVALID_ARGUMENT)
        XCTAssertEqual(run(), 1.825, accuracy: 1e-6, "failed calls leave the levels as they were")

        options.residual_level = 3
        var bad: OpaquePointer?
        XCTAssertEqual(nibble_session_create(model, &options, &bad), NIBBLE_INVALID_ARGUMENT)
        XCTAssertNil(bad)
    }
}
