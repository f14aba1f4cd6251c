import NibbleFormat
import NibbleRuntime

/// Which precision the converter gives the compute-heavy nodes.
public enum Recipe: String, Sendable, CaseIterable {
    /// Everything float32.
    case fp32
    /// Conv and FullyConnected in int8 (per-channel int8 weights, calibrated uint8 activations); the rest float32.
    case int8
}

/// ONNX bytes → `.nib` bytes plus a report (DESIGN.md, "Convert").
public enum Converter {
    /// Converts an ONNX model. `.int8` needs `calibration` (a float32 batch shaped like the model input);
    /// the fp32 model is run on it with the Nibble runtime to find each Conv/FullyConnected input range.
    /// The result is checked by loading it with the runtime before it is returned.
    public static func convert(onnxBytes: [UInt8], recipe: Recipe = .fp32, calibration: CalibrationData? = nil,
                               calibrationMethod: CalibrationMethod = .minMax) throws -> (nib: [UInt8], report: ConversionReport) {
        var result = try ONNXImporter.importGraph(try ONNXImporter.decode(onnxBytes))
        result.graph.metadata.append(("recipe", recipe.rawValue))
        var nib = try serialize(result)
        var usedCalibration: CalibrationMethod? = nil
        if recipe == .int8 {
            guard let calibration else {
                throw ConvertError.invalidInput("recipe int8 needs calibration data (a float32 .npy batch shaped like the model input)")
            }
            let observed = Int8Recipe.observedTensors(result.graph)
            let ranges = try Calibrator.ranges(nib: nib, tensors: observed, data: calibration, method: calibrationMethod)
            try Int8Recipe.apply(&result, ranges: ranges)
            result.graph.metadata.append(("calibration", "\(calibrationMethod), \(calibration.sampleCount) samples"))
            nib = try serialize(result)
            usedCalibration = calibrationMethod
        }
        try verifyLoads(nib)
        let report = ConversionReport(graph: result.graph, recipe: recipe, calibrationMethod: usedCalibration,
                                      calibrationSamples: usedCalibration == nil ? 0 : calibration?.sampleCount ?? 0, fileBytes: nib.count)
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
