import Foundation
@testable import NibbleConvert
import NibbleFormat
import NibbleRuntime
import XCTest

/// The ternary recipe: FGQ threshold search, residual decomposition, and the digits models at every level.
final class TernaryRecipeTests: XCTestCase {
    /// w = [0.9, −0.8, 0.1, 0.05]; sorted |w| 0.9, 0.8, 0.1, 0.05; (Σ top-k)²/k = 0.81, 1.445, 1.08, 0.856:
    /// k = 2 wins, α = 0.85, T = [1, −1, 0, 0]. The residual [0.05, 0.05, 0.1, 0.05] has a tie at 0.05, so only
    /// k = 1 (0.01) or k = 4 (0.25²/4 = 0.015625) are possible thresholds: k = 4, α = 0.0625, T = [1, 1, 1, 1].
    func testFGQThresholdByHand() {
        let w: [Float] = [0.9, -0.8, 0.1, 0.05]
        let t = TernaryRecipe.optimalThreshold(w[...])
        XCTAssertEqual(t.kept, 2)
        XCTAssertEqual(t.alpha, 0.85, accuracy: 1e-6)
        XCTAssertEqual(t.threshold, 0.1, accuracy: 1e-7)
        let edges = TernaryRecipe.decompose(w, rows: 1, channels: 4, taps: 1, groupSize: 4, edges: 2)
        XCTAssertEqual(edges[0].plane, [1, -1, 0, 0])
        XCTAssertEqual(edges[0].scales[0], 0.85, accuracy: 1e-6)
        XCTAssertEqual(edges[1].plane, [1, 1, 1, 1])
        XCTAssertEqual(edges[1].scales[0], 0.0625, accuracy: 1e-6)
        let zero = TernaryRecipe.optimalThreshold([Float](repeating: 0, count: 3)[...])
        XCTAssertEqual(zero.kept, 0)
        XCTAssertEqual(zero.alpha, 0)
    }

    /// Groups are `groupSize` input channels × all taps of one output channel; 3 channels in groups of 2 leave a
    /// last group of 1 channel (the stated rule). More edges never increase the weight error.
    func testGroupsAndResidualErrorShrink() {
        // One output channel, 3 channels × 2 taps: group 0 = channels 0–1 (4 values), group 1 = channel 2.
        let w: [Float] = [1, -1, 0.1, 0.2, 5, -3]
        let edges = TernaryRecipe.decompose(w, rows: 1, channels: 3, taps: 2, groupSize: 2, edges: 1)
        XCTAssertEqual(edges[0].scales.count, 2)
        XCTAssertEqual(edges[0].plane, [1, -1, 0, 0, 1, -1])
        XCTAssertEqual(edges[0].scales[0], 1, accuracy: 1e-6)
        XCTAssertEqual(edges[0].scales[1], 4, accuracy: 1e-6)
        let big: [Float] = (0..<(8 * 20 * 9)).map { (i: Int) -> Float in
            let wave: Float = sin(Float(i) * 0.37)
            return wave * Float(i % 7 + 1)
        }
        let deep = TernaryRecipe.decompose(big, rows: 8, channels: 20, taps: 9, groupSize: 16, edges: 4)
        let errors = TernaryRecipe.relativeErrors(big, deep, rows: 8, channels: 20, taps: 9, groupSize: 16)
        for k in 1..<errors.count { XCTAssertLessThan(errors[k], errors[k - 1]) }
        XCTAssertLessThan(errors[3], 0.1)
    }

    func testBadOptionsAreErrors() throws {
        let onnx = try Fixtures.bytes("digits_mlp.onnx", in: Fixtures.samplesDir)
        let calib = try CalibrationData(contentsOf: try Fixtures.url("digits_calib.npy", in: Fixtures.samplesDir))
        func refuse(_ o: TernaryOptions, _ text: String, line: UInt = #line) {
            XCTAssertThrowsError(try Converter.convert(onnxBytes: onnx, recipe: .ternary, calibration: calib, ternary: o), line: line) { e in
                XCTAssertTrue("\(e)".contains(text), "\(e)", line: line)
            }
        }
        refuse(TernaryOptions(groupSize: 0), "--group-size 0 outside 1...4096")
        refuse(TernaryOptions(residualEdges: 17), "--residual-edges 17 outside 1...16")
        refuse(TernaryOptions(overrides: ["nope": "int8"]), "no Conv or FullyConnected node 'nope'")
        refuse(TernaryOptions(overrides: ["fc0": "int3"]), "unknown precision 'int3'")
        XCTAssertThrowsError(try Converter.convert(onnxBytes: onnx, recipe: .ternary)) { e in
            XCTAssertTrue("\(e)".contains("needs calibration"), "\(e)")
        }
    }

    func testOverridesAndReport() throws {
        let onnx = try Fixtures.bytes("digits_mlp.onnx", in: Fixtures.samplesDir)
        let calib = try CalibrationData(contentsOf: try Fixtures.url("digits_calib.npy", in: Fixtures.samplesDir))
        let (nib, report) = try Converter.convert(onnxBytes: onnx, recipe: .ternary, calibration: calib,
                                                  ternary: TernaryOptions(groupSize: 32, residualEdges: 3, overrides: ["fc0": "ternary"]))
        XCTAssertEqual(report.rows.map(\.precision), ["ternary", "ternary", "int8"])
        let fc1 = report.rows[1]
        XCTAssertEqual(fc1.groupSize, 32)
        XCTAssertEqual(fc1.edgeLevels.count, 3)
        XCTAssertEqual(fc1.edgeLevels.first, 0)
        XCTAssertEqual(fc1.weightErrors.count, 3)
        // 128 × 64 weights: 3 planes at 2 bits + 3 × [64, 4] float scales + 64 bias floats.
        XCTAssertEqual(fc1.packedWeightBytes, 3 * 128 * 64 / 4 + 3 * 64 * 4 * 4 + 64 * 4)
        XCTAssertEqual(fc1.fp32WeightBytes, (128 * 64 + 64) * 4)
        // Two ternary layers × two extra edges: levels 0…4, one edge per level.
        XCTAssertEqual(report.levelErrors.map(\.level), [0, 1, 2, 3, 4])
        XCTAssertTrue(report.description.contains("residual level"), report.description)
        let runner = try NibRunner(nib)
        XCTAssertEqual(runner.model.maxResidualLevel, 4)
        let all = Set(runner.model.edgeLevels.flatMap { $0.dropFirst() })
        XCTAssertEqual(all, [1, 2, 3, 4], "each level turns on exactly one edge")
    }

    /// The accuracy bar: at every level, accuracy and output error vs fp32 on the held-out digits;
    /// the error shrinks as the level rises and the top level is within 1 point of fp32.
    func testDigitsAccuracyAtEveryLevel() throws {
        let digits = try DigitsEvaluation()
        for m in digits.models {
            let (model, onnx, xs, calibration) = (m.name, m.onnx, m.inputs, m.calibration)
            let reference = try NibRunner(try Converter.convert(onnxBytes: onnx).nib).run(xs)
            func accuracy(_ logits: [Float]) -> Double { digits.accuracy(logits) }
            func error(_ y: [Float]) -> Double { DigitsEvaluation.relativeError(y, reference) }
            let fp32 = accuracy(reference)
            let (nib, report) = try Converter.convert(onnxBytes: onnx, recipe: .ternary, calibration: calibration)
            let runner = try NibRunner(nib)
            let maxLevel = runner.model.maxResidualLevel
            XCTAssertGreaterThanOrEqual(maxLevel, 1, "\(report)")
            var errors: [Double] = [], accuracies: [Double] = []
            for level in 0...maxLevel {
                try runner.session.setResidualLevel(level)  // same session: no reload
                let y = try runner.run(xs)
                errors.append(error(y)); accuracies.append(accuracy(y))
            }
            let lines = (0...maxLevel).map { "level \($0): accuracy \(accuracies[$0] * 100)%, error vs fp32 \(errors[$0])" }
            print("\(model) ternary (fp32 \(fp32 * 100)%):\n" + lines.joined(separator: "\n") + "\n\(report)")
            for l in 1...maxLevel { XCTAssertLessThan(errors[l], errors[l - 1], "\(model): \(lines)") }
            XCTAssertGreaterThanOrEqual(accuracies[maxLevel], fp32 - 0.01, "\(model): \(lines)")
            // Level -1 is the top level.
            try runner.session.setResidualLevel(-1)
            XCTAssertEqual(error(try runner.run(xs)), errors[maxLevel])
            // Bit-identical from the same bytes in a fresh model.
            try runner.session.setResidualLevel(0)
            XCTAssertEqual(try NibRunner(nib).run(Array(xs.prefix(64 * 4))).count, 40)
        }
    }
}
