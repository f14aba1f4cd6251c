import NibbleFormat
import NibbleRuntime

/// Which precision the converter gives the compute-heavy nodes.
public enum Recipe: String, Sendable, CaseIterable {
    /// Everything float32.
    case fp32
    /// Conv and FullyConnected in int8 (per-channel int8 weights, calibrated uint8 activations); the rest float32.
    case int8
    /// FGQ ternary weights with residual edges and calibrated uint8 activations; the first and last
    /// Conv/FullyConnected and depthwise convs int8 (`TernaryOptions`, docs/FORMAT.md §4.4).
    case ternary
    /// `wKaM` bit-serial (K-bit weights × M-bit activations, K and M in `BitSerialOptions`): the Conv and
    /// FullyConnected nodes with ReLU-bounded inputs, except the first and last and grouped convs, which stay
    /// int8 (docs/FORMAT.md §4.5). The CLI spells it `--recipe w4a4`, `w2a2`, `w1a1`, … .
    case bitSerial = "wKaM"
}

/// ONNX bytes → `.nib` bytes plus a report (DESIGN.md, "Convert").
public enum Converter {
    /// Converts an ONNX model. `.int8` needs `calibration` (a float32 batch shaped like the model input);
    /// the fp32 model is run on it with the Nibble runtime to find each Conv/FullyConnected input range.
    /// The result is checked by loading it with the runtime before it is returned. `outputs`, when not empty, are
    /// the ONNX values to keep as the model's outputs (`ONNXImporter.selectingOutputs`); the rest of the graph that
    /// none of them reads is left out.
    public static func convert(onnxBytes: [UInt8], recipe: Recipe = .fp32, calibration: CalibrationData? = nil,
                               calibrationMethod: CalibrationMethod = .minMax,
                               ternary: TernaryOptions = TernaryOptions(),
                               bitSerial: BitSerialOptions = BitSerialOptions(),
                               pruning: PruningOptions = PruningOptions(),
                               outputs: [String] = []) throws -> (nib: [UInt8], report: ConversionReport) {
        var model = try ONNXImporter.decode(onnxBytes)
        if !outputs.isEmpty { model = try ONNXImporter.selectingOutputs(outputs, of: model) }
        var result = try ONNXImporter.importGraph(model)
        let recipeName = recipe == .bitSerial ? bitSerial.name : recipe.rawValue
        result.graph.metadata.append(("recipe", recipeName))
        if pruning.isEnabled {
            // The sparse kernels take fp32 or int8 values (docs/FORMAT.md §4.6); prune before calibration.
            if recipe != .fp32 && recipe != .int8 {
                throw ConvertError.invalidInput("--sparsity / --nm apply to recipes fp32 and int8 (the sparse kernels' values), not \(recipeName)")
            }
            try PruningRecipe.prune(&result, options: pruning)
            result.graph.metadata.append(("pruning", "\(pruning.name) magnitude pruning per layer; sparse storage \(pruning.storage.rawValue)\(pruning.storage == .auto ? " (where SparseCostModel predicts a speed-up)" : "")"))
        }
        var nib = try serialize(result)
        if !result.prequantized.isEmpty {
            // A model quantized elsewhere (QDQ) keeps its own scales; the recipe below handles the other nodes.
            let unobserved = QDQRecipe.uncalibratedInputs(result)
            var ranges: [Int: (min: Float, max: Float)] = [:]
            if !unobserved.isEmpty, let calibration {
                ranges = try Calibrator.ranges(nib: nib, tensors: unobserved, data: calibration, method: calibrationMethod)
            }
            result.graph.metadata.append(("qdq", try QDQRecipe.apply(&result, ranges: ranges).summary))
            nib = try serialize(result)
        }
        var usedCalibration: CalibrationMethod? = nil
        var layers: [String: ConversionReport.TernaryLayer] = [:]
        var perLevel: [ConversionReport.LevelError] = []
        var bitSerialLayers: [String: ConversionReport.BitSerialLayer] = [:]
        if recipe == .int8 || recipe == .ternary || recipe == .bitSerial {
            guard let calibration else {
                throw ConvertError.invalidInput("recipe \(recipeName) needs calibration data (a float32 .npy batch shaped like the model input)")
            }
            let observed = Int8Recipe.observedTensors(result.graph)
            let (ranges, samples) = try Calibrator.observe(nib: nib, tensors: observed, data: calibration, method: calibrationMethod,
                                                           sampleValues: recipe == .bitSerial || (recipe == .ternary && ternary.activationBits < 8) ? Calibrator.maxSampleValues : 0)
            let fp32Nib = nib
            var infos: [TernaryRecipe.LayerInfo] = []
            if recipe == .int8 {
                try Int8Recipe.apply(&result, ranges: ranges)
            } else if recipe == .bitSerial {
                let layers = try BitSerialRecipe.apply(&result, ranges: ranges, samples: samples, options: bitSerial)
                for l in layers { bitSerialLayers[l.name] = .init(weightError: l.weightError, activationStep: l.activationStep) }
                result.graph.metadata.append(("bit-serial", "\(bitSerial.name): WRPN uniform quantizers, \(bitSerial.weightBits == 1 ? "bipolar sign weights, scale mean|w|" : "symmetric \(bitSerial.weightBits)-bit weights, MSE-optimal per-channel scale"), unsigned \(bitSerial.activationBits)-bit activations, MSE-optimal step; first/last, grouped and signed-input layers int8"))
            } else {
                infos = try TernaryRecipe.apply(&result, ranges: ranges, samples: samples, options: ternary)
                let lowBits = infos.filter { $0.activationBits < 8 }.count
                let activations = ternary.activationBits < 8 ? ", \(ternary.activationBits)-bit activations (MSE step) on \(lowBits) of \(infos.count) ternary layers, uint8 where the input is not ReLU-bounded" : ""
                result.graph.metadata.append(("ternary", "group size \(ternary.groupSize), \(ternary.residualEdges) residual edges, levels by sensitivity\(activations)"))
            }
            result.graph.metadata.append(("calibration", "\(calibrationMethod), \(calibration.sampleCount) samples"))
            nib = try serialize(result)
            usedCalibration = calibrationMethod
            if recipe == .ternary {
                let captured = result
                let levels = try ResidualLevels.assign(&result.graph, nib: nib, fp32Nib: fp32Nib, data: calibration) { g in
                    var r = captured
                    r.graph = g
                    return try serialize(r)
                }
                nib = try serialize(result)
                perLevel = levels.perLevel
                for info in infos {
                    layers[info.name] = .init(weightErrors: info.weightErrors, sensitivity: levels.sensitivity[info.name] ?? 0)
                }
            }
        }
        var sparseLayers: [String: ConversionReport.SparseLayer] = [:]
        if pruning.isEnabled {
            sparseLayers = try PruningRecipe.encode(&result, options: pruning)
            nib = try serialize(result)
        }
        // Last: a recipe may give a conv a precision without an activation epilogue.
        if ConvActivationFusion.apply(&result) > 0 { nib = try serialize(result) }
        try verifyLoads(nib)
        var report = ConversionReport(graph: result.graph, recipe: recipe, calibrationMethod: usedCalibration,
                                      calibrationSamples: usedCalibration == nil ? 0 : calibration?.sampleCount ?? 0, fileBytes: nib.count,
                                      ternaryLayers: layers, levelErrors: perLevel, bitSerialLayers: bitSerialLayers)
        report.recipeName = recipeName + (result.prequantized.isEmpty ? "" : " (+ \(result.prequantized.count) Conv/FullyConnected nodes int8 with the ONNX model's own QDQ scales)")
        report.sparseLayers = sparseLayers
        return (nib, report)
    }

    /// Writes the graph with each constant stored in its tensor's dtype.
    static func serialize(_ r: ONNXImporter.Result) throws -> [UInt8] {
        let data: [[UInt8]] = r.graph.tensors.enumerated().map { i, t in
            guard t.role == .constant, let h = r.constants[i] else { return [] }
            switch t.dtype {
            case .int8: return (h.ints ?? []).map { UInt8(bitPattern: Int8(truncatingIfNeeded: $0)) }
            case .bits64: return (h.ints ?? []).flatMap { withUnsafeBytes(of: UInt64(bitPattern: $0).littleEndian, Array.init) }
            case .uint8 where h.ints != nil: return h.ints!.map { UInt8(truncatingIfNeeded: $0) }
            case .int32 where h.ints != nil: return h.ints!.flatMap { withUnsafeBytes(of: Int32(truncatingIfNeeded: $0).littleEndian, Array.init) }
            default: return h.float32Bytes
            }
        }
        do {
            return try Writer.serialize(r.graph, constantData: data)
        } catch {
            throw ConvertError.malformed("writing the .nib failed: \(error.message)")
        }
    }

    /// Loads `nib` with the runtime so that a model it would refuse is a conversion error, not a surprise later.
    static func verifyLoads(_ nib: [UInt8]) throws {
        do {
            _ = try Model(copying: nib)
        } catch {
            throw ConvertError.runtime("the runtime refused the converted model: \(error.message)")
        }
    }
}
