import Foundation
import NibbleConvert
import XCTest

/// The digits demo models (samples/models, scripts/train-demo.py) and how the accuracy tests score them.
struct DigitsEvaluation {
    struct Model {
        let name: String
        let onnx: [UInt8]
        /// The 360 held-out test samples, flattened.
        let inputs: [Float]
        let calibration: CalibrationData
    }

    let labels: [Int64]
    let models: [Model]

    init() throws {
        let dir = Fixtures.samplesDir
        guard case .int64(let labels) = try Fixtures.npy("digits_test_y.npy", in: dir).storage else { throw XCTSkip("digits labels are not int64") }
        self.labels = labels
        models = try [("digits_mlp.onnx", "digits_test_x.npy", "digits_calib.npy"),
                      ("digits_cnn.onnx", "digits_test_x_img.npy", "digits_calib_img.npy")].map { model, x, calib in
            Model(name: model, onnx: try Fixtures.bytes(model, in: dir), inputs: try XCTUnwrap(try Fixtures.npy(x, in: dir).floats),
                  calibration: try CalibrationData(contentsOf: try Fixtures.url(calib, in: dir)))
        }
    }

    /// Fraction of samples whose arg-max logit is the label.
    func accuracy(_ logits: [Float]) -> Double {
        var correct = 0
        for (i, label) in labels.enumerated() {
            let row = logits[(i * 10)..<((i + 1) * 10)]
            if let best = row.indices.max(by: { row[$0] < row[$1] }), Int64(best - i * 10) == label { correct += 1 }
        }
        return Double(correct) / Double(labels.count)
    }

    /// ‖y − reference‖ / ‖reference‖.
    static func relativeError(_ y: [Float], _ reference: [Float]) -> Double {
        var num = 0.0, den = 0.0
        for (a, b) in zip(y, reference) { num += Double(a - b) * Double(a - b); den += Double(b) * Double(b) }
        return (num / den).squareRoot()
    }
}
