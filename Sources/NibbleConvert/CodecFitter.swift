import NibbleCodec
import NibbleFormat
import NibbleRuntime

/// How many bits the CAT codec gives each intermediate tensor (`nibble convert --codec-bits N|auto`).
public enum CodecBitsChoice: Sendable, Equatable, CustomStringConvertible {
    /// The same bits (2…8) for every tensor.
    case fixed(Int)
    /// Per tensor, the fewest bits that keep the model's relative output error on the calibration data within
    /// `budget` (‖y − y₀‖/‖y₀‖, y₀ the model without codec), searched jointly (`CodecFitter.searchBits`).
    case auto(budget: Double)

    /// 5 % relative logit error. Measured on the digits CNN: 8-bit maps alone already cost 0.9 % (so a 1 %
    /// budget leaves nothing to search), while 4-bit maps (13 %) cost about one point of accuracy.
    public static let defaultBudget = 0.05

    public var description: String {
        switch self {
        case .fixed(let b): return "\(b)"
        case .auto(let budget): return "auto (budget \(budget))"
        }
    }
}

/// Fits the CAT codec tables of a converted model on calibration data (issue 6) and writes them into the
/// `.nib` codec section (docs/FORMAT.md §6): per intermediate float tensor an MSE-clipped quantizer
/// (`ActivationQuantizer.calibrated`, unsigned unless the tensor takes negative values) — at 8 bits the
/// int8 consumers' own input grid where they have one (`consumerGrid`: lossless for them) — and a static Huffman
/// table from the token statistics of its quantized tiles (`CodeStatistics`, tiled as `TensorCodec` tiles).
///
/// Samples: with 4 or more, the last quarter is held out — quantizers, tables and the `auto` bit search use
/// the rest; the expected compressed sizes and the reported output error are measured on the held-out part.
/// With fewer, every sample is used for both (and the report says so).
public enum CodecFitter {
    /// Quantizer fitting uses at most this many values per tensor, taken evenly over the fitting samples.
    static let maxFitValues = 1 << 16
    /// The `auto` search evaluates candidate bit choices on at most this many fitting samples.
    static let maxSearchSamples = 64

    /// The tensors the codec can hold: intermediate float32 tensors that are not graph outputs and that a
    /// node reads after the node that writes them.
    public static func candidates(_ graph: Graph) -> [Int] {
        var produced = [Bool](repeating: false, count: graph.tensors.count)
        var consumed = [Bool](repeating: false, count: graph.tensors.count)
        for node in graph.nodes {
            for i in node.inputs where i != absentTensor { consumed[i] = true }
            for o in node.outputs { produced[o] = true }
        }
        let outputs = Set(graph.outputs)
        return graph.tensors.indices.filter {
            graph.tensors[$0].role == .intermediate && graph.tensors[$0].dtype == .float32
                && produced[$0] && consumed[$0] && !outputs.contains($0)
        }
    }

    /// The uint8 grid every consumer of `tensor` quantizes it to, when there is one: int8 Conv/FullyConnected
    /// nodes re-quantize their float input with their own input_scale and zero point (FORMAT.md §4.2), so an
    /// 8-bit codec on exactly that grid changes nothing they compute (x̂ = (q − zp)·s re-quantizes to q). Nil
    /// when a consumer is anything else or two consumers disagree; the 8-bit quantizer is then MSE-clipped.
    static func consumerGrid(_ graph: Graph, tensor: Int) -> ActivationQuantizer? {
        var grid: ActivationQuantizer?
        for node in graph.nodes where node.inputs.contains(tensor) {
            guard node.precision == .int8, node.op == .conv || node.op == .fullyConnected, node.inputs.first == tensor,
                  node.inputs.dropFirst().allSatisfy({ $0 != tensor }),
                  let scale = node.attribute(.inputScale)?.floats.first, let zp = node.attribute(.inputZeroPoint)?.ints.first,
                  let q = ActivationQuantizer(bits: 8, step: scale, zeroPoint: Int(zp)), grid == nil || grid == q
            else { return nil }
            grid = q
        }
        return grid
    }

    /// Returns `nib` with a codec section fitted on `data`, and what was chosen and measured.
    public static func fit(nib: [UInt8], data: CalibrationData, bits choice: CodecBitsChoice) throws -> (nib: [UInt8], report: CodecReport) {
        if case .fixed(let b) = choice, !(2...8).contains(b) {
            throw ConvertError.invalidInput("codec bits \(b) outside 2...8")
        }
        if case .auto(let budget) = choice, !(budget > 0 && budget.isFinite) {
            throw ConvertError.invalidInput("codec budget \(budget) must be a finite number > 0")
        }
        let runner = try QuantizedRunner(nib: nib, data: data)
        let graph = runner.model.graph
        let coded = runner.coded
        if coded.isEmpty {
            throw ConvertError.unsupported("codec: the model has no intermediate float32 tensors to compress")
        }
        let n = data.sampleCount
        let heldOut = n >= 4
        let checkCount = heldOut ? max(1, n / 4) : n
        let fitSamples = Array(0..<(heldOut ? n - checkCount : n))
        let checkSamples = heldOut ? Array((n - checkCount)..<n) : fitSamples

        // Quantizer fitting values and signedness, on the fitting samples.
        let values = try runner.sampleValues(samples: fitSamples, maxValues: maxFitValues)
        let signed = values.map { v in v.contains { $0 < 0 } }
        let grids = coded.map { consumerGrid(graph, tensor: $0) }
        func quantizer(_ k: Int, _ bits: Int) throws -> ActivationQuantizer {
            if bits == 8, let grid = grids[k] { return grid }
            guard let q = values[k].withUnsafeBufferPointer({ ActivationQuantizer.calibrated(samples: $0, bits: bits, signed: signed[k]) }) else {
                throw ConvertError.runtime("codec: cannot fit a \(bits)-bit quantizer for '\(graph.tensors[coded[k]].name)'")
            }
            return q
        }

        var bits: [Int]
        var searchSteps = 0
        switch choice {
        case .fixed(let b):
            bits = [Int](repeating: b, count: coded.count)
        case .auto(let budget):
            var all: [[ActivationQuantizer]] = []  // [tensor][bits − 2]
            for k in coded.indices { all.append(try (2...8).map { try quantizer(k, $0) }) }
            let search = Array(fitSamples.prefix(maxSearchSamples))
            (bits, searchSteps) = runner.searchBits(quantizers: all, samples: search, budget: budget)
        }
        let quantizers = try coded.indices.map { try quantizer($0, bits[$0]) }

        // Huffman tables from the fitting samples' tiles.
        var stats = try coded.indices.map { k -> CodeStatistics in
            guard let s = CodeStatistics(bits: bits[k], zeroSymbol: quantizers[k].zeroPoint) else {
                throw ConvertError.runtime("codec: no statistics for \(bits[k]) bits")
            }
            return s
        }
        try runner.forEachCodedTensor(samples: fitSamples, quantizers: quantizers) { k, v in
            TensorCodec.forEachTile(v, quantizer: quantizers[k]) { stats[k].add(tile: $0) }
        }
        var codecs: [TensorCodec] = []
        var rans: [StaticRANS] = []
        for k in coded.indices {
            let table = HuffmanTable(statistics: stats[k])
            rans.append(StaticRANS(table: table, statistics: stats[k]))
            guard let c = TensorCodec(quantizer: quantizers[k], table: table, count: graph.tensors[coded[k]].elementCount) else {
                throw ConvertError.runtime("codec: table and quantizer of '\(graph.tensors[coded[k]].name)' disagree")
            }
            codecs.append(c)
        }

        // Held-out measurements: compressed bytes, symbol histograms, output error.
        var compressed = [Int](repeating: 0, count: coded.count)
        var ransCompressed = [Int](repeating: 0, count: coded.count)
        var histograms = coded.indices.map { [UInt64](repeating: 0, count: 1 << bits[$0]) }
        let largest = codecs.map { $0.worstCaseBytes }.max() ?? 1
        var slot = [UInt8](repeating: 0, count: largest)
        var symbols = [UInt8](repeating: 0, count: TensorCodec.tileValues)
        try runner.forEachCodedTensor(samples: checkSamples, quantizers: quantizers) { k, v in
            slot.withUnsafeMutableBytes { s in
                symbols.withUnsafeMutableBufferPointer { sym in
                    compressed[k] += codecs[k].encode(v.baseAddress!, into: s, symbols: sym.baseAddress!) ?? 0
                }
            }
            ransCompressed[k] += codecs[k].directoryBytes
            TensorCodec.forEachTile(v, quantizer: quantizers[k]) {
                Entropy.accumulate($0, into: &histograms[k])
                ransCompressed[k] += rans[k].tileBytes($0)
            }
        }
        let fitError = runner.outputError(samples: Array(fitSamples.prefix(maxSearchSamples)), quantizers: quantizers)
        let checkError = runner.outputError(samples: checkSamples, quantizers: quantizers)

        var entries: [CodecTableEntry] = []
        var layers: [CodecReport.Layer] = []
        for k in coded.indices {
            let t = graph.tensors[coded[k]]
            let expected = (compressed[k] + checkSamples.count - 1) / checkSamples.count
            entries.append(CodecTableEntry(tensor: coded[k], bits: bits[k], step: quantizers[k].step, zeroPoint: quantizers[k].zeroPoint,
                                           expectedBytes: expected, table: codecs[k].tiles.table.serialized()))
            let valueCount = Double(t.elementCount * checkSamples.count)
            layers.append(.init(tensor: t.name, shape: t.shape, bits: bits[k], signed: signed[k], step: quantizers[k].step,
                                expectedBytes: expected, worstCaseBytes: codecs[k].worstCaseBytes, fp32Bytes: t.byteCount,
                                bitsPerValue: 8 * Double(compressed[k]) / valueCount, entropy: Entropy.bitsPerValue(histograms[k]),
                                ransBitsPerValue: 8 * Double(ransCompressed[k]) / valueCount))
        }
        let out = try attach(entries, to: nib)
        let report = CodecReport(layers: layers, choice: choice, fitSamples: fitSamples.count, checkSamples: checkSamples.count,
                                 heldOut: heldOut, fitError: fitError, checkError: checkError, searchSteps: searchSteps)
        return (out, report)
    }

    /// `nib` rewritten with `entries` as its codec section (replacing any), constants and metadata unchanged.
    public static func attach(_ entries: [CodecTableEntry], to nib: [UInt8]) throws -> [UInt8] {
        do {
            return try nib.withUnsafeBytes { bytes in
                let file = try Reader.read(bytes)
                var graph = file.graph
                graph.codecTables = entries
                let constants: [[UInt8]] = graph.tensors.indices.map {
                    graph.tensors[$0].role == .constant ? Array(file.constantBytes($0)) : []
                }
                return try Writer.serialize(graph, constantData: constants)
            }
        } catch let e as NibbleError {
            throw ConvertError.malformed("writing the codec section: \(e.message)")
        }
    }
}

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
        /// Order-0 entropy of the quantized symbols: the bound a static per-tensor code reaches.
        public var entropy: Double
        /// The same held-out tensors coded with static rANS over the same tokens (`StaticRANS`), for comparison.
        public var ransBitsPerValue: Double
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
        lines.append("tensor | shape | bits | signed | expected B | worst case B | fp32 B | bits/value | rANS bits/value | entropy")
        for l in layers {
            lines.append("\(l.tensor) | \(l.shape.map(String.init).joined(separator: "x")) | \(l.bits) | \(l.signed ? "yes" : "no") | \(l.expectedBytes) | \(l.worstCaseBytes) | \(l.fp32Bytes) | \(f(l.bitsPerValue, 3)) | \(f(l.ransBitsPerValue, 3)) | \(f(l.entropy, 3))")
        }
        let values = layers.reduce(0.0) { $0 + Double($1.fp32Bytes) / 4 }
        let huffman = layers.reduce(0.0) { $0 + $1.bitsPerValue * Double($1.fp32Bytes) / 4 } / values
        let rans = layers.reduce(0.0) { $0 + $1.ransBitsPerValue * Double($1.fp32Bytes) / 4 } / values
        lines.append("Huffman \(f(huffman, 3)) vs static rANS \(f(rans, 3)) bits/value over all coded values (rANS/Huffman \(f(rans / huffman, 3)); the runtime codes Huffman)")
        let expected = layers.reduce(0) { $0 + $1.expectedBytes }, fp32 = layers.reduce(0) { $0 + $1.fp32Bytes }
        lines.append("all coded tensors: expected \(expected) B vs fp32 \(fp32) B; output error vs no codec: \(f(fitError, 5)) (fitting samples), \(f(checkError, 5)) (\(heldOut ? "held out" : "same samples"))")
        if case .auto(let budget) = choice {
            lines.append("auto: \(searchSteps) joint bit reductions from 8; budget \(budget)\(checkError > budget ? " — EXCEEDED on the held-out samples" : " kept on the held-out samples")")
        }
        return lines.joined(separator: "\n")
    }
}
