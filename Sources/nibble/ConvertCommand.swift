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
            per output channel and quantizes their inputs to uint8 with ranges calibrated on --calibrate;
            ternary stores Conv/Gemm weights as FGQ ternary residual edges W ≈ Σ αₑ·Tₑ (one α per
            --group-size input channels per output channel, --residual-edges edges) with uint8 inputs, keeps
            the first and last Conv/Gemm and depthwise convs int8 (override with --layer NAME=int8|ternary|fp32),
            and assigns each edge a residual level by its sensitivity on --calibrate (nibble run --residual-level).
            wKaM (w4a4, w2a2, w1a1, any K, M in 1...4) stores Conv/Gemm weights as packed K-bit planes (1 bit:
            bipolar sign, scale mean|w|; 2...4 bits: symmetric, MSE-optimal scale per output channel) run by the
            bit-serial kernel with unsigned M-bit inputs (WRPN; step calibrated on --calibrate); the first and
            last Conv/Gemm, grouped convs and nodes whose input is not ReLU-bounded stay int8
            (override with --layer NAME=int8|fp32|wKaM).
            A model quantized elsewhere in the ONNX QDQ format (QuantizeLinear/DequantizeLinear, int8/uint8/int4/uint4)
            keeps its own scales: its Conv/Gemm/MatMul with dequantized weights become int8 under any recipe.
            --recipe-file R.txt gives the recipe options as lines (recipe = ternary, group-size = 16, act-bits = 4,
            layer conv1 = int8, …).
            --outputs a,b keeps only those ONNX values as outputs and leaves out the nodes none of them reads (an
            skl2onnx classifier's int64 label and ZipMap outputs, which Nibble cannot produce). A zero Pad of H/W
            (tf2onnx's Keras padding) folds into the reading Conv's pads.
            Pruning (fp32 and int8 recipes): --sparsity S zeroes the fraction S of each Conv/Gemm's weights with the
            smallest magnitude, --nm N:M keeps the N largest of every M input channels; FullyConnected and 1x1 convs
            (CSR or N:M) and stride-1 convs (CSR) are then stored sparse where the sparse kernel is predicted faster.
            """)

    @Argument(help: "The ONNX model to convert.")
    var input: String

    @Option(name: .shortAndLong, help: "Where to write the .nib file.")
    var output: String

    @Option(help: "Precision recipe: fp32, int8, ternary, or wKaM bit-serial (w4a4, w2a2, w1a1, …; K, M in 1...4).")
    var recipe: String = "fp32"

    @Option(help: "A float32 .npy batch shaped like the model input, for int8 activation ranges.")
    var calibrate: String?

    @Option(help: "How ranges are taken from the calibration data: minmax, or percentile:P (e.g. percentile:99.99).")
    var calibration: String = "minmax"

    @Option(help: ArgumentHelp("ternary: input channels per scale group (FGQ's N), default 16.",
                               discussion: "Small groups are more accurate (FGQ: N=4 best), large ones cheaper (one float32 scale per N·kH·kW weights); 16 costs 0.22 extra bits per weight on a 3×3 conv and divides the kernels' 64-channel words. The last group of a row is shorter when N does not divide the channels."))
    var groupSize: Int = 16

    @Option(help: "ternary: residual edges per layer (W ≈ Σ αₑ·Tₑ), 1...16, default 2.")
    var residualEdges: Int = 2

    @Option(help: "ternary: activation bits of the ternary layers, 1...8, default 8 (uint8); below 8, unsigned codes with an MSE-optimal step for layers with ReLU-bounded inputs.")
    var actBits: Int = 8

    @Option(name: .customLong("layer"), help: "ternary, wKaM: precision of one Conv/Gemm node, NAME=int8|ternary|fp32 (ternary) or NAME=int8|fp32|wKaM (wKaM) (repeatable).")
    var layers: [String] = []

    @Option(help: "CAT feature-map codec tables (any recipe; needs --calibrate): bits per activation, 2...8, or auto (per tensor, the fewest within --codec-budget).")
    var codecBits: String?

    @Option(help: "Transform codec tables next to the CAT ones (needs --codec-bits): none (default), pca (a per-layer principal-component basis over channels, fitted on the calibration data), dct (a fixed DCT-II along channels) or auto (PCA where it compresses better than CAT on the held-out samples).")
    var codecTransform: String = CodecTransformChoice.none.rawValue

    @Option(help: "--codec-bits auto: the largest relative output error ‖y − y₀‖/‖y₀‖ the codec may add on the calibration data.")
    var codecBudget: Double = CodecBitsChoice.defaultBudget

    @Option(help: "fp32, int8: unstructured magnitude pruning, the fraction 0 < S < 1 of each Conv/Gemm's weights set to zero.")
    var sparsity: Double?

    @Option(help: "fp32, int8: N:M magnitude pruning along input channels, e.g. 2:4 (1 ≤ N < M ≤ 4).")
    var nm: String?

    @Option(help: "With --sparsity / --nm: store the layers a sparse kernel runs sparse where the cost model predicts a speed-up (auto), always (sparse) or never (dense).")
    var sparseStorage: String = "auto"

    @Option(help: ArgumentHelp("Comma-separated ONNX values to keep as the model's outputs (default: the graph's own outputs); nodes none of them reads are left out.",
                               discussion: "E.g. --outputs probabilities for an skl2onnx classifier, whose int64 label (ArgMax) and ZipMap outputs Nibble cannot produce."))
    var outputs: String?

    @Flag(help: "Do not print the per-layer report.")
    var quiet = false

    @Option(help: "A recipe file with the recipe, group-size, residual-edges, act-bits, calibration and `layer NAME = P` lines, one per line, instead of those options (format: Sources/NibbleConvert/RecipeFile.swift).")
    var recipeFile: String?

    func run() throws {
        var options = self
        if let recipeFile { try options.adopt(recipeFile: recipeFile) }
        try options.convert()
    }

    func convert() throws {
        var bitSerial: BitSerialOptions?
        do { bitSerial = try BitSerialOptions.parse(self.recipe) } catch let e as ConvertError { throw CLIError("\(e)") }
        guard let recipe = bitSerial != nil ? .bitSerial : Recipe(rawValue: recipe), recipe != .bitSerial || bitSerial != nil else {
            throw CLIError("unknown recipe '\(self.recipe)'; supported: fp32, int8, ternary, wKaM with K and M in 1...4 (e.g. w4a4, w2a2, w1a1)")
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
        if recipe != .fp32 && data == nil {
            throw CLIError("recipe \(self.recipe) needs --calibrate CALIB.npy (a float32 batch shaped like the model input)")
        }
        var overrides: [String: String] = [:]
        for l in layers {
            guard let eq = l.lastIndex(of: "="), eq != l.startIndex else {
                throw CLIError("--layer \(l): expected NAME=int8|ternary|fp32")
            }
            overrides[String(l[..<eq])] = String(l[l.index(after: eq)...])
        }
        if recipe != .ternary && (groupSize != 16 || residualEdges != 2 || actBits != 8) {
            throw CLIError("--group-size, --residual-edges and --act-bits apply to --recipe ternary only")
        }
        if recipe != .ternary && recipe != .bitSerial && !layers.isEmpty {
            throw CLIError("--layer applies to --recipe ternary and wKaM only")
        }
        bitSerial?.overrides = overrides
        let ternary = TernaryOptions(groupSize: groupSize, residualEdges: residualEdges, overrides: overrides, activationBits: actBits)
        guard let storage = PruningOptions.Storage(rawValue: sparseStorage) else {
            throw CLIError("--sparse-storage \(sparseStorage): expected auto, sparse or dense")
        }
        var pruning = PruningOptions(sparsity: sparsity, storage: storage)
        do {
            if let nm { pruning.nm = try PruningOptions.parseNM(nm) }
            try pruning.validate()
        } catch let e as ConvertError { throw CLIError("\(e)") }
        progress("converting \(input) (\(formatBytes(onnx.count))) with recipe \(self.recipe)\(data.map { ", calibrating on \($0.sampleCount) samples" } ?? "")…")
        let codecChoice = try parseCodecChoice(hasCalibration: data != nil)
        guard let transformChoice = CodecTransformChoice(rawValue: codecTransform) else {
            throw CLIError("--codec-transform \(codecTransform): expected none, pca, dct or auto")
        }
        if transformChoice != .none && codecChoice == nil { throw CLIError("--codec-transform needs --codec-bits N|auto") }
        var nib: [UInt8], report: ConversionReport
        var codecReport: CodecReport?
        do {
            (nib, report) = try Converter.convert(onnxBytes: onnx, recipe: recipe, calibration: data, calibrationMethod: method,
                                                     ternary: ternary, bitSerial: bitSerial ?? BitSerialOptions(), pruning: pruning,
                                                     outputs: try parseOutputs())
            if let codecChoice, let data {
                progress("fitting codec tables (bits \(codecChoice), transform \(transformChoice.rawValue))…")
                (nib, codecReport) = try CodecFitter.fit(nib: nib, data: data, bits: codecChoice, transform: transformChoice,
                                                         progress: { progress("  " + $0) })
            }
        } catch let e as ConvertError {
            throw CLIError("\(input): \(e)")
        }
        try writeFile(nib, to: output)
        if !quiet { print(report); if let codecReport { print(codecReport) } }
        progress("wrote \(output) (\(formatBytes(nib.count)))")
    }

    /// `--outputs a,b` as names; empty without the option.
    func parseOutputs() throws -> [String] {
        guard let outputs else { return [] }
        let names = outputs.split(separator: ",", omittingEmptySubsequences: false).map { String($0) }
        if names.contains(where: \.isEmpty) { throw CLIError("--outputs '\(outputs)': expected comma-separated value names, none empty") }
        return names
    }

    /// `--codec-bits N|auto` and `--codec-budget` as a choice; nil without --codec-bits.
    func parseCodecChoice(hasCalibration: Bool) throws -> CodecBitsChoice? {
        guard let codecBits else {
            if codecBudget != CodecBitsChoice.defaultBudget { throw CLIError("--codec-budget applies to --codec-bits auto only") }
            return nil
        }
        if !hasCalibration { throw CLIError("--codec-bits needs --calibrate CALIB.npy (the codec tables are fitted on it)") }
        if codecBits == "auto" {
            guard codecBudget > 0, codecBudget.isFinite else { throw CLIError("--codec-budget \(codecBudget): must be a number > 0") }
            return .auto(budget: codecBudget)
        }
        guard let b = Int(codecBits), (2...8).contains(b) else { throw CLIError("--codec-bits \(codecBits): expected 2...8 or auto") }
        if codecBudget != CodecBitsChoice.defaultBudget { throw CLIError("--codec-budget applies to --codec-bits auto only") }
        return .fixed(b)
    }
}
