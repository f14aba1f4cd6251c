import NibbleCodec
import NibbleFormat

/// One intermediate tensor a codec keeps compressed in the arena (docs/FORMAT.md §6).
public struct CodedTensor: Sendable {
    public let tensor: Int
    public let codec: MapCodec
    /// Where its compressed slot starts in the arena; the slot holds `codec.worstCaseBytes`.
    public let slotOffset: Int
    /// Mean compressed bytes on the converter's calibration data (from the codec section).
    public let expectedBytes: Int
}

/// Before or after one step: decode coded tensor `coded` into the raw buffer at `rawOffset` (a consumer's
/// input), or encode it from there into its slot (a producer's output).
struct CodecAction: Sendable {
    let coded: Int
    let tensor: Int
    let rawOffset: Int
}

/// The arena plan of a session running the CAT or transform codec (issue 6, "placement"). Every coded tensor lives in
/// the arena only as a compressed slot sized from the worst-case bound (`TensorCodec.worstCaseBytes`, the raw
/// fallback of every tile), so no input can overflow it. A [1, C, H, W] CAT map is tiled in row bands
/// (`TileLayout`), and a node that can run by rows — Conv of any precision, Max/AveragePool, elementwise steps, channel Concat —
/// whose row inputs or output are CAT-coded runs band by band (`BandPlan`): only a window of input rows per row
/// input and one output band (one output tile) are live, the band is encoded straight into the slot. Other nodes
/// (FC, global pooling, reshapes, softmax, transform-coded maps) keep whole-tensor buffers for that step only:
/// the producer writes its output raw, which is encoded into the slot right after the step; a consumer's coded
/// inputs are decoded into raw buffers right before it (elementwise steps write their output over a same-shaped
/// decoded input, so a residual Add needs two raw maps, not three). The planner packs slots, these step-local
/// windows and buffers and the uncoded tensors (graph inputs and outputs, non-float tensors) with the same greedy
/// packing as `ArenaPlan`, so the buffers of different steps share bytes.
public struct CodecPlacement: Sendable {
    public private(set) var coded: [CodedTensor]
    /// Arena offset of each uncoded non-constant tensor; -1 for constants and coded tensors.
    public let offsets: [Int]
    /// Per node: coded inputs to decode before it, coded outputs to encode after it.
    let decodes: [[CodecAction]]
    let encodes: [[CodecAction]]
    /// Per node: how it runs row band by row band, or nil (whole-tensor decode and encode around it).
    private(set) var bands: [BandPlan?]
    /// The largest per-task kernel scratch of the band variants that split into tasks (`Model.taskScratchBytes`
    /// covers it).
    let bandTaskScratchBytes: Int
    /// Per node: it runs inside the band step of the node before it (`BandPlan.folded`), not by itself.
    let runsFolded: [Bool]
    /// Nodes that run by row bands.
    public var bandedNodes: [Int] { bands.indices.filter { bands[$0] != nil } }
    /// How node n runs: (bands, output rows of the tallest) when by row bands, nil when whole.
    public func bandShape(_ n: Int) -> (bands: Int, rows: Int)? { bands[n].map { ($0.bands.count, $0.bandRows) } }
    /// The CAT codec a line buffer quantizes tensor t with (`BandPlan.lineCodec`): t has no slot, but its values are
    /// quantized all the same.
    public func lineCodec(of t: Int) -> TensorCodec? {
        bands.lazy.compactMap { $0 }.first { $0.output == t && $0.lineRows > 0 }?.lineCodec
    }
    /// Whether node n runs inside the band step of the node that produces its input (`BandPlan.folded`).
    public func isFolded(_ n: Int) -> Bool { runsFolded[n] }
    /// Every band plan's int8 conv variants take the weight sums counted at load (`BandPlan.takeRowSums`).
    mutating func takeRowSums(_ steps: [Step]) {
        for n in bands.indices { bands[n]?.takeRowSums(steps) }
    }
    /// Bytes the packed slots and buffers take; scratch (kernels, and the codec's tile symbols) follows.
    public let tensorBytes: Int
    public let scratchOffset: Int
    public let scratchBytes: Int
    public var totalBytes: Int { scratchOffset + scratchBytes }
    /// Peak activation bytes (intermediates only: graph inputs and outputs excluded), max over steps of the
    /// bytes live at once: slots at their worst case (`planned`) or at their calibration size (`expected`),
    /// plus the step-local raw buffers and the uncoded intermediates. `rawActivationBytes` is the same
    /// figure without a codec, every intermediate raw.
    public var plannedActivationBytes: Int { activationBytes(slotBytes: coded.map { $0.codec.worstCaseBytes }, stepBuffers: true) }
    public var expectedActivationBytes: Int { activationBytes(slotBytes: coded.map { $0.expectedBytes }, stepBuffers: true) }
    public let rawActivationBytes: Int
    /// The same with every float32 intermediate at one byte per value (int8 maps): the baseline a codec's peak is
    /// compared with. Counted from the graph, so maps a fold removes (`folds`) are in it.
    public let int8ActivationBytes: Int

    /// Plans the arena with one-tile bands, then lets each banded node take taller bands (2, 4, … output tiles)
    /// while that grows neither the planned nor the expected peak activation bytes nor the arena: the peak is
    /// set by one step, so the other steps' spare bytes buy fewer, longer kernel calls and fewer halo rows
    /// (MobileNet-style 8×8 maps of 48–64 channels have 1-row tiles: a 1-row band runs a kernel on 8 pixels).
    /// Elementwise consumers are folded into their producers' bands where they can be (`folds`).
    /// `tallerBands: false` keeps one-tile bands, `folding: false` folds nothing (the tests' baselines);
    /// `lineBuffers` true or false forces the choice below.
    ///
    /// Line buffers (`BandPlan.lineRows`) hold a few rows instead of a whole coded map, but with their windows and
    /// band buffers they can cost more than a map that compresses well (a ResNet's post-ReLU maps at under a bit
    /// per value): each is kept when the expected peak does not grow with it — one of float rows (a pool's, an fp32
    /// depthwise conv's) only when the peak drops. Either way a session computes the same outputs (`BandPlan.lineCodec`).
    ///
    /// Last, maps away from the peak are stored as RAW tiles where that keeps the peak (`storingRawTiles`);
    /// `rawTiles: false` entropy-codes every map.
    public init(graph: Graph, codecs all: [(tensor: Int, codec: MapCodec, expectedBytes: Int)], kernelScratchBytes: Int,
         tallerBands: Bool = true, folding: Bool = true, lineBuffers: Bool? = nil, rawTiles: Bool = true) {
        self.init(graph: graph, codecs: all, kernelScratchBytes: kernelScratchBytes, tallerBands: tallerBands, folding: folding,
                  lineBuffers: lineBuffers, chains: true)
        // A chain's last output slot is live from its first node's step, beside every window of the chain: a chain can
        // raise the peak (MobileNetV2: features.3's expansion → depthwise → projection → Add → features.4's 24 → 144
        // channel expansion put that expansion's slot in features.3's expansion step, 456,826 → 516,761 B). The
        // placement with chains is kept unless the one without has the lower expected peak.
        if folding {
            let unchained = CodecPlacement(graph: graph, codecs: all, kernelScratchBytes: kernelScratchBytes, tallerBands: tallerBands,
                                           folding: folding, lineBuffers: lineBuffers, chains: false)
            if unchained.expectedActivationBytes < expectedActivationBytes { self = unchained }
        }
        if rawTiles { self = storingRawTiles() }
    }

    private init(graph: Graph, codecs all: [(tensor: Int, codec: MapCodec, expectedBytes: Int)], kernelScratchBytes: Int,
         tallerBands: Bool, folding: Bool, lineBuffers: Bool?, chains: Bool) {
        let none = [Int](repeating: -1, count: graph.nodes.count)
        let plain = folding && lineBuffers != true ? CodecPlacement.folds(graph: graph, codecs: all, lineBuffers: false, chains: chains) : none
        let lined = folding && lineBuffers != false ? CodecPlacement.folds(graph: graph, codecs: all, lineBuffers: true, chains: chains) : plain
        func plan(_ consumers: [Int]) -> CodecPlacement? {
            CodecPlacement.planned(graph: graph, codecs: all, kernelScratchBytes: kernelScratchBytes, tallerBands: tallerBands, consumers: consumers)
        }
        // Folds nothing: every step can run as it is.
        func unfolded() -> CodecPlacement { plan(none)! }
        if lineBuffers == true {
            self = plan(lined) ?? unfolded()
            return
        }
        // Line buffers one at a time, the whole chain as `lined` has it (the consumer's own fold runs in the producer's
        // step there, so its other inputs must exist before the producer, and the chain's last node folds nothing),
        // each kept when the expected peak does not grow: where the peak is not their step they still save an encode
        // and a decode (an int8 conv's; a pool's only where it lowers the peak, below).
        var consumers = plain
        var best = plan(plain) ?? unfolded()
        for n in graph.nodes.indices where lined[n] >= 0 && lined[n] != plain[n] && !lined.contains(n) {
            var trial = consumers
            var k = n
            while k >= 0 {
                trial[k] = lined[k]
                k = lined[k]
            }
            guard let p = plan(trial) else { continue }
            // A line buffer of floats (a pool's, an fp32 depthwise conv's) must lower the peak: its producer's one-row bands can cost more
            // than the encode and decode it saves, most where the map was held as RAW tiles (DenseNet-121's
            // transitions, fp32 1×1 conv and pool: 2.6 → 2.8 ms at 56², 2.7 → 3.7 ms at 14², at the same peak).
            let floats = p.bands[n].map { $0.lineRows > 0 && $0.folded.first?.inputs.first?.byteMap == nil } ?? false
            if p.expectedActivationBytes < best.expectedActivationBytes
                || (p.expectedActivationBytes == best.expectedActivationBytes && !floats) {
                consumers = trial
                best = p
            }
        }
        self = best
    }

    private static func planned(graph: Graph, codecs all: [(tensor: Int, codec: MapCodec, expectedBytes: Int)], kernelScratchBytes: Int,
                                tallerBands: Bool, consumers: [Int]) -> CodecPlacement? {
        var foldedAway = [Bool](repeating: false, count: graph.tensors.count)
        for (n, m) in consumers.enumerated() where m >= 0 { foldedAway[graph.nodes[n].outputs[0]] = true }
        let codecs = all.filter { !foldedAway[$0.tensor] }
        var codedIndex = [Int](repeating: -1, count: graph.tensors.count)
        for (k, c) in codecs.enumerated() { codedIndex[c.tensor] = k }
        let maps = codecs.map { $0.codec }
        func lineCodec(_ n: Int) -> TensorCodec? { catCodec(of: graph.nodes[n].outputs[0], in: all) }
        var bands = graph.nodes.indices.map {
            consumers.contains($0) ? nil : BandPlan.make(graph: graph, node: $0, codedIndex: codedIndex, codecs: maps,
                                                         chain: chain(from: $0, consumers), lineCodec: lineCodec($0))
        }
        // A chain spliced from two fold choices (`init`) may leave a root that cannot run its chain by bands.
        for n in bands.indices where consumers[n] >= 0 && !consumers.contains(n) && bands[n] == nil { return nil }
        let base = CodecPlacement(graph: graph, codecs: codecs, codedIndex: codedIndex, kernelScratchBytes: kernelScratchBytes,
                                  bands: bands, consumers: consumers)
        var best = base
        for n in bands.indices where tallerBands {
            // A line-buffered producer's bands are one row each (`BandPlan.folded`).
            guard let one = bands[n], !one.reducesRows, one.lineRows == 0 else { continue }
            // Per-task scratch (allocated per thread outside the arena, `Model.taskScratchBytes`) must not grow
            // either: a taller variant may take what the whole step takes.
            var taskLimit = base.bandTaskScratchBytes
            for k in [n] + chain(from: n, consumers) {
                if let (whole, bytes) = try? Step.make(graph: graph, index: k), whole.splitsIntoTasks {
                    taskLimit = max(taskLimit, bytes - whole.taskScratchOffset)
                }
            }
            // Doubling (then the whole map) keeps the trials few on large maps.
            var tiles = 1
            while tiles < one.outputTiles {
                tiles = min(2 * tiles, one.outputTiles)
                guard let taller = BandPlan.make(graph: graph, node: n, codedIndex: codedIndex, codecs: maps, tilesPerBand: tiles,
                                                 chain: chain(from: n, consumers), lineCodec: lineCodec(n)) else { break }
                var trial = bands
                trial[n] = taller
                let p = CodecPlacement(graph: graph, codecs: codecs, codedIndex: codedIndex, kernelScratchBytes: kernelScratchBytes,
                                       bands: trial, consumers: consumers)
                guard p.totalBytes <= base.totalBytes, p.plannedActivationBytes <= base.plannedActivationBytes,
                      p.expectedActivationBytes <= base.expectedActivationBytes,
                      taller.taskScratchBytes <= taskLimit else { break }
                bands = trial
                best = p
            }
        }
        return best
    }

    /// Entropy coding buys bytes only where they set the peak. Each other coded map, largest first, is stored as RAW
    /// tiles (`TileCodec.storesRaw`) when its raw size — the worst case its slot already reserves — leaves the
    /// expected peak where it is: its producer skips the Huffman encode, its readers unpack instead of decoding, and
    /// they read the same symbols, so a session's outputs and arena do not change.
    func storingRawTiles() -> CodecPlacement {
        let peak = expectedActivationBytes
        var sizes = coded.map { $0.expectedBytes }
        var result = self
        for k in coded.indices.sorted(by: { coded[$0].codec.count > coded[$1].codec.count }) where !coded[k].codec.storesRaw {
            let expected = sizes[k]
            sizes[k] = coded[k].codec.worstCaseBytes
            guard activationBytes(slotBytes: sizes, stepBuffers: true) <= peak else {
                sizes[k] = expected
                continue
            }
            let c = coded[k]
            result.coded[k] = CodedTensor(tensor: c.tensor, codec: c.codec.storing(rawTiles: true), slotOffset: c.slotOffset, expectedBytes: sizes[k])
            for n in result.bands.indices where result.bands[n] != nil { result.bands[n]!.storeRaw(coded: k) }
        }
        return result
    }

    /// The nodes folded into node n's step, in order (`folds`' `consumers` followed from n).
    static func chain(from n: Int, _ consumers: [Int]) -> ArraySlice<Int> {
        var chain: [Int] = []
        var k = consumers[n]
        while k >= 0 {
            chain.append(k)
            k = consumers[k]
        }
        return chain[...]
    }

    /// Tensor t's CAT codec in `codecs`, if it has one.
    static func catCodec(of t: Int, in codecs: [(tensor: Int, codec: MapCodec, expectedBytes: Int)]) -> TensorCodec? {
        guard let c = codecs.first(where: { $0.tensor == t }), case .cat(let codec) = c.codec else { return nil }
        return codec
    }

    /// Per node n, the node folded into n's row bands, or -1 (`BandPlan.folded`): the only reader of n's single
    /// output t — an elementwise node, a conv or a pool — which is not a graph output, whose other inputs all exist
    /// before the chain's root (so it can run on each of its bands), and both run by bands when t is not coded, the
    /// consumer reading and writing exactly the rows of n's bands (elementwise; a 1×1 stride-1 conv), or, folded into
    /// a root, line-buffered (an int8 conv, a pool or an fp32 depthwise conv reading more rows,
    /// `BandPlan.readsLineBuffer`). t then never exists whole: the codec's slot for it (and its quantization) is
    /// dropped, and the consumer's output slot is live from the root's step. Folds chain: a folded consumer's own
    /// reader folds into it on its rows (an inverted residual's expansion → depthwise → projection → residual Add runs
    /// in the expansion's step; a DenseNet layer's concat → batch-norm scale → shift → 1×1 conv in the concat's).
    ///
    /// `lineBuffers: false` makes no line-buffered folds, but folds nothing into n either where the consumer could
    /// line-buffer its own reader, so the maps either way quantizes are the same but for the line-buffered ones.
    public static func folds(graph: Graph, codecs: [(tensor: Int, codec: MapCodec, expectedBytes: Int)], lineBuffers: Bool = true,
                             chains: Bool = true) -> [Int] {
        var codedIndex = [Int](repeating: -1, count: graph.tensors.count)
        for (k, c) in codecs.enumerated() { codedIndex[c.tensor] = k }
        let maps = codecs.map { $0.codec }
        let readers = Model.readers(graph)
        var producer = [Int](repeating: -1, count: graph.tensors.count)
        for (n, node) in graph.nodes.enumerated() { for o in node.outputs { producer[o] = n } }
        var consumers = [Int](repeating: -1, count: graph.nodes.count)
        var lineBuffered = [Bool](repeating: false, count: graph.nodes.count)
        for (n, node) in graph.nodes.enumerated() {
            // The chain n is in: the root whose step it runs in, and the nodes folded from there down to n.
            var path: [Int] = []
            var root = n
            while let q = consumers.firstIndex(of: root) {
                path.insert(root, at: 0)
                root = q
            }
            guard node.outputs.count == 1 else { continue }
            let t = node.outputs[0]
            guard readers[t].count == 1, let m = readers[t].first, m > n, writesInPlace(graph.nodes[m].op) || readsWindows(graph.nodes[m].op),
                  !graph.outputs.contains(t),
                  graph.nodes[m].inputs.allSatisfy({
                      // Coded inputs broadcast along rows would be decoded whole before m, which no longer runs alone.
                      $0 == t || $0 == absentTensor || (producer[$0] < root && (codedIndex[$0] < 0 || graph.tensors[$0].shape == graph.tensors[t].shape))
                  }) else { continue }
            var trial = codedIndex
            trial[t] = -1
            // m folded directly into n's step could not line-buffer its own reader: when it could, that removes the
            // bigger map (an inverted residual's expansion, not its input, nor the projection before it). Not for a
            // pool reader: the map before a pool is no bigger than the one m's fold removes, and folding m saves an
            // encode and a decode too.
            func couldLineBufferItsReader() -> Bool {
                guard graph.nodes[m].outputs.count == 1, case let u = graph.nodes[m].outputs[0], readers[u].count == 1,
                      let r = readers[u].first, r > m, graph.nodes[r].op == .conv, !graph.outputs.contains(u) else { return false }
                var withoutU = codedIndex
                withoutU[u] = -1
                return BandPlan.make(graph: graph, node: m, codedIndex: withoutU, codecs: maps, chain: [r]).map { $0.lineRows > 0 } ?? false
            }
            if root != n {
                // m joins n's chain on n's rows: after a line-buffered consumer (an inverted residual's projection on its
                // depthwise conv's bands, then the residual Add) or after direct folds (a DenseNet layer's concat →
                // batch-norm scale → shift → 1×1 conv, none of those maps held). The root's first fold stays what it was.
                // Without `chains`, only a line-buffered consumer folds its own consumer.
                guard chains || (lineBuffered[root] && path.count == 1),
                      let plan = BandPlan.make(graph: graph, node: root, codedIndex: trial, codecs: maps, chain: (path + [m])[...],
                                               lineCodec: catCodec(of: graph.nodes[root].outputs[0], in: codecs)),
                      (plan.lineRows > 0) == lineBuffered[root], !couldLineBufferItsReader() else { continue }
            } else {
                // A line buffer quantizes t with its CAT codec, or on the consumer's grid when t is not coded.
                let lineCodec = catCodec(of: t, in: codecs)
                guard let plan = BandPlan.make(graph: graph, node: n, codedIndex: trial, codecs: maps, chain: [m], lineCodec: lineCodec),
                      plan.lineRows == 0 || (lineBuffers && (codedIndex[t] < 0 || lineCodec != nil)) else { continue }
                if plan.lineRows == 0 && couldLineBufferItsReader() { continue }
                lineBuffered[n] = plan.lineRows > 0
            }
            codedIndex = trial
            consumers[n] = m
        }
        return consumers
    }

    private init(graph: Graph, codecs: [(tensor: Int, codec: MapCodec, expectedBytes: Int)], codedIndex: [Int],
                 kernelScratchBytes: Int, bands: [BandPlan?], consumers: [Int]) {
        let count = graph.tensors.count
        var (first, last) = ArenaPlan.lifetimes(graph)
        let rawFirst = first
        var bands = bands
        let io = Set(graph.inputs + graph.outputs)
        // A folded consumer runs in its producer's step: its output is live from there, the map between never.
        // A chain (producer → line-buffered consumer → its consumer) runs in the first node's step.
        var foldedAway = [Bool](repeating: false, count: count)
        var runsFolded = [Bool](repeating: false, count: graph.nodes.count)
        var root = Array(graph.nodes.indices)
        for (n, m) in consumers.enumerated() where m >= 0 {
            foldedAway[graph.nodes[n].outputs[0]] = true
            runsFolded[m] = true
            root[m] = root[n]
            for o in graph.nodes[m].outputs { first[o] = min(first[o], root[m]) }
        }

        var items: [(size: Int, first: Int, last: Int)] = []
        // Intermediates only (what "peak activation" counts): slots by coded index, raw tensors, step buffers.
        var live: [LiveItem] = []
        var raw: [(size: Int, first: Int, last: Int)] = []
        var int8: [(size: Int, first: Int, last: Int)] = []
        enum Owner {
            case tensor(Int), slot(Int), buffer(node: Int, tensor: Int, isOutput: Bool), window(node: Int, input: Int), band(node: Int)
            /// A window (input -1: the band buffer) of the plan `depth` folds down from node's (1: its consumer's).
            case folded(node: Int, depth: Int, input: Int)
        }
        var owners: [Owner] = []
        for t in 0..<count where graph.tensors[t].role != .constant && first[t] != Int.max {
            let life = (first[t], last[t])
            if !io.contains(t) {
                let d = graph.tensors[t]
                raw.append((d.byteCount, rawFirst[t], life.1))
                int8.append((d.dtype == .float32 ? d.elementCount : d.byteCount, rawFirst[t], life.1))
            }
            if foldedAway[t] { continue }
            if codedIndex[t] >= 0 {
                let c = codecs[codedIndex[t]]
                items.append((c.codec.worstCaseBytes, life.0, life.1)); owners.append(.slot(codedIndex[t]))
                live.append(LiveItem(size: 0, first: life.0, last: life.1, coded: codedIndex[t], stepBuffer: false))
            } else {
                items.append((graph.tensors[t].byteCount, life.0, life.1)); owners.append(.tensor(t))
                if !io.contains(t) { live.append(LiveItem(size: items.last!.size, first: life.0, last: life.1, coded: -1, stepBuffer: false)) }
            }
        }
        var aliases: [(node: Int, output: Int, input: Int)] = []
        for (n, node) in graph.nodes.enumerated() where !runsFolded[n] {
            var done: [Int] = []
            if let plan = bands[n] {
                // Row band by row band: one window per row input and one band buffer (or the first window,
                // elementwise) live for the step; other coded inputs (broadcast along rows) are decoded whole.
                for (j, x) in plan.inputs.enumerated() {
                    items.append((plan.windowBytes(x), n, n)); owners.append(.window(node: n, input: j))
                    live.append(LiveItem(size: plan.windowBytes(x), first: n, last: n, coded: -1, stepBuffer: true))
                    done.append(x.tensor)
                }
                if plan.inPlaceInput < 0 {
                    items.append((plan.bandBytes, n, n)); owners.append(.band(node: n))
                    live.append(LiveItem(size: plan.bandBytes, first: n, last: n, coded: -1, stepBuffer: true))
                }
                // The folded consumers' windows, but for their producer's output: a consumer reads the band buffer
                // before it, and writes over it or over its other window (elementwise), or into its own band buffer
                // (a conv). A line-buffered consumer has its own window (bytes, the line buffer) instead.
                var producer = plan, depth = 1
                while let q = producer.folded.first {
                    for (j, x) in q.inputs.enumerated() where x.tensor != producer.output || producer.lineRows > 0 {
                        items.append((q.windowBytes(x), n, n)); owners.append(.folded(node: n, depth: depth, input: j))
                        live.append(LiveItem(size: q.windowBytes(x), first: n, last: n, coded: -1, stepBuffer: true))
                    }
                    if q.inPlaceInput < 0 {
                        items.append((q.bandBytes, n, n)); owners.append(.folded(node: n, depth: depth, input: -1))
                        live.append(LiveItem(size: q.bandBytes, first: n, last: n, coded: -1, stepBuffer: true))
                    }
                    producer = q
                    depth += 1
                }
            }
            for i in node.inputs where i != absentTensor && codedIndex[i] >= 0 && !done.contains(i) {
                done.append(i)
                items.append((graph.tensors[i].byteCount, n, n)); owners.append(.buffer(node: n, tensor: i, isOutput: false))
                live.append(LiveItem(size: graph.tensors[i].byteCount, first: n, last: n, coded: -1, stepBuffer: true))
            }
            var free = CodecPlacement.writesInPlace(node.op) ? done : []
            for o in node.outputs where codedIndex[o] >= 0 && bands[n] == nil {
                // An elementwise step can write its output over a same-shaped decoded input: that buffer is a
                // private copy for this step (the slot still holds the tensor), and out[j] reads only in[j].
                if let k = free.firstIndex(where: { graph.tensors[$0].shape == graph.tensors[o].shape }) {
                    aliases.append((n, o, free[k]))
                    free.remove(at: k)
                    continue
                }
                items.append((graph.tensors[o].byteCount, n, n)); owners.append(.buffer(node: n, tensor: o, isOutput: true))
                live.append(LiveItem(size: graph.tensors[o].byteCount, first: n, last: n, coded: -1, stepBuffer: true))
            }
        }
        let packed = ArenaPlan.pack(items)
        var offsets = [Int](repeating: -1, count: count)
        var slots = [Int](repeating: 0, count: codecs.count)
        var decodes = [[CodecAction]](repeating: [], count: graph.nodes.count)
        var encodes = [[CodecAction]](repeating: [], count: graph.nodes.count)
        for (k, owner) in owners.enumerated() {
            switch owner {
            case .tensor(let t): offsets[t] = packed.offsets[k]
            case .slot(let c): slots[c] = packed.offsets[k]
            case .buffer(let n, let t, let isOutput):
                let a = CodecAction(coded: codedIndex[t], tensor: t, rawOffset: packed.offsets[k])
                if isOutput { encodes[n].append(a) } else { decodes[n].append(a) }
            case .window(let n, let j): bands[n]!.inputs[j].windowOffset = packed.offsets[k]
            case .band(let n): bands[n]!.bandOffset = packed.offsets[k]
            case .folded(let n, let depth, let j):
                BandPlan.update(&bands[n]!, depth: depth) {
                    if j < 0 { $0.bandOffset = packed.offsets[k] } else { $0.inputs[j].windowOffset = packed.offsets[k] }
                }
            }
        }
        func place(_ plan: inout BandPlan) {
            if plan.inPlaceInput >= 0 { plan.bandOffset = plan.inputs[plan.inPlaceInput].windowOffset }
            for j in plan.inputs.indices {
                let x = plan.inputs[j]
                plan.inputs[j].sourceOffset = x.coded >= 0 ? slots[x.coded] : offsets[x.tensor]
            }
            plan.outputOffset = plan.outputCoded >= 0 ? slots[plan.outputCoded] : offsets[plan.output]
        }
        /// `plan` and its folded consumers: a consumer's input that is its producer's output is the producer's band
        /// buffer (unless line-buffered: a window of its own, the line buffer).
        func placeChain(_ plan: inout BandPlan) {
            place(&plan)
            guard !plan.folded.isEmpty else { return }
            for j in plan.folded[0].inputs.indices where plan.folded[0].inputs[j].tensor == plan.output && plan.lineRows == 0 {
                plan.folded[0].inputs[j].windowOffset = plan.bandOffset
            }
            placeChain(&plan.folded[0])
        }
        for n in bands.indices where bands[n] != nil { placeChain(&bands[n]!) }
        for a in aliases {
            let input = decodes[a.node].first { $0.tensor == a.input }!
            encodes[a.node].append(CodecAction(coded: codedIndex[a.output], tensor: a.output, rawOffset: input.rawOffset))
        }
        self.coded = codecs.enumerated().map {
            CodedTensor(tensor: $0.element.tensor, codec: $0.element.codec, slotOffset: slots[$0.offset], expectedBytes: $0.element.expectedBytes)
        }
        self.offsets = offsets
        self.decodes = decodes
        self.encodes = encodes
        self.tensorBytes = packed.top
        self.scratchOffset = Layout.alignUp(packed.top)
        // The codec's tile symbols (and a transform's per-pixel floats) use the kernel scratch: they are needed
        // only between steps.
        // Band variants' kernels use it between the band fills and encodes.
        // Bands of several output tiles quantize the whole band into the symbol scratch (`encodeTiles`).
        let bandScratch = bands.reduce(kernelScratchBytes) {
            max($0, $1?.scratchBytes ?? 0, $1.flatMap { b in b.storeCodec?.bandSymbolBytes(tiles: b.tilesPerBand) } ?? 0)
        }
        self.scratchBytes = Layout.alignUp(codecs.reduce(bandScratch) { max($0, $1.codec.scratchBytes) })
        self.bandTaskScratchBytes = bands.reduce(0) { max($0, $1?.taskScratchBytes ?? 0) }
        self.bands = bands
        self.runsFolded = runsFolded
        self.live = live
        self.nodeCount = graph.nodes.count
        self.rawActivationBytes = ArenaPlan.peakLive(raw, nodeCount: graph.nodes.count)
        self.int8ActivationBytes = ArenaPlan.peakLive(int8, nodeCount: graph.nodes.count)
    }

    struct LiveItem: Sendable {
        let size: Int, first: Int, last: Int
        /// The coded tensor whose slot this is, or -1.
        let coded: Int
        let stepBuffer: Bool
    }
    let live: [LiveItem]
    private let nodeCount: Int

    /// Peak activation bytes (intermediates only, max over steps of the bytes live at once) with coded tensor k's
    /// slot counted as `slotBytes[k]` (e.g. the sizes a session's encoder achieved), with or without the
    /// step-local raw buffers.
    public func activationBytes(slotBytes: [Int], stepBuffers: Bool) -> Int {
        liveBytes(slotBytes: slotBytes, stepBuffers: stepBuffers).max() ?? 0
    }

    /// The same bytes per node step (what `activationBytes` takes the maximum of): where the peak is.
    public func liveBytes(slotBytes: [Int], stepBuffers: Bool) -> [Int] {
        ArenaPlan.liveBytes(live.compactMap { it in
            if it.stepBuffer && !stepBuffers { return nil }
            let size = it.coded >= 0 ? (it.coded < slotBytes.count ? slotBytes[it.coded] : 0) : it.size
            return (size, it.first, it.last)
        }, nodeCount: nodeCount)
    }

    /// Ops whose kernels may write the output over an input of the same shape: out[j] depends on in[j] only
    /// and is written after it is read (UnaryStep, BinaryStep).
    static func writesInPlace(_ op: OpType) -> Bool {
        switch op {
        case .relu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .swish, .add, .sub, .mul, .div: return true
        default: return false
        }
    }

    /// Ops that read windows of rows (a kernel height, a stride): they can read their input through a line buffer
    /// (`BandPlan.lineRows`), or on the producer's own bands when those rows match.
    static func readsWindows(_ op: OpType) -> Bool {
        op == .conv || op == .maxPool || op == .averagePool
    }

    /// The coded-tensor index of `tensor`, or nil when it stays raw.
    public func codedIndex(of tensor: Int) -> Int? {
        coded.firstIndex { $0.tensor == tensor }
    }
}
