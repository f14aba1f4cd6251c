
/// What `CodecFitter` chose and measured, printed after the conversion report.
public struct CodecReport: Sendable, CustomStringConvertible {
    public struct Layer: Sendable, Equatable {
        public var tensor: String
        public var shape: [Int]
        public var bits: Int
        public var signed: Bool
        public var step: Float
        /// Mean compressed bytes on the measurement samples (directory included) and the planner's bound.
        public var expectedBytes: Int
        public var worstCaseBytes: Int
        public var fp32Bytes: Int
        public var bitsPerValue: Double
        /// The same held-out tensors coded with static rANS over the same tokens (`StaticRANS`), for comparison.
        public var ransBitsPerValue: Double
        /// Order-0 entropy of the quantized symbols: the bound a static per-tensor code reaches.
        public var entropy: Double
        /// ‖x − x̂‖/‖x‖ of the tensor on the measurement samples.
        public var error: Double
        /// The same tensor with the transform codec, when one was fitted for it.
        public var transform: TransformLayer? = nil
    }

    /// A tensor's transform entry as fitted and measured (coefficient symbols), and whether it was written.
    public struct TransformLayer: Sendable, Equatable {
        public var bits: Int
        public var step: Float
        public var expectedBytes: Int
        public var bitsPerValue: Double
        public var entropy: Double
        public var error: Double
        /// False when `--codec-transform auto` dropped it (CAT was smaller).
        public var kept: Bool
    }

    /// The transform codec over the whole model: the session that holds kept tensors with transform, the rest
    /// with CAT.
    public struct TransformSummary: Sendable {
        public var choice: CodecTransformChoice
        public var kept: Int
        public var searchSteps: Int
        public var fitError: Double
        public var checkError: Double
    }

    public var layers: [Layer]
    public var choice: CodecBitsChoice
    public var fitSamples: Int
    public var checkSamples: Int
    /// True when the measurement samples were held out from fitting and search.
    public var heldOut: Bool
    /// ‖y − y₀‖/‖y₀‖ with the chosen codec on the fitting (search) samples and on the measurement samples.
    public var fitError: Double
    public var checkError: Double
    /// Bit reductions the `auto` search accepted.
    public var searchSteps: Int
    /// The output error of the source model's own activation grids alone (`CodecFitter.modelGrid`: QDQ pairs whose
    /// rounding Nibble drops without a codec), on the measurement samples; the `auto` budget counts from it. Nil
    /// when no coded tensor has one.
    public var gridCheckError: Double? = nil
    /// Nil without `--codec-transform`.
    public var transform: TransformSummary?

    public var description: String {
        func f(_ v: Double, _ d: Int) -> String {
            var scale = 1.0
            for _ in 0..<d { scale *= 10 }
            let n = Int((abs(v) * scale).rounded())
            var frac = String(n % Int(scale))
            while frac.count < d { frac = "0" + frac }
            return (v < 0 ? "-" : "") + "\(n / Int(scale))" + (d > 0 ? "." + frac : "")
        }
        var lines = ["", "CAT codec tables: bits \(choice), fitted on \(fitSamples) sample(s), measured on \(checkSamples) \(heldOut ? "held-out" : "(the same: fewer than 4 samples)") sample(s)"]
        lines.append("tensor | shape | bits | signed | expected B | worst case B | fp32 B | bits/value | rANS bits/value | entropy | error")
        for l in layers {
            lines.append("\(l.tensor) | \(l.shape.map(String.init).joined(separator: "x")) | \(l.bits) | \(l.signed ? "yes" : "no") | \(l.expectedBytes) | \(l.worstCaseBytes) | \(l.fp32Bytes) | \(f(l.bitsPerValue, 3)) | \(f(l.ransBitsPerValue, 3)) | \(f(l.entropy, 3)) | \(f(l.error, 4))")
        }
        let expected = layers.reduce(0) { $0 + $1.expectedBytes }, fp32 = layers.reduce(0) { $0 + $1.fp32Bytes }
        let huffman = layers.reduce(0.0) { $0 + $1.bitsPerValue * Double($1.fp32Bytes) } / Double(max(fp32, 1))
        let rans = layers.reduce(0.0) { $0 + $1.ransBitsPerValue * Double($1.fp32Bytes) } / Double(max(fp32, 1))
        lines.append("Huffman \(f(huffman, 3)) vs static rANS \(f(rans, 3)) bits/value over all coded values (rANS/Huffman \(f(rans / max(huffman, 1e-9), 3)); the runtime codes Huffman)")
        lines.append("all coded tensors: expected \(expected) B vs fp32 \(fp32) B; output error vs no codec: \(f(fitError, 5)) (fitting samples), \(f(checkError, 5)) (\(heldOut ? "held out" : "same samples"))")
        let base = gridCheckError ?? 0
        if let g = gridCheckError {
            lines.append("the model's own activation grids (QDQ) alone: output error \(f(g, 5)) (\(heldOut ? "held out" : "same samples")); the budget counts from it")
        }
        if case .auto(let budget) = choice {
            lines.append("auto: \(searchSteps) joint bit reductions from 8; budget \(budget)\(checkError > budget + base ? " — EXCEEDED on the held-out samples" : " kept on the held-out samples")")
        }
        if let t = transform {
            lines.append("")
            lines.append("transform codec (\(t.choice.rawValue)): \(t.kept) transform entries; per tensor CAT vs transform on the measurement samples")
            lines.append("tensor | cat bits | cat bits/value | cat error | transform bits | transform bits/value | coefficient entropy | transform error | written")
            for l in layers {
                guard let x = l.transform else { continue }
                lines.append("\(l.tensor) | \(l.bits) | \(f(l.bitsPerValue, 3)) | \(f(l.error, 4)) | \(x.bits) | \(f(x.bitsPerValue, 3)) | \(f(x.entropy, 3)) | \(f(x.error, 4)) | \(x.kept ? "yes" : "no (CAT smaller)")")
            }
            lines.append("transform session output error vs no codec: \(f(t.fitError, 5)) (fitting samples), \(f(t.checkError, 5)) (\(heldOut ? "held out" : "same samples"))\(t.searchSteps > 0 ? "; \(t.searchSteps) joint bit reductions" : "")")
        }
        return lines.joined(separator: "\n")
    }
}
