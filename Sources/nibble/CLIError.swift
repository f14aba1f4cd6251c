import ArgumentParser
import CNibble
import Foundation

/// A failure the CLI reports as "error: …" with exit code 1 (ArgumentParser prints it).
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }

    /// A failed C ABI call: the status name and the library's detail.
    init(_ what: String, _ status: nibble_status) {
        let name = String(cString: nibble_status_string(status))
        let detail = String(cString: nibble_last_error())
        description = "\(what): \(name.split(separator: ":").first ?? "")\(detail.isEmpty ? "" : ": \(detail)")"
    }
}

/// Reads a whole file or fails naming it.
func readFile(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CLIError("cannot read '\(path)': no such file or not readable")
    }
    return [UInt8](data)
}

func writeFile(_ bytes: [UInt8], to path: String) throws {
    do { try Data(bytes).write(to: URL(fileURLWithPath: path)) } catch {
        throw CLIError("cannot write '\(path)': \(error.localizedDescription)")
    }
}

/// Prints a progress line to stderr so stdout stays clean for data and reports.
func progress(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Human-readable byte counts.
func formatBytes(_ n: Int) -> String {
    if n >= 1 << 20 { return String(format: "%.2f MiB", Double(n) / Double(1 << 20)) }
    if n >= 1 << 10 { return String(format: "%.1f KiB", Double(n) / 1024) }
    return "\(n) B"
}
