import CNibble
import Foundation
import Nibble
import XCTest

/// nibble_session_options.num_threads (Include/nibble.h): sessions with worker threads give the bytes of a
/// one-thread session, with a session arena or a caller arena of nibble_model_arena_size bytes.
final class ThreadsABITests: XCTestCase {
    static let modelPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("c/mobilenetv3_block.int8.nib").path

    /// Output 0 of one run on a fixed input.
    func output(_ model: OpaquePointer, threads: Int32, callerArena: Bool) throws -> [UInt8] {
        var o = nibble_session_options()
        nibble_session_options_default(&o)
        o.num_threads = threads
        var arenaSize = 0
        XCTAssertEqual(nibble_model_arena_size(model, &arenaSize), NIBBLE_OK)
        let arena = UnsafeMutableRawBufferPointer.allocate(byteCount: arenaSize, alignment: Int(NIBBLE_ARENA_ALIGNMENT))
        defer { arena.deallocate() }
        if callerArena {
            o.arena = arena.baseAddress
            o.arena_size = arenaSize
        }
        var session: OpaquePointer?
        XCTAssertEqual(nibble_session_create(model, &o, &session), NIBBLE_OK, String(cString: nibble_last_error()))
        let s = try XCTUnwrap(session)
        defer { nibble_session_free(s) }
        var info = nibble_tensor_info(), outInfo = nibble_tensor_info()
        XCTAssertEqual(nibble_model_input_info(model, 0, &info), NIBBLE_OK)
        XCTAssertEqual(nibble_model_output_info(model, 0, &outInfo), NIBBLE_OK)
        let x: [Float] = (0..<(info.byte_size / 4)).map { Float(($0 * 37) % 101) / 50 - 1 }
        XCTAssertEqual(x.withUnsafeBytes { nibble_session_set_input(s, 0, $0.baseAddress, $0.count) }, NIBBLE_OK)
        XCTAssertEqual(nibble_session_run(s), NIBBLE_OK)
        var y = [UInt8](repeating: 0, count: outInfo.byte_size)
        XCTAssertEqual(y.withUnsafeMutableBytes { nibble_session_get_output(s, 0, $0.baseAddress, $0.count) }, NIBBLE_OK)
        return y
    }

    func testThreadedSessionsMatchOneThread() throws {
        var model: OpaquePointer?
        XCTAssertEqual(nibble_model_load_file(Self.modelPath, &model), NIBBLE_OK, String(cString: nibble_last_error()))
        let m = try XCTUnwrap(model)
        defer { nibble_model_free(m) }
        let one = try output(m, threads: 1, callerArena: false)
        for threads: Int32 in [0, 2, 3] {
            for caller in [false, true] {
                XCTAssertEqual(try output(m, threads: threads, callerArena: caller), one, "\(threads) threads, caller arena \(caller)")
            }
        }
        var o = nibble_session_options()
        nibble_session_options_default(&o)
        o.num_threads = 257
        var session: OpaquePointer?
        XCTAssertEqual(nibble_session_create(m, &o, &session), NIBBLE_INVALID_ARGUMENT)
        XCTAssertTrue(String(cString: nibble_last_error()).contains("num_threads 257 outside 0...256"), String(cString: nibble_last_error()))
        XCTAssertNil(session)
    }
}
