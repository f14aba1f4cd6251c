import NibbleFormat

/// What the converter produced, per node: precision and weight bytes next to their fp32 size.
/// `description` is the text table the CLI prints.
public struct ConversionReport: Sendable, CustomStringConvertible {
    public struct Row: Sendable, Equatable {
        public var name: String
        public var op: String
        public var precision: String
        /// Bytes of the node's constant inputs as stored (weights, bias, weight scales).
        public var weightBytes: Int
        /// The same weights (and bias) in float32, i.e. before quantization.
        public var fp32WeightBytes: Int
    }

    public var rows: [Row]
    public var recipe: Recipe
    public var calibrationMethod: CalibrationMethod?
    public var calibrationSamples: Int
    /// Size of the `.nib` file in bytes.
    public var fileBytes: Int
    public var tensorCount: Int

    public var totalWeightBytes: Int { rows.reduce(0) { $0 + $1.weightBytes } }
    public var totalFP32WeightBytes: Int { rows.reduce(0) { $0 + $1.fp32WeightBytes } }

    init(graph: Graph, recipe: Recipe, calibrationMethod: CalibrationMethod?, calibrationSamples: Int, fileBytes: Int) {
        self.recipe = recipe
        self.calibrationMethod = calibrationMethod
        self.calibrationSamples = calibrationSamples
        self.fileBytes = fileBytes
        self.tensorCount = graph.tensors.count
        rows = graph.nodes.map { node in
            var bytes = 0, fp32 = 0
            for (k, t) in node.inputs.enumerated() where t != absentTensor && graph.tensors[t].role == .constant {
                bytes += graph.tensors[t].byteCount
                let isScales = node.precision == .int8 && k == 3
                if !isScales { fp32 += graph.tensors[t].elementCount * 4 }
            }
            return Row(name: node.name, op: node.op.name, precision: node.precision.name, weightBytes: bytes, fp32WeightBytes: fp32)
        }
    }

    public var description: String {
        let nameWidth = max(4, min(40, rows.map { $0.name.count }.max() ?? 4))
        let opWidth = max(2, rows.map { $0.op.count }.max() ?? 2)
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
        func lpad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
        var lines: [String] = []
        var head = "recipe \(recipe.rawValue)"
        if let m = calibrationMethod { head += ", calibration \(m) on \(calibrationSamples) sample(s)" }
        lines.append(head + "; \(rows.count) nodes, \(tensorCount) tensors, \(fileBytes) bytes")
        lines.append("\(pad("node", nameWidth))  \(pad("op", opWidth))  precision  \(lpad("weights", 10))  \(lpad("fp32", 10))")
        for r in rows {
            let name = r.name.count > nameWidth ? String(r.name.prefix(nameWidth - 1)) + "…" : r.name
            lines.append("\(pad(name, nameWidth))  \(pad(r.op, opWidth))  \(pad(r.precision, 9))  \(lpad(String(r.weightBytes), 10))  \(lpad(String(r.fp32WeightBytes), 10))")
        }
        let ratio = totalWeightBytes > 0 ? Double(totalFP32WeightBytes) / Double(totalWeightBytes) : 1
        lines.append("\(pad("total", nameWidth))  \(pad("", opWidth))  \(pad("", 9))  \(lpad(String(totalWeightBytes), 10))  \(lpad(String(totalFP32WeightBytes), 10))  (\(formatRatio(ratio))× smaller than fp32)")
        return lines.joined(separator: "\n")
    }

    func formatRatio(_ r: Double) -> String {
        let hundredths = Int((r * 100).rounded())
        let frac = hundredths % 100
        return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
    }
}
