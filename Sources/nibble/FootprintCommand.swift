import ArgumentParser
import CJemalloc
import Foundation
import NibbleCodec
import NibbleConvert
import NibbleFormat
import NibbleRuntime

/// `nibble bench footprint`: the memory footprint of a model (issue 6), with the CAT feature-map codec measured in a
/// real session: the model's own codec tables (or tables fitted here on the first ¾ of the inputs with
/// `CodecFitter`, as `nibble convert --codec-bits` does), a `Session` running `.cat` (compressed slots in its arena)
/// beside one running `.none`, the achieved compressed bytes of every coded tensor as the session encoded them, and
/// the empirical entropy of the symbols it coded.
struct FootprintBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "footprint",
        abstract: "Model, arena and process footprint, with the CAT feature-map codec measured in a real session.",
        discussion: """
            Uses the model's codec tables (nibble convert --codec-bits); a model without them gets --codec-bits tables \
            fitted on the first 3/4 of the samples (MSE-clipped quantizers, Huffman tables) and is measured on the \
            held-out rest. Sizes are what the CAT session's encoder wrote; peaks are planned (worst-case slots), \
            expected (calibration sizes) and achieved (measured sizes). The 'transform' codec is not built.
            """)

    @Argument(help: "The .nib model.")
    var model: String

    @Option(help: "A float32 .npy batch for input 0 (default: pseudo-random inputs in [-1, 1)).")
    var input: String?

    @Option(help: "int64 .npy class labels for --input; accuracy = argmax of output 0.")
    var labels: String?

    @Option(help: "Bits per quantized activation when the model has no codec tables, 2...8.")
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
        var m = try loadModel(model)
        let inputs = try loadInputs(m)
        let labelValues = try loadLabels(count: inputs.count)

        // 1. Codec tables: the model's own, or fitted here exactly as the converter fits them.
        var evalStart = 0
        var fittedHere = false
        if m.codecPlacement == nil {
            let shape = [inputs.count] + Array(m.input(0).shape.dropFirst())
            let data = try CalibrationData(NPYArray(shape: shape, floats: inputs.flatMap { $0 }), name: input ?? "pseudo-random inputs")
            let fitted: (nib: [UInt8], report: CodecReport)
            do { fitted = try CodecFitter.fit(nib: try readFile(model), data: data, bits: .fixed(codecBits)) } catch let e as ConvertError {
                throw CLIError("\(model): fitting codec tables: \(e)")
            }
            m = try Model(copying: fitted.nib)
            fittedHere = true
            evalStart = fitted.report.heldOut ? inputs.count - fitted.report.checkSamples : 0
        }
        guard let placement = m.codecPlacement else { throw CLIError("\(model): no codec tables") }
        let g = m.graph
        let evaluation = Array(inputs[evalStart...])
        let evalLabels = labelValues.map { Array($0[evalStart...]) }
        if !json { progress("footprint: \(inputs.count) sample(s); codec tables \(fittedHere ? "fitted here on \(evalStart > 0 ? evalStart : inputs.count), " : "from the model; ")measuring on \(evaluation.count)\(fittedHere && evalStart == 0 ? " (the same samples: fewer than 4)" : "")") }

        var layers: [Layer] = placement.coded.enumerated().map { k, c in
            let t = g.tensors[c.tensor]
            let producer = g.nodes.first { $0.outputs.contains(c.tensor) }?.name ?? "?"
            return Layer(tensor: c.tensor, name: t.name, producer: producer, shape: t.shape, signed: c.codec.quantizer.zeroPoint != 0,
                         quantizer: c.codec.quantizer, worstCaseBytes: c.codec.worstCaseBytes, expectedBytes: c.expectedBytes,
                         histogram: [UInt64](repeating: 0, count: 1 << c.codec.bits))
        }
        let none = try Session(model: m)
        let cat = try Session(model: m, codec: .cat)

        // 2. Each sample through both sessions: outputs, symbols the CAT session coded, bytes its encoder wrote.
        var refCorrect = 0, catCorrect = 0
        var maxRelError: Double = 0
        var meanRelError: Double = 0
        var catSeconds: Double = 0, noneSeconds: Double = 0
        for (k, x) in evaluation.enumerated() {
            try setInputs(none, m, x)
            var start = DispatchTime.now().uptimeNanoseconds
            none.run()
            noneSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let reference = outputCopy(none, m)
            if let y = evalLabels, argmax(reference[0]) == Int(y[k]) { refCorrect += 1 }

            try setInputs(cat, m, x)
            start = DispatchTime.now().uptimeNanoseconds
            cat.run()
            catSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let coded = outputCopy(cat, m)
            for (c, _) in placement.coded.enumerated() {
                let bytes = cat.compressedBytes(coded: c)
                layers[c].compressedBytes += bytes
                layers[c].maxCompressedBytes = max(layers[c].maxCompressedBytes, bytes)
                layers[c].values += g.tensors[layers[c].tensor].elementCount
                layers[c].samples += 1
            }
            // Symbol histograms: the decoded maps are dequantize(q) exactly, so quantizing them again gives q.
            try setInputs(cat, m, x)
            var seen = Set<Int>()
            cat.run { n in
                for i in g.nodes[n].inputs where i != absentTensor && !seen.contains(i) {
                    guard let c = placement.codedIndex(of: i), let v = cat.tensorFloats(i) else { continue }
                    seen.insert(i)
                    for value in v { layers[c].histogram[Int(layers[c].quantizer.quantize(value))] += 1 }
                }
            }
            if let y = evalLabels, argmax(coded[0]) == Int(y[k]) { catCorrect += 1 }
            var sampleError: Double = 0
            for (r, c) in zip(reference, coded) {
                let scale = Double(r.map { abs($0) }.max() ?? 0)
                let diff = Double(zip(r, c).map { abs($0 - $1) }.max() ?? 0)
                sampleError = max(sampleError, scale > 0 ? diff / scale : diff)
            }
            maxRelError = max(maxRelError, sampleError)
            meanRelError += sampleError / Double(evaluation.count)
        }
        if cat.codecFailures > 0 { throw CLIError("\(cat.codecFailures) coded tensor(s) failed to decode (a NibbleCodec bug)") }

        // 3. Peak activation memory (intermediates only, max-live sum over steps), from the CAT plan's sweep.
        let peakFP32 = placement.rawActivationBytes
        let peakInt8 = placement.activationBytes(slotBytes: layers.map { g.tensors[$0.tensor].elementCount }, stepBuffers: false)
        let peakCatWorst = placement.plannedActivationBytes
        let peakCatExpected = placement.expectedActivationBytes
        let peakCatAchieved = placement.activationBytes(slotBytes: layers.map { $0.maxCompressedBytes }, stepBuffers: true)
        let catMapsPeak = placement.activationBytes(slotBytes: layers.map { $0.maxCompressedBytes }, stepBuffers: false)
        let catArena = cat.arenaUsed

        var totalValues = 0, totalBytes = 0
        var entropyBits: Double = 0
        for l in layers { totalValues += l.values; totalBytes += l.compressedBytes; entropyBits += l.entropy * Double(l.values) }
        let catBits: Double? = totalValues > 0 ? 8 * Double(totalBytes) / Double(totalValues) : nil
        let catEntropy: Double? = totalValues > 0 ? entropyBits / Double(totalValues) : nil
        let weightedGap: Double? = catBits.flatMap { b in catEntropy.map { b / max($0, 1e-9) - 1 } }
        let meanGap: Double? = layers.isEmpty ? nil : layers.map { $0.bitsPerValue / max($0.entropy, 1e-9) - 1 }.reduce(0, +) / Double(layers.count)
        let refAccuracy: Double? = evalLabels.map { _ in Double(refCorrect) / Double(evaluation.count) }
        let catAccuracy: Double? = evalLabels.map { _ in Double(catCorrect) / Double(evaluation.count) }
        let bitsUsed = Set(layers.map { $0.quantizer.bits }).sorted().map(String.init).joined(separator: "/")

        // 5. Process and code size.
        let rss = peakRSS()
        let heap = jemallocAllocated()
        let code = coreCodeSize()
        let embedded = embeddedCoreSizes()
        var byPrecision: [String: Int] = [:]
        for n in g.nodes.indices { byPrecision[g.nodes[n].precision.name, default: 0] += m.weightBytes(ofNode: n) }

        let note = "cat measured in a real session: compressed slots in its arena (planned from worst-case bounds), whole-tensor decode "
            + "into step-local buffers; 'achieved' sweeps the sizes its encoder wrote (max per layer over the samples)"
        func nullable(_ v: Any?) -> Any { v ?? NSNull() }
        let codecs: [[String: Any]] = [
            ["codec": "none", "available": true, "peak_activation_bytes": peakFP32, "peak_arena_bytes": m.plan.totalBytes,
             "planner_tensor_bytes": m.plan.tensorBytes, "run_seconds": noneSeconds, "bits_per_value": 32.0, "entropy_bits_per_value": NSNull(),
             "accuracy": nullable(refAccuracy), "max_rel_error": 0.0],
            ["codec": "cat", "available": true, "offline": false, "bits": bitsUsed, "tables": fittedHere ? "fitted here" : "model",
             "peak_activation_bytes": peakCatAchieved, "compressed_maps_peak_bytes": catMapsPeak,
             "peak_activation_bytes_worst_case": peakCatWorst, "peak_activation_bytes_expected": peakCatExpected,
             "peak_arena_bytes": catArena, "run_seconds": catSeconds,
             "bits_per_value": nullable(catBits), "entropy_bits_per_value": nullable(catEntropy),
             "mean_gap_to_entropy": nullable(meanGap), "value_weighted_gap_to_entropy": nullable(weightedGap),
             "accuracy": nullable(catAccuracy), "max_rel_error": maxRelError, "mean_rel_error": meanRelError],
            ["codec": "transform", "available": false, "peak_activation_bytes": NSNull(), "peak_arena_bytes": NSNull(),
             "bits_per_value": NSNull(), "entropy_bits_per_value": NSNull(), "accuracy": NSNull(), "max_rel_error": NSNull(),
             "note": "transform coding (PCA/DCT along channels) is not built"],
        ]
        let layerObjects: [[String: Any]] = layers.map { l in
            ["name": l.name, "producer": l.producer, "shape": l.shape, "signed": l.signed, "step": Double(l.quantizer.step),
             "bits": l.quantizer.bits, "zero_point": l.quantizer.zeroPoint, "fp32_bytes": l.fp32Bytes, "int8_bytes": l.int8Bytes,
             "packed_bytes": l.packedBytes(l.quantizer.bits), "compressed_bytes": l.meanCompressedBytes, "max_compressed_bytes": l.maxCompressedBytes,
             "worst_case_bytes": l.worstCaseBytes, "expected_bytes": l.expectedBytes, "tile_values": TensorCodec.tileValues,
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
                "embedded_core": embedded.map { ["target": $0.target, "text_bytes": $0.text, "data_bytes": $0.data, "bss_bytes": $0.bss] },
                "io_bytes": m.plan.ioBytes, "kernel_scratch_bytes": m.plan.scratchBytes,
                "int8_raw_peak_activation_bytes": peakInt8,
                "fitting_samples": fittedHere ? evalStart : 0, "evaluation_samples": evaluation.count,
                "held_out": !fittedHere || evalStart > 0, "codec_tables": fittedHere ? "fitted here" : "model", "note": note,
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
        print("- samples: \(fittedHere ? "tables fitted here on \(evalStart > 0 ? evalStart : evaluation.count), " : "tables from the model, ")evaluated on \(evaluation.count)\(fittedHere && evalStart == 0 ? " (the same samples: too few to hold out)" : " held out")\(input == nil ? ", pseudo-random inputs" : "")")
        print("- process: peak RSS \(rss) B (\(formatBytes(rss))); heap \(heap.bytes.map { "\($0) B (\(formatBytes($0)))" } ?? "n/a") — \(heap.note)")
        print("- core code: \(code.bytes.map { "\($0) B (\(formatBytes($0)))" } ?? "n/a") — \(code.detail.isEmpty ? "" : code.detail + "; ")\(code.note)")
        if embedded.isEmpty {
            print("- Embedded Swift core: not built (scripts/build-embedded writes .build/embedded/<target>/core-size.txt)")
        }
        for e in embedded {
            print("- Embedded Swift core (\(e.target), no Swift runtime, all kernels): text \(e.text) B (\(formatBytes(e.text))), data \(e.data) B, bss \(e.bss) B")
        }
        print("\n## Per layer (CAT, \(bitsUsed)-bit, achieved by the session's encoder, mean per sample)\n")
        print("| layer | shape | bits | signed | raw fp32 B | raw int8 B | compressed B | worst case B | bits/value | entropy bits/value | zeros |")
        print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for l in layers {
            print("| \(l.name) | \(l.shape.map(String.init).joined(separator: "×")) | \(l.quantizer.bits) | \(l.signed ? "yes" : "no") | \(l.fp32Bytes) | \(l.int8Bytes) | \(l.meanCompressedBytes) | \(l.worstCaseBytes) | "
                  + String(format: "%.3f | %.3f | %.0f%% |", l.bitsPerValue, l.entropy, 100 * l.zeroFraction))
        }
        print("\n## Codecs\n")
        print("| codec | peak activation B | peak arena B | bits/value | entropy bits/value | accuracy | max rel error |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        func pct(_ a: Double?) -> String { a.map { String(format: "%.2f%%", 100 * $0) } ?? "-" }
        print("| none | \(peakFP32) | \(m.plan.totalBytes) | 32 | - | \(pct(refAccuracy)) | 0 |")
        print("| cat | \(peakCatAchieved) (planned worst case \(peakCatWorst), expected \(peakCatExpected)) | \(catArena) | \(catBits.map { String(format: "%.3f", $0) } ?? "-") | \(catEntropy.map { String(format: "%.3f", $0) } ?? "-") | \(pct(catAccuracy)) | \(String(format: "%.4g", maxRelError)) |")
        print("| transform | n/a | n/a | n/a | n/a | n/a | n/a |")
        print("")
        if peakCatAchieved > 0 {
            print(String(format: "cat peak activation (compressed maps + step-local decode buffers, achieved sizes): fp32/cat %.2fx, int8 raw/cat %.2fx; compressed maps alone %d B (int8 raw/maps %.2fx)",
                         Double(peakFP32) / Double(peakCatAchieved), Double(peakInt8) / Double(peakCatAchieved), catMapsPeak, Double(peakInt8) / Double(max(catMapsPeak, 1))))
        }
        print(String(format: "run time over %d sample(s): none %.3f ms, cat %.3f ms (%.2fx)", evaluation.count, 1000 * noneSeconds, 1000 * catSeconds, catSeconds / max(noneSeconds, 1e-12)))
        if let meanGap, let weightedGap {
            print(String(format: "achieved bits/value vs entropy: %+.1f%% mean over layers, %+.1f%% over all values", 100 * meanGap, 100 * weightedGap))
        }
        print("cat peak arena = the CAT session's planned arena (worst-case slots, step buffers, inputs/outputs, scratch).")
        print("transform: not available (transform coding is not built).")
        print("Note: \(note).")
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
    let quantizer: ActivationQuantizer
    let worstCaseBytes: Int
    let expectedBytes: Int
    var histogram: [UInt64]
    var compressedBytes = 0
    var maxCompressedBytes = 0
    var values = 0
    var samples = 0

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
