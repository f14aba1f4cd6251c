import ArgumentParser
import Foundation
import NibbleConvert
import NibbleKernels
import NibbleCodec
import NibbleRuntime

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure kernels and models (medians of many repetitions; ratios are from the same run).",
        subcommands: [KernelsBench.self, ModelBench.self, FootprintBench.self])
}

/// Median and minimum of repeated timings.
struct Timing {
    let medianMs: Double
    let minMs: Double
    let reps: Int

    /// Runs `body` for warm-up, then repeatedly for about `seconds` (at least `minReps` times).
    static func measure(seconds: Double = 0.6, minReps: Int = 10, _ body: () -> Void) -> Timing {
        let clock = ContinuousClock()
        for _ in 0..<3 { body() }
        var samples: [Double] = []
        let end = clock.now.advanced(by: .milliseconds(Int(seconds * 1000)))
        while samples.count < minReps || clock.now < end {
            let t0 = clock.now
            body()
            let d = clock.now - t0
            samples.append(Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) * 1e-15)
            if samples.count >= 100_000 { break }
        }
        samples.sort()
        return Timing(medianMs: samples[samples.count / 2], minMs: samples[0], reps: samples.count)
    }
}

/// The CPU model name from /proc/cpuinfo (Linux), or the architecture.
func cpuName() -> String {
    if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let v = line.split(separator: ":", maxSplits: 1).last { return v.trimmingCharacters(in: .whitespaces) }
        }
    }
    #if arch(x86_64)
    return "x86_64"
    #else
    return "arm64"
    #endif
}

/// Deterministic pseudo-random floats in [-1, 1) (xorshift), so runs are comparable.
func randomFloats(_ n: Int, seed: UInt64) -> [Float] {
    var s = seed | 1
    return (0..<n).map { _ in
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        return Float(s >> 40) / Float(1 << 23) - 1
    }
}

struct KernelsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Time the canonical layers (DESIGN.md: L1–L5 convs, G1 FC) with each kernel family.",
        discussion: "Ratios are each kernel's median against Nibble's own fp32 median of the same layer, in the same run.")

    @Option(help: "Threads per kernel call: output channels split as a session splits them, each thread with its own scratch (default 1).")
    var threads: Int = 1

    @Option(help: "Comma-separated kernels to run: fp32,int8,w1a1,w2a2,w4a4,ternary,sparse90,nm24,sparse90i8,nm24i8 (ternary: one FGQ ternary edge, groups of 16 input channels, packed 2-bit planes, input quantization included; w1a1: bipolar ±1 weights and activations; w2a2, w4a4: 2-/4-bit two's-complement weights × 2-/4-bit unsigned activations; timed on pre-packed operands; sparse90: fp32 CSR with 90 % of the weights zero; nm24: fp32 2:4 along input channels; sparse90i8, nm24i8: the same with int8 values; CSR also runs the 3x3 convs L1–L4 (direct sparse conv), 2:4 only 1x1 convs (L5) and G1).")
    var kernels: String = "fp32,int8,w1a1,w2a2,w4a4,ternary,sparse90,nm24"

    @Option(help: "Comma-separated layers to run (L1,L2,L3,L4,L5,G1).")
    var layers: String = "L1,L2,L3,L4,L5,G1"

    @Option(help: "Seconds of timing per entry.")
    var seconds: Double = 0.6

    @Flag(help: "Print JSON: {threads, cpu, isa, results: [{layer, kernel, median_ms, min_ms}]}.")
    var json = false

    @Flag(help: "Instead of the layers: time dense vs CSR kernels over shapes and densities and fit SparseCostModel's constants.")
    var sparseSweep = false

    func run() throws {
        if sparseSweep { SparseBench.sweep(seconds: min(seconds, 0.2)); return }
        if threads < 1 || threads > Session.maxThreads { throw CLIError("--threads \(threads): expected 1...\(Session.maxThreads)") }
        let wanted = kernels.split(separator: ",").map(String.init)
        let available = ["fp32", "int8"] + KernelsBench.bitSerial + TernaryBench.kernels + SparseBench.kernels
        for k in wanted where !available.contains(k) { throw CLIError("unknown kernel '\(k)'; available: \(available.joined(separator: ", "))") }
        let layerNames = layers.split(separator: ",").map { $0.uppercased() }
        let known = CanonicalLayers.convolutions.map(\.name) + ["G1"]
        for l in layerNames where !known.contains(l) { throw CLIError("unknown layer '\(l)'; available: \(known.joined(separator: ","))") }

        var results: [(layer: String, kernel: String, timing: Timing, macs: Int)] = []
        for (name, g) in CanonicalLayers.convolutions where layerNames.contains(name) {
            let macs = g.outC * g.outH * g.outW * (g.inC / g.groups) * g.kernelH * g.kernelW
            for k in wanted where !SparseBench.kernels.contains(k) || SparseBench.applies(g, kernel: k) {
                if !json { progress("timing \(name) \(k)…") }
                results.append((name, k, benchConv(g, kernel: k), macs))
            }
        }
        if layerNames.contains("G1") {
            let s = CanonicalLayers.g1
            for k in wanted {
                if !json { progress("timing G1 \(k)…") }
                results.append(("G1", k, benchFC(s, kernel: k), s.macCount))
            }
        }
        if json {
            let object: [String: Any] = [
                "threads": threads, "cpu": cpuName(), "isa": KernelISA.current.name,
                "results": results.map { ["layer": $0.layer, "kernel": $0.kernel, "median_ms": $0.timing.medianMs, "min_ms": $0.timing.minMs] },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("cpu: \(cpuName()), isa: \(KernelISA.current.name), threads: \(threads), batch 1")
        var rows: [[String]] = []
        for r in results {
            let fp32 = results.first { $0.layer == r.layer && $0.kernel == "fp32" }?.timing.medianMs
            let gmacs = Double(r.macs) / (r.timing.medianMs * 1e-3) / 1e9
            rows.append([r.layer, r.kernel, String(format: "%.3f", r.timing.medianMs), String(format: "%.3f", r.timing.minMs),
                         String(format: "%.1f", gmacs), fp32.map { String(format: "%.2fx", $0 / r.timing.medianMs) } ?? "-", "\(r.timing.reps)"])
        }
        printTable(["layer", "kernel", "median ms", "min ms", "GMAC/s", "vs fp32", "reps"], rows)
        if wanted.contains(where: KernelsBench.bitSerial.contains) {
            print("\nw1a1/w2a2/w4a4: kernel on pre-packed weights and activations (\(BinaryConv.microkernelName()) tile), float epilogue included; input packing not included:")
            for (layer, bits, t) in packTimes {
                print(String(format: "  %@ pack %d-bit input: median %.3f ms", layer, bits, t.medianMs))
            }
        }
        if wanted.contains("w1a1") {
            // No-load ceiling: register-only add + popcount + accumulate chains, the best of scalar and vector.
            let peak = popcountPeak()
            print(String(format: "popcount-peak (%@): %.1f Gword/s = %.0f G binary MAC/s (scalar %.1f, vector %.1f Gword/s)",
                         KernelISA.current.name, peak.best, peak.best * 64, peak.scalar, peak.vector))
            for r in results where r.kernel == "w1a1" {
                let rate = Double(r.macs) / (r.timing.medianMs * 1e-3) / 1e9
                print(String(format: "  %@ w1a1: %.0f G binary MAC/s = %.1f%% of the popcount peak", r.layer, rate, 100 * rate / (peak.best * 64)))
            }
        }
    }

    /// Runs `body(t)` for each of the `threads` tasks at once (Dispatch threads standing in for a session's pool)
    /// and returns when all are done; one thread runs inline.
    func forEachThread(_ body: (Int) -> Void) {
        if threads == 1 { body(0); return }
        // Each task writes its own output rows and scratch only, so sharing the closure across threads is safe.
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let shared = body
            DispatchQueue.concurrentPerform(iterations: threads) { shared($0) }
        }
    }

    /// Gwords/s of the scalar and vector no-load popcount chains at the current level.
    func popcountPeak() -> (scalar: Double, vector: Double, best: Double) {
        func rate(_ vector: Bool) -> Double {
            let iterations = 1 << 20
            var sink: UInt64 = 0
            var words = 0
            let t = Timing.measure(seconds: min(seconds, 0.3)) {
                let r = BinaryPopcountCeiling.run(vector: vector, iterations: iterations)
                sink &+= r.checksum
                words = r.words
            }
            if sink == 42 { print("") }  // keeps the checksum alive
            return Double(words) / (t.medianMs * 1e-3) / 1e9
        }
        let s = rate(false), v = rate(true)
        return (s, v, max(s, v))
    }

    func benchConv(_ g: ConvGeometry, kernel: String) -> Timing {
        let input = randomFloats(g.inC * g.inH * g.inW, seed: 1)
        let wCount = g.outC * (g.inC / g.groups) * g.kernelH * g.kernelW
        let weights = randomFloats(wCount, seed: 2)
        let bias = randomFloats(g.outC, seed: 3)
        var output = [Float](repeating: 0, count: g.outC * g.outH * g.outW)
        if KernelsBench.bitSerial.contains(kernel) { return benchBinary(g, kernel: kernel, input: input, weights: weights, bias: bias) }
        if SparseBench.kernels.contains(kernel) {
            return SparseBench.conv(kernel, g, input: input, weights: weights, bias: bias, seconds: seconds)
        }
        if kernel == "ternary" { return TernaryBench.conv(g, input: input, weights: weights, bias: bias, seconds: seconds) }
        if kernel == "fp32" {
            let stride = (FP32Conv.scratchFloatCount(g) + 15) & ~15
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(stride * threads, 1))
            defer { scratch.deallocate() }
            return input.withUnsafeBufferPointer { i in weights.withUnsafeBufferPointer { w in bias.withUnsafeBufferPointer { b in
                output.withUnsafeMutableBufferPointer { o in
                    Timing.measure(seconds: seconds) {
                        forEachThread { t in
                            guard let s = ConvSlice(g, task: t, of: threads, tileRows: FP32ConvTiled.tileRows) else { return }
                            FP32Conv.run(s.geometry, input: i.baseAddress! + s.firstInput * g.inH * g.inW,
                                         weights: w.baseAddress! + s.firstOutput * g.reductionLength, bias: b.baseAddress! + s.firstOutput,
                                         output: o.baseAddress! + s.firstOutput * g.outPixels, scratch: scratch + t * stride,
                                         outputMin: -.infinity, outputMax: .infinity)
                        }
                    }
                }
            }}}
        }
        let q = weights.map { Int8(($0 * 127).rounded()) }
        let scales = [Float](repeating: 1 / 127, count: g.outC)
        let stride = (Int8Conv.scratchByteCount(g) + 63) & ~63
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(stride * threads, 1), alignment: 64)
        defer { scratch.deallocate() }
        // Counted once, outside the timing, as a loaded model does.
        let rowSums = q.withUnsafeBufferPointer { Int8Conv.rowSums(g, weights: $0.baseAddress!) }
        return input.withUnsafeBufferPointer { i in q.withUnsafeBufferPointer { w in bias.withUnsafeBufferPointer { b in
            scales.withUnsafeBufferPointer { sc in output.withUnsafeMutableBufferPointer { o in rowSums.withUnsafeBufferPointer { rs in
                Timing.measure(seconds: seconds) {
                    forEachThread { t in
                        guard let s = ConvSlice(g, task: t, of: threads, tileRows: 4) else { return }
                        Int8Conv.run(s.geometry, input: i.baseAddress! + s.firstInput * g.inH * g.inW, inputScale: 2.0 / 255,
                                     inputZeroPoint: 128, weights: w.baseAddress! + s.firstOutput * g.reductionLength,
                                     weightScales: sc.baseAddress! + s.firstOutput, bias: b.baseAddress! + s.firstOutput,
                                     output: o.baseAddress! + s.firstOutput * g.outPixels, scratch: scratch + t * stride,
                                     outputMin: -.infinity, outputMax: .infinity, rowSums: rs.baseAddress! + s.firstOutput)
                    }
                }
            }}}
        }}}
    }

    func benchFC(_ s: FullyConnectedShape, kernel: String) -> Timing {
        let input = randomFloats(s.inFeatures, seed: 1)
        let weights = randomFloats(s.macCount, seed: 2)
        let bias = randomFloats(s.outFeatures, seed: 3)
        var output = [Float](repeating: 0, count: s.outFeatures)
        if KernelsBench.bitSerial.contains(kernel) {
            // FC as a 1x1 convolution over one pixel (weights [out][in] = OIHW with kH = kW = 1).
            let g = ConvGeometry(inC: s.inFeatures, inH: 1, inW: 1, outC: s.outFeatures, outH: 1, outW: 1, kernelH: 1, kernelW: 1)
            return benchBinary(g, kernel: kernel, input: input, weights: weights, bias: bias, layer: "G1")
        }
        if kernel == "ternary" {
            let g = ConvGeometry(inC: s.inFeatures, inH: 1, inW: 1, outC: s.outFeatures, outH: 1, outW: 1, kernelH: 1, kernelW: 1)
            return TernaryBench.conv(g, input: input, weights: weights, bias: bias, seconds: seconds)
        }
        if SparseBench.kernels.contains(kernel) {
            return SparseBench.time(kernel, rows: s.outFeatures, columns: s.inFeatures, pixels: 1, input: input, weights: weights,
                                    bias: bias, seconds: seconds)
        }
        if kernel == "fp32" {
            return input.withUnsafeBufferPointer { i in weights.withUnsafeBufferPointer { w in bias.withUnsafeBufferPointer { b in
                output.withUnsafeMutableBufferPointer { o in
                    Timing.measure(seconds: seconds) {
                        forEachThread { t in
                            let r = TaskSplit.range(s.outFeatures, task: t, of: threads, multiple: 4)
                            if r.isEmpty { return }
                            FP32FullyConnected.run(inFeatures: s.inFeatures, outFeatures: r.count, batch: 1, input: i.baseAddress!,
                                                   weights: w.baseAddress! + r.lowerBound * s.inFeatures, bias: b.baseAddress! + r.lowerBound,
                                                   output: o.baseAddress! + r.lowerBound, outputMin: -.infinity, outputMax: .infinity)
                        }
                    }
                }
            }}}
        }
        let q = weights.map { Int8(($0 * 127).rounded()) }
        let scales = [Float](repeating: 1 / 127, count: s.outFeatures)
        let stride = (Int8FullyConnected.scratchByteCount(inFeatures: s.inFeatures, outFeatures: s.outFeatures, batch: 1) + 63) & ~63
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(stride * threads, 1), alignment: 64)
        defer { scratch.deallocate() }
        // Counted once, outside the timing, as a loaded model does.
        let rowSums = q.withUnsafeBufferPointer { Int8FullyConnected.rowSums(weights: $0.baseAddress!, inFeatures: s.inFeatures, outFeatures: s.outFeatures) }
        return input.withUnsafeBufferPointer { i in q.withUnsafeBufferPointer { w in bias.withUnsafeBufferPointer { b in
            scales.withUnsafeBufferPointer { sc in output.withUnsafeMutableBufferPointer { o in rowSums.withUnsafeBufferPointer { rs in
                Timing.measure(seconds: seconds) {
                    forEachThread { t in
                        let r = TaskSplit.range(s.outFeatures, task: t, of: threads, multiple: 4)
                        if r.isEmpty { return }
                        Int8FullyConnected.run(inFeatures: s.inFeatures, outFeatures: r.count, batch: 1, input: i.baseAddress!,
                                               inputScale: 2.0 / 255, inputZeroPoint: 128, weights: w.baseAddress! + r.lowerBound * s.inFeatures,
                                               weightScales: sc.baseAddress! + r.lowerBound, bias: b.baseAddress! + r.lowerBound,
                                               output: o.baseAddress! + r.lowerBound, scratch: scratch + t * stride,
                                               outputMin: -.infinity, outputMax: .infinity, rowSums: rs.baseAddress! + r.lowerBound)
                    }
                }
            }}}
        }}}
    }
}

/// Input packing times of the binary entries, printed under the table (not part of their medians).
nonisolated(unsafe) var packTimes: [(layer: String, bits: Int, timing: Timing)] = []

extension KernelsBench {
    /// The bit-serial kernels (k-bit weights × k-bit activations; w1a1 bipolar).
    static let bitSerial = ["w1a1", "w2a2", "w4a4"]

    /// Times BinaryConv on weights and activations packed beforehand; the input packing is timed separately.
    func benchBinary(_ g: ConvGeometry, kernel: String, input: [Float], weights: [Float], bias: [Float],
                     layer: String? = nil) -> Timing {
        let w1 = kernel == "w1a1"
        let bits = w1 ? 1 : kernel == "w4a4" ? 4 : 2
        let al = BitPlaneLayout.activations(channels: g.inC, height: g.inH, width: g.inW,
                                            encoding: w1 ? .bipolar : .unsigned, bits: bits)
        let wl = BitPlaneLayout.weights(outChannels: g.outC, inChannels: g.inC, kernelH: g.kernelH, kernelW: g.kernelW,
                                        encoding: w1 ? .bipolar : .twosComplement, bits: bits)
        var wq = [Int8](repeating: 0, count: weights.count)
        var wp = [UInt64](repeating: 0, count: wl.wordCount), ap = [UInt64](repeating: 0, count: al.wordCount)
        let steps = [Float](repeating: 0.5, count: g.outC), scales = [Float](repeating: 1.0 / 64, count: g.outC)
        BitPacking.packWeights(weights, steps: steps, outChannels: g.outC, layout: wl, scratch: &wq, into: &wp)
        let packT = Timing.measure(seconds: min(seconds, 0.2)) {
            BitPacking.packActivations(input, step: 0.5, layout: al, into: &ap)
        }
        let name = layer ?? CanonicalLayers.convolutions.first { $0.geometry == g }?.name ?? "?"
        packTimes.append((name, bits, packT))
        var output = [Float](repeating: 0, count: g.outC * g.outPixels)
        let stride = (BinaryConv.scratchByteCount(g, activationBits: bits, weightBits: bits, activationEncoding: al.encoding) + 63) & ~63
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: stride * threads, alignment: 64)
        defer { scratch.deallocate() }
        return ap.withUnsafeBufferPointer { a in wp.withUnsafeBufferPointer { w in scales.withUnsafeBufferPointer { sc in
            bias.withUnsafeBufferPointer { b in output.withUnsafeMutableBufferPointer { o in
                Timing.measure(seconds: seconds) {
                    forEachThread { t in
                        let r = TaskSplit.range(g.outC, task: t, of: threads, multiple: 4)
                        if r.isEmpty { return }
                        BinaryConv.run(g, activations: a.baseAddress!, activationLayout: al, weights: w.baseAddress!, weightLayout: wl,
                                       scales: sc.baseAddress!, bias: b.baseAddress!, accumulators: nil, output: o.baseAddress!,
                                       scratch: scratch + t * stride, outputChannels: r)
                    }
                }
            }}
        }}}
    }
}

struct ModelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Time a whole .nib model (batch 1) and break the time down per layer.")

    @Argument(help: "The .nib model.")
    var model: String

    @Option(help: "An .npy batch whose first sample is used as the input (default: pseudo-random values).")
    var input: String?

    @Option(help: "Seconds of timing.")
    var seconds: Double = 1.0

    @Option(help: "Threads of the session: convs, FCs and pools split by output channels (default 1).")
    var threads: Int = 1

    @Option(help: "How the session holds feature maps: none (default), cat or transform (as `nibble run --codec`); a node's time then includes decoding its inputs and encoding its outputs.")
    var codec: String = "none"

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let m = try loadModel(model)
        guard let mapCodec = [FeatureMapCodec.none, .cat, .transform].first(where: { $0.name == codec }) else {
            throw CLIError("--codec \(codec): expected none, cat or transform")
        }
        let session = try Session(model: m, codec: mapCodec, threads: threads)
        for i in 0..<m.inputCount {
            var values = randomFloats(m.input(i).elementCount, seed: UInt64(i + 1))
            if i == 0, let input {
                let batch = try NPY.read(contentsOf: URL(fileURLWithPath: input))
                guard let f = batch.floats, f.count >= values.count else {
                    throw CLIError("\(input): need float32 with at least \(values.count) values for input '\(m.input(0).name)'")
                }
                values = Array(f[0..<values.count])
            }
            try values.withUnsafeBufferPointer { try session.setInput(i, floats: $0) }
        }
        let total = Timing.measure(seconds: seconds) { session.run() }
        // Per-layer: time from one observer call to the next, accumulated over a few runs.
        let clock = ContinuousClock()
        var perNode = [Double](repeating: 0, count: m.graph.nodes.count)
        let runs = 20
        for _ in 0..<runs {
            var last = clock.now
            var current = -1
            session.run(readsTensors: false) { n in
                let now = clock.now
                if current >= 0 { perNode[current] += ms(now - last) }
                current = n
                last = now
            }
            if current >= 0 { perNode[current] += ms(clock.now - last) }
        }
        perNode = perNode.map { $0 / Double(runs) }
        if json {
            let object: [String: Any] = [
                "model": model, "cpu": cpuName(), "isa": KernelISA.current.name, "threads": session.threads,
                "median_ms": total.medianMs, "min_ms": total.minMs, "reps": total.reps, "codec": codec,
                "arena_bytes": m.arenaBytes(codec: mapCodec) ?? m.plan.totalBytes, "thread_scratch_bytes": session.threadScratchBytes, "nib_bytes": m.file.fileSize,
                "layers": m.graph.nodes.enumerated().map { ["name": $0.element.name, "op": $0.element.op.name, "kernel": m.kernelNames[$0.offset], "ms": perNode[$0.offset]] },
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        print(String(format: "%@: median %.3f ms, min %.3f ms over %d runs (batch 1, %d thread(s), codec %@, %@, isa %@)",
                     model, total.medianMs, total.minMs, total.reps, session.threads, codec, cpuName(), KernelISA.current.name))
        print("arena \(formatBytes(m.arenaBytes(codec: mapCodec) ?? m.plan.totalBytes))\(session.threads > 1 ? " + \(formatBytes(session.threadScratchBytes)) per-thread scratch" : ""), file \(formatBytes(m.file.fileSize))\n")
        let sum = perNode.reduce(0, +)
        let placement = m.placement(mapCodec)
        let rows = m.graph.nodes.enumerated().map { n, node in
            [node.name, node.op.name, m.kernelNames[n], String(format: "%.4f", perNode[n]), String(format: "%.1f%%", 100 * perNode[n] / max(sum, 1e-12))]
                + (placement.map { p in [p.isFolded(n) ? "in its producer's bands" : p.bandShape(n).map { "\($0.bands) × \($0.rows) rows" } ?? "whole"] } ?? [])
        }
        printTable(["node", "op", "kernel", "ms", "share"] + (placement == nil ? [] : ["runs"]), rows)
    }
}

func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) * 1e-15 }
