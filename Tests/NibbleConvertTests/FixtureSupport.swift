import Foundation
import NibbleConvert
import NibbleFormat
import NibbleRuntime
import XCTest

/// Fixture lookup (Tests/Fixtures, samples/models) and a runtime harness shared by the converter tests.
enum Fixtures {
    static let testsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let fixturesDir = testsDir.appendingPathComponent("Fixtures")
    static let samplesDir = testsDir.deletingLastPathComponent().appendingPathComponent("samples/models")

    static func url(_ name: String, in dir: URL = fixturesDir) throws -> URL {
        let u = dir.appendingPathComponent(name)
        if !FileManager.default.fileExists(atPath: u.path) { throw XCTSkip("fixture \(u.path) is missing") }
        return u
    }

    static func bytes(_ name: String, in dir: URL = fixturesDir) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: try url(name, in: dir)))
    }

    static func npy(_ name: String, in dir: URL = fixturesDir) throws -> NPYArray {
        try NPY.read(contentsOf: try url(name, in: dir))
    }
}

extension XCTestCase {
    /// The model `b` builds, converted with the default recipe: its graph and a runner for it.
    func convert(_ b: ONNXBuilder) throws -> (Graph, NibRunner) {
        let (nib, _) = try Converter.convert(onnxBytes: try b.bytes())
        let runner = try NibRunner(nib)
        return (runner.model.graph, runner)
    }
}

/// Runs a `.nib` with the Nibble runtime, one sample at a time (the runtime's batch is 1).
final class NibRunner {
    let model: Model
    let session: Session

    init(_ nib: [UInt8]) throws {
        model = try Model(copying: nib)
        session = try Session(model: model)
    }

    /// Output 0 for every sample of the batch `x` ([N, …]), concatenated.
    func run(_ x: [Float]) throws -> [Float] {
        let inCount = model.input(0).elementCount
        let outCount = model.output(0).elementCount
        precondition(x.count % inCount == 0)
        var out: [Float] = []
        for s in 0..<(x.count / inCount) {
            try x.withUnsafeBufferPointer { try session.setInput(0, floats: UnsafeBufferPointer(rebasing: $0[(s * inCount)..<((s + 1) * inCount)])) }
            session.run()
            let o = session.output(0)
            out.append(contentsOf: (0..<outCount).map { o.load(fromByteOffset: $0 * 4, as: Float.self) })
        }
        return out
    }
}
