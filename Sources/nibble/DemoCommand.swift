import ArgumentParser
import CNibble
import Foundation
import Nibble
import NibbleConvert

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Convert the bundled digits models (fp32 and int8) and run them through the C API on held-out data.",
        discussion: """
            Uses samples/models (made by scripts/train-demo.py from scikit-learn's bundled 8x8 digits):
            an MLP and a small CNN. Each is converted with the fp32 and int8 recipes, loaded with
            nibble_model_load_file, and run on every test sample; the table shows accuracy, file size, arena and speed.
            """)

    @Option(help: "Folder with the demo models (default: samples/models of this checkout).")
    var models: String?

    @Option(help: "Where to write the converted .nib files.")
    var outDir: String = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-demo").path

    func run() throws {
        let dir = try modelsFolder()
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let labels = try NPY.read(contentsOf: URL(fileURLWithPath: "\(dir)/digits_test_y.npy"))
        guard case .int64(let y) = labels.storage else { throw CLIError("digits_test_y.npy must hold int64 labels") }
        var rows: [[String]] = []
        for (name, inputFile, calibFile) in [("digits_mlp", "digits_test_x.npy", "digits_calib.npy"),
                                             ("digits_cnn", "digits_test_x_img.npy", "digits_calib_img.npy")] {
            let onnx = try readFile("\(dir)/\(name).onnx")
            let x = try NPY.read(contentsOf: URL(fileURLWithPath: "\(dir)/\(inputFile)"))
            guard let xs = x.floats, x.shape[0] == y.count else { throw CLIError("\(inputFile) must be float32 with \(y.count) samples") }
            let calib = try CalibrationData(contentsOf: URL(fileURLWithPath: "\(dir)/\(calibFile)"))
            var fp32Accuracy = 0.0
            for recipe in [Recipe.fp32, .int8] {
                progress("converting \(name).onnx with recipe \(recipe.rawValue)…")
                let (nib, _) = try Converter.convert(onnxBytes: onnx, recipe: recipe, calibration: recipe == .int8 ? calib : nil)
                let path = "\(outDir)/\(name).\(recipe.rawValue).nib"
                try writeFile(nib, to: path)
                let m = try CModel(path: path)
                let inCount = m.inputs[0].elementCount, outCount = m.outputs[0].elementCount
                var out = [Float](repeating: 0, count: outCount)
                var correct = 0
                let start = Date()
                try xs.withUnsafeBufferPointer { src in
                    for i in 0..<y.count {
                        try out.withUnsafeMutableBufferPointer { o in
                            try m.run(UnsafeBufferPointer(rebasing: src[(i * inCount)..<((i + 1) * inCount)]), into: o)
                        }
                        if out.indices.max(by: { out[$0] < out[$1] }) == Int(y[i]) { correct += 1 }
                    }
                }
                let perSample = Date().timeIntervalSince(start) * 1e6 / Double(y.count)
                let accuracy = 100 * Double(correct) / Double(y.count)
                if recipe == .fp32 { fp32Accuracy = accuracy }
                rows.append([name, recipe.rawValue, String(format: "%.2f%%", accuracy),
                             recipe == .fp32 ? "-" : String(format: "%+.2f", accuracy - fp32Accuracy),
                             formatBytes(nib.count), formatBytes(m.arenaBytes), String(format: "%.1f µs", perSample)])
            }
        }
        print("Nibble demo: \(y.count) held-out digits, each run through the C API (nibble_session_run), batch 1, 1 thread\n")
        printTable(["model", "recipe", "accuracy", "vs fp32", ".nib size", "arena", "time/sample"], rows)
        print("\nconverted models are in \(outDir); try: nibble inspect \(outDir)/digits_cnn.int8.nib")
    }

    /// samples/models of the current folder, else of the checkout this binary was built from.
    func modelsFolder() throws -> String {
        var candidates = [models ?? "samples/models"]
        if models == nil {
            candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("samples/models").path)
        }
        for c in candidates where FileManager.default.fileExists(atPath: "\(c)/digits_mlp.onnx") { return c }
        throw CLIError("demo models not found in \(candidates.joined(separator: " or ")); run from the repository root or pass --models DIR")
    }
}
