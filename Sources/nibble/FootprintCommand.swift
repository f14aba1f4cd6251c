import ArgumentParser
import CJemalloc
import Foundation
import NibbleCodec
import NibbleConvert
import NibbleFormat
import NibbleRuntime

/// `nibble bench footprint`: the memory footprint of a model (issue 6), with the CAT and transform feature-map codecs
/// measured in real sessions: the model's own codec tables (or tables fitted here on the first ¾ of the inputs with
/// `CodecFitter`, as `nibble convert --codec-bits --codec-transform` does), `Session`s running `.cat` and `.transform`
/// (compressed slots in their arenas) beside one running `.none`, the achieved compressed bytes of every coded tensor
/// as each session encoded them, and the empirical entropy of the symbols it coded.
struct FootprintBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "footprint",
        abstract: "Model, arena and process footprint, with the CAT and transform feature-map codecs measured in real sessions.",
        discussion: """
            Uses the model's codec tables (nibble convert --codec-bits [--codec-transform]); a model without them gets \
            --codec-bits CAT tables and --codec-transform transform tables fitted on the first 3/4 of the samples \
            (MSE-clipped quantizers, Huffman tables, PCA or DCT bases) and is measured on the held-out rest. Sizes are \
            what each session's encoder wrote; peaks are planned (worst-case slots), expected (calibration sizes) and \
            achieved (measured sizes).
            """)

    @Argument(help: "The .nib model.")
    var model: String

    @Option(help: "A float32 .npy batch for input 0 (default: pseudo-random inputs in [-1, 1)).")
    var input: String?

    @Option(help: "int64 .npy class labels for --input; accuracy = argmax of output 0.")
    var labels: String?

    @Option(help: "Bits per quantized activation when the model has no codec tables, 2...8.")
    var codecBits: Int = 4

    @Option(help: "Transform tables fitted next to the CAT ones when the model has no codec tables: none, pca (default), dct or auto (as nibble convert --codec-transform).")
    var codecTransform: String = CodecTransformChoice.pca.rawValue

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
        var m = try loadModel(model)
        let inputs = try loadInputs(m)
        let labelValues = try loadLabels(count: inputs.count)
        guard let transformChoice = CodecTransformChoice(rawValue: codecTransform) else {
            throw CLIError("--codec-transform \(codecTransform): expected none, pca, dct or auto")
        }

        // 1. Codec tables: the model's own, or fitted here exactly as the converter fits them.
        var evalStart = 0
        var fittedHere = false
        if m.codecPlacement == nil {
            let shape = [inputs.count] + Array(m.input(0).shape.dropFirst())
            let data = try CalibrationData(NPYArray(shape: shape, floats: inputs.flatMap { $0 }), name: input ?? "pseudo-random inputs")
            let fitted: (nib: [UInt8], report: CodecReport)
            do {
                fitted = try CodecFitter.fit(nib: try readFile(model), data: data, bits: .fixed(codecBits), transform: transformChoice)
            } catch let e as ConvertError {
                throw CLIError("\(model): fitting codec tables: \(e)")
            }
            m = try Model(copying: fitted.nib)
            fittedHere = true
            evalStart = fitted.report.heldOut ? inputs.count - fitted.report.checkSamples : 0
        }
        guard let placement = m.codecPlacement else { throw CLIError("\(model): no CAT codec tables") }
        let g = m.graph
        let evaluation = Array(inputs[evalStart...])
        let evalLabels = labelValues.map { Array($0[evalStart...]) }
        if !json { progress("footprint: \(inputs.count) sample(s); codec tables \(fittedHere ? "fitted here on \(evalStart > 0 ? evalStart : inputs.count), " : "from the model; ")measuring on \(evaluation.count)\(fittedHere && evalStart == 0 ? " (the same samples: fewer than 4)" : "")") }

        // 2. Each sample without codec (the reference), then through a CAT and a transform session.
        let none = try Session(model: m)
        var references: [[[Float]]] = []
        var refCorrect = 0
        var noneSeconds: Double = 0
        for (k, x) in evaluation.enumerated() {
            try setInputs(none, m, x)
            let start = DispatchTime.now().uptimeNanoseconds
            none.run()
            noneSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            references.append(outputCopy(none, m))
            if let y = evalLabels, argmax(references[k][0]) == Int(y[k]) { refCorrect += 1 }
        }
        let cat = try measure(m, .cat, placement, evaluation, evalLabels, references)
        let transform = try m.transformPlacement.map { try measure(m, .transform, $0, evaluation, evalLabels, references) }

        // 3. Peak activation memory (intermediates only, max-live sum over steps), from the CAT plan's sweep.
        let peakFP32 = placement.rawActivationBytes
        let peakInt8 = placement.int8ActivationBytes
        let refAccuracy: Double? = evalLabels.map { _ in Double(refCorrect) / Double(evaluation.count) }

        // 4. Process and code size.
        let rss = peakRSS()
        let heap = jemallocAllocated()
        let code = coreCodeSize()
        let embedded = embeddedCoreSizes()
        var byPrecision: [String: Int] = [:]
        for n in g.nodes.indices { byPrecision[g.nodes[n].precision.name, default: 0] += m.weightBytes(ofNode: n) }

        let note = "cat and transform measured in real sessions: compressed slots in their arenas (planned from worst-case bounds), convs, pools and elementwise steps "
            + "decoding and encoding row bands through step-local windows, other steps whole tensors; 'achieved' sweeps the sizes their encoders wrote (max per layer over the samples); transform entropy is that of the coefficient symbols"
        func nullable(_ v: Any?) -> Any { v ?? NSNull() }
        let unavailable = "the model has no transform tables (convert with --codec-transform pca|dct|auto)"
        let codecs: [[String: Any]] = [
            ["codec": "none", "available": true, "peak_activation_bytes": peakFP32, "peak_arena_bytes": m.plan.totalBytes,
             "planner_tensor_bytes": m.plan.tensorBytes, "run_seconds": noneSeconds, "bits_per_value": 32.0, "entropy_bits_per_value": NSNull(),
             "accuracy": nullable(refAccuracy), "max_rel_error": 0.0],
            cat.json(fittedHere: fittedHere),
            transform?.json(fittedHere: fittedHere)
                ?? ["codec": "transform", "available": false, "peak_activation_bytes": NSNull(), "peak_arena_bytes": NSNull(),
                    "bits_per_value": NSNull(), "entropy_bits_per_value": NSNull(), "accuracy": NSNull(), "max_rel_error": NSNull(),
                    "note": unavailable],
        ]

        if let svg {
            try writeFile(Array(svgPlot(cat.layers, transform: transform?.layers ?? []).utf8), to: svg)
            if !json { progress("wrote \(svg)") }
        }
        if json {
            let object: [String: Any] = [
                "model": model, "nib_bytes": m.file.fileSize, "weight_bytes_by_precision": byPrecision,
                "rss_bytes": rss, "heap_bytes": nullable(heap.bytes), "heap_note": heap.note,
                "core_code_bytes": nullable(code.bytes), "core_code": code.detail, "core_code_note": code.note,
                "embedded_core": embedded.map { ["target": $0.target, "text_bytes": $0.text, "data_bytes": $0.data, "bss_bytes": $0.bss] },
                "io_bytes": m.plan.ioBytes, "kernel_scratch_bytes": m.plan.scratchBytes,
                "int8_raw_peak_activation_bytes": peakInt8,
                "fitting_samples": fittedHere ? evalStart : 0, "evaluation_samples": evaluation.count,
                "held_out": !fittedHere || evalStart > 0, "codec_tables": fittedHere ? "fitted here" : "model", "note": note,
                "codecs": codecs, "layers": cat.layers.map { $0.json }, "transform_layers": nullable(transform?.layers.map { $0.json }),
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
            return
        }

        print("# Footprint: \(model)\n")
        print("- .nib file: \(m.file.fileSize) B (\(formatBytes(m.file.fileSize))); weights: "
              + byPrecision.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value) B" }.joined(separator: ", "))
        print("- arena (codec none, planner): \(m.plan.totalBytes) B = tensors \(m.plan.tensorBytes) B (graph inputs/outputs \(m.plan.ioBytes) B among them) + kernel scratch \(m.plan.scratchBytes) B")
        print("- peak activation memory (intermediates only, max-live sum over node steps; inputs/outputs \(m.plan.ioBytes) B beside it): fp32 \(peakFP32) B, int8 raw \(peakInt8) B")
        print("- samples: \(fittedHere ? "tables fitted here on \(evalStart > 0 ? evalStart : evaluation.count), " : "tables from the model, ")evaluated on \(evaluation.count)\(fittedHere && evalStart == 0 ? " (the same samples: too few to hold out)" : " held out")\(input == nil ? ", pseudo-random inputs" : "")")
        print("- process: peak RSS \(rss) B (\(formatBytes(rss))); heap \(heap.bytes.map { "\($0) B (\(formatBytes($0)))" } ?? "n/a") — \(heap.note)")
        print("- core code: \(code.bytes.map { "\($0) B (\(formatBytes($0)))" } ?? "n/a") — \(code.detail.isEmpty ? "" : code.detail + "; ")\(code.note)")
        if embedded.isEmpty {
            print("- Embedded Swift core: not built (scripts/build-embedded writes .build/embedded/<target>/core-size.txt)")
        }
        for e in embedded {
            print("- Embedded Swift core (\(e.target), no Swift runtime, all kernels): text \(e.text) B (\(formatBytes(e.text))), data \(e.data) B, bss \(e.bss) B")
        }
        for c in [cat] + (transform.map { [$0] } ?? []) {
            print("\n## Per layer (\(c.codec.name), \(c.bitsUsed)-bit, achieved by the session's encoder, mean per sample)\n")
            print("'held' is what the slot held; maps away from the peak are held as RAW tiles (no entropy coding, the same symbols), "
                  + "and their 'entropy-coded' bytes are what their table codes them in. bits/value is the entropy-coded figure.\n")
            print("| layer | shape | held as | bits | signed | raw fp32 B | raw int8 B | held B | entropy-coded B | worst case B | bits/value | entropy bits/value | zeros |")
            print("|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            for l in c.layers {
                print("| \(l.name) | \(l.shape.map(String.init).joined(separator: "×")) | \(l.heldAs) | \(l.quantizer.bits) | \(l.signed ? "yes" : "no") | \(l.fp32Bytes) | \(l.int8Bytes) | \(l.meanCompressedBytes) | \(l.meanCodedBytes) | \(l.worstCaseBytes) | "
                      + String(format: "%.3f | %.3f | %.0f%% |", l.bitsPerValue, l.entropy, 100 * l.zeroFraction))
            }
        }
        print("\n## Codecs\n")
        print("| codec | peak activation B | peak arena B | bits/value | entropy bits/value | accuracy | max rel error |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        func pct(_ a: Double?) -> String { a.map { String(format: "%.2f%%", 100 * $0) } ?? "-" }
        print("| none | \(peakFP32) | \(m.plan.totalBytes) | 32 | - | \(pct(refAccuracy)) | 0 |")
        for c in [cat] + (transform.map { [$0] } ?? []) {
            print("| \(c.codec.name) | \(c.peakAchieved) (planned worst case \(c.placement.plannedActivationBytes), expected \(c.placement.expectedActivationBytes)) | \(c.arena) | \(c.bitsPerValue.map { String(format: "%.3f", $0) } ?? "-") | \(c.entropy.map { String(format: "%.3f", $0) } ?? "-") | \(pct(c.accuracy)) | \(String(format: "%.4g", c.maxRelError)) |")
        }
        if transform == nil { print("| transform | n/a | n/a | n/a | n/a | n/a | n/a |") }
        print("")
        for c in [cat] + (transform.map { [$0] } ?? []) where c.peakAchieved > 0 {
            print(String(format: "%@ peak activation (compressed maps + step-local decode buffers, achieved sizes): fp32/%@ %.2fx, int8 raw/%@ %.2fx; compressed maps alone %d B (int8 raw/maps %.2fx)",
                         c.codec.name, c.codec.name, Double(peakFP32) / Double(c.peakAchieved), c.codec.name, Double(peakInt8) / Double(c.peakAchieved), c.mapsPeak, Double(peakInt8) / Double(max(c.mapsPeak, 1))))
            let peak = g.nodes[min(c.peakNode, g.nodes.count - 1)]
            print("\(c.codec.name) peak at node \(c.peakNode) '\(peak.name)' (\(peak.op.name))")
            print(String(format: "%@ run time over %d sample(s): none %.3f ms, %@ %.3f ms (%.2fx)", c.codec.name, evaluation.count, 1000 * noneSeconds, c.codec.name, 1000 * c.seconds, c.seconds / max(noneSeconds, 1e-12)))
            if let meanGap = c.meanGap, let weightedGap = c.weightedGap {
                print(String(format: "%@ achieved bits/value vs entropy: %+.1f%% mean over layers, %+.1f%% over all values", c.codec.name, 100 * meanGap, 100 * weightedGap))
            }
        }
        print("peak arena = the session's planned arena (worst-case slots, step buffers, inputs/outputs, scratch).")
        if transform == nil { print("transform: not available (\(unavailable)).") }
        print("Note: \(note).")
    }

    /// Runs every evaluation sample through a session with `codec` (plan `placement`): outputs against the
    /// references, the bytes its encoder wrote per coded tensor, and the histogram of the symbols it coded.
    func measure(_ m: Model, _ codec: FeatureMapCodec, _ placement: CodecPlacement, _ evaluation: [[Float]], _ labels: [Int64]?,
                 _ references: [[[Float]]]) throws -> CodecMeasurement {
        let g = m.graph
        var layers: [Layer] = placement.coded.map { c in
            let t = g.tensors[c.tensor]
            let producer = g.nodes.first { $0.outputs.contains(c.tensor) }?.name ?? "?"
            return Layer(tensor: c.tensor, name: t.name, producer: producer, shape: t.shape, signed: c.codec.quantizer.zeroPoint != 0,
                         codec: c.codec, worstCaseBytes: c.codec.worstCaseBytes, expectedBytes: c.expectedBytes,
                         histogram: [UInt64](repeating: 0, count: 1 << c.codec.bits))
        }
        let session = try Session(model: m, codec: codec)
        var result = CodecMeasurement(codec: codec, placement: placement, layers: [], arena: session.arenaUsed)
        for (k, x) in evaluation.enumerated() {
            try setInputs(session, m, x)
            let start = DispatchTime.now().uptimeNanoseconds
            session.run()
            result.seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let coded = outputCopy(session, m)
            for c in placement.coded.indices {
                let bytes = session.compressedBytes(coded: c)
                layers[c].compressedBytes += bytes
                if !placement.coded[c].codec.storesRaw { layers[c].codedBytes += bytes }
                layers[c].maxCompressedBytes = max(layers[c].maxCompressedBytes, bytes)
                layers[c].values += g.tensors[layers[c].tensor].elementCount
                layers[c].samples += 1
            }
            // Symbol histograms from each coded map's slot, decoded whole before its first consumer runs (the
            // session's own tensor pointers show only a row-band window of a banded consumer): the decoded maps are
            // dequantize(q) exactly (a transform's up to float rounding of the inverse, far below half a step), so
            // quantizing them (or their coefficients) again gives q.
            try setInputs(session, m, x)
            var seen = Set<Int>()
            var decodeFailures = 0
            session.run { n in
                for i in g.nodes[n].inputs where i != absentTensor && !seen.contains(i) {
                    guard let c = placement.codedIndex(of: i) else { continue }
                    seen.insert(i)
                    let coded = placement.coded[c]
                    let slot = UnsafeRawBufferPointer(start: session.arena.baseAddress! + coded.slotOffset, count: coded.codec.worstCaseBytes)
                    var values = [Float](repeating: 0, count: g.tensors[i].elementCount)
                    var scratch = [UInt8](repeating: 0, count: coded.codec.scratchBytes + 4)
                    let ok = values.withUnsafeMutableBufferPointer { v in
                        scratch.withUnsafeMutableBytes { s in
                            coded.codec.decode(slot, into: v.baseAddress!, scratch: s.baseAddress!.alignedUp(toMultipleOf: 4).assumingMemoryBound(to: UInt8.self))
                        }
                    }
                    if ok { values.withUnsafeBufferPointer { layers[c].count($0) } } else { decodeFailures += 1 }
                }
            }
            if decodeFailures > 0 { throw CLIError("\(decodeFailures) coded tensor slot(s) failed to decode for the histograms (a NibbleCodec bug)") }
            if let y = labels, argmax(coded[0]) == Int(y[k]) { result.correct += 1 }
            var sampleError: Double = 0
            for (r, c) in zip(references[k], coded) {
                let scale = Double(r.map { abs($0) }.max() ?? 0)
                let diff = Double(zip(r, c).map { abs($0 - $1) }.max() ?? 0)
                sampleError = max(sampleError, scale > 0 ? diff / scale : diff)
            }
            result.maxRelError = max(result.maxRelError, sampleError)
            result.meanRelError += sampleError / Double(evaluation.count)
        }
        if session.codecFailures > 0 { throw CLIError("\(session.codecFailures) coded tensor(s) failed to decode (a NibbleCodec bug)") }
        result.layers = layers
        result.samples = labels == nil ? nil : evaluation.count
        return result
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

/// One coded intermediate tensor and what was measured on it.
struct Layer {
    let tensor: Int
    let name: String
    let producer: String
    let shape: [Int]
    let signed: Bool
    let codec: MapCodec
    let worstCaseBytes: Int
    let expectedBytes: Int
    var histogram: [UInt64]
    /// Slot bytes the session's encoder wrote (RAW tiles for a map stored raw), summed over samples, and the most.
    var compressedBytes = 0
    var maxCompressedBytes = 0
    /// Bytes with every tile entropy-coded, summed over samples: the slot bytes, or for a map the placement stores
    /// raw, what its table codes the same symbols in (the code's own bits/value).
    var codedBytes = 0
    var values = 0
    var samples = 0

    var quantizer: ActivationQuantizer { codec.quantizer }
    var heldAs: String {
        var kind = "cat"
        if case .transform = codec { kind = "transform" }
        return codec.storesRaw ? kind + ", raw tiles" : kind
    }
    var elementCount: Int { shape.reduce(1, *) }
    var fp32Bytes: Int { 4 * elementCount }
    var int8Bytes: Int { elementCount }
    func packedBytes(_ bits: Int) -> Int { (elementCount * bits + 7) / 8 }
    var meanCompressedBytes: Int { samples > 0 ? (compressedBytes + samples - 1) / samples : 0 }
    var meanCodedBytes: Int { samples > 0 ? (codedBytes + samples - 1) / samples : 0 }
    /// The entropy code's bits per value (`codedBytes`), what the entropy bounds.
    var bitsPerValue: Double { values > 0 ? 8 * Double(codedBytes) / Double(values) : 0 }
    var entropy: Double { Entropy.bitsPerValue(histogram) }
    var zeroFraction: Double {
        let total = histogram.reduce(0, +)
        return total > 0 ? Double(histogram[Int(quantizer.zeroSymbol)]) / Double(total) : 0
    }

    /// Adds the symbols of a decoded map (a transform's: of its coefficients) to the histogram.
    mutating func count(_ decoded: UnsafeBufferPointer<Float>) {
        var values = Array(decoded)
        if case .transform(let t) = codec {
            var scratch = [Float](repeating: 0, count: t.transform.scratchFloats)
            values.withUnsafeMutableBufferPointer { v in
                scratch.withUnsafeMutableBufferPointer { t.transform.forward(v.baseAddress!, images: t.images, pixels: t.pixels, scratch: $0.baseAddress!) }
            }
        }
        for value in values { histogram[Int(quantizer.quantize(value))] += 1 }
        if codec.storesRaw { codedBytes += entropyCodedBytes(decoded) }
    }

    /// The bytes a decoded map takes with its table coding every tile (re-quantizing dequantize(q) gives q back).
    func entropyCodedBytes(_ decoded: UnsafeBufferPointer<Float>) -> Int {
        let coded = codec.storing(rawTiles: false)
        var values = Array(decoded)
        var slot = [UInt8](repeating: 0, count: coded.worstCaseBytes)
        var scratch = [UInt8](repeating: 0, count: coded.scratchBytes + 4)
        return values.withUnsafeMutableBufferPointer { v in
            slot.withUnsafeMutableBytes { s in
                scratch.withUnsafeMutableBytes {
                    coded.encode(v.baseAddress!, into: s, scratch: $0.baseAddress!.alignedUp(toMultipleOf: 4).assumingMemoryBound(to: UInt8.self)) ?? 0
                }
            }
        }
    }

    var json: [String: Any] {
        ["name": name, "producer": producer, "shape": shape, "signed": signed, "held_as": heldAs, "step": Double(quantizer.step),
         "bits": quantizer.bits, "zero_point": quantizer.zeroPoint, "fp32_bytes": fp32Bytes, "int8_bytes": int8Bytes,
         "packed_bytes": packedBytes(quantizer.bits), "compressed_bytes": meanCompressedBytes, "max_compressed_bytes": maxCompressedBytes,
         "raw_tiles": codec.storesRaw, "entropy_coded_bytes": meanCodedBytes,
         "worst_case_bytes": worstCaseBytes, "expected_bytes": expectedBytes, "tile_values": codec.symbols.layout.maxTileValues,
         "bits_per_value": bitsPerValue, "entropy_bits_per_value": entropy, "zero_fraction": zeroFraction]
    }
}

/// One codec's session measured over the evaluation samples (`FootprintBench.measure`).
struct CodecMeasurement {
    let codec: FeatureMapCodec
    let placement: CodecPlacement
    var layers: [Layer]
    let arena: Int
    var seconds: Double = 0
    var correct = 0
    /// Evaluation samples when labels were given (accuracy), else nil.
    var samples: Int? = nil
    var maxRelError: Double = 0
    var meanRelError: Double = 0

    var accuracy: Double? { samples.map { Double(correct) / Double(max($0, 1)) } }
    /// Peak activation bytes with the achieved slot sizes, with and without the step-local raw buffers.
    var peakAchieved: Int { placement.activationBytes(slotBytes: layers.map { $0.maxCompressedBytes }, stepBuffers: true) }
    var mapsPeak: Int { placement.activationBytes(slotBytes: layers.map { $0.maxCompressedBytes }, stepBuffers: false) }
    /// The node step where `peakAchieved` is reached (the first, if several).
    var peakNode: Int {
        let live = placement.liveBytes(slotBytes: layers.map { $0.maxCompressedBytes }, stepBuffers: true)
        return live.indices.max { live[$0] < live[$1] || (live[$0] == live[$1] && $0 > $1) } ?? 0
    }
    var bitsUsed: String { Set(layers.map { $0.quantizer.bits }).sorted().map(String.init).joined(separator: "/") }
    private var totalValues: Int { layers.reduce(0) { $0 + $1.values } }
    var bitsPerValue: Double? { totalValues > 0 ? 8 * Double(layers.reduce(0) { $0 + $1.codedBytes }) / Double(totalValues) : nil }
    var entropy: Double? { totalValues > 0 ? layers.reduce(0) { $0 + $1.entropy * Double($1.values) } / Double(totalValues) : nil }
    var weightedGap: Double? { bitsPerValue.flatMap { b in entropy.map { b / max($0, 1e-9) - 1 } } }
    var meanGap: Double? { layers.isEmpty ? nil : layers.map { $0.bitsPerValue / max($0.entropy, 1e-9) - 1 }.reduce(0, +) / Double(layers.count) }

    func json(fittedHere: Bool) -> [String: Any] {
        func nullable(_ v: Any?) -> Any { v ?? NSNull() }
        return ["codec": codec.name, "available": true, "offline": false, "bits": bitsUsed, "tables": fittedHere ? "fitted here" : "model",
                "transform_tensors": layers.filter { !$0.heldAs.hasPrefix("cat") }.count,
                "raw_tile_tensors": layers.filter { $0.codec.storesRaw }.count,
                "peak_activation_bytes": peakAchieved, "compressed_maps_peak_bytes": mapsPeak, "peak_node": peakNode,
                "peak_activation_bytes_worst_case": placement.plannedActivationBytes, "peak_activation_bytes_expected": placement.expectedActivationBytes,
                "peak_arena_bytes": arena, "run_seconds": seconds,
                "bits_per_value": nullable(bitsPerValue), "entropy_bits_per_value": nullable(entropy),
                "mean_gap_to_entropy": nullable(meanGap), "value_weighted_gap_to_entropy": nullable(weightedGap),
                "accuracy": nullable(accuracy), "max_rel_error": maxRelError, "mean_rel_error": meanRelError]
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

/// The Embedded Swift core's text/data/bss per target, as scripts/build-embedded measured them
/// (`.build/embedded/<triple>/core-size.txt`: "TRIPLE text N data N bss N"), found from the package root above
/// this executable's build folder. Empty when that script has not run.
func embeddedCoreSizes() -> [(target: String, text: Int, data: Int, bss: Int)] {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    while dir.path != "/" && dir.lastPathComponent != ".build" { dir = dir.deletingLastPathComponent() }
    let root = dir.appendingPathComponent("embedded")
    let targets = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).sorted()
    return targets.compactMap { t in
        guard let text = try? String(contentsOf: root.appendingPathComponent(t).appendingPathComponent("core-size.txt"), encoding: .utf8)
        else { return nil }
        let f = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        guard f.count >= 7, let tx = Int(f[2]), let da = Int(f[4]), let bs = Int(f[6]) else { return nil }
        return (f[0], tx, da, bs)
    }
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

/// Two panels: per-layer bytes (int8 raw vs CAT and transform compressed) and bits/value vs entropy of each
/// codec. `transform` holds the transform session's layers (empty without one), matched to `layers` by tensor.
func svgPlot(_ layers: [Layer], transform: [Layer]) -> String {
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
    let matched = layers.map { l in transform.first { $0.tensor == l.tensor } }
    let hasTransform = !transform.isEmpty
    panel(top + 10, "Per-layer bytes (held-out mean)", "bytes", [
        ("raw int8", "#9aa5b1", layers.map { Double($0.int8Bytes) }),
        ("CAT compressed", "#1f77b4", layers.map { Double($0.meanCompressedBytes) }),
    ] + (hasTransform ? [("transform compressed", "#ff7f0e", matched.map { Double($0?.meanCompressedBytes ?? 0) })] : []))
    panel(top + panelH + labelH + 60, "Bits per value: achieved vs entropy", "bits/value", [
        ("CAT achieved", "#d62728", layers.map { $0.bitsPerValue }),
        ("CAT entropy", "#2ca02c", layers.map { $0.entropy }),
    ] + (hasTransform ? [("transform achieved", "#9467bd", matched.map { $0?.bitsPerValue ?? 0 }),
                         ("transform entropy", "#8c564b", matched.map { $0?.entropy ?? 0 })] : []))
    s += "</svg>\n"
    return s
}
