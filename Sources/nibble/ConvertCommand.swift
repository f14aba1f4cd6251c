import ArgumentParser
import Foundation
import NibbleConvert

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert an ONNX model to a .nib file.",
        discussion: """
            Folds BatchNormalization into Conv, fuses Relu/Clip into the preceding Conv or Gemm, evaluates
            shape subgraphs (Shape, Gather, Slice, Concat, Unsqueeze on constants) at convert time and fixes the
            batch dimension to 1 (the runtime runs batches one sample at a time).
            Recipes: fp32 keeps every weight in float32; int8 stores Conv/Gemm weights as int8 with one scale
            per output channel and quantizes their inputs to uint8 with ranges calibrated on --calibrate.
            """)

    @Argument(help: "The ONNX model to convert.")
    var input: String

    @Option(name: .shortAndLong, help: "Where to write the .nib file.")
    var output: String

    @Option(help: "Precision recipe: \(Recipe.allCases.map(\.rawValue).joined(separator: ", ")).")
    var recipe: String = "fp32"

    @Option(help: "A float32 .npy batch shaped like the model input, for int8 activation ranges.")
    var calibrate: String?

    @Option(help: "How ranges are taken from the calibration data: minmax, or percentile:P (e.g. percentile:99.99).")
    var calibration: String = "minmax"

    @Flag(help: "Do not print the per-layer report.")
    var quiet = false

    func run() throws {
        guard let recipe = Recipe(rawValue: recipe) else {
            throw CLIError("unknown recipe '\(self.recipe)'; supported: \(Recipe.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let method: CalibrationMethod
        if calibration == "minmax" {
            method = .minMax
        } else if calibration.hasPrefix("percentile:"), let p = Double(calibration.dropFirst("percentile:".count)), p > 50, p <= 100 {
            method = .percentile(p)
        } else {
            throw CLIError("unknown calibration '\(calibration)'; use minmax or percentile:P with 50 < P <= 100")
        }
        let onnx = try readFile(input)
        var data: CalibrationData?
        if let calibrate {
            data = try CalibrationData(contentsOf: URL(fileURLWithPath: calibrate))
        }
        if recipe == .int8 && data == nil {
            throw CLIError("recipe int8 needs --calibrate CALIB.npy (a float32 batch shaped like the model input)")
        }
        progress("converting \(input) (\(formatBytes(onnx.count))) with recipe \(recipe.rawValue)\(data.map { ", calibrating on \($0.sampleCount) samples" } ?? "")…")
        let nib: [UInt8], report: ConversionReport
        do {
            (nib, report) = try Converter.convert(onnxBytes: onnx, recipe: recipe, calibration: data, calibrationMethod: method)
        } catch let e as ConvertError {
            throw CLIError("\(input): \(e)")
        }
        try writeFile(nib, to: output)
        if !quiet { print(report) }
        progress("wrote \(output) (\(formatBytes(nib.count)))")
    }
}
