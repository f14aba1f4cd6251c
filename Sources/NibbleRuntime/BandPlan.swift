import NibbleCodec
import NibbleFormat
import NibbleKernels

/// One input a banded step reads by rows: a [1, C, H, W] map copied (uncoded) or decoded tile by tile (CAT) into
/// a window buffer of [C][rows][W] floats before each band — or bytes, for the int8 conv that would quantize
/// those floats anyway (see `byteMap`).
struct BandInput {
    let tensor: Int
    /// The CAT codec and slot of a coded input; nil for an uncoded one, read from `rawOffset`.
    let codec: TensorCodec?
    let coded: Int
    let channels: Int, height: Int, width: Int
    /// For a CAT input of an int8 conv: codec symbol → the byte the conv's input quantization gives its
    /// dequantized value (`Int8Quantization.quantize(quantizer.dequantize(s))`), so the window holds the conv's
    /// uint8 input directly — a quarter of the float window, no dequantize/requantize pass, the same bytes.
    var byteMap: [UInt8]? = nil
    /// `byteMap` is s ↦ s on every symbol (the codec keeps the conv's own input grid, as QDQ models often do): the
    /// window fill copies the decoded symbols instead of looking each one up.
    var byteMapIsIdentity = false
    /// Arena offsets, filled by `CodecPlacement`: the window buffer, and the uncoded tensor or the slot.
    var windowOffset = 0
    var sourceOffset = 0
}

/// One band of output rows and the step variant that computes it from its window of input rows.
struct Band {
    /// Index of its step variant in `BandPlan.variants`.
    let variant: Int
    let inRows: Range<Int>
    let outRows: Range<Int>
}

/// How a session runs node `node` row band by row band (issue 6, "placement"): per band, the input windows are
/// filled, the node's tensors point at the windows and the band buffer, a variant of the step built for the
/// band's geometry (`Step.make` on a copy of the graph with the heights and top/bottom pads of the band) runs,
/// and the band is encoded as one tile of the output (its tile rows are the band rows) or copied into the
/// uncoded output. Every output element is the same sum in the same order as in the whole-tensor step, so the
/// outputs are bit-identical (`BandedCodecTests`).
struct BandPlan {
    let node: Int
    var inputs: [BandInput]
    let output: Int
    private(set) var outputCodec: TensorCodec?
    let outputCoded: Int
    let channels: Int, height: Int, width: Int
    let bands: [Band]
    /// The step variants, one per band geometry (heights, top and bottom pads).
    var variants: [Step]
    /// Rows per output tile (`TileLayout`); a band is `tilesPerBand` of them (the last one may be shorter), so
    /// the encoder writes each band as that many whole tiles.
    let tileRows: Int
    let tilesPerBand: Int
    /// Its output's codec, and a folded consumer's, writes RAW tiles when it is coded tensor k
    /// (`CodecPlacement.storingRawTiles`).
    mutating func storeRaw(coded k: Int) {
        if outputCoded == k, let c = outputCodec { outputCodec = c.storing(rawTiles: true) }
        for j in folded.indices { folded[j].storeRaw(coded: k) }
    }

    /// Its int8 conv variants, and its folded consumers', take the weight sums `steps` counted at load for the whole
    /// node (`ConvStep.countingRowSums`): a band changes the conv's heights and pads, not its weights.
    mutating func takeRowSums(_ steps: [Step]) {
        if case .conv(let whole) = steps[node], !whole.rowSums.isEmpty {
            for v in variants.indices {
                if case .conv(var c) = variants[v] { c.rowSums = whole.rowSums; variants[v] = .conv(c) }
            }
        }
        for j in folded.indices { folded[j].takeRowSums(steps) }
    }

    /// The codec its bands are stored with: the last folded consumer's output's, or its own output's.
    var storeCodec: TensorCodec? { folded.first?.storeCodec ?? outputCodec }
    /// The band buffer (or the window it writes over, elementwise), and the uncoded output or the output slot.
    var bandOffset = 0
    var outputOffset = 0
    /// The input whose window the output band overwrites (elementwise steps), or -1.
    let inPlaceInput: Int
    /// A GlobalAveragePool over a CAT input: no variants; each band's window is added into the per-channel sums
    /// (the band buffer, C floats) in row order — the whole-tensor step's order, so the same floats — and the
    /// output is written once after the last band.
    var reducesRows = false
    let scratchBytes: Int
    let taskScratchBytes: Int
    /// The node that reads this node's output, and nothing else does, run on each band right after it
    /// (`CodecPlacement.folds`): zero or one plan, reading and writing the same rows per band (an elementwise node
    /// or a 1×1 stride-1 conv). Its input that is this node's output reads the band buffer, so that map never
    /// exists whole, coded or raw (a ResNet block's pre-add conv output, an inverted residual's depthwise output
    /// before its 1×1 projection, a conv's separate activation). It may have a folded consumer of its own on the same
    /// rows, and so on: a chain (a DenseNet layer's concat → batch-norm scale → shift → 1×1 conv).
    ///
    /// A *line-buffered* consumer (`lineRows > 0`) reads more rows than a band gives: an int8 conv, a pool or an fp32
    /// depthwise conv with a taller kernel or a stride (`readsLineBuffer`: an inverted residual's depthwise conv after
    /// its 1×1 expansion, a stem's max pool). It keeps
    /// its own bands; this node's bands are one row each, and before each consumer band it runs the ones that give
    /// the rows its window lacks (rows it shares with the band before move up), each row straight into the window —
    /// on the consumer's input grid for an int8 conv (what its kernel would do), else as floats (through this
    /// output's CAT grid when it has one): the window is the line buffer, as in fused-layer
    /// CNN accelerators (Alwani et al., "Fused-Layer CNN Accelerators", MICRO 2016). Such a consumer may have a
    /// folded consumer of its own (the depthwise conv's 1×1 projection).
    var folded: [BandPlan]
    /// It or a consumer folded into it reads or writes a coded tensor.
    var holdsCoded: Bool { outputCodec != nil || inputs.contains { $0.codec != nil } || folded.first?.holdsCoded == true }
    /// Rows of the line buffer (the consumer's window) of a line-buffered consumer, else 0.
    var lineRows = 0
    /// The CAT codec of this node's output when it has one: the rows are quantized with it before they go into the
    /// line buffer, through the consumer's `byteMap` (an int8 conv) or dequantized (floats), the same values as
    /// encoding and decoding them, so a session gives the same outputs with or without the line buffer.
    var lineCodec: TensorCodec? = nil

    /// Output tiles (the most tiles a band can usefully span).
    var outputTiles: Int { (height + tileRows - 1) / tileRows }
    var windowRows: Int { bands.reduce(0) { max($0, $1.inRows.count) } }
    var bandRows: Int { bands.reduce(0) { max($0, $1.outRows.count) } }
    func windowBytes(_ i: BandInput) -> Int { (i.byteMap == nil ? 4 : 1) * i.channels * windowRows * i.width }
    var bandBytes: Int { 4 * channels * bandRows * width }

    /// The band plan of node `n`, or nil when it runs whole: it must be a Conv (any precision), Max/AveragePool
    /// (no ceil_mode), elementwise step or channel Concat with a [1, C, H, W] output, whose row inputs (the data input; for
    /// elementwise steps the inputs of the output's shape) and output are uncoded or CAT-coded, at least one
    /// coded, and whose other inputs are constants or broadcast along rows. `codecs[k]` is coded tensor k's codec.
    /// Bands are `tilesPerBand` output tiles tall (taller bands: fewer, longer kernel calls and fewer halo rows, for
    /// bigger windows and band buffers; `CodecPlacement` picks it). The nodes of `chain` are folded in, each into the
    /// one before (see `folded`): nil unless each runs by bands with the same rows as the one before, or (the first
    /// only) line-buffered. A plan made `asConsumer` is folded into another's and line-buffers nothing.
    static func make(graph: Graph, node n: Int, codedIndex: [Int], codecs: [MapCodec], tilesPerBand: Int = 1, chain: ArraySlice<Int> = [],
                     asConsumer: Bool = false, lineCodec: TensorCodec? = nil, tileRows rowsOverride: Int? = nil) -> BandPlan? {
        let node = graph.nodes[n]
        guard node.outputs.count == 1 else { return nil }
        if node.op == .globalAveragePool {
            return tilesPerBand == 1 && chain.isEmpty ? globalAveragePool(graph: graph, node: n, codedIndex: codedIndex, codecs: codecs) : nil
        }
        let out = node.outputs[0]
        let os = graph.tensors[out].shape
        guard os.count == 4, os[0] == 1, graph.tensors[out].dtype == .float32, os[2] > 1 else { return nil }
        func cat(_ t: Int) -> (codec: TensorCodec?, ok: Bool) {
            let k = codedIndex[t]
            if k < 0 { return (nil, true) }
            if case .cat(let c) = codecs[k] { return (c, true) }
            return (nil, false)
        }
        // Rows: kernel height, stride, top pad, dilation of the window rule (1, 1, 0, 1 for elementwise).
        var kH = 1, s = 1, pT = 0, d = 1
        var rowInputs: [Int] = []
        let windowed: Bool
        switch node.op {
        case .conv, .maxPool, .averagePool:
            windowed = true
            guard let x = node.inputs.first, x != absentTensor, graph.tensors[x].shape.count == 4 else { return nil }
            for i in node.inputs.dropFirst() where i != absentTensor && graph.tensors[i].role != .constant { return nil }
            func attr(_ key: AttributeKey) -> [Int]? { node.attribute(key).map { $0.ints.map { Int($0) } } }
            if let k = attr(.kernelShape), k.count == 2 { kH = k[0] }
            else if node.op == .conv, node.precision == .sparse { kH = 1 }
            else if node.op == .conv, node.inputs.count > 1, graph.tensors[node.inputs[1]].shape.count == 4 { kH = graph.tensors[node.inputs[1]].shape[2] }
            else { return nil }
            if let v = attr(.strides), v.count == 2 { s = v[0] }
            if let v = attr(.pads), v.count == 4 { pT = v[0] }
            if let v = attr(.dilations), v.count == 2 { d = v[0] }
            if let v = attr(.ceilMode), v.first ?? 0 != 0 { return nil }
            rowInputs = [x]
        case .relu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .swish, .add, .sub, .mul, .div:
            windowed = false
            for i in node.inputs {
                guard i != absentTensor else { return nil }
                let t = graph.tensors[i]
                if t.shape == os && t.role != .constant {
                    if !rowInputs.contains(i) { rowInputs.append(i) }
                } else if !(t.shape.count < 2 || t.shape[t.shape.count - 2] == 1) {
                    return nil  // varies along rows but is not a row input: a full-size constant or another shape
                }
            }
        case .concat:
            // Along channels: a band of the output is its inputs' windows one after another ([C][rows][W] each), so
            // a concat of coded maps (DenseNet's, of every map of its block) never holds them decoded whole.
            windowed = false
            guard node.attribute(.axis)?.ints == [1] else { return nil }
            for i in node.inputs {
                guard i != absentTensor, graph.tensors[i].role != .constant, graph.tensors[i].shape.count == 4,
                      graph.tensors[i].shape[2...] == os[2...] else { return nil }
                if !rowInputs.contains(i) { rowInputs.append(i) }
            }
        default: return nil
        }
        guard !rowInputs.isEmpty, kH >= 1, s >= 1, d >= 1 else { return nil }
        let outCodec = cat(out)
        guard outCodec.ok else { return nil }
        var inputs: [BandInput] = []
        var anyCoded = codedIndex[out] >= 0
        for x in rowInputs {
            let xs = graph.tensors[x].shape
            guard xs.count == 4, xs[0] == 1, graph.tensors[x].dtype == .float32 else { return nil }
            let c = cat(x)
            guard c.ok else { return nil }
            anyCoded = anyCoded || codedIndex[x] >= 0
            inputs.append(BandInput(tensor: x, codec: c.codec, coded: codedIndex[x], channels: xs[1], height: xs[2], width: xs[3]))
        }
        let height = inputs[0].height
        // Band rows = a whole number of the output's tile rows, so each band is encoded as whole tiles.
        let tileRows = outCodec.codec.map { $0.layout.segment / os[3] } ?? rowsOverride ?? TileLayout.rows(channels: os[1], height: os[2], width: os[3])
        guard tilesPerBand >= 1, tilesPerBand == 1 || (tilesPerBand - 1) * tileRows < os[2] else { return nil }
        let rows = tileRows * tilesPerBand
        let effH = (kH - 1) * d + 1
        var bands: [Band] = []
        var variants: [Step] = []
        var keys: [SIMD4<Int>] = []
        var scratch = 0, taskScratch = 0
        var o0 = 0
        while o0 < os[2] {
            let o1 = min(os[2], o0 + rows)
            let first = o0 * s - pT, last = (o1 - 1) * s - pT + effH  // input rows [first, last), unclipped
            let i0 = windowed ? max(0, first) : o0, i1 = windowed ? min(height, last) : o1
            guard i1 > i0 else { return nil }
            let padTop = max(0, -first), padBottom = max(0, last - height)
            let key = SIMD4(i1 - i0, o1 - o0, padTop, padBottom)
            var variant = 0
            while variant < keys.count && keys[variant] != key { variant += 1 }
            if variant == keys.count {
                var g = graph
                for x in rowInputs { g.tensors[x].shape[2] = i1 - i0 }
                g.tensors[out].shape[2] = o1 - o0
                if let a = g.nodes[n].attributes.firstIndex(where: { $0.key == .pads }) {
                    g.nodes[n].attributes[a].ints[0] = Int64(padTop)
                    g.nodes[n].attributes[a].ints[2] = Int64(padBottom)
                } else if padTop != 0 || padBottom != 0 {
                    return nil
                }
                guard let made = try? Step.make(graph: g, index: n) else { return nil }
                scratch = max(scratch, made.scratchBytes)
                if made.0.splitsIntoTasks { taskScratch = max(taskScratch, made.scratchBytes - made.0.taskScratchOffset) }
                variants.append(made.0)
                keys.append(key)
            }
            bands.append(Band(variant: variant, inRows: i0..<i1, outRows: o0..<o1))
            o0 = o1
        }
        // An int8 conv reads a CAT input as bytes on its own input grid (exact: see `BandInput.byteMap`).
        if node.op == .conv, let codec = inputs[0].codec, case .conv(let first) = variants[0], first.precision == .int8 {
            BandPlan.readBytes(&inputs[0], &variants, codec, first)
        }
        // Elementwise: the band may overwrite a same-shaped input's window (out[j] reads only in[j] at j).
        var inPlace = windowed ? -1 : (CodecPlacement.writesInPlace(node.op) ? 0 : -1)
        // Add/Sub/Mul/Div of two maps: one CAT input's window holds its symbols (`BinaryStep.symbols`), the output
        // overwrites the other (float) window. A residual Add's skip then takes a quarter of the bytes.
        if !windowed, inputs.count == 2, case .binary(let first) = variants[0], first.pattern == .same,
           let j = inputs.lastIndex(where: { $0.codec != nil }), let q = inputs[j].codec?.quantizer {
            inputs[j].byteMap = (0...255).map { UInt8($0) }
            inputs[j].byteMapIsIdentity = true
            for v in variants.indices {
                guard case .binary(var b) = variants[v] else { continue }
                b.symbols = BinaryStep.SymbolOperand(isA: b.a == inputs[j].tensor, step: q.step, zeroPoint: q.zeroPoint)
                variants[v] = .binary(b)
            }
            inPlace = 1 - j
        }
        var folded: [BandPlan] = []
        var lineRows = 0
        if let consumer = chain.first {
            // Each consumer band reads exactly this band's rows and writes the same rows (elementwise, or a 1×1
            // stride-1 conv), or it is line-buffered.
            let rest = chain.dropFirst()
            let direct = make(graph: graph, node: consumer, codedIndex: codedIndex, codecs: codecs, tilesPerBand: tilesPerBand, chain: rest,
                              asConsumer: true)
            if let q = direct, q.bands.map({ $0.outRows }) == bands.map({ $0.outRows }), q.bands.map({ $0.inRows }) == bands.map({ $0.outRows }) {
                folded = [q]
            } else if let q = direct, outCodec.codec == nil, rowsOverride == nil, q.tileRows != tileRows, q.bands.allSatisfy({ $0.inRows == $0.outRows }),
                      let same = make(graph: graph, node: n, codedIndex: codedIndex, codecs: codecs, tilesPerBand: tilesPerBand, chain: chain,
                                      asConsumer: asConsumer, lineCodec: lineCodec, tileRows: q.tileRows) {
                // This node's output is not coded: its bands may take the consumer's tile rows.
                return same
            } else if codedIndex[out] < 0, !asConsumer,
                      var q = make(graph: graph, node: consumer, codedIndex: codedIndex, codecs: codecs, tilesPerBand: tilesPerBand, chain: rest,
                                   asConsumer: true),
                      q.inputs.count == 1, q.inputs[0].tensor == out, !q.reducesRows,
                      BandPlan.readsLineBuffer(q.variants[0], producerIsConv: node.op == .conv),
                      q.bands.contains(where: { $0.inRows != $0.outRows }),  // a taller kernel or a stride: it reads other rows
                      BandPlan.readsInOrder(q.bands) {
                // One-row bands here: each row goes into the window as it is made.
                if bands.contains(where: { $0.outRows.count != 1 }) {
                    guard rowsOverride == nil, outCodec.codec == nil else { return nil }
                    return make(graph: graph, node: n, codedIndex: codedIndex, codecs: codecs, tilesPerBand: 1, chain: chain,
                                asConsumer: asConsumer, lineCodec: lineCodec, tileRows: 1)
                }
                // An int8 conv's is a byte window, filled row by row: the rows on t's CAT grid mapped to the conv's
                // (as a decoded window would be), or, with t uncoded, quantized on the conv's grid directly. Any
                // other consumer's (a pool, an fp32 depthwise conv) holds floats: t's rows through its CAT grid, or
                // as they are.
                if case .conv(let first) = q.variants[0], first.precision == .int8 {
                    BandPlan.readBytes(&q.inputs[0], &q.variants, lineCodec, first)
                }
                folded = [q]
                lineRows = q.windowRows
            } else {
                return nil
            }
            scratch = max(scratch, folded[0].scratchBytes)
            taskScratch = max(taskScratch, folded[0].taskScratchBytes)
        }
        // Something of the step is coded: its inputs or output, or its folded consumers'. A folded consumer itself may
        // hold nothing coded (a DenseNet layer's batch-norm scale between its concat and the shift's coded output).
        guard anyCoded || asConsumer || folded.first?.holdsCoded == true else { return nil }
        var plan = BandPlan(node: n, inputs: inputs, output: out, outputCodec: outCodec.codec, outputCoded: codedIndex[out],
                            channels: os[1], height: os[2], width: os[3], bands: bands, variants: variants,
                            tileRows: tileRows, tilesPerBand: tilesPerBand, inPlaceInput: inPlace,
                            scratchBytes: scratch, taskScratchBytes: taskScratch, folded: folded)
        plan.lineRows = lineRows
        plan.lineCodec = lineRows > 0 ? lineCodec : nil
        return plan
    }

    /// The int8 `conv` (every variant) reads `input`'s window as its input bytes: `codec`'s symbols through
    /// `byteMap`, or (no codec) bytes on the conv's own grid.
    static func readBytes(_ input: inout BandInput, _ variants: inout [Step], _ codec: TensorCodec?, _ conv: ConvStep) {
        if let codec {
            let map = (0..<256).map {
                Int8Quantization.quantize(codec.quantizer.dequantize(UInt8($0)), scale: conv.p.inputScale, zeroPoint: conv.p.inputZeroPoint)
            }
            input.byteMap = map
            input.byteMapIsIdentity = (0..<(1 << codec.bits)).allSatisfy { map[$0] == UInt8($0) }
        } else {
            input.byteMap = (0...255).map { UInt8($0) }
            input.byteMapIsIdentity = true
        }
        for v in variants.indices { if case .conv(var c) = variants[v] { c.quantizedInput = true; variants[v] = .conv(c) } }
    }

    /// Consumers a line buffer feeds: int8 convs (a byte window), max or average pools and fp32 depthwise convs
    /// (floats). Its producer runs one-row bands, which cost an fp32 conv producer little before a pool or a depthwise
    /// conv (ResNet-18's stem, 112 columns a row, 7.6 → 3.6 ms with its pool, saving an encode and a decode of the
    /// 64×112² map; MobileNetV2's expansions) but much before a dense fp32 conv: ResNet-18's 3×3 pairs,
    /// line-buffered, went from 6.9 to 7.4 ms at 56² and from 6.2 to 12.2 ms at 7², where each band's conv runs a
    /// 7-column panel against all of its weights. A float line buffer also needs a conv producer: an elementwise
    /// one's one-row bands decode each multi-row tile of its coded inputs once per row (EfficientNet-B0's Swish
    /// multiply before its depthwise convs, line-buffered: 54.4 → 63.2 ms).
    static func readsLineBuffer(_ consumer: Step, producerIsConv: Bool) -> Bool {
        switch consumer {
        case .conv(let c): return c.precision == .int8 || (producerIsConv && c.precision == .float32 && c.geometry.isDepthwise)
        case .pool: return producerIsConv
        default: return false
        }
    }

    /// Applies `change` to the plan `depth` folds down from `plan` (0: `plan` itself).
    static func update(_ plan: inout BandPlan, depth: Int, _ change: (inout BandPlan) -> Void) {
        if depth == 0 { change(&plan) } else { update(&plan.folded[0], depth: depth - 1, change) }
    }

    /// Each band's input rows start and end no earlier than the band before's: a line buffer fed row by row holds
    /// them all.
    static func readsInOrder(_ bands: [Band]) -> Bool {
        zip(bands, bands.dropFirst()).allSatisfy { $0.inRows.lowerBound <= $1.inRows.lowerBound && $0.inRows.upperBound <= $1.inRows.upperBound }
    }

    /// A GlobalAveragePool whose [1, C, H, W] input is CAT-coded reads it by the input's tile rows (see
    /// `reducesRows`) instead of decoding it whole.
    static func globalAveragePool(graph: Graph, node n: Int, codedIndex: [Int], codecs: [MapCodec]) -> BandPlan? {
        let node = graph.nodes[n]
        guard node.inputs.count == 1, node.inputs[0] != absentTensor else { return nil }
        let x = node.inputs[0], out = node.outputs[0]
        let xs = graph.tensors[x].shape
        guard xs.count == 4, xs[0] == 1, graph.tensors[x].dtype == .float32, graph.tensors[out].shape == [1, xs[1], 1, 1],
              codedIndex[x] >= 0, case .cat(let codec) = codecs[codedIndex[x]] else { return nil }
        var outCodec: TensorCodec? = nil
        if codedIndex[out] >= 0 {
            guard case .cat(let c) = codecs[codedIndex[out]] else { return nil }
            outCodec = c
        }
        let rows = codec.layout.segment / xs[3]
        let bands = stride(from: 0, to: xs[2], by: rows).map { Band(variant: 0, inRows: $0..<min(xs[2], $0 + rows), outRows: 0..<1) }
        var plan = BandPlan(node: n, inputs: [BandInput(tensor: x, codec: codec, coded: codedIndex[x], channels: xs[1], height: xs[2], width: xs[3])],
                            output: out, outputCodec: outCodec, outputCoded: codedIndex[out], channels: xs[1], height: 1, width: 1,
                            bands: bands, variants: [], tileRows: 1, tilesPerBand: 1, inPlaceInput: -1, scratchBytes: 0, taskScratchBytes: 0,
                            folded: [])
        plan.reducesRows = true
        return plan
    }
}
