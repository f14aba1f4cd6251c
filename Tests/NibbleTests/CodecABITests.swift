import CNibble
import Nibble
import NibbleCodec
import NibbleFormat
import XCTest

/// nibble_session_set_codec and the arena sizes it depends on (Include/nibble.h; docs/ARCHITECTURE.md, codec).
final class CodecABITests: XCTestCase {
    /// x[1,8,16,16] → a = Relu → b = Clip(0, 1) → c = Sigmoid → d = a + c → y = GlobalAveragePool, with 4-bit
    /// CAT tables for a, b, c, d (a residual edge: three raw maps live at the Sigmoid, two with the codec).
    /// With `transform`, a and d also get 4-bit DCT transform entries (zero point 8).
    static func codedModel(tables: Bool = true, transform: Bool = false) throws -> [UInt8] {
        let shape = [1, 8, 16, 16]
        var graph = Graph(
            tensors: ["x", "a", "b", "c", "d"].enumerated().map {
                TensorDesc(name: $0.element, dtype: .float32, shape: shape, role: $0.offset == 0 ? .input : .intermediate)
            } + [TensorDesc(name: "y", dtype: .float32, shape: [1, 8, 1, 1], role: .intermediate)],
            nodes: [
                Node(name: "relu", op: .relu, inputs: [0], outputs: [1]),
                Node(name: "clip", op: .clip, inputs: [1], outputs: [2], attributes: [Attribute(.outputMin, floats: [0]), Attribute(.outputMax, floats: [1])]),
                Node(name: "sigmoid", op: .sigmoid, inputs: [2], outputs: [3]),
                Node(name: "add", op: .add, inputs: [1, 3], outputs: [4]),
                Node(name: "gap", op: .globalAveragePool, inputs: [4], outputs: [5]),
            ],
            inputs: [0], outputs: [5])
        /// A 4-bit table fitted on a tile that is one third `zero`.
        func table(zero: Int) throws -> [UInt8] {
            var stats = try XCTUnwrap(CodeStatistics(bits: 4, zeroSymbol: zero))
            stats.add(tile: (0..<64).map { UInt8($0 % 3 == 0 ? zero : $0 % 16) })
            return HuffmanTable(statistics: stats).serialized()
        }
        if tables {
            let table = try table(zero: 0)
            graph.codecTables = (1...4).map { CodecTableEntry(tensor: $0, bits: 4, step: 0.2, zeroPoint: 0, expectedBytes: 600, table: table) }
        }
        if transform {
            let table = try table(zero: 8)
            let dct = ChannelTransformEntry(kind: ChannelTransformEntry.dctKind, mean: [Float](repeating: 0.5, count: 8), basis: [])
            graph.codecTables += [1, 4].map { CodecTableEntry(tensor: $0, bits: 4, step: 1, zeroPoint: 8, expectedBytes: 500, table: table, transform: dct) }
        }
        return try Writer.serialize(graph, constantData: [[UInt8]](repeating: [], count: 6))
    }

    func load(_ file: [UInt8]) throws -> OpaquePointer {
        var model: OpaquePointer?
        XCTAssertEqual(file.withUnsafeBytes { nibble_model_load_memory($0.baseAddress, $0.count, &model) }, NIBBLE_OK,
                       String(cString: nibble_last_error()))
        return try XCTUnwrap(model)
    }

    func run(_ session: OpaquePointer?) -> [Float] {
        let x: [Float] = (0..<(8 * 16 * 16)).map { Float($0 % 37) / 9 - 2 }
        XCTAssertEqual(x.withUnsafeBytes { nibble_session_set_input(session, 0, $0.baseAddress, $0.count) }, NIBBLE_OK)
        XCTAssertEqual(nibble_session_run(session), NIBBLE_OK)
        var y = [Float](repeating: 0, count: 8)
        XCTAssertEqual(y.withUnsafeMutableBytes { nibble_session_get_output(session, 0, $0.baseAddress, $0.count) }, NIBBLE_OK)
        return y
    }

    func testSetCodecOnAModelWithTables() throws {
        let model = try load(try Self.codedModel())
        defer { nibble_model_free(model) }
        var session: OpaquePointer?
        XCTAssertEqual(nibble_session_create(model, nil, &session), NIBBLE_OK)
        defer { nibble_session_free(session) }
        var arenaSize = 0, usedNone = 0, usedCat = 0
        XCTAssertEqual(nibble_model_arena_size(model, &arenaSize), NIBBLE_OK)
        XCTAssertEqual(nibble_session_arena_used(session, &usedNone), NIBBLE_OK)
        let raw = run(session)
        XCTAssertEqual(nibble_session_set_codec(session, NIBBLE_CODEC_CAT), NIBBLE_OK, String(cString: nibble_session_last_error(session)))
        XCTAssertEqual(nibble_session_arena_used(session, &usedCat), NIBBLE_OK)
        XCTAssertLessThan(usedCat, usedNone, "a residual edge held compressed needs less arena")
        XCTAssertEqual(arenaSize, max(usedCat, usedNone), "nibble_model_arena_size covers every codec")
        let cat = run(session)
        for (r, c) in zip(raw, cat) { XCTAssertEqual(r, c, accuracy: 0.2) }
        XCTAssertNotEqual(raw, cat, "4-bit maps change the output")
        XCTAssertEqual(nibble_session_set_codec(session, NIBBLE_CODEC_NONE), NIBBLE_OK)
        XCTAssertEqual(run(session), raw)
        XCTAssertEqual(nibble_session_set_codec(session, NIBBLE_CODEC_TRANSFORM), NIBBLE_UNSUPPORTED)
        XCTAssertTrue(String(cString: nibble_session_last_error(session)).contains("transform"))
        XCTAssertEqual(nibble_session_set_codec(session, nibble_codec(rawValue: 7)), NIBBLE_INVALID_ARGUMENT)
    }

    /// A caller arena sized for CAT (from a CAT session's arena_used) runs CAT and refuses a switch to NONE.
    func testCallerArenaSizedForCat() throws {
        let model = try load(try Self.codedModel())
        defer { nibble_model_free(model) }
        var options = nibble_session_options()
        nibble_session_options_default(&options)
        options.codec = NIBBLE_CODEC_CAT
        var probe: OpaquePointer?
        XCTAssertEqual(nibble_session_create(model, &options, &probe), NIBBLE_OK)
        var catBytes = 0
        XCTAssertEqual(nibble_session_arena_used(probe, &catBytes), NIBBLE_OK)
        nibble_session_free(probe)

        let arena = UnsafeMutableRawPointer.allocate(byteCount: catBytes, alignment: Int(NIBBLE_ARENA_ALIGNMENT))
        defer { arena.deallocate() }
        options.arena = arena
        options.arena_size = catBytes
        var session: OpaquePointer?
        XCTAssertEqual(nibble_session_create(model, &options, &session), NIBBLE_OK, String(cString: nibble_last_error()))
        defer { nibble_session_free(session) }
        _ = run(session)
        XCTAssertEqual(nibble_session_set_codec(session, NIBBLE_CODEC_NONE), NIBBLE_OUT_OF_MEMORY)
        let message = String(cString: nibble_session_last_error(session))
        XCTAssertTrue(message.contains("needed") && message.contains("got \(catBytes)"), message)
        // Still CAT: runs on.
        _ = run(session)
        options.codec = NIBBLE_CODEC_NONE
        var refused: OpaquePointer?
        XCTAssertEqual(nibble_session_create(model, &options, &refused), NIBBLE_OUT_OF_MEMORY)
        XCTAssertNil(refused)
    }

    func testModelWithoutTables() throws {
        let model = try load(try Self.codedModel(tables: false))
        defer { nibble_model_free(model) }
        var session: OpaquePointer?
        XCTAssertEqual(nibble_session_create(model, nil, &session), NIBBLE_OK)
        defer { nibble_session_free(session) }
        XCTAssertEqual(nibble_session_set_codec(session, NIBBLE_CODEC_NONE), NIBBLE_OK)
        XCTAssertEqual(nibble_session_set_codec(session, NIBBLE_CODEC_CAT), NIBBLE_UNSUPPORTED)
        XCTAssertTrue(String(cString: nibble_session_last_error(session)).contains("needs codec tables"))
        var options = nibble_session_options()
        nibble_session_options_default(&options)
        options.codec = NIBBLE_CODEC_CAT
        var refused: OpaquePointer?
        XCTAssertEqual(nibble_session_create(model, &options, &refused), NIBBLE_UNSUPPORTED)
        XCTAssertNil(refused)
    }

    /// NIBBLE_CODEC_TRANSFORM on a model with transform entries: runs close to the raw output, switches back
    /// and forth with CAT and NONE, and the model's arena size covers it.
    func testTransformCodec() throws {
        let model = try load(try Self.codedModel(transform: true))
        defer { nibble_model_free(model) }
        var session: OpaquePointer?
        XCTAssertEqual(nibble_session_create(model, nil, &session), NIBBLE_OK)
        defer { nibble_session_free(session) }
        let raw = run(session)
        XCTAssertEqual(nibble_session_set_codec(session, NIBBLE_CODEC_TRANSFORM), NIBBLE_OK, String(cString: nibble_session_last_error(session)))
        var arenaSize = 0, used = 0
        XCTAssertEqual(nibble_model_arena_size(model, &arenaSize), NIBBLE_OK)
        XCTAssertEqual(nibble_session_arena_used(session, &used), NIBBLE_OK)
        XCTAssertLessThanOrEqual(used, arenaSize)
        let transform = run(session)
        for (r, t) in zip(raw, transform) { XCTAssertEqual(r, t, accuracy: 0.3) }
        XCTAssertEqual(nibble_session_set_codec(session, NIBBLE_CODEC_CAT), NIBBLE_OK)
        let cat = run(session)
        XCTAssertNotEqual(cat, transform)
        XCTAssertEqual(nibble_session_set_codec(session, NIBBLE_CODEC_TRANSFORM), NIBBLE_OK)
        XCTAssertEqual(run(session), transform)
    }
}
