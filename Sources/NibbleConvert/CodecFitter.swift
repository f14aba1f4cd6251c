import NibbleCodec
import NibbleFormat
import NibbleRuntime

/// How many bits the codec gives each intermediate tensor (`nibble convert --codec-bits N|auto`).
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

/// Which transform entries `nibble convert --codec-transform` writes next to the CAT ones (issue 6, "transform
/// coding"): none (CAT only), a PCA or DCT-II transform for every tensor that has channels, or `auto`: PCA kept
/// only where its held-out compressed size beats CAT's.
public enum CodecTransformChoice: String, Sendable, CaseIterable {
    case none, pca, dct, auto
}

/// Fits the codec tables of a converted model on calibration data (issue 6) and writes them into the `.nib`
/// codec section (docs/FORMAT.md §6): per intermediate float tensor an MSE-clipped quantizer
/// (`ActivationQuantizer.calibrated`, unsigned unless the tensor takes negative values) — or, at as many bits as it
/// has, the grid the source model quantizes the tensor to (`modelGrid`, a QDQ pair) or at 8 bits the int8 consumers'
/// own input grid (`consumerGrid`): lossless for them — and a static Huffman
/// table from the token statistics of its quantized tiles (`CodeStatistics`, tiled as `TensorCodec` tiles);
/// with a transform choice, also a transform entry per tensor with channels: the channel transform (PCA of the
/// channel covariance, or DCT-II), and quantizer and table of its coefficients, fitted the same way.
///
/// Samples: with 4 or more, the last quarter is held out — quantizers, transforms, tables and the `auto` bit
/// search use the rest; the expected compressed sizes and the reported output error are measured on the
/// held-out part. With fewer, every sample is used for both (and the report says so).
public enum CodecFitter {
    /// Quantizer fitting uses at most this many values per tensor, taken evenly over the fitting samples.
    static let maxFitValues = 1 << 16
    /// The `auto` search evaluates candidate bit choices on at most this many fitting samples.
    static let maxSearchSamples = 64

    /// The tensors the codec can hold: intermediate float32 tensors that are not graph outputs and that a
    /// node reads after the node that writes them, but for those a CAT session never holds: the output of a banded
    /// node whose only reader, an elementwise node, runs on its bands (`CodecPlacement.folds`: a ResNet block's
    /// pre-add conv output). Coding them would search bits and spend error on maps that are never quantized.
    public static func candidates(_ graph: Graph) -> [Int] {
        let all = codable(graph)
        // Which maps fold away depends only on which tensors are CAT-coded, not on their tables: decide it with
        // placeholder codecs on every candidate, as the session will with the real ones.
        // Line-buffered maps keep their tables: a session uses them when it does not line-buffer (see
        // `CodecPlacement.init`), and quantizes with them when it does.
        // Maps a chain of folds removes keep theirs too: a session keeps the placement without chains when its peak is lower.
        let consumers = CodecPlacement.folds(graph: graph, codecs: placeholders(graph, all), lineBuffers: false, chains: false)
        let folded = Set(consumers.indices.filter { consumers[$0] >= 0 }.map { graph.nodes[$0].outputs[0] })
        return all.filter { !folded.contains($0) }
    }

    /// 8-bit CAT codecs with a flat table for `tensors`: what a CAT placement looks like before tables exist (which
    /// maps fold away, which buffers each step holds).
    static func placeholders(_ graph: Graph, _ tensors: [Int]) -> [(tensor: Int, codec: MapCodec, expectedBytes: Int)] {
        guard let q = ActivationQuantizer(bits: 8, step: 1), let stats = CodeStatistics(bits: 8) else { return [] }
        let table = HuffmanTable(statistics: stats)
        return tensors.compactMap { t in
            TensorCodec(quantizer: q, table: table, shape: graph.tensors[t].shape).map { (tensor: t, codec: MapCodec.cat($0), expectedBytes: 0) }
        }
    }

    /// A model of the CAT session's peak activation bytes for per-candidate bits: each slot as values·bits/8 (no
    /// entropy coding), the step buffers of the placement the session will plan. The `auto` search credits a
    /// reduction with what it takes off this peak, so the error budget goes to the maps live where the peak is.
    static func peakModel(_ graph: Graph, _ coded: [Int]) -> ([Int]) -> Int {
        // With and without line buffers: the session keeps the smaller peak.
        let placements = [false, true].map { CodecPlacement(graph: graph, codecs: placeholders(graph, coded), kernelScratchBytes: 0, lineBuffers: $0) }
        let slots = placements.map { p in coded.map { p.codedIndex(of: $0) } }
        let values = coded.map { graph.tensors[$0].elementCount }
        return { bits in
            zip(placements, slots).map { placement, slots in
                var sizes = [Int](repeating: 0, count: placement.coded.count)
                for k in coded.indices { if let i = slots[k] { sizes[i] = values[k] * bits[k] / 8 } }
                return placement.activationBytes(slotBytes: sizes, stepBuffers: true)
            }.min()!
        }
    }

    /// Every map the codec could hold, folded away or not.
    static func codable(_ graph: Graph) -> [Int] {
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
    /// The grid the source model itself quantizes `tensor` to (its producer's `output_grid`, from a QDQ pair): the
    /// values are meant to lie on it, so coding them there adds no loss beyond the model's own, and a model trained
    /// with 4-bit activations is coded with 16 symbols. Used whenever the requested bits are at least the grid's.
    static func modelGrid(_ graph: Graph, tensor: Int) -> ActivationQuantizer? {
        guard let node = graph.nodes.first(where: { $0.outputs.contains(tensor) }),
              let g = node.attribute(.outputGrid)?.floats, g.count == 3, let bits = Int(exactly: g[2]), let zp = Int(exactly: g[1])
        else { return nil }
        return ActivationQuantizer(bits: bits, step: g[0], zeroPoint: zp)
    }

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

    /// Fitting and measurement samples (see the type's comment).
    struct Samples {
        let fit: [Int]
        let check: [Int]
        let heldOut: Bool
        var search: [Int] { Array(fit.prefix(CodecFitter.maxSearchSamples)) }

        init(count n: Int) {
            heldOut = n >= 4
            let checkCount = heldOut ? max(1, n / 4) : n
            fit = Array(0..<(heldOut ? n - checkCount : n))
            check = heldOut ? Array((n - checkCount)..<n) : fit
        }
    }

    /// One codec's choices and held-out measurements, per coded tensor.
    struct Plan {
        var quantizers: [MapQuantizer]
        var codecs: [MapCodec]
        var expectedBytes: [Int]
        var bitsPerValue: [Double]
        /// The same measurement tiles coded with static rANS over the same tokens (`StaticRANS`), for comparison.
        var ransBitsPerValue: [Double]
        var entropy: [Double]
        /// ‖x − x̂‖/‖x‖ of the tensor on the measurement samples.
        var tensorError: [Double]
        var fitError: Double
        var checkError: Double
        var searchSteps: Int

        func entry(_ k: Int, tensor: Int, transform: ChannelTransformEntry? = nil) -> CodecTableEntry {
            let q = quantizers[k].quantizer
            return CodecTableEntry(tensor: tensor, bits: q.bits, step: q.step, zeroPoint: q.zeroPoint, expectedBytes: expectedBytes[k],
                                   table: codecs[k].symbols.tiles.table.serialized(), transform: transform)
        }
    }

    /// Returns `nib` with a codec section fitted on `data`, and what was chosen and measured.
    /// `progress` hears each step of the `auto` search (many model runs per step on large nets).
    public static func fit(nib: [UInt8], data: CalibrationData, bits choice: CodecBitsChoice,
                           transform: CodecTransformChoice = .none,
                           progress: (String) -> Void = { _ in }) throws -> (nib: [UInt8], report: CodecReport) {
        if case .fixed(let b) = choice, !(2...8).contains(b) {
            throw ConvertError.invalidInput("codec bits \(b) outside 2...8")
        }
        if case .auto(let budget) = choice, !(budget > 0 && budget.isFinite) {
            throw ConvertError.invalidInput("codec budget \(budget) must be a finite number > 0")
        }
        // A transform session folds less (transform-coded maps are decoded whole, not banded), so with a transform
        // every codable map gets entries; a session drops the entries of the maps it folds away, at load.
        let runner = try QuantizedRunner(nib: nib, data: data, foldedMaps: transform != .none)
        let graph = runner.model.graph
        let coded = runner.coded
        if coded.isEmpty {
            throw ConvertError.unsupported("codec: the model has no intermediate float32 tensors to compress")
        }
        let samples = Samples(count: data.sampleCount)

        // CAT: quantizer fitting values and signedness, on the fitting samples.
        let values = try runner.sampleValues(samples: samples.fit, maxValues: maxFitValues)
        let signed = values.map { v in v.contains { $0 < 0 } }
        let modelGrids = coded.map { modelGrid(graph, tensor: $0) }
        let grids = coded.indices.map { modelGrids[$0] ?? consumerGrid(graph, tensor: coded[$0]) }
        // The model's own rounding is not the codec's loss: the bit budget counts from the error of those grids alone.
        let gridOnly: [MapQuantizer?] = modelGrids.map { $0.map { .cat($0) } }
        let hasModelGrids = modelGrids.contains { $0 != nil }
        let gridFitError = hasModelGrids ? runner.outputError(samples: samples.search, quantizers: gridOnly) : 0
        let cat = try fitPlan(runner, samples, choice, baseline: gridFitError, progress: progress) { k, bits in
            if let grid = grids[k], bits >= grid.bits { return .cat(grid) }
            return .cat(try quantizer(values[k], bits: bits, signed: signed[k], graph.tensors[coded[k]].name))
        }
        var entries = coded.indices.map { cat.entry($0, tensor: coded[$0]) }
        var layers: [CodecReport.Layer] = coded.indices.map { k in
            let t = graph.tensors[coded[k]], q = cat.quantizers[k].quantizer
            return CodecReport.Layer(tensor: t.name, shape: t.shape, bits: q.bits, signed: signed[k], step: q.step,
                                     expectedBytes: cat.expectedBytes[k], worstCaseBytes: cat.codecs[k].worstCaseBytes, fp32Bytes: t.byteCount,
                                     bitsPerValue: cat.bitsPerValue[k], ransBitsPerValue: cat.ransBitsPerValue[k], entropy: cat.entropy[k],
                                     error: cat.tensorError[k])
        }
        var summary: CodecReport.TransformSummary?
        if transform != .none {
            let kind = transform == .dct ? ChannelTransformEntry.dctKind : ChannelTransformEntry.pcaKind
            // A map on the model's own grid stays CAT: it is exact there, a transform would leave the grid.
            let fitted = try fitTransforms(runner, samples.fit, kind: kind).enumerated().map { modelGrids[$0.offset] == nil ? $0.element : nil }
            progress("\(transform == .dct ? "DCT" : "PCA") transforms fitted on \(fitted.filter { $0 != nil }.count) maps; their coefficients' bits next")
            let plan = try fitPlan(runner, samples, choice, frozen: fitted.map { $0 == nil }, baseline: gridFitError, progress: progress) { k, bits in
                guard let f = fitted[k] else { return cat.quantizers[k] }
                let q = try quantizer(f.coefficients, bits: bits, signed: true, graph.tensors[coded[k]].name)
                return .transform(f.transform, q, images: f.images, pixels: f.pixels)
            }
            let kept = coded.indices.map { fitted[$0] != nil && (transform != .auto || plan.expectedBytes[$0] < cat.expectedBytes[$0]) }
            for k in coded.indices {
                guard let f = fitted[k] else { continue }
                if kept[k] { entries.append(plan.entry(k, tensor: coded[k], transform: f.entry)) }
                let q = plan.quantizers[k].quantizer
                layers[k].transform = .init(bits: q.bits, step: q.step, expectedBytes: plan.expectedBytes[k], bitsPerValue: plan.bitsPerValue[k],
                                            entropy: plan.entropy[k], error: plan.tensorError[k], kept: kept[k])
            }
            // The transform session as written: the kept tensors transform-coded, the others with CAT.
            let mixed: [MapQuantizer?] = coded.indices.map { kept[$0] ? plan.quantizers[$0] : cat.quantizers[$0] }
            let all = kept == fitted.map { $0 != nil }
            summary = .init(choice: transform, kept: kept.filter { $0 }.count, searchSteps: plan.searchSteps,
                            fitError: all ? plan.fitError : runner.outputError(samples: samples.search, quantizers: mixed),
                            checkError: all ? plan.checkError : runner.outputError(samples: samples.check, quantizers: mixed))
        }
        let out = try attach(entries, to: nib)
        var report = CodecReport(layers: layers, choice: choice, fitSamples: samples.fit.count, checkSamples: samples.check.count,
                                 heldOut: samples.heldOut, fitError: cat.fitError, checkError: cat.checkError,
                                 searchSteps: cat.searchSteps, transform: summary)
        if hasModelGrids { report.gridCheckError = runner.outputError(samples: samples.check, quantizers: gridOnly) }
        return (out, report)
    }

    /// The MSE-clipped `bits`-bit quantizer of `values`.
    static func quantizer(_ values: [Float], bits: Int, signed: Bool, _ name: String) throws -> ActivationQuantizer {
        guard let q = values.withUnsafeBufferPointer({ ActivationQuantizer.calibrated(samples: $0, bits: bits, signed: signed) }) else {
            throw ConvertError.runtime("codec: cannot fit a \(bits)-bit quantizer for '\(name)'")
        }
        return q
    }

    /// Chooses bits (fixed, or the joint `auto` search over `quantizer(k, bits)`; `frozen` tensors are not
    /// searched), fits a Huffman table per tensor on the fitting samples' stored symbols, and measures
    /// compressed sizes, symbol entropy and errors on the measurement samples.
    static func fitPlan(_ runner: QuantizedRunner, _ samples: Samples, _ choice: CodecBitsChoice, frozen: [Bool]? = nil,
                        baseline: Double = 0, progress: (String) -> Void = { _ in },
                        quantizer: (Int, Int) throws -> MapQuantizer) throws -> Plan {
        let graph = runner.model.graph
        let coded = runner.coded
        var bits: [Int]
        var searchSteps = 0
        switch choice {
        case .fixed(let b):
            bits = [Int](repeating: b, count: coded.count)
        case .auto(let budget):
            let all = try coded.indices.map { k in try (2...8).map { try quantizer(k, $0) } }  // [tensor][bits − 2]
            (bits, searchSteps) = runner.searchBits(quantizers: all, samples: samples.search, budget: budget + baseline, frozen: frozen,
                                                    peak: frozen == nil ? peakModel(graph, coded) : nil, progress: progress)
        }
        let quantizers = try coded.indices.map { try quantizer($0, bits[$0]) }

        // Huffman tables from the fitting samples' tiles.
        var stats = try quantizers.map { m -> CodeStatistics in
            guard let s = CodeStatistics(bits: m.quantizer.bits, zeroSymbol: m.quantizer.zeroPoint) else {
                throw ConvertError.runtime("codec: no statistics for \(m.quantizer.bits) bits")
            }
            return s
        }
        try runner.forEachCodedTensor(samples: samples.fit, quantizers: quantizers) { k, v in
            let layout = quantizers[k].tileLayout(shape: graph.tensors[coded[k]].shape)
            quantizers[k].storedValues(v).withUnsafeBufferPointer { TensorCodec.forEachTile($0, quantizer: quantizers[k].quantizer, layout: layout) { stats[k].add(tile: $0) } }
        }
        let tables = stats.map { HuffmanTable(statistics: $0) }
        let rans = coded.indices.map { StaticRANS(table: tables[$0], statistics: stats[$0]) }
        let codecs = try coded.indices.map { k in
            guard let c = quantizers[k].codec(table: tables[k], shape: graph.tensors[coded[k]].shape) else {
                throw ConvertError.runtime("codec: table and quantizer of '\(graph.tensors[coded[k]].name)' disagree")
            }
            return c
        }

        // Held-out measurements: compressed bytes, symbol histograms, tensor and output error.
        var compressed = [Int](repeating: 0, count: coded.count)
        var ransCompressed = [Int](repeating: 0, count: coded.count)
        var histograms = quantizers.map { [UInt64](repeating: 0, count: 1 << $0.quantizer.bits) }
        var squared = [(error: Double, norm: Double)](repeating: (0, 0), count: coded.count)
        var slot = [UInt8](repeating: 0, count: codecs.map { $0.worstCaseBytes }.max() ?? 1)
        var scratch = [UInt8](repeating: 0, count: codecs.map { $0.scratchBytes }.max() ?? 1)
        try runner.forEachCodedTensor(samples: samples.check, quantizers: quantizers) { k, v in
            var work = Array(v)
            slot.withUnsafeMutableBytes { s in
                scratch.withUnsafeMutableBufferPointer { sc in
                    work.withUnsafeMutableBufferPointer { compressed[k] += codecs[k].encode($0.baseAddress!, into: s, scratch: sc.baseAddress!) ?? 0 }
                }
            }
            quantizers[k].storedValues(v).withUnsafeBufferPointer {
                let layout = quantizers[k].tileLayout(shape: graph.tensors[coded[k]].shape)
                ransCompressed[k] += 4 * layout.tileCount  // the directory
                TensorCodec.forEachTile($0, quantizer: quantizers[k].quantizer, layout: layout) {
                    Entropy.accumulate($0, into: &histograms[k])
                    ransCompressed[k] += rans[k].tileBytes($0)
                }
            }
            work = Array(v)
            work.withUnsafeMutableBufferPointer { quantizers[k].apply($0.baseAddress!, count: $0.count) }
            for (a, b) in zip(v, work) {
                squared[k].error += (Double(a) - Double(b)) * (Double(a) - Double(b))
                squared[k].norm += Double(a) * Double(a)
            }
        }
        let checkCount = Double(samples.check.count)
        return Plan(
            quantizers: quantizers, codecs: codecs,
            expectedBytes: compressed.map { (Int($0) + samples.check.count - 1) / samples.check.count },
            bitsPerValue: coded.indices.map { 8 * Double(compressed[$0]) / (Double(graph.tensors[coded[$0]].elementCount) * checkCount) },
            ransBitsPerValue: coded.indices.map { 8 * Double(ransCompressed[$0]) / (Double(graph.tensors[coded[$0]].elementCount) * checkCount) },
            entropy: histograms.map { Entropy.bitsPerValue($0) },
            tensorError: squared.map { $0.norm > 0 ? ($0.error / $0.norm).squareRoot() : 0 },
            fitError: runner.outputError(samples: samples.search, quantizers: quantizers),
            checkError: runner.outputError(samples: samples.check, quantizers: quantizers),
            searchSteps: searchSteps)
    }

    /// A fitted channel transform and its coefficients' fitting values.
    struct FittedTransform {
        let transform: ChannelTransform
        let entry: ChannelTransformEntry
        let images: Int
        let pixels: Int
        /// Up to `maxFitValues` coefficients, taken evenly over the fitting samples.
        let coefficients: [Float]
    }

    /// Per coded tensor with 2…`maxChannels` channels (NCHW or [N, C]), the channel mean and, for PCA, the
    /// principal directions over every pixel of the fitting samples (nil for the other tensors).
    static func fitTransforms(_ runner: QuantizedRunner, _ samples: [Int], kind: UInt8) throws -> [FittedTransform?] {
        let graph = runner.model.graph
        let none = [MapQuantizer?](repeating: nil, count: runner.coded.count)
        var stats: [ChannelPCA?] = runner.coded.map { t in
            let shape = graph.tensors[t].shape
            guard shape.count == 2 || shape.count == 4, (2...ChannelTransformEntry.maxChannels).contains(shape[1]) else { return nil }
            return ChannelPCA(channels: shape[1])
        }
        func geometry(_ k: Int) -> (images: Int, pixels: Int) {
            let shape = graph.tensors[runner.coded[k]].shape
            return (shape[0], shape.count == 4 ? shape[2] * shape[3] : 1)
        }
        for s in samples {
            try runner.run(sample: s, quantizers: none) { k, v in
                if stats[k] != nil { stats[k]!.add(v, images: geometry(k).images, pixels: geometry(k).pixels) }
            }
        }
        let transforms: [(ChannelTransform, ChannelTransformEntry)?] = stats.map { st in
            guard let st else { return nil }
            let mean = st.mean.map { Float($0) }
            let basis = kind == ChannelTransformEntry.pcaKind ? st.principalBasis().basis : []
            let t = kind == ChannelTransformEntry.pcaKind ? ChannelTransform(mean: mean, basis: basis) : ChannelTransform.dct(mean: mean)
            return t.map { ($0, ChannelTransformEntry(kind: kind, mean: mean, basis: basis)) }
        }
        // The coefficients' quantizers are fitted on coefficients, sampled as `sampleValues` samples values.
        var coefficients = [[Float]](repeating: [], count: runner.coded.count)
        let strides = runner.coded.map { max(1, (graph.tensors[$0].elementCount * samples.count + maxFitValues - 1) / maxFitValues) }
        for s in samples {
            try runner.run(sample: s, quantizers: none) { k, v in
                guard let (t, _) = transforms[k] else { return }
                let g = geometry(k)
                let y = t.coefficients(of: v, images: g.images, pixels: g.pixels)
                var j = s % strides[k]
                while j < y.count { if y[j].isFinite { coefficients[k].append(y[j]) }; j += strides[k] }
            }
        }
        return runner.coded.indices.map { k in
            transforms[k].map { FittedTransform(transform: $0.0, entry: $0.1, images: geometry(k).images, pixels: geometry(k).pixels, coefficients: coefficients[k]) }
        }
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
