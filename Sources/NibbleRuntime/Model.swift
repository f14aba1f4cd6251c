import NibbleCodec
import NibbleKernels
import NibbleFormat

/// A loaded, fully validated model: immutable, shareable across threads (docs/ARCHITECTURE.md).
/// Weights stay in the caller's buffer (or mapping) and are used in place.
public final class Model: @unchecked Sendable {
    public let file: ModelFile
    /// One step per node; every tensor between them holds floats.
    let steps: [Step]
    /// `steps` with bit-serial chains fused (`chainingBitSerial`) and residual Adds folded into the bit-serial step before
    /// them (`foldingResidualAdds`): what a session without a codec runs.
    let chainedSteps: [Step]
    /// The arena every session of this model uses, planned once from tensor lifetimes.
    public let plan: ArenaPlan
    /// Kernel scratch one task of a split step needs (the most over the steps): a session with T threads
    /// allocates T − 1 such regions besides the arena (task 0 uses the arena's scratch).
    public let taskScratchBytes: Int
    /// The arena plan for the CAT codec; nil when the model has no codec tables.
    public let codecPlacement: CodecPlacement?
    /// The arena plan for the transform codec; nil when the model has no transform entries.
    public let transformPlacement: CodecPlacement?
    /// Called once when the model goes away (unmaps the file, frees a copy).
    private let release: (() -> Void)?

    public var graph: Graph { file.graph }

    /// Parses and validates `bytes` (64-byte aligned, so weights can be used in place). On success the model
    /// takes over `release`; on failure the caller still owns `bytes` and `release` is not called.
    public init(bytes: UnsafeRawBufferPointer, release: (() -> Void)? = nil) throws(NibbleError) {
        if let base = bytes.baseAddress, Int(bitPattern: base) % Layout.alignment != 0 {
            throw .invalidArgument("model buffer at \(base) is not \(Layout.alignment)-byte aligned; weights are used in place")
        }
        let file = try Reader.read(bytes)
        let graph = file.graph
        for i in graph.inputs where graph.tensors[i].dtype != .float32 {
            throw .unsupported("input '\(graph.tensors[i].name)' is \(graph.tensors[i].dtype.name); only float32 inputs are supported")
        }
        // Bound the arena before planning it, so no size computed from the file can overflow.
        var total = 0
        for t in graph.tensors where t.role != .constant {
            let (sum, overflow) = total.addingReportingOverflow(Layout.alignUp(t.byteCount))
            if overflow || sum > Layout.maxArenaBytes {
                throw .unsupported("the model's tensors need more than \(Layout.maxArenaBytes) bytes of arena")
            }
            total = sum
        }
        var steps: [Step] = []
        var scratch = 0, taskScratch = 0
        for n in graph.nodes.indices {
            let (step, bytes) = try Step.make(graph: graph, index: n)
            steps.append(step)
            scratch = max(scratch, bytes)
            if step.splitsIntoTasks { taskScratch = max(taskScratch, bytes - step.taskScratchOffset) }
        }
        var levels: [[Int]] = []
        for (n, step) in steps.enumerated() {
            // int8 weight sums, counted once here rather than on every run.
            if case .fullyConnected(let f) = step { steps[n] = .fullyConnected(f.countingRowSums(file)) }
            if case .conv(let c) = step { steps[n] = .conv(c.countingRowSums(file)) }
            if case .ternary(let t) = step {
                try t.validateWeights(file, node: graph.nodes[n])
                levels.append(t.edges.map { $0.level })
            } else {
                if case .bitSerial(let s) = step { try s.validateWeights(file, node: graph.nodes[n], index: n) }
                if case .sparse(let s) = step { try s.validateWeights(file, node: graph.nodes[n], index: n) }
                levels.append([])
            }
        }
        var placement = try Model.placeCodecs(graph, .cat, scratchBytes: scratch)
        var transformPlacement = try Model.placeCodecs(graph, .transform, scratchBytes: scratch)
        placement?.takeRowSums(steps)
        transformPlacement?.takeRowSums(steps)
        self.file = file
        self.steps = steps
        let plan = ArenaPlan(graph: graph, scratchBytes: scratch)
        let readers = Model.readers(graph)
        let folded = Model.foldingResidualAdds(Model.chainingBitSerial(steps, file: file, readers: readers), graph: graph, plan: plan,
                                               readers: readers)
        let (handedOff, handoffBytes) = Model.handingOffPackedInputs(folded, readers: readers, scratchOffset: Layout.alignUp(scratch))
        self.chainedSteps = handedOff
        self.edgeLevels = levels
        self.maxResidualLevel = levels.reduce(0) { Swift.max($0, $1.last ?? 0) }
        // The same tensor offsets (the plan does not depend on the scratch size), with the hand-off words after the scratch.
        self.plan = handoffBytes == 0 ? plan : ArenaPlan(graph: graph, scratchBytes: Layout.alignUp(scratch) + handoffBytes)
        self.taskScratchBytes = max(taskScratch, placement?.bandTaskScratchBytes ?? 0, transformPlacement?.bandTaskScratchBytes ?? 0)
        self.codecPlacement = placement
        self.transformPlacement = transformPlacement
        self.release = release
    }

    /// The nodes that read each tensor, in node order, each node once.
    static func readers(_ graph: Graph) -> [[Int]] {
        var readers = [[Int]](repeating: [], count: graph.tensors.count)
        for (n, node) in graph.nodes.enumerated() {
            for t in node.inputs where t != absentTensor && readers[t].last != n { readers[t].append(n) }
        }
        return readers
    }

    /// `steps`, where a bit-serial step's output is read only by the next bit-serial step (as its input, 1-bit), with
    /// the first writing that tensor as the second's packed activations (BitSerialStep.packsNext / inputIsPacked):
    /// binary layers chain without a float map and a packing pass between them (issue 5's fused glue; the same bits,
    /// BinaryChainThresholds). Only where the producer's kernel writes packed words at this host's level, its sums
    /// stay within the thresholds' range, and the words fit in the tensor's float bytes. A codec, or an observer
    /// reading tensors, needs every map as floats: those runs take `steps`.
    static func chainingBitSerial(_ steps: [Step], file: ModelFile, readers: [[Int]]) -> [Step] {
        let graph = file.graph
        func floats(_ t: Int) -> [Float] {
            let bytes = file.constantBytes(t)
            return (0..<(bytes.count / 4)).map { bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
        }
        var chained = steps
        for a in chained.indices {
            guard case .bitSerial(var producer) = chained[a] else { continue }
            let t = producer.output, g = producer.geometry
            guard readers[t].count == 1, !graph.outputs.contains(t), case .bitSerial(var consumer) = chained[readers[t][0]],
                  consumer.input == t, consumer.activationLayout.bits == 1,
                  8 * consumer.activationLayout.wordCount <= graph.tensors[t].byteCount,
                  BinaryChainThresholds.covers(g, activationBits: producer.activationLayout.bits, weightBits: producer.weightLayout.bits),
                  BinaryConv.writesPackedOutput(g, activationLayout: producer.activationLayout, weightLayout: producer.weightLayout)
            else { continue }
            // The scales the step's float epilogue uses: weight scale · input step, as its phase 0 computes them.
            let scales = floats(producer.weightScales).map { $0 * producer.activationStep }
            let bias = producer.p.bias == absentTensor ? nil : floats(producer.p.bias)
            var thresholds = [Int32](repeating: 0, count: g.outC), signs = thresholds
            scales.withUnsafeBufferPointer { s in thresholds.withUnsafeMutableBufferPointer { th in signs.withUnsafeMutableBufferPointer { sg in
                (bias ?? []).withUnsafeBufferPointer { b in
                    BinaryChainThresholds.make(scales: s.baseAddress!, bias: bias == nil ? nil : b.baseAddress, count: g.outC,
                                               outputMin: producer.p.outputMin, outputMax: producer.p.outputMax,
                                               next: consumer.activationLayout, step: consumer.activationStep,
                                               thresholds: th.baseAddress!, signs: sg.baseAddress!)
                }
            }}}
            producer.packsNext = (thresholds, signs)
            consumer.inputIsPacked = true
            chained[a] = .bitSerial(producer)
            chained[readers[t][0]] = .bitSerial(consumer)
        }
        return chained
    }

    /// `steps`, where a bit-serial step's float output is read only by the next step, an Add of two same-shaped
    /// tensors (a ResNet block's residual add, with its fused ReLU), with the Add computed in the bit-serial epilogue
    /// (BitSerialStep.residualAdd; the Add step then does nothing): one float map less written and read back per block.
    /// The epilogue writes the Add's output during the conv, one step before the plan made it live: where that output
    /// shares bytes with a chained conv's packed input, the conv copies its input to scratch first (copiesPackedInput),
    /// and the skip operand must be the output's own bytes or none of them. Only in `run()` without codec, like the
    /// chains.
    static func foldingResidualAdds(_ steps: [Step], graph: Graph, plan: ArenaPlan, readers: [[Int]]) -> [Step] {
        func bytes(_ t: Int) -> Range<Int> { plan.offsets[t]..<(plan.offsets[t] + graph.tensors[t].byteCount) }
        var folded = steps
        for a in folded.indices.dropLast() {
            guard case .bitSerial(var conv) = folded[a], conv.packsNext == nil, case .binary(var add) = folded[a + 1],
                  add.operation == .add, add.pattern == .same, (add.a == conv.output) != (add.b == conv.output),
                  readers[conv.output].count == 1, !graph.outputs.contains(conv.output),
                  BinaryConv.addsResidual(conv.geometry, activationLayout: conv.activationLayout, weightLayout: conv.weightLayout)
            else { continue }
            let skip = add.a == conv.output ? add.b : add.a, out = bytes(add.output)
            guard plan.offsets[skip] >= 0, plan.offsets[add.output] >= 0, bytes(skip) == out || !bytes(skip).overlaps(out)
            else { continue }
            conv.residualAdd = (skip, add.output, add.low, add.high)
            conv.copiesPackedInput = conv.inputIsPacked && bytes(conv.input).overlaps(out)
            add.isFolded = true
            folded[a] = .bitSerial(conv)
            folded[a + 1] = .binary(add)
        }
        return folded
    }

    /// `steps`, where a bit-serial step with a float output (its own or its folded Add's) is read by later bit-serial
    /// steps as their 1-bit input with one quantizer (a ResNet block's output, read by the next block's first conv and
    /// its projection): the producer's epilogue also writes that packed input (`packsCopy`), once, into one of two
    /// regions after every step's scratch, and the readers skip packing (`packedInputOffset`). Returns the steps and the
    /// regions' bytes (0: none). Only where the producer runs the popcount tiles; same runs as the chains.
    static func handingOffPackedInputs(_ steps: [Step], readers: [[Int]], scratchOffset: Int) -> ([Step], bytes: Int) {
        // Each candidate's readers: bit-serial, 1-bit, reading the float map, with the first one's step and encoding.
        var candidates: [(producer: Int, readers: [Int])] = []
        for (a, step) in steps.enumerated() {
            guard case .bitSerial(let s) = step, s.packsNext == nil,
                  BinaryConv.writesPackedOutput(s.geometry, activationLayout: s.activationLayout, weightLayout: s.weightLayout)
            else { continue }
            let t = s.residualAdd?.output ?? s.output
            var quantizer: (Float, BitPlaneEncoding)? = nil
            var found: [Int] = []
            for j in readers[t] where j > a {
                guard case .bitSerial(let r) = steps[j], r.input == t, !r.inputIsPacked, r.activationLayout.bits == 1 else { continue }
                let q = (r.activationStep, r.activationLayout.encoding)
                if quantizer == nil { quantizer = q }
                if quantizer! == q { found.append(j) }
            }
            if !found.isEmpty { candidates.append((a, found)) }
        }
        // Two regions, candidates alternating: a reader that is the next candidate reads one while it writes the other,
        // and the readers of a candidate run before the one after next overwrites its region.
        var bytes = 0
        for c in candidates {
            for j in c.readers { if case .bitSerial(let r) = steps[j] { bytes = max(bytes, Layout.alignUp(8 * r.activationLayout.wordCount)) } }
        }
        var result = steps
        for (k, c) in candidates.enumerated() {
            let reuse = k + 2 < candidates.count ? candidates[k + 2].producer : Int.max
            let kept = c.readers.filter { $0 < reuse }
            guard !kept.isEmpty, case .bitSerial(var producer) = result[c.producer], case .bitSerial(let first) = result[kept[0]]
            else { continue }
            let offset = scratchOffset + (k % 2) * bytes
            producer.packsCopy = (offset, BitPacking.oneBitThreshold(step: first.activationStep, encoding: first.activationLayout.encoding))
            result[c.producer] = .bitSerial(producer)
            for j in kept {
                guard case .bitSerial(var reader) = result[j] else { continue }
                reader.packedInputOffset = offset
                result[j] = .bitSerial(reader)
            }
        }
        return (result, 2 * bytes)
    }

    /// Checks every codec table `codec` uses against its tensor (the Huffman code itself, bits and zero point
    /// against the quantizer, a transform against the shape) and plans that codec's arena; nil when the file
    /// has no tables for it. The transform codec holds each tensor that has a transform entry with it and each
    /// tensor with only a CAT entry with CAT: the converter decides per tensor which entries exist.
    static func placeCodecs(_ graph: Graph, _ codec: FeatureMapCodec, scratchBytes: Int) throws(NibbleError) -> CodecPlacement? {
        var hasTransform = [Bool](repeating: false, count: graph.tensors.count)
        for e in graph.codecTables where e.transform != nil { hasTransform[e.tensor] = true }
        let entries = graph.codecTables.filter {
            codec == .cat ? $0.transform == nil : ($0.transform != nil || !hasTransform[$0.tensor])
        }
        if entries.isEmpty || (codec == .transform && !hasTransform.contains(true)) { return nil }
        var codecs: [(tensor: Int, codec: MapCodec, expectedBytes: Int)] = []
        for e in entries {
            codecs.append((e.tensor, try mapCodec(e, graph.tensors[e.tensor]), e.expectedBytes))
        }
        // Bound the codec's arena before planning it, as for the raw one: slots plus one raw buffer per step that
        // touches a coded tensor, so no size computed from the file can overflow.
        var total = 0
        var isCoded = [Bool](repeating: false, count: graph.tensors.count)
        for c in codecs { total += Layout.alignUp(c.codec.worstCaseBytes); isCoded[c.tensor] = true }
        for node in graph.nodes {
            for t in node.inputs + node.outputs where t != absentTensor && isCoded[t] {
                total += Layout.alignUp(graph.tensors[t].byteCount)
                if total > Layout.maxArenaBytes {
                    throw .unsupported("codec section: the \(codec.name) arena of this model would need more than \(Layout.maxArenaBytes) bytes")
                }
            }
        }
        return CodecPlacement(graph: graph, codecs: codecs, kernelScratchBytes: scratchBytes)
    }

    /// The codec of one entry, or `.malformedModel` naming the tensor and what does not fit.
    static func mapCodec(_ e: CodecTableEntry, _ t: TensorDesc) throws(NibbleError) -> MapCodec {
        let what = "codec section: tensor \(e.tensor) '\(t.name)' (codec \(e.codec))"
        guard let table = e.table.withUnsafeBytes({ HuffmanTable(serialized: $0) }) else {
            throw .malformedModel("\(what): the Huffman table is invalid (a code length over \(HuffmanTable.maxCodeLength), code lengths that break the Kraft inequality, a code for the zero symbol, or a symbol with no code)")
        }
        guard let q = ActivationQuantizer(bits: e.bits, step: e.step, zeroPoint: e.zeroPoint) else {
            throw .malformedModel("\(what): bits \(e.bits), step \(e.step), zero point \(e.zeroPoint) do not make a quantizer")
        }
        guard let entry = e.transform else {
            guard let codec = TensorCodec(quantizer: q, table: table, shape: t.shape) else {
                throw .malformedModel("\(what): bits \(e.bits), step \(e.step), zero point \(e.zeroPoint) do not make a codec for \(t.elementCount) values")
            }
            return .cat(codec)
        }
        let transform = entry.kind == ChannelTransformEntry.dctKind
            ? ChannelTransform.dct(mean: entry.mean) : ChannelTransform(mean: entry.mean, basis: entry.basis)
        guard let transform, let codec = TransformCodec(transform: transform, quantizer: q, table: table, shape: t.shape) else {
            throw .malformedModel("\(what): a transform of \(entry.channels) channels (kind \(entry.kind)) with bits \(e.bits), zero point \(e.zeroPoint) does not make a codec for shape \(t.shape)")
        }
        return .transform(codec)
    }

    /// Loads from bytes that may live anywhere: they are copied once into 64-byte aligned memory that the
    /// model owns (tools and tests; the C ABI maps files or borrows the caller's buffer instead).
    public convenience init(copying bytes: [UInt8]) throws(NibbleError) {
        let count = bytes.count
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: Layout.alignment)
        bytes.withUnsafeBytes { copy.copyMemory(from: $0) }
        do {
            try self.init(bytes: UnsafeRawBufferPointer(rebasing: copy[0..<count]), release: { copy.deallocate() })
        } catch {
            copy.deallocate()
            throw error
        }
    }

    deinit { release?() }

    public var inputCount: Int { graph.inputs.count }
    public var outputCount: Int { graph.outputs.count }
    public func input(_ i: Int) -> TensorDesc { graph.tensors[graph.inputs[i]] }
    public func output(_ i: Int) -> TensorDesc { graph.tensors[graph.outputs[i]] }

    /// The kernel each node runs, in node order.
    public var kernelNames: [String] { steps.map { $0.kernelName } }

    /// Per node, the level of each ternary residual edge in edge order (empty for other nodes).
    /// Level L runs the edges whose level is <= L (docs/FORMAT.md §4.4).
    public let edgeLevels: [[Int]]

    /// Highest residual-edge level (0 for a model without ternary residual edges).
    public let maxResidualLevel: Int

    /// Number of residual edges of node `layer` (0 unless ternary); `layer` must be a node index.
    public func residualEdgeCount(layer: Int) -> Int { edgeLevels[layer].count }

    /// Arena bytes a session needs with `codec`; nil when the model has no tables for it.
    public func arenaBytes(codec: FeatureMapCodec) -> Int? {
        switch codec {
        case .none: return plan.totalBytes
        case .cat: return codecPlacement?.totalBytes
        case .transform: return transformPlacement?.totalBytes
        }
    }

    /// The arena plan of `codec`; nil for `none` and for a codec the model has no tables for.
    public func placement(_ codec: FeatureMapCodec) -> CodecPlacement? {
        switch codec {
        case .none: return nil
        case .cat: return codecPlacement
        case .transform: return transformPlacement
        }
    }

    /// The most any codec the model supports needs: an arena of this size can switch codecs freely
    /// (what `nibble_model_arena_size` reports).
    public var arenaBytesForAllCodecs: Int {
        max(plan.totalBytes, codecPlacement?.totalBytes ?? 0, transformPlacement?.totalBytes ?? 0)
    }

    /// True when at least one node has ternary residual edges.
    public var hasResidualEdges: Bool { edgeLevels.contains { !$0.isEmpty } }
}
