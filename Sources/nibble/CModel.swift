import CNibble
import Nibble

/// A model and session opened through the C ABI (what C users get), closed on deinit.
final class CModel {
    let model: OpaquePointer
    let session: OpaquePointer
    let inputs: [nibble_tensor_info]
    let outputs: [nibble_tensor_info]

    /// `threads`: the session's num_threads (1: the calling thread only).
    init(path: String, threads: Int32 = 1) throws {
        var m: OpaquePointer?
        let st = nibble_model_load_file(path, &m)
        guard st == NIBBLE_OK, let m else { throw CLIError("cannot load '\(path)'", st) }
        var options = nibble_session_options()
        nibble_session_options_default(&options)
        options.num_threads = threads
        var s: OpaquePointer?
        let sst = nibble_session_create(m, &options, &s)
        guard sst == NIBBLE_OK, let s else {
            nibble_model_free(m)
            throw CLIError("cannot create a session for '\(path)'", sst)
        }
        model = m
        session = s
        inputs = (0..<nibble_model_input_count(m)).map { i in
            var info = nibble_tensor_info()
            _ = nibble_model_input_info(m, i, &info)
            return info
        }
        outputs = (0..<nibble_model_output_count(m)).map { i in
            var info = nibble_tensor_info()
            _ = nibble_model_output_info(m, i, &info)
            return info
        }
    }

    deinit {
        nibble_session_free(session)
        nibble_model_free(model)
    }

    var arenaBytes: Int {
        var n = 0
        _ = nibble_model_arena_size(model, &n)
        return n
    }

    /// Runs one sample: `input` must hold exactly input 0's elements; returns output `outputIndex`.
    func run(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>, outputIndex: Int = 0) throws {
        var st = nibble_session_set_input(session, 0, input.baseAddress, input.count * 4)
        if st != NIBBLE_OK { throw CLIError("set input", st) }
        st = nibble_session_run(session)
        if st != NIBBLE_OK { throw CLIError("run", st) }
        st = nibble_session_get_output(session, outputIndex, output.baseAddress, output.count * 4)
        if st != NIBBLE_OK { throw CLIError("get output", st) }
    }
}

extension nibble_tensor_info {
    var shapeArray: [Int] {
        withUnsafeBytes(of: shape) { raw in Array(raw.bindMemory(to: Int64.self).prefix(rank)).map { Int($0) } }
    }
    var nameString: String { name.map { String(cString: $0) } ?? "" }
    var elementCount: Int { shapeArray.reduce(1, *) }
}
