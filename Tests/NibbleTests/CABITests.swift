import CNibble
import Nibble
import NibbleFormat
import XCTest

/// The C ABI from Swift: statuses for misuse, detail text, and a real model run through it.
final class CABITests: XCTestCase {
    /// x[1,4] → FullyConnected(W = row-major 0..11, b = 1) with a fused ReLU → y[1,3].
    static func tinyModel() throws -> [UInt8] {
        let graph = Graph(
            tensors: [
                TensorDesc(name: "x", dtype: .float32, shape: [1, 4], role: .input),
                TensorDesc(name: "w", dtype: .float32, shape: [3, 4], role: .constant),
                TensorDesc(name: "b", dtype: .float32, shape: [3], role: .constant),
                TensorDesc(name: "y", dtype: .float32, shape: [1, 3], role: .intermediate),
            ],
            nodes: [Node(name: "fc", op: .fullyConnected, inputs: [0, 1, 2], outputs: [3], attributes: [Attribute(.outputMin, floats: [0])])],
            inputs: [0], outputs: [3])
        func bytes(_ v: [Float]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }
        return try Writer.serialize(graph, constantData: [[], bytes((0..<12).map { Float($0) - 6 }), bytes([1, 1, 1]), []])
    }

    func lastError() -> String { String(cString: nibble_last_error()) }

    func testVersionsAndStatusStrings() {
        XCTAssertEqual(nibble_abi_version(), NIBBLE_ABI_VERSION)
        XCTAssertEqual(nibble_format_version(), NIBBLE_FORMAT_VERSION)
        XCTAssertTrue(String(cString: nibble_status_string(NIBBLE_MALFORMED_MODEL)).hasPrefix("NIBBLE_MALFORMED_MODEL"))
        XCTAssertTrue(String(cString: nibble_status_string(nibble_status(rawValue: 999))).contains("UNKNOWN"))
    }

    func testNullsAreStatusesNotCrashes() {
        var model: OpaquePointer?
        XCTAssertEqual(nibble_model_load_file(nil, &model), NIBBLE_INVALID_ARGUMENT)
        XCTAssertTrue(lastError().contains("path is NULL"), lastError())
        XCTAssertEqual(nibble_model_load_memory(nil, 10, &model), NIBBLE_INVALID_ARGUMENT)
        XCTAssertNil(model)
        XCTAssertEqual(nibble_session_run(nil), NIBBLE_INVALID_ARGUMENT)
        XCTAssertEqual(nibble_model_input_count(nil), 0)
        nibble_model_free(nil)
        nibble_session_free(nil)
        XCTAssertEqual(nibble_model_load_file("/nonexistent/model.nib", &model), NIBBLE_IO_ERROR)
        XCTAssertTrue(lastError().contains("/nonexistent/model.nib"), lastError())
    }

    func testRunThroughTheABIAndMisuse() throws {
        let file = try Self.tinyModel()
        var model: OpaquePointer?
        // Loaded from an unaligned copy: the library copies it once into aligned memory.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: file.count + 1, alignment: 64)
        defer { raw.deallocate() }
        (raw + 1).copyMemory(from: file, byteCount: file.count)
        XCTAssertEqual(nibble_model_load_memory(raw + 1, file.count, &model), NIBBLE_OK, lastError())
        defer { nibble_model_free(model) }
        var info = nibble_tensor_info()
        XCTAssertEqual(nibble_model_input_info(model, 0, &info), NIBBLE_OK)
        XCTAssertEqual(String(cString: info.name), "x")
        XCTAssertEqual(info.byte_size, 16)
        XCTAssertEqual(nibble_model_input_info(model, 1, &info), NIBBLE_INVALID_ARGUMENT)

        var arenaBytes = 0
        XCTAssertEqual(nibble_model_arena_size(model, &arenaBytes), NIBBLE_OK)
        var options = nibble_session_options()
        nibble_session_options_default(&options)
        let small = UnsafeMutableRawPointer.allocate(byteCount: arenaBytes, alignment: 64)
        defer { small.deallocate() }
        options.arena = small
        options.arena_size = arenaBytes - 1
        var session: OpaquePointer?
        XCTAssertEqual(nibble_session_create(model, &options, &session), NIBBLE_OUT_OF_MEMORY)
        XCTAssertTrue(lastError().contains("needed \(arenaBytes) bytes, got \(arenaBytes - 1)"), lastError())
        XCTAssertNil(session)
        options.arena_size = arenaBytes
        XCTAssertEqual(nibble_session_create(model, &options, &session), NIBBLE_OK, lastError())
        defer { nibble_session_free(session) }

        let x: [Float] = [1, 2, 3, 4]
        XCTAssertEqual(nibble_session_set_input(session, 0, x, 12), NIBBLE_INVALID_ARGUMENT)
        XCTAssertTrue(String(cString: nibble_session_last_error(session)).contains("needs 16 bytes"))
        XCTAssertEqual(nibble_session_set_input(session, 0, x, 16), NIBBLE_OK)
        XCTAssertEqual(nibble_session_run(session), NIBBLE_OK)
        var y = [Float](repeating: -1, count: 3)
        XCTAssertEqual(nibble_session_get_output(session, 0, &y, 8), NIBBLE_INVALID_ARGUMENT)
        XCTAssertEqual(nibble_session_get_output(session, 0, &y, 12), NIBBLE_OK)
        // Rows of W: [-6,-5,-4,-3], [-2,-1,0,1], [2,3,4,5]; b = 1; ReLU.
        let expected: [Float] = [0, 1, 41]
        XCTAssertEqual(y, expected)
        XCTAssertEqual(nibble_session_set_residual_level(session, 2), NIBBLE_UNSUPPORTED)
        XCTAssertEqual(nibble_session_set_codec(session, NIBBLE_CODEC_CAT), NIBBLE_UNSUPPORTED)
        XCTAssertEqual(nibble_session_set_codec(session, NIBBLE_CODEC_NONE), NIBBLE_OK)
    }

    func testDamagedBytesGiveMalformedModel() throws {
        var file = try Self.tinyModel()
        var model: OpaquePointer?
        for i in stride(from: 0, to: file.count, by: 3) {
            var damaged = file
            damaged[i] ^= 0x10
            XCTAssertNotEqual(nibble_model_load_memory(damaged, damaged.count, &model), NIBBLE_OK, "byte \(i)")
            XCTAssertNil(model)
        }
        file[file.count - 70] ^= 1
        XCTAssertEqual(nibble_model_load_memory(file, file.count, &model), NIBBLE_MALFORMED_MODEL)
        XCTAssertTrue(lastError().contains("checksum"), lastError())
        file = try Self.tinyModel()
        file[4] = 9
        XCTAssertEqual(nibble_model_load_memory(file, file.count, &model), NIBBLE_VERSION_MISMATCH)
        XCTAssertNil(model)
    }
}
