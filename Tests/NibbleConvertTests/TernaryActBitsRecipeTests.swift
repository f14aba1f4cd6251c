import Foundation
import NibbleConvert
import NibbleFormat
import XCTest

/// `--act-bits` for the ternary recipe: k-bit activations with a calibrated (MSE) step on the ReLU-bounded ternary
/// layers of the digits models; accuracy and output error vs fp32 at every residual level, per bit width.
final class TernaryActBitsRecipeTests: XCTestCase {
    func testDigitsAtFourAndTwoBitActivations() throws {
        let digits = try DigitsEvaluation()
        for m in digits.models {
            let (model, onnx, xs, calibration) = (m.name, m.onnx, m.inputs, m.calibration)
            let reference = try NibRunner(try Converter.convert(onnxBytes: onnx).nib).run(xs)
            func error(_ y: [Float]) -> Double { DigitsEvaluation.relativeError(y, reference) }
            var topErrors: [Int: Double] = [:]
            for bits in [8, 4, 2] {
                let (nib, _) = try Converter.convert(onnxBytes: onnx, recipe: .ternary, calibration: calibration,
                                                     ternary: TernaryOptions(activationBits: bits))
                let g = try nib.withUnsafeBytes { try Reader.read($0) }.graph
                let ternary = g.nodes.filter { $0.precision == .ternary }
                XCTAssertFalse(ternary.isEmpty)
                for n in ternary {
                    // Every ternary layer of these models reads a ReLU output, so every one takes the k bits.
                    XCTAssertEqual(n.attribute(.activationBits)?.ints, bits == 8 ? nil : [Int64(bits)], "\(model) \(n.name)")
                    if bits < 8 { XCTAssertEqual(n.attribute(.inputZeroPoint)?.ints, [0]) }
                }
                let runner = try NibRunner(nib)
                var lines: [String] = []
                for level in 0...runner.model.maxResidualLevel {
                    try runner.session.setResidualLevel(level)
                    let y = try runner.run(xs)
                    lines.append("level \(level): accuracy \(digits.accuracy(y) * 100)%, error vs fp32 \(error(y))")
                    topErrors[bits] = error(y)
                }
                print("\(model) ternary a\(bits) (fp32 \(digits.accuracy(reference) * 100)%):\n" + lines.joined(separator: "\n"))
            }
            // Fewer activation bits, larger error at the top level.
            XCTAssertLessThan(topErrors[8]!, topErrors[4]!, "\(model): \(topErrors)")
            XCTAssertLessThan(topErrors[4]!, topErrors[2]!, "\(model): \(topErrors)")
        }
    }

    func testActBitsOutOfRangeIsAnError() throws {
        let onnx = try Fixtures.bytes("digits_mlp.onnx", in: Fixtures.samplesDir)
        let calibration = try CalibrationData(contentsOf: try Fixtures.url("digits_calib.npy", in: Fixtures.samplesDir))
        XCTAssertThrowsError(try Converter.convert(onnxBytes: onnx, recipe: .ternary, calibration: calibration,
                                                   ternary: TernaryOptions(activationBits: 9))) { e in
            XCTAssertTrue("\(e)".contains("--act-bits 9 outside 1...8"), "\(e)")
        }
    }
}
