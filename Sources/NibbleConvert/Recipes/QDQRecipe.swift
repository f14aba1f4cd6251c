import NibbleFormat

/// Pre-quantized (QDQ) ONNX models keep their own quantization: every Conv/FullyConnected whose weights came from a
/// DequantizeLinear (`ONNXImporter.Result.prequantized`, Importer+QDQ.swift) becomes int8 with the model's weight
/// scales — int4/uint4 weights are int8 values in −8…7 (uint4: q − zp) with the same scale — and, when its input went
/// through a Q→DQ pair, that pair's scale and zero point as its uint8 input quantization instead of a calibrated one.
/// It runs before the chosen recipe, which then leaves these nodes alone.
///
/// Weights whose integers do not fit int8 (e.g. onnxruntime quantizes weights held in a `Constant` node as an
/// activation: uint8 with zero point 119 leaves q − zp up to 136) cannot keep their grid: they are requantized
/// symmetric per output channel like the int8 recipe, and the converter lists them in the `qdq` metadata.
enum QDQRecipe {
    /// Nodes (by index) that are pre-quantized but have no Q/DQ pair on their input, so their input range must be
    /// calibrated.
    static func uncalibratedInputs(_ r: ONNXImporter.Result) -> Set<Int> {
        Set(r.graph.nodes.filter { r.prequantized[$0.name].map { $0.input == nil } ?? false }.map { $0.inputs[0] })
    }

    /// What `apply` did: nodes int8 on the model's own weight grid, and nodes whose weights had to be requantized
    /// (with the reason).
    struct Outcome {
        var exact: [String] = []
        var requantized: [(node: String, why: String)] = []

        var summary: String {
            var s = "\(exact.count + requantized.count) Conv/FullyConnected nodes int8 with the ONNX model's QuantizeLinear/DequantizeLinear scales"
            if !requantized.isEmpty {
                s += "; weights requantized per output channel (not representable in int8): " + requantized.map { "\($0.node) (\($0.why))" }.joined(separator: ", ")
            }
            return s
        }
    }

    /// Makes the pre-quantized nodes int8. `ranges`: calibrated ranges of `uncalibratedInputs` (empty when none).
    @discardableResult
    static func apply(_ r: inout ONNXImporter.Result, ranges: [Int: (min: Float, max: Float)]) throws -> Outcome {
        var names = UniqueNames(r.graph)
        var done = Outcome()
        for i in r.graph.nodes.indices {
            let node = r.graph.nodes[i]
            guard node.op == .conv || node.op == .fullyConnected, node.precision == .float32,
                  let layer = r.prequantized[node.name] else { continue }
            guard let w = r.constants[node.inputs[1]] else {
                throw ConvertError.malformed("node '\(node.name)' (\(node.op.name)): weights are not a constant")
            }
            var q: [Int8], scales = layer.weightScales
            switch try gridValues(w.floats, scales: scales, node: node, source: layer.weightSource) {
            case .success(let v):
                q = v
                done.exact.append(node.name)
            case .failure(let why):
                (q, scales) = Int8Recipe.quantizePerChannel(w.floats, outChannels: scales.count)
                done.requantized.append((node.name, why.message))
            }
            let input: (scale: Float, zeroPoint: Int)
            if let a = layer.input {
                input = (a.scale, a.zeroPoint)
            } else if ranges[node.inputs[0]] != nil {
                input = try Int8Recipe.inputQuantization(r, node: node, ranges: ranges)
            } else {
                throw ConvertError.invalidInput("node '\(node.name)' (\(node.op.name)): its weights are pre-quantized (DequantizeLinear '\(layer.weightSource)') but its input '\(r.graph.tensors[node.inputs[0]].name)' has no QuantizeLinear → DequantizeLinear pair to take the activation scale from; give calibration data (--calibrate) to calibrate it")
            }
            Int8Recipe.install(&r, node: i, weights: q, scales: scales, inputScale: input.scale,
                               inputZeroPoint: input.zeroPoint, names: &names)
        }
        r = DeadCodeElimination.run(r)
        return done
    }

    /// The integers q = w / scale[o] of dequantized weights (exact up to float rounding, since w = q·scale was computed
    /// from them); `.failure` when one is outside int8; throws when a value is off the grid (the model contradicts itself).
    static func gridValues(_ w: [Float], scales: [Float], node: Node, source: String) throws -> Result<[Int8], ConvertError> {
        let outC = scales.count
        if outC == 0 || w.count % outC != 0 {
            throw ConvertError.malformed("node '\(node.name)' (\(node.op.name)): \(w.count) weights do not split into \(outC) output channels")
        }
        let per = w.count / outC
        var q = [Int8](repeating: 0, count: w.count)
        for o in 0..<outC {
            let s = scales[o]
            for k in 0..<per {
                let v = w[o * per + k]
                if v == 0 { continue }
                let x = v / s
                let r = x.rounded(.toNearestOrEven)
                if !(s > 0) || !s.isFinite || !x.isFinite || abs(x - r) > 1e-3 * max(1, abs(r)) {
                    throw ConvertError.malformed("node '\(node.name)' (\(node.op.name)): weight [\(o), \(k)] = \(v) is not a multiple of its scale \(s) from DequantizeLinear '\(source)'")
                }
                if r < -128 || r > 127 {
                    return .failure(.unsupported("weight [\(o), \(k)] is \(Int(r)) steps of DequantizeLinear '\(source)' scale \(s), outside int8 −128…127"))
                }
                q[o * per + k] = Int8(r)
            }
        }
        return .success(q)
    }
}
