import Foundation
import NibbleFormat
import NibbleRuntime

/// Reads a .nib file into 64-byte aligned memory and opens it with the runtime (for tools that need the
/// whole graph, such as inspect and bench).
func loadModel(_ path: String) throws -> Model {
    let bytes = try readFile(path)
    do {
        return try Model(copying: bytes)
    } catch {
        throw CLIError("\(path): \(error.message)")
    }
}

extension Model {
    /// Bytes of constant tensors read by node `n`.
    func weightBytes(ofNode n: Int) -> Int {
        graph.nodes[n].inputs.reduce(0) { acc, i in
            i != absentTensor && graph.tensors[i].role == .constant ? acc + graph.tensors[i].byteCount : acc
        }
    }
}
