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
}

/// ONNX bytes → `.nib` bytes plus a report (DESIGN.md, "Convert").
public enum Converter {
    /// Converts an ONNX model. `.int8` needs `calibration` (a float32 batch shaped like the model input);
    /// the fp32 model is run on it with the Nibble runtime to find each Conv/FullyConnected input range.
    /// The result is checked by loading it with the runtime before it is returned.
    public static func convert(onnxBytes: [UInt8], recipe: Recipe = .fp32, calibration: CalibrationData? = nil,
                               calibrationMethod: CalibrationMethod = .minMax,
                               ternary: TernaryOptions = TernaryOptions()) throws -> (nib: [UInt8], report: ConversionReport) {
        var result = try ONNXImporter.importGraph(try ONNXImporter.decode(onnxBytes))
        result.graph.metadata.append(("recipe", recipe.rawValue))
        var nib = try serialize(result)
        var usedCalibration: CalibrationMethod? = nil
        var layers: [String: ConversionReport.TernaryLayer] = [:]
        var perLevel: [ConversionReport.LevelError] = []
        if recipe == .int8 || recipe == .ternary {
            guard let calibration else {
                throw ConvertError.invalidInput("recipe \(recipe.rawValue) needs calibration data (a float32 .npy batch shaped like the model input)")
            }
            let observed = Int8Recipe.observedTensors(result.graph)
            let ranges = try Calibrator.ranges(nib: nib, tensors: observed, data: calibration, method: calibrationMethod)
            let fp32Nib = nib
            var infos: [TernaryRecipe.LayerInfo] = []
            if recipe == .int8 {
                try Int8Recipe.apply(&result, ranges: ranges)
            } else {
                infos = try TernaryRecipe.apply(&result, ranges: ranges, options: ternary)
                result.graph.metadata.append(("ternary", "group size \(ternary.groupSize), \(ternary.residualEdges) residual edges, levels by sensitivity"))
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
        try verifyLoads(nib)
        let report = ConversionReport(graph: result.graph, recipe: recipe, calibrationMethod: usedCalibration,
                                      calibrationSamples: usedCalibration == nil ? 0 : calibration?.sampleCount ?? 0, fileBytes: nib.count,
                                      ternaryLayers: layers, levelErrors: perLevel)
        return (nib, report)
    }

    /// Writes the graph with each constant stored in its tensor's dtype.
    static func serialize(_ r: ONNXImporter.Result) throws -> [UInt8] {
        let data: [[UInt8]] = r.graph.tensors.enumerated().map { i, t in
            guard t.role == .constant, let h = r.constants[i] else { return [] }
            switch t.dtype {
            case .int8: return (h.ints ?? []).map { UInt8(bitPattern: Int8(truncatingIfNeeded: $0)) }
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
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(nib.count, 1), alignment: Layout.alignment)
        defer { buffer.deallocate() }
        nib.withUnsafeBytes { buffer.copyMemory(from: $0) }
        do {
            _ = try Model(bytes: UnsafeRawBufferPointer(rebasing: buffer[0..<nib.count]))
        } catch {
            throw ConvertError.runtime("the runtime refused the converted model: \(error.message)")
        }
    }
}
