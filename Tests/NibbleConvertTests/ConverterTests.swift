import Foundation
import NibbleConvert
import NibbleFormat
import XCTest

final class ConverterTests: XCTestCase {
    /// Runs the converted model with the runtime and compares to ONNX Runtime's output.
    func compare(_ name: String, recipe: Recipe = .fp32, tolerance: Float) throws -> ConversionReport {
        let x = try Fixtures.npy("\(name).input.npy")
        let ref = try XCTUnwrap(try Fixtures.npy("\(name).output.npy").floats)
        let calib = recipe == .int8 ? try CalibrationData(x) : nil
        let (nib, report) = try Converter.convert(onnxBytes: try Fixtures.bytes("\(name).onnx"), recipe: recipe, calibration: calib)
        let got = try NibRunner(nib).run(try XCTUnwrap(x.floats))
        XCTAssertEqual(got.count, ref.count)
        let scale = ref.map { abs($0) }.max() ?? 1
        var worst: Float = 0
        for (a, b) in zip(got, ref) { worst = max(worst, abs(a - b)) }
        XCTAssertLessThanOrEqual(worst, tolerance * scale, "\(name) \(recipe): max |runtime − onnxruntime| = \(worst), max|ref| = \(scale)")
        return report
    }

    func testFP32MatchesONNXRuntime() throws {
        for name in ["mlp", "resnet_small", "mobilenetv3_block"] {
            let report = try compare(name, tolerance: 1e-4)
            XCTAssertTrue(report.rows.allSatisfy { $0.precision == "fp32" })
            XCTAssertEqual(report.totalWeightBytes, report.totalFP32WeightBytes)
        }
    }

    func testInt8ProducesInt8NodesAndStaysClose() throws {
        for name in ["mlp", "resnet_small", "mobilenetv3_block"] {
            let report = try compare(name, recipe: .int8, tolerance: 0.1)
            let heavy = report.rows.filter { $0.op == "Conv" || $0.op == "FullyConnected" }
            XCTAssertFalse(heavy.isEmpty)
            XCTAssertTrue(heavy.allSatisfy { $0.precision == "int8" }, "\(report)")
            XCTAssertLessThan(report.totalWeightBytes, report.totalFP32WeightBytes)
            XCTAssertTrue(report.description.contains("int8"))
        }
    }

    func testInt8GraphLayout() throws {
        let x = try Fixtures.npy("resnet_small.input.npy")
        let (nib, _) = try Converter.convert(onnxBytes: try Fixtures.bytes("resnet_small.onnx"), recipe: .int8,
                                             calibration: try CalibrationData(x), calibrationMethod: .percentile(99.99))
        let file = try nib.withUnsafeBytes { try Reader.read($0) }
        let g = file.graph
        for n in g.nodes where n.op == .conv || n.op == .fullyConnected {
            XCTAssertEqual(n.precision, .int8)
            XCTAssertEqual(n.inputs.count, 4)
            XCTAssertEqual(g.tensors[n.inputs[1]].dtype, .int8)
            XCTAssertEqual(g.tensors[n.inputs[3]].dtype, .float32)
            XCTAssertEqual(g.tensors[n.inputs[3]].shape, [g.tensors[n.inputs[1]].shape[0]])
            let s = try XCTUnwrap(n.attribute(.inputScale)?.floats.first)
            XCTAssertGreaterThan(s, 0)
            let zp = try XCTUnwrap(n.attribute(.inputZeroPoint)?.ints.first)
            XCTAssertTrue((0...255).contains(zp))
        }
        XCTAssertEqual(g.metadataValue("recipe"), "int8")
    }

    func testInt8NeedsCalibration() throws {
        XCTAssertThrowsError(try Converter.convert(onnxBytes: try Fixtures.bytes("mlp.onnx"), recipe: .int8)) { error in
            XCTAssertTrue("\(error)".contains("calibration"), "\(error)")
        }
        let wrong = try CalibrationData(NPYArray(shape: [2, 7], floats: [Float](repeating: 0, count: 14)))
        XCTAssertThrowsError(try Converter.convert(onnxBytes: try Fixtures.bytes("mlp.onnx"), recipe: .int8, calibration: wrong)) { error in
            XCTAssertTrue("\(error)".contains("[N] + [64]"), "\(error)")
        }
    }

    func testDigitsAccuracy() throws {
        let dir = Fixtures.samplesDir
        guard case .int64(let labels) = try Fixtures.npy("digits_test_y.npy", in: dir).storage else { return XCTFail("labels") }
        for (model, x, calib) in [("digits_mlp.onnx", "digits_test_x.npy", "digits_calib.npy"),
                                  ("digits_cnn.onnx", "digits_test_x_img.npy", "digits_calib_img.npy")] {
            let onnx = try Fixtures.bytes(model, in: dir)
            let xs = try XCTUnwrap(try Fixtures.npy(x, in: dir).floats)
            let calibration = try CalibrationData(contentsOf: try Fixtures.url(calib, in: dir))
            var fp32Accuracy = 0.0
            for recipe in [Recipe.fp32, .int8] {
                let (nib, _) = try Converter.convert(onnxBytes: onnx, recipe: recipe, calibration: calibration)
                let logits = try NibRunner(nib).run(xs)
                var correct = 0
                for (i, label) in labels.enumerated() {
                    let row = logits[(i * 10)..<((i + 1) * 10)]
                    if let best = row.indices.max(by: { row[$0] < row[$1] }), Int64(best - i * 10) == label { correct += 1 }
                }
                let accuracy = Double(correct) / Double(labels.count)
                if recipe == .fp32 {
                    fp32Accuracy = accuracy
                    XCTAssertGreaterThan(accuracy, 0.97, "\(model) fp32: \(correct)/\(labels.count)")
                } else {
                    // The foundation issue's bar: int8 within 1 point of fp32 on the demo models.
                    XCTAssertGreaterThanOrEqual(accuracy, fp32Accuracy - 0.01, "\(model) int8: \(correct)/\(labels.count)")
                }
            }
        }
    }
}
