import NibbleFormat

/// What the converter produced, per node: precision and weight bytes next to their fp32 size; for ternary
/// nodes also the group size, edge levels, the packed size (2 bits per ternary weight, the kernels' target
/// layout) and the approximation error; and the calibration output error at each residual level.
/// `description` is the text table the CLI prints.
public struct ConversionReport: Sendable, CustomStringConvertible {
    public struct Row: Sendable, Equatable {
        public var name: String
        public var op: String
        public var precision: String
        /// Bytes of the node's constant inputs as stored (weights, bias, weight scales; ternary: packed planes).
        public var weightBytes: Int
        /// The same weights (and bias) in float32, i.e. before quantization.
        public var fp32WeightBytes: Int
        /// Ternary only: input channels per scale group, the level of each edge, the bytes once the planes are
        /// packed at 2 bits per weight (scales and bias as stored), ‖W − Σ_{e<k} αₑTₑ‖/‖W‖ for k = 1…edges,
        /// and the sensitivity (model output error added on the calibration set when only edge 0 runs).
        public var groupSize: Int? = nil
        public var edgeLevels: [Int] = []
        public var packedWeightBytes: Int? = nil
        public var weightErrors: [Double] = []
        public var sensitivity: Double? = nil

        /// fp32 bytes ÷ bytes (packed bytes for ternary nodes).
        public var compression: Double {
            let b = packedWeightBytes ?? weightBytes
            return b > 0 ? Double(fp32WeightBytes) / Double(b) : 1
        }
    }

    /// What the converter measured for one bit-serial layer.
    public struct BitSerialLayer: Sendable, Equatable {
        /// ‖W − Ŵ‖ / ‖W‖ of the quantized weights.
        public var weightError: Double
        public var activationStep: Float
    }

    /// What the converter measured for one ternary layer.
    public struct TernaryLayer: Sendable, Equatable {
        public var weightErrors: [Double]
        public var sensitivity: Double
    }

    /// What the pruning recipe did to one layer (docs/FORMAT.md §4.6).
    public struct SparseLayer: Sendable, Equatable {
        /// Fraction of the layer's weights that are zero (after quantization for int8).
        public var sparsity: Double
        /// "csr", "2:4", or why the layer stayed dense.
        public var storage: String
        /// Weight bytes stored dense (fp32 or int8 values, without bias and scales) and as chosen.
        public var denseBytes: Int
        public var storedBytes: Int
        /// `SparseCostModel`'s dense ÷ sparse time (1 when not eligible).
        public var predictedSpeedup: Double
    }

    /// The model's output on the calibration set at one residual level, vs the fp32 model.
    public struct LevelError: Sendable, Equatable {
        public var level: Int
        /// ‖y − y_fp32‖ / ‖y_fp32‖ over the whole batch.
        public var relativeError: Double
        /// Fraction of samples whose arg-max output equals the fp32 model's.
        public var top1Agreement: Double
    }

    public var rows: [Row]
    public var recipe: Recipe
    /// The recipe as the user named it (`w2a2` for `.bitSerial`).
    public var recipeName: String
    public var calibrationMethod: CalibrationMethod?
    public var calibrationSamples: Int
    /// Size of the `.nib` file in bytes.
    public var fileBytes: Int
    public var tensorCount: Int
    /// Ternary recipe: calibration error at each level 0…max (empty otherwise).
    public var levelErrors: [LevelError]
    /// Pruning recipe: per pruned layer, its sparsity and storage (empty without --sparsity / --nm).
    public var sparseLayers: [String: SparseLayer] = [:]

    public var totalWeightBytes: Int { rows.reduce(0) { $0 + $1.weightBytes } }
    public var totalFP32WeightBytes: Int { rows.reduce(0) { $0 + $1.fp32WeightBytes } }
    /// Like `totalWeightBytes` with ternary planes counted at 2 bits per weight.
    public var totalPackedWeightBytes: Int { rows.reduce(0) { $0 + ($1.packedWeightBytes ?? $1.weightBytes) } }

    init(graph: Graph, recipe: Recipe, calibrationMethod: CalibrationMethod?, calibrationSamples: Int, fileBytes: Int,
         ternaryLayers: [String: TernaryLayer] = [:], levelErrors: [LevelError] = [],
         bitSerialLayers: [String: BitSerialLayer] = [:]) {
        self.recipe = recipe
        self.recipeName = recipe.rawValue
        self.calibrationMethod = calibrationMethod
        self.calibrationSamples = calibrationSamples
        self.fileBytes = fileBytes
        self.tensorCount = graph.tensors.count
        self.levelErrors = levelErrors
        rows = graph.nodes.map { node in
            var bytes = 0, fp32 = 0, packed = 0
            let ternary = node.precision == .ternary
            let bitSerial = node.precision == .bitSerial
            for (k, t) in node.inputs.enumerated() where t != absentTensor && graph.tensors[t].role == .constant {
                let tensor = graph.tensors[t]
                bytes += tensor.byteCount
                // Ternary inputs: 1 = T₀, 2 = bias, 3 = S₀, then (Tₑ, Sₑ) pairs; planes are stored packed (2 bits per
                // weight, bits64); int8 planes of older files count as they would pack.
                let isPlane = ternary && (k == 1 || (k >= 4 && k % 2 == 0))
                packed += isPlane && tensor.dtype == .int8 ? (tensor.elementCount * 2 + 7) / 8 : tensor.byteCount
                let isScales = ((node.precision == .int8 || bitSerial) && k == 3) || (ternary && k >= 3 && k % 2 == 1)
                let isExtraEdge = ternary && k >= 4
                if ternary && k == 1 && tensor.dtype == .bits64 {
                    fp32 += ConversionReport.ternaryWeightCount(node, graph, outChannels: tensor.shape.count == 3 ? tensor.shape[1] : 0) * 4
                } else if node.precision == .sparse && k != 2 {
                    // Sparse values/indices/row pointers (1, 4, 5) stand for the dense [out, in] weights; int8 scales (3) are extra.
                    let x = graph.tensors[node.inputs[0]].shape, y = graph.tensors[node.outputs[0]].shape
                    if k == 1, x.count >= 2, y.count >= 2 { fp32 += x[1] * y[1] * 4 }
                } else if bitSerial && k == 1 {
                    // Packed [K, O·kH·kW, words]: the fp32 weights were (O·kH·kW) × input channels.
                    let inC = graph.tensors[node.inputs[0]].shape.count >= 2 ? graph.tensors[node.inputs[0]].shape[1] : 0
                    fp32 += (tensor.shape.count == 3 ? tensor.shape[1] : 0) * inC * 4
                } else if !isScales && !isExtraEdge { fp32 += tensor.elementCount * 4 }
            }
            var row = Row(name: node.name, op: node.op.name, precision: node.precisionLabel, weightBytes: bytes, fp32WeightBytes: fp32)
            if bitSerial {
                row.packedWeightBytes = bytes
                if let l = bitSerialLayers[node.name] { row.weightErrors = [l.weightError] }
            }
            if ternary {
                row.groupSize = node.attribute(.groupSize)?.ints.first.map { Int($0) }
                row.edgeLevels = node.attribute(.edgeLevels)?.ints.map { Int($0) } ?? []
                row.packedWeightBytes = packed
                row.weightErrors = ternaryLayers[node.name]?.weightErrors ?? []
                row.sensitivity = ternaryLayers[node.name]?.sensitivity
            }
            return row
        }
    }

    /// Weights of a ternary node with packed planes (which do not carry the weights' shape): O · C/group · kH · kW.
    static func ternaryWeightCount(_ node: Node, _ graph: Graph, outChannels: Int) -> Int {
        let xs = graph.tensors[node.inputs[0]].shape
        let inC = xs.count >= 2 ? xs[1] : 0
        guard node.op == .conv else { return outChannels * inC }
        let kernel = node.attribute(.kernelShape)?.ints.reduce(1, *) ?? 1
        let group = max(1, Int(node.attribute(.group)?.ints.first ?? 1))
        return outChannels * (inC / group) * Int(kernel)
    }

    public var description: String {
        let nameWidth = max(4, min(40, rows.map { $0.name.count }.max() ?? 4))
        let opWidth = max(2, rows.map { $0.op.count }.max() ?? 2)
        let anyTernary = rows.contains { $0.packedWeightBytes != nil }
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
        func lpad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
        var lines: [String] = []
        var head = "recipe \(recipeName)"
        if let m = calibrationMethod { head += ", calibration \(m) on \(calibrationSamples) sample(s)" }
        lines.append(head + "; \(rows.count) nodes, \(tensorCount) tensors, \(fileBytes) bytes")
        var header = "\(pad("node", nameWidth))  \(pad("op", opWidth))  precision  \(lpad("weights", 10))  \(lpad("fp32", 10))"
        let anyGroups = rows.contains { $0.groupSize != nil }
        if anyTernary { header += "  \(lpad("packed", 10))  \(lpad("vs fp32", 8))" + (anyGroups ? "  group  edge levels  ‖W−Ŵ‖/‖W‖ per edge count  sensitivity" : "  ‖W−Ŵ‖/‖W‖") }
        lines.append(header)
        for r in rows {
            let name = r.name.count > nameWidth ? String(r.name.prefix(nameWidth - 1)) + "…" : r.name
            var line = "\(pad(name, nameWidth))  \(pad(r.op, opWidth))  \(pad(r.precision, 9))  \(lpad(String(r.weightBytes), 10))  \(lpad(String(r.fp32WeightBytes), 10))"
            if anyTernary {
                let packed = r.packedWeightBytes ?? r.weightBytes
                line += "  \(lpad(String(packed), 10))  \(lpad(formatRatio(r.compression) + "×", 8))"
                if let g = r.groupSize {
                    line += "  \(lpad(String(g), 5))  \(pad(r.edgeLevels.map(String.init).joined(separator: ","), 11))"
                    line += "  \(pad(r.weightErrors.map { formatFixed($0, 3) }.joined(separator: " → "), 24))"
                    if let s = r.sensitivity { line += "  \(formatFixed(s, 4))" }
                } else if let e = r.weightErrors.first {
                    line += "  \(formatFixed(e, 3))"
                }
            }
            lines.append(line)
        }
        let ratio = totalWeightBytes > 0 ? Double(totalFP32WeightBytes) / Double(totalWeightBytes) : 1
        var total = "\(pad("total", nameWidth))  \(pad("", opWidth))  \(pad("", 9))  \(lpad(String(totalWeightBytes), 10))  \(lpad(String(totalFP32WeightBytes), 10))"
        if anyTernary {
            let packedRatio = totalPackedWeightBytes > 0 ? Double(totalFP32WeightBytes) / Double(totalPackedWeightBytes) : 1
            total += "  \(lpad(String(totalPackedWeightBytes), 10))  (\(formatRatio(ratio))× smaller than fp32 as stored, \(formatRatio(packedRatio))× packed)"
        } else {
            total += "  (\(formatRatio(ratio))× smaller than fp32)"
        }
        lines.append(total)
        if !sparseLayers.isEmpty {
            lines.append("")
            let w = max(nameWidth, 12)
            lines.append("\(pad("pruned layer", w))  sparsity  storage                        dense bytes  stored bytes  model speed-up")
            for r in rows {
                guard let s = sparseLayers[r.name] else { continue }
                lines.append("\(pad(r.name, w))  \(lpad(formatFixed(s.sparsity * 100, 1) + "%", 8))  \(pad(s.storage, 29))  \(lpad(String(s.denseBytes), 11))  \(lpad(String(s.storedBytes), 12))  \(lpad(formatRatio(s.predictedSpeedup) + "×", 14))")
            }
        }
        if !levelErrors.isEmpty {
            lines.append("")
            lines.append("residual level  output error vs fp32 (calibration)  top-1 agreement with fp32")
            for e in levelErrors {
                lines.append("\(lpad(String(e.level), 14))  \(lpad(formatFixed(e.relativeError, 4), 34))  \(lpad(formatFixed(e.top1Agreement * 100, 1) + "%", 25))")
            }
        }
        return lines.joined(separator: "\n")
    }

    func formatRatio(_ r: Double) -> String { formatFixed(r, 2) }
}

/// `v` with `digits` decimals, without Foundation.
func formatFixed(_ v: Double, _ digits: Int) -> String {
    if !v.isFinite { return "\(v)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let n = Int((abs(v) * scale).rounded())
    let whole = n / Int(scale), frac = n % Int(scale)
    var f = String(frac)
    while f.count < digits { f = "0" + f }
    return (v < 0 && n > 0 ? "-" : "") + "\(whole)" + (digits > 0 ? "." + f : "")
}
