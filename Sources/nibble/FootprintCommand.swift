import ArgumentParser
import CJemalloc
import Foundation
import NibbleCodec
import NibbleConvert
import NibbleFormat
import NibbleRuntime

/// `nibble bench footprint`: the memory footprint of a model (issue 6) with an OFFLINE evaluation of the CAT
/// feature-map codec. The runtime does not hold feature maps compressed yet (no codec placement in the arena):
/// this command runs the model normally, quantizes and entropy-codes every intermediate tensor on the side with
/// the real NibbleCodec code (ActivationQuantizer, CodeStatistics, HuffmanTable, TileCodec), and simulates the
/// codec's quantization by writing quantize→dequantize values back into the arena before the consumer runs.
/// The "cat" peak memory is computed from the measured compressed sizes, not from a real compressed arena.
struct FootprintBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "footprint",
        abstract: "Model, arena and process footprint, with an offline evaluation of the CAT feature-map codec.",
        discussion: """
            Per-layer quantizers (MSE-clipped, --codec-bits) and Huffman tables are fitted on the first half of the \
            samples; sizes, entropy and output error are measured on the held-out second half. Offline: the arena \
            does not hold compressed maps yet; the 'cat' peak is a lifetime sweep over the measured compressed sizes. \
            The 'transform' codec is not built and is reported as not available.
            """)

    @Argument(help: "The .nib model.")
    var model: String

    @Option(help: "A float32 .npy batch for input 0 (default: pseudo-random inputs in [-1, 1)).")
    var input: String?

    @Option(help: "int64 .npy class labels for --input; accuracy = argmax of output 0.")
    var labels: String?

    @Option(help: "Bits per quantized activation for the CAT codec, 2...8.")
    var codecBits: Int = 4

    @Option(help: "Use at most this many samples of --input (default all); without --input, how many pseudo-random inputs to make (default 8).")
    var samples: Int?

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    @Option(help: "Write an SVG plot (per-layer bytes raw vs compressed; bits/value vs entropy).")
    var svg: String?

    func validate() throws {
        if !(2...8).contains(codecBits) { throw ValidationError("--codec-bits \(codecBits): must be 2...8") }
        if let samples, samples < 1 { throw ValidationError("--samples \(samples): must be at least 1") }
        if labels != nil && input == nil { throw ValidationError("--labels needs --input") }
    }

    func run() throws {
        let m = try loadModel(model)
        let g = m.graph
        let inputs = try loadInputs(m)
        let labelValues = try loadLabels(count: inputs.count)
        let session = try Session(model: m)

        // Intermediate tensors: produced by a node, not a graph input/output, float32, not constant.
        let io = Set(g.inputs + g.outputs)
        var first = [Int](repeating: Int.max, count: g.tensors.count)
        var last = [Int](repeating: -1, count: g.tensors.count)
        for (n, node) in g.nodes.enumerated() {
            for i in node.inputs where i != absentTensor { last[i] = max(last[i], n) }
            for o in node.outputs { first[o] = min(first[o], n); last[o] = max(last[o], n) }
        }
        let intermediates = g.tensors.indices.filter {
            g.tensors[$0].role != .constant && !io.contains($0) && first[$0] != Int.max
        }
        let coded = intermediates.filter { g.tensors[$0].dtype == .float32 && last[$0] > first[$0] }
        let slot = Dictionary(uniqueKeysWithValues: coded.enumerated().map { ($0.element, $0.offset) })

        // Split: fit on the first half, evaluate on the second (a single sample is used for both, and said so).
        let calCount = max(1, inputs.count / 2)
        let calibration = Array(inputs[0..<calCount])
        let evaluation = inputs.count > 1 ? Array(inputs[calCount...]) : inputs
        let evalLabels = labelValues.map { inputs.count > 1 ? Array($0[calCount...]) : $0 }
        if !json { progress("footprint: \(inputs.count) sample(s): fitting on \(calibration.count), evaluating on \(evaluation.count)\(inputs.count == 1 ? " (the same sample: too few to hold out)" : "")") }

        // 1. Calibration pass: collect each intermediate at the moment it is first consumed.
        let maxFitValues = 1 << 18
        var calValues = [[[Float]]](repeating: [], count: coded.count)  // [tensor][sample][values]
        var calStored = [Int](repeating: 0, count: coded.count)
        var negative = [Bool](repeating: false, count: coded.count)
        for x in calibration {
            try setInputs(session, m, x)
            var seen = Set<Int>()
            session.run { n in
                for i in g.nodes[n].inputs where i != absentTensor {
                    guard let s = slot[i], !seen.contains(i), let v = session.tensorFloats(i) else { continue }
                    seen.insert(i)
                    if v.contains(where: { $0 < 0 }) { negative[s] = true }
                    if calStored[s] < 4 * maxFitValues { calValues[s].append(Array(v)); calStored[s] += v.count }
                }
            }
        }

        // 2. Per layer: MSE-clipped quantizer, tiling, Huffman table from the calibration tiles.
        var layers: [Layer] = []
        for (s, t) in coded.enumerated() {
            let desc = g.tensors[t]
            let tiling = Tiling(shape: desc.shape)
            var fit = calValues[s].flatMap { $0 }
            if fit.count > maxFitValues {  // evenly strided subsample keeps the fit fast
                let stride = (fit.count + maxFitValues - 1) / maxFitValues
                fit = Swift.stride(from: 0, to: fit.count, by: stride).map { fit[$0] }
            }
            guard let q = fit.withUnsafeBufferPointer({
                ActivationQuantizer.calibrated(samples: $0, bits: codecBits, signed: negative[s])
            }), var stats = CodeStatistics(bits: codecBits, zeroSymbol: q.zeroPoint)
            else { throw CLIError("cannot build a \(codecBits)-bit quantizer for '\(desc.name)'") }
            for sample in calValues[s] {
                let symbols = sample.map { q.quantize($0) }
                tiling.forEachTile(symbols) { stats.add(tile: $0) }
            }
            calValues[s] = []
            let producer = g.nodes[first[t]]
            layers.append(Layer(tensor: t, name: desc.name, producer: producer.name, shape: desc.shape, signed: negative[s],
                                quantizer: q, codec: TileCodec(table: HuffmanTable(statistics: stats)), tiling: tiling,
                                histogram: [UInt64](repeating: 0, count: 1 << codecBits)))
        }

        // 3. Held-out pass: reference run (sizes, entropy, round trip) then the run with quantized intermediates.
        var refCorrect = 0, catCorrect = 0
        var maxRelError: Double = 0
        var meanRelError: Double = 0
        var roundTripFailures = 0
        let encodeBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(layers.map { $0.tiling.maxWorstCase(bits: codecBits) }.max() ?? 1, 1), alignment: 16)
        defer { encodeBuffer.deallocate() }
        for (k, x) in evaluation.enumerated() {
            try setInputs(session, m, x)
            var seen = Set<Int>()
            session.run { n in
                for i in g.nodes[n].inputs where i != absentTensor {
                    guard let s = slot[i], !seen.contains(i), let v = session.tensorFloats(i) else { continue }
                    seen.insert(i)
                    let l = layers[s]
                    let symbols = v.map { l.quantizer.quantize($0) }
                    var bytes = 0, worst = 0
                    l.tiling.forEachTile(symbols) { tile in
                        let written = l.codec.encode(tile, into: encodeBuffer) ?? 0
                        bytes += written
                        worst += TileCodec.worstCaseBytes(count: tile.count, bits: codecBits) ?? 0
                        var decoded = [UInt8](repeating: 0, count: tile.count)
                        let ok = decoded.withUnsafeMutableBufferPointer {
                            l.codec.decode(UnsafeRawBufferPointer(rebasing: encodeBuffer[0..<written]), into: $0)
                        }
                        if !ok || !decoded.elementsEqual(tile) { roundTripFailures += 1 }
                        if TileCodec.mode(of: UnsafeRawBufferPointer(encodeBuffer)) == .raw { layers[s].rawTiles += 1 }
                        layers[s].tiles += 1
                    }
                    symbols.withUnsafeBufferPointer { Entropy.accumulate($0, into: &layers[s].histogram) }
                    layers[s].compressedBytes += bytes
                    layers[s].maxCompressedBytes = max(layers[s].maxCompressedBytes, bytes)
                    layers[s].worstCaseBytes = worst
                    layers[s].values += v.count
                    layers[s].samples += 1
                }
            }
            let reference = outputCopy(session, m)
            if let y = evalLabels, argmax(reference[0]) == Int(y[k]) { refCorrect += 1 }

            try setInputs(session, m, x)
            seen = []
            session.run { n in
                for i in g.nodes[n].inputs where i != absentTensor {
                    guard let s = slot[i], !seen.contains(i), let v = session.tensorFloats(i) else { continue }
                    seen.insert(i)
                    // Simulates holding the map quantized: the consumer reads dequantize(quantize(x)).
                    let q = layers[s].quantizer
                    let w = UnsafeMutablePointer(mutating: v.baseAddress!)
                    for e in 0..<v.count { w[e] = q.dequantize(q.quantize(w[e])) }
                }
            }
            let simulated = outputCopy(session, m)
            if let y = evalLabels, argmax(simulated[0]) == Int(y[k]) { catCorrect += 1 }
            var sampleError: Double = 0
            for (r, c) in zip(reference, simulated) {
                let scale = Double(r.map { abs($0) }.max() ?? 0)
                let diff = Double(zip(r, c).map { abs($0 - $1) }.max() ?? 0)
                sampleError = max(sampleError, scale > 0 ? diff / scale : diff)
            }
            maxRelError = max(maxRelError, sampleError)
            meanRelError += sampleError / Double(evaluation.count)
        }
        if roundTripFailures > 0 { throw CLIError("codec round trip failed on \(roundTripFailures) tile(s) (a NibbleCodec bug)") }

        // 4. Peak activation memory: a lifetime sweep over intermediates (the max-live sum, not the planner's
        // packing). A tensor is live from the node that writes it through the last node that reads it.
        func sweep(_ size: (Int) -> Int) -> Int {
            var peak = 0
            for n in g.nodes.indices {
                var live = 0
                for t in intermediates where first[t] <= n && n <= last[t] { live += size(t) }
                peak = max(peak, live)
            }
            return peak
        }
        let byTensor = Dictionary(uniqueKeysWithValues: layers.map { ($0.tensor, $0) })
        let peakFP32 = sweep { g.tensors[$0].byteCount }
        let peakInt8 = sweep { t in byTensor[t] != nil ? g.tensors[t].elementCount : g.tensors[t].byteCount }
        // Uncoded intermediates (non-float, or never read) stay at their raw size.
        let peakCatExpected = sweep { t in byTensor[t].map { $0.meanCompressedBytes } ?? g.tensors[t].byteCount }
        let peakCatWorst = sweep { t in byTensor[t].map { $0.worstCaseBytes } ?? g.tensors[t].byteCount }
        // Decode scratch: two decoded float tiles (the band being read, the next one) + one encode tile buffer.
        let maxTile = layers.map { $0.tiling.tileValues }.max() ?? 0
        let decodeScratch = layers.isEmpty ? 0 : 2 * maxTile * 4 + (layers.map { $0.tiling.maxWorstCase(bits: codecBits) }.max() ?? 0)
        let catMapsPeak = peakCatExpected
        let catPeak = peakCatExpected + decodeScratch
        let catArena = catPeak + m.plan.ioBytes + m.plan.scratchBytes

        var totalValues = 0, totalBytes = 0
        var entropyBits: Double = 0
        for l in layers { totalValues += l.values; totalBytes += l.compressedBytes; entropyBits += l.entropy * Double(l.values) }
        let catBits: Double? = totalValues > 0 ? 8 * Double(totalBytes) / Double(totalValues) : nil
        let catEntropy: Double? = totalValues > 0 ? entropyBits / Double(totalValues) : nil
        let weightedGap: Double? = catBits.flatMap { b in catEntropy.map { b / max($0, 1e-9) - 1 } }
        let meanGap: Double? = layers.isEmpty ? nil : layers.map { $0.bitsPerValue / max($0.entropy, 1e-9) - 1 }.reduce(0, +) / Double(layers.count)
        let refAccuracy: Double? = evalLabels.map { _ in Double(refCorrect) / Double(evaluation.count) }
        let catAccuracy: Double? = evalLabels.map { _ in Double(catCorrect) / Double(evaluation.count) }

        // 5. Process and code size.
        let rss = peakRSS()
        let heap = jemallocAllocated()
        let code = coreCodeSize()
        var byPrecision: [String: Int] = [:]
        for n in g.nodes.indices { byPrecision[g.nodes[n].precision.name, default: 0] += m.weightBytes(ofNode: n) }

        let offlineNote = "offline evaluation: the runtime does not hold feature maps compressed yet (no in-arena codec placement); "
            + "'cat' sizes are measured by encoding each held-out intermediate with TileCodec, its peak is a lifetime sweep over those sizes, "
            + "and its accuracy/error come from writing quantize->dequantize values into the arena before each consumer runs"
        func nullable(_ v: Any?) -> Any { v ?? NSNull() }
        let codecs: [[String: Any]] = [
            ["codec": "none", "available": true, "peak_activation_bytes": peakFP32, "peak_arena_bytes": m.plan.totalBytes,
             "planner_tensor_bytes": m.plan.tensorBytes, "bits_per_value": 32.0, "entropy_bits_per_value": NSNull(),
             "accuracy": nullable(refAccuracy), "max_rel_error": 0.0],
            ["codec": "cat", "available": true, "offline": true, "bits": codecBits,
             "peak_activation_bytes": catPeak, "compressed_maps_peak_bytes": catMapsPeak,
             "peak_activation_bytes_worst_case": peakCatWorst + decodeScratch,
             "decode_scratch_bytes": decodeScratch, "peak_arena_bytes": catArena,
             "bits_per_value": nullable(catBits), "entropy_bits_per_value": nullable(catEntropy),
             "mean_gap_to_entropy": nullable(meanGap), "value_weighted_gap_to_entropy": nullable(weightedGap),
             "accuracy": nullable(catAccuracy), "max_rel_error": maxRelError, "mean_rel_error": meanRelError],
            ["codec": "transform", "available": false, "peak_activation_bytes": NSNull(), "peak_arena_bytes": NSNull(),
             "bits_per_value": NSNull(), "entropy_bits_per_value": NSNull(), "accuracy": NSNull(), "max_rel_error": NSNull(),
             "note": "transform coding (PCA/DCT along channels) is not built"],
        ]
        let layerObjects: [[String: Any]] = layers.map { l in
            ["name": l.name, "producer": l.producer, "shape": l.shape, "signed": l.signed, "step": Double(l.quantizer.step),
             "zero_point": l.quantizer.zeroPoint, "fp32_bytes": l.fp32Bytes, "int8_bytes": l.int8Bytes, "packed_bytes": l.packedBytes(codecBits),
             "compressed_bytes": l.meanCompressedBytes, "max_compressed_bytes": l.maxCompressedBytes, "worst_case_bytes": l.worstCaseBytes,
             "tile_values": l.tiling.tileValues, "tiles": l.samples > 0 ? l.tiles / l.samples : 0, "raw_tiles": l.rawTiles,
             "bits_per_value": l.bitsPerValue, "entropy_bits_per_value": l.entropy, "zero_fraction": l.zeroFraction]
        }

        if let svg {
            try writeFile(Array(svgPlot(layers).utf8), to: svg)
            if !json { progress("wrote \(svg)") }
        }
        if json {
            let object: [String: Any] = [
                "model": model, "nib_bytes": m.file.fileSize, "weight_bytes_by_precision": byPrecision,
                "rss_bytes": rss, "heap_bytes": nullable(heap.bytes), "heap_note": heap.note,
                "core_code_bytes": nullable(code.bytes), "core_code": code.detail, "core_code_note": code.note,
                "io_bytes": m.plan.ioBytes, "kernel_scratch_bytes": m.plan.scratchBytes,
                "int8_raw_peak_activation_bytes": peakInt8,
                "calibration_samples": calibration.count, "evaluation_samples": evaluation.count,
                "held_out": inputs.count > 1, "codec_bits": codecBits, "note": offlineNote,
                "codecs": codecs, "layers": layerObjects,
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
            return
        }

        print("# Footprint: \(model)\n")
        print("- .nib file: \(m.file.fileSize) B (\(formatBytes(m.file.fileSize))); weights: "
              + byPrecision.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value) B" }.joined(separator: ", "))
        print("- arena (codec none, planner): \(m.plan.totalBytes) B = tensors \(m.plan.tensorBytes) B (graph inputs/outputs \(m.plan.ioBytes) B among them) + kernel scratch \(m.plan.scratchBytes) B")
        print("- peak activation memory (intermediates only, max-live sum over node steps; inputs/outputs \(m.plan.ioBytes) B beside it): fp32 \(peakFP32) B, int8 raw \(peakInt8) B")
        print("- samples: fitted on \(calibration.count), evaluated on \(evaluation.count)\(inputs.count > 1 ? " held out" : " (the same sample: too few to hold out)")\(input == nil ? ", pseudo-random inputs" : "")")
        print("- process: peak RSS \(rss) B (\(formatBytes(rss))); heap \(heap.bytes.map { "\($0) B (\(formatBytes($0)))" } ?? "n/a") — \(heap.note)")
        print("- core code: \(code.bytes.map { "\($0) B (\(formatBytes($0)))" } ?? "n/a") — \(code.detail.isEmpty ? "" : code.detail + "; ")\(code.note)")
        print("\n## Per layer (CAT, \(codecBits)-bit, held-out mean per sample)\n")
        print("| layer | shape | signed | raw fp32 B | raw int8 B | compressed B | bits/value | entropy bits/value | zeros | raw tiles |")
        print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for l in layers {
            print("| \(l.name) | \(l.shape.map(String.init).joined(separator: "×")) | \(l.signed ? "yes" : "no") | \(l.fp32Bytes) | \(l.int8Bytes) | \(l.meanCompressedBytes) | "
                  + String(format: "%.3f | %.3f | %.0f%% | %d/%d |", l.bitsPerValue, l.entropy, 100 * l.zeroFraction, l.rawTiles, l.tiles))
        }
        print("\n## Codecs\n")
        print("| codec | peak activation B | peak arena B | bits/value | entropy bits/value | accuracy | max rel error |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        func pct(_ a: Double?) -> String { a.map { String(format: "%.2f%%", 100 * $0) } ?? "-" }
        print("| none | \(peakFP32) | \(m.plan.totalBytes) | 32 | - | \(pct(refAccuracy)) | 0 |")
        print("| cat (offline) | \(catPeak) (worst case \(peakCatWorst + decodeScratch)) | \(catArena) | \(catBits.map { String(format: "%.3f", $0) } ?? "-") | \(catEntropy.map { String(format: "%.3f", $0) } ?? "-") | \(pct(catAccuracy)) | \(String(format: "%.4g", maxRelError)) |")
        print("| transform | n/a | n/a | n/a | n/a | n/a | n/a |")
        print("")
        if catPeak > 0 {
            print(String(format: "cat peak activation = compressed maps %d B + decode scratch %d B (2 float tiles + 1 encoded tile): fp32/cat %.2fx, int8 raw/cat %.2fx (maps alone: int8 raw/cat %.2fx)",
                         catMapsPeak, decodeScratch, Double(peakFP32) / Double(catPeak), Double(peakInt8) / Double(catPeak), Double(peakInt8) / Double(max(catMapsPeak, 1))))
        }
        if let meanGap, let weightedGap {
            print(String(format: "achieved bits/value vs entropy: %+.1f%% mean over layers, %+.1f%% over all values", 100 * meanGap, 100 * weightedGap))
        }
        print("cat peak arena = cat peak activation + inputs/outputs + kernel scratch (an estimate; the planner does not place compressed maps yet).")
        print("transform: not available (transform coding is not built).")
        print("Note: \(offlineNote).")
    }

    // MARK: inputs

    func loadInputs(_ m: Model) throws -> [[Float]] {
        let per = m.input(0).elementCount
        guard let input else {
            return (0..<(samples ?? 8)).map { randomFloats(per, seed: UInt64(1000 + $0)) }
        }
        let batch = try NPY.read(contentsOf: URL(fileURLWithPath: input))
        guard let f = batch.floats, per > 0, f.count >= per, f.count % per == 0 else {
            throw CLIError("\(input): need float32 values, a multiple of \(per) (input '\(m.input(0).name)' \(m.input(0).shape))")
        }
        let n = min(f.count / per, samples ?? Int.max)
        return (0..<n).map { Array(f[$0 * per..<($0 + 1) * per]) }
    }

    func loadLabels(count: Int) throws -> [Int64]? {
        guard let labels else { return nil }
        let a = try NPY.read(contentsOf: URL(fileURLWithPath: labels))
        guard case .int64(let y) = a.storage else { throw CLIError("\(labels): labels must be int64 (found \(a.descr))") }
        guard y.count >= count else { throw CLIError("\(labels): \(y.count) labels for \(count) samples") }
        return Array(y[0..<count])
    }

    func setInputs(_ session: Session, _ m: Model, _ x: [Float]) throws {
        try x.withUnsafeBufferPointer { try session.setInput(0, floats: $0) }
        for i in 1..<max(m.inputCount, 1) {
            let r = randomFloats(m.input(i).elementCount, seed: UInt64(i + 1))
            try r.withUnsafeBufferPointer { try session.setInput(i, floats: $0) }
        }
    }

    func outputCopy(_ session: Session, _ m: Model) -> [[Float]] {
        (0..<m.outputCount).map { o in
            guard m.output(o).dtype == .float32 else { return [] }
            return Array(session.output(o).assumingMemoryBound(to: Float.self))
        }
    }

    func argmax(_ v: [Float]) -> Int {
        var best = 0
        for i in v.indices where v[i] > v[best] { best = i }
        return best
    }
}

/// How a feature map is cut into tiles: row bands of all channels (C × rows × W values, one row unless that is
/// under 256 values) for [1, C, H, W] maps; 1024 consecutive values otherwise. Decoding one band gives a consumer every
/// channel of a few rows, which is what a row-streaming conv needs.
struct Tiling {
    let channels: Int, height: Int, width: Int
    let rowsPerBand: Int
    let flat: Bool
    let count: Int

    init(shape: [Int]) {
        count = shape.reduce(1, *)
        if shape.count == 4 && shape[0] == 1 {
            channels = shape[1]; height = shape[2]; width = shape[3]; flat = false
            rowsPerBand = min(max(1, (256 + channels * width - 1) / max(channels * width, 1)), max(height, 1))
        } else {
            channels = 1; height = 1; width = count; flat = true; rowsPerBand = 1
        }
    }

    var tileValues: Int { flat ? min(count, 1024) : channels * rowsPerBand * width }

    func maxWorstCase(bits: Int) -> Int { TileCodec.worstCaseBytes(count: tileValues, bits: bits) ?? 0 }

    /// Calls `body` with each tile's symbols (gathered band by band, channel-major inside a band).
    func forEachTile(_ symbols: [UInt8], _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        if flat {
            symbols.withUnsafeBufferPointer { all in
                var o = 0
                while o < count {
                    let n = min(1024, count - o)
                    body(UnsafeBufferPointer(rebasing: all[o..<o + n]))
                    o += n
                }
            }
            return
        }
        var band = [UInt8](repeating: 0, count: tileValues)
        var h = 0
        while h < height {
            let rows = min(rowsPerBand, height - h)
            var k = 0
            for c in 0..<channels {
                let base = (c * height + h) * width
                for e in base..<base + rows * width { band[k] = symbols[e]; k += 1 }
            }
            band.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[0..<k])) }
            h += rows
        }
    }
}

/// One coded intermediate tensor and what was measured on it (held-out samples).
struct Layer {
    let tensor: Int
    let name: String
    let producer: String
    let shape: [Int]
    let signed: Bool
    let quantizer: ActivationQuantizer
    let codec: TileCodec
    let tiling: Tiling
    var histogram: [UInt64]
    var compressedBytes = 0
    var maxCompressedBytes = 0
    var worstCaseBytes = 0
    var values = 0
    var samples = 0
    var tiles = 0
    var rawTiles = 0

    init(tensor: Int, name: String, producer: String, shape: [Int], signed: Bool, quantizer: ActivationQuantizer,
         codec: TileCodec, tiling: Tiling, histogram: [UInt64]) {
        self.tensor = tensor; self.name = name; self.producer = producer; self.shape = shape; self.signed = signed
        self.quantizer = quantizer; self.codec = codec; self.tiling = tiling; self.histogram = histogram
    }

    var elementCount: Int { shape.reduce(1, *) }
    var fp32Bytes: Int { 4 * elementCount }
    var int8Bytes: Int { elementCount }
    func packedBytes(_ bits: Int) -> Int { (elementCount * bits + 7) / 8 }
    var meanCompressedBytes: Int { samples > 0 ? (compressedBytes + samples - 1) / samples : 0 }
    var bitsPerValue: Double { values > 0 ? 8 * Double(compressedBytes) / Double(values) : 0 }
    var entropy: Double { Entropy.bitsPerValue(histogram) }
    var zeroFraction: Double {
        let total = histogram.reduce(0, +)
        return total > 0 ? Double(histogram[Int(quantizer.zeroSymbol)]) / Double(total) : 0
    }
}

// MARK: process measurements

/// Peak resident set size of this process (getrusage; Linux reports KiB).
func peakRSS() -> Int {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Int(usage.ru_maxrss) * 1024
}

/// jemalloc's `stats.allocated` (bytes the application holds), after refreshing the stats epoch.
func jemallocAllocated() -> (bytes: Int?, note: String) {
    var epoch: UInt64 = 0
    var newEpoch: UInt64 = 1
    var size = MemoryLayout<UInt64>.size
    if mallctl("epoch", &epoch, &size, &newEpoch, MemoryLayout<UInt64>.size) != 0 {
        return (nil, "jemalloc mallctl(\"epoch\") failed")
    }
    var allocated = 0
    var length = MemoryLayout<Int>.size
    if mallctl("stats.allocated", &allocated, &length, nil, 0) != 0 {
        return (nil, "jemalloc built without stats (mallctl(\"stats.allocated\") failed)")
    }
    return (allocated, "jemalloc stats.allocated (libjemalloc is the CLI's malloc)")
}

/// Text + data bytes of the core targets' object files (Kernels, Codec, Format, Runtime, C ABI) in the SwiftPM
/// build this binary came from, measured with `size`. Nil when the objects or `size` are not found.
func coreCodeSize() -> (bytes: Int?, detail: String, note: String) {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    let dir = exe.deletingLastPathComponent()
    let targets = ["NibbleKernelsAVX512", "NibbleKernelsAVX2", "NibbleKernels", "NibbleCodec", "NibbleFormat",
                   "NibbleRuntime", "Nibble", "CNibbleSupport"]
    var objects: [String] = []
    for t in targets {
        let d = dir.appendingPathComponent("\(t).build")
        let files = (try? FileManager.default.subpathsOfDirectory(atPath: d.path)) ?? []
        objects += files.filter { $0.hasSuffix(".o") }.map { d.appendingPathComponent($0).path }
    }
    let build = dir.lastPathComponent
    guard !objects.isEmpty else {
        return (nil, "", "no object files of the core targets next to \(exe.path) (not a SwiftPM build tree)")
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["size", "-t"] + objects
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = FileHandle.nullDevice
    do { try p.run() } catch { return (nil, "", "cannot run `size`: \(error.localizedDescription)") }
    let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    guard let total = out.split(separator: "\n").last(where: { $0.contains("(TOTALS)") }) else {
        return (nil, "", "`size` gave no totals")
    }
    let f = total.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int($0) }
    guard f.count >= 3 else { return (nil, "", "cannot parse `size` output") }
    return (f[0] + f[1], "text \(f[0]) B, data \(f[1]) B, bss \(f[2]) B",
            "`size -t` over \(objects.count) object files of the core targets in the \(build) build (not an Embedded Swift static library; a \(build) build is larger than release)")
}

// MARK: SVG

/// Two panels: per-layer bytes (int8 raw vs compressed) and bits/value vs entropy.
func svgPlot(_ layers: [Layer]) -> String {
    let n = max(layers.count, 1)
    let left = 70.0, right = 60.0, panelH = 220.0, labelH = 110.0, top = 70.0
    let slot = max(28.0, min(60.0, 900.0 / Double(n)))
    let width = max(640.0, left + right + slot * Double(n))
    let height = top + (panelH + labelH) * 2 + 70
    var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\n"
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    func esc(_ t: String) -> String {
        t.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
    func panel(_ y0: Double, _ title: String, _ unit: String, _ series: [(String, String, [Double])]) {
        let maxV = max(series.flatMap { $0.2 }.max() ?? 1, 1e-9)
        s += "<text x=\"\(left)\" y=\"\(y0 - 36)\" font-size=\"14\" font-weight=\"bold\">\(esc(title))</text>\n"
        s += "<line x1=\"\(left)\" y1=\"\(y0 + panelH)\" x2=\"\(width - right)\" y2=\"\(y0 + panelH)\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(left)\" y1=\"\(y0)\" x2=\"\(left)\" y2=\"\(y0 + panelH)\" stroke=\"black\"/>\n"
        for k in 0...4 {
            let v = maxV * Double(k) / 4, y = y0 + panelH - panelH * Double(k) / 4
            s += "<line x1=\"\(left - 4)\" y1=\"\(y)\" x2=\"\(width - right)\" y2=\"\(y)\" stroke=\"#ddd\"/>\n"
            s += "<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(v >= 100 ? String(Int(v)) : String(format: "%.2f", v))</text>\n"
        }
        s += "<text x=\"14\" y=\"\(y0 + panelH / 2)\" transform=\"rotate(-90 14 \(y0 + panelH / 2))\" text-anchor=\"middle\">\(esc(unit))</text>\n"
        let barW = (slot - 8) / Double(series.count)
        for (i, l) in layers.enumerated() {
            let x = left + slot * Double(i) + 4
            for (j, ser) in series.enumerated() {
                let v = ser.2[i], h = panelH * v / maxV
                s += "<rect x=\"\(x + barW * Double(j))\" y=\"\(y0 + panelH - h)\" width=\"\(barW - 1)\" height=\"\(h)\" fill=\"\(ser.1)\"><title>\(esc(l.name)) \(ser.0): \(String(format: "%.3f", v))</title></rect>\n"
            }
            let lx = x + slot / 2, ly = y0 + panelH + 8
            s += "<text x=\"\(lx)\" y=\"\(ly)\" transform=\"rotate(60 \(lx) \(ly))\">\(esc(l.name.count > 18 ? "…" + l.name.suffix(17) : l.name))</text>\n"
        }
        var lx = left
        for ser in series {
            s += "<rect x=\"\(lx)\" y=\"\(y0 - 26)\" width=\"12\" height=\"12\" fill=\"\(ser.1)\"/><text x=\"\(lx + 16)\" y=\"\(y0 - 16)\">\(esc(ser.0))</text>\n"
            lx += 150
        }
    }
    panel(top + 10, "Per-layer bytes (held-out mean)", "bytes", [
        ("raw int8", "#9aa5b1", layers.map { Double($0.int8Bytes) }),
        ("CAT compressed", "#1f77b4", layers.map { Double($0.meanCompressedBytes) }),
    ])
    panel(top + panelH + labelH + 60, "Bits per value: achieved vs entropy", "bits/value", [
        ("achieved", "#d62728", layers.map { $0.bitsPerValue }),
        ("entropy", "#2ca02c", layers.map { $0.entropy }),
    ])
    s += "</svg>\n"
    return s
}
