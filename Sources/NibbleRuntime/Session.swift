import NibbleCodec
import NibbleFormat
import NibbleKernels

/// One execution context of a model: owns (or borrows) the arena planned by the model, binds every
/// tensor to a pointer once, and runs steps in order. Used by one thread at a time.
/// `run` allocates nothing (DESIGN.md).
public final class Session {
    public let model: Model
    public let arena: UnsafeMutableRawBufferPointer
    private let ownsArena: Bool
    private let pointers: UnsafeMutablePointer<UnsafeMutableRawPointer>
    /// Per node, how many of its residual edges run (0 for nodes without edges); set by `setResidualLevel`,
    /// read by the ternary steps at every run. Allocated once here, so changing levels allocates nothing.
    private let enabledEdges: UnsafeMutablePointer<Int32>
    /// Per coded tensor, the bytes its last encode wrote (at most one per tensor, so sized by the tensor count).
    private let encodedBytes: UnsafeMutablePointer<Int>
    private var bindings: Bindings
    /// The codec feature maps are held in (`setCodec`), and its arena plan unless it is `none`.
    public private(set) var codec: FeatureMapCodec = .none
    private var placement: CodecPlacement?
    /// Intra-op threads (nil: everything runs on the calling thread).
    private let workers: WorkerPool?
    /// Coded tensors whose slot failed to decode since the session began (zeros were used instead). The
    /// encoder writes what the decoder reads, so this stays 0 unless the arena was overwritten from outside.
    public private(set) var codecFailures = 0

    /// Creates a session. `arena`: caller memory, `Layout.alignment`-aligned, used until the session ends, of
    /// at least `model.arenaBytes(codec:)` bytes for the starting `codec` (a later `setCodec` needs the
    /// arena to be large enough for the new codec too; `model.arenaBytesForAllCodecs` always is). Nil lets
    /// the session allocate `model.arenaBytesForAllCodecs`, so it can switch codecs freely.
    /// `threads` (0 or 1: the calling thread only) splits the heavy steps over that many threads, the caller
    /// included; the session then also allocates `threadScratchBytes` of kernel scratch outside the arena.
    public init(model: Model, arena callerArena: UnsafeMutableRawBufferPointer? = nil,
                codec: FeatureMapCodec = .none, threads: Int = 1) throws(NibbleError) {
        if threads < 0 || threads > Session.maxThreads {
            throw .invalidArgument("threads \(threads) outside 0...\(Session.maxThreads) (0 or 1: the calling thread only)")
        }
        let needed = try Session.arenaBytes(model, codec)
        let arena: UnsafeMutableRawBufferPointer
        if let callerArena {
            guard let base = callerArena.baseAddress else { throw .invalidArgument("arena: null buffer") }
            if Int(bitPattern: base) % Layout.alignment != 0 {
                throw .invalidArgument("arena at \(base) is not \(Layout.alignment)-byte aligned")
            }
            if callerArena.count < needed {
                throw .insufficientMemory("arena too small\(codec == .none ? "" : " for codec '\(codec.name)'"): needed \(needed) bytes, got \(callerArena.count)")
            }
        }
        workers = try WorkerPool(threads: threads, taskScratchBytes: model.taskScratchBytes)
        if let callerArena {
            arena = callerArena
            ownsArena = false
        } else {
            arena = UnsafeMutableRawBufferPointer.allocate(byteCount: max(model.arenaBytesForAllCodecs, Layout.alignment), alignment: Layout.alignment)
            ownsArena = true
        }
        arena.initializeMemory(as: UInt8.self, repeating: 0)
        let graph = model.graph
        let base = arena.baseAddress!
        let pointers = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: max(graph.tensors.count, 1))
        let enabledEdges = UnsafeMutablePointer<Int32>.allocate(capacity: max(graph.nodes.count, 1))
        for n in graph.nodes.indices { enabledEdges[n] = Int32(model.residualEdgeCount(layer: n)) }
        encodedBytes = UnsafeMutablePointer<Int>.allocate(capacity: max(graph.tensors.count, 1))
        encodedBytes.initialize(repeating: 0, count: max(graph.tensors.count, 1))
        self.model = model
        self.arena = arena
        self.pointers = pointers
        self.enabledEdges = enabledEdges
        self.bindings = Bindings(pointers: pointers, scratch: base + model.plan.scratchOffset, enabledEdges: enabledEdges)
        bind(codec)
    }

    /// Arena bytes `codec` needs, or `.unsupported` naming what is missing.
    static func arenaBytes(_ model: Model, _ codec: FeatureMapCodec) throws(NibbleError) -> Int {
        if let bytes = model.arenaBytes(codec: codec) { return bytes }
        if codec == .transform {
            throw .unsupported("codec 'transform' needs transform entries in the model's codec tables; this model has none (convert with --calibrate X.npy --codec-bits N|auto --codec-transform pca|dct|auto)")
        }
        throw .unsupported("codec '\(codec.name)' needs codec tables in the model; this model has none (convert with --calibrate X.npy --codec-bits N|auto)")
    }

    /// Points every tensor at its place in `codec`'s plan (coded tensors at their slots; the steps rebind them
    /// to raw buffers around each step) and the scratch after it. Inputs keep their bytes only when their
    /// offset does not move, so callers set inputs again after changing the codec.
    private func bind(_ codec: FeatureMapCodec) {
        let graph = model.graph
        let base = arena.baseAddress!
        let weightsBase = UnsafeMutableRawPointer(mutating: model.file.weights.baseAddress ?? UnsafeRawPointer(base))
        let placement = model.placement(codec)
        for (i, t) in graph.tensors.enumerated() {
            if t.role == .constant {
                pointers[i] = weightsBase + t.dataOffset
            } else {
                // Tensors nobody reads or writes (offset -1) still get a valid, harmless address.
                let offset = placement.map { p in p.codedIndex(of: i).map { p.coded[$0].slotOffset } ?? p.offsets[i] } ?? model.plan.offsets[i]
                pointers[i] = base + max(offset, 0)
            }
        }
        bindings = Bindings(pointers: pointers, scratch: base + (placement?.scratchOffset ?? model.plan.scratchOffset), enabledEdges: enabledEdges)
        self.codec = codec
        self.placement = placement
    }

    /// The most threads a session takes.
    public static let maxThreads = 256

    /// Threads that run the split steps, the caller included (1 without threads or where the platform has none).
    public var threads: Int { workers?.threads ?? 1 }

    /// Bytes of per-thread kernel scratch the session allocated besides the arena (0 with one thread).
    public var threadScratchBytes: Int { workers?.scratchBytes ?? 0 }

    deinit {
        pointers.deallocate()
        enabledEdges.deallocate()
        encodedBytes.deallocate()
        if ownsArena { arena.deallocate() }
    }

    /// Copies `bytes` into input `index`; the size must match exactly.
    public func setInput(_ index: Int, bytes: UnsafeRawBufferPointer) throws(NibbleError) {
        if index < 0 || index >= model.inputCount {
            throw .invalidArgument("input index \(index) out of range 0..<\(model.inputCount)")
        }
        let t = model.input(index)
        if bytes.count != t.byteCount {
            throw .invalidArgument("input \(index) '\(t.name)' needs \(t.byteCount) bytes (\(t.dtype.name) \(t.shape)), got \(bytes.count)")
        }
        if let src = bytes.baseAddress {
            pointers[model.graph.inputs[index]].copyMemory(from: src, byteCount: bytes.count)
        }
    }

    public func setInput(_ index: Int, floats: UnsafeBufferPointer<Float>) throws(NibbleError) {
        try setInput(index, bytes: UnsafeRawBufferPointer(floats))
    }

    /// Output `index` after a run: a view into the arena, valid until the next run or the session's end.
    public func output(_ index: Int) -> UnsafeRawBufferPointer {
        let t = model.output(index)
        return UnsafeRawBufferPointer(start: pointers[model.graph.outputs[index]], count: t.byteCount)
    }

    public func run() {
        guard let placement else {
            for step in model.chainedSteps { execute(step) }
            return
        }
        for (n, step) in model.steps.enumerated() {
            codecStep(placement, node: n, before: true)
            if let plan = placement.bands[n] { runBands(plan) } else if !placement.runsFolded[n] { execute(step) }
            codecStep(placement, node: n, before: false)
        }
    }

    /// One step: split over the threads when it can be, else whole on the calling thread.
    @inline(__always)
    private func run(_ step: Step) {
        if let workers, step.splitsIntoTasks { workers.run(step, bindings) } else { step.run(bindings) }
    }

    /// `run(step)` out of line: every run path shares one copy of the step dispatch (code size of the embedded core;
    /// one call per step).
    @inline(never)
    private func execute(_ step: Step) { run(step) }

    /// Runs, calling `observer(nodeIndex)` before each node: the node's inputs are live (and decoded, except
    /// the row inputs of a node a codec runs by row bands) then (calibration reads them with `tensorFloats`).
    /// `readsTensors` false (timing only) runs the steps `run()` runs, where a tensor between chained bit-serial
    /// layers holds packed bits, not floats.
    public func run(readsTensors: Bool = true, observer: (Int) -> Void) {
        let steps = readsTensors || placement != nil ? model.steps : model.chainedSteps
        for (n, step) in steps.enumerated() {
            if let placement { codecStep(placement, node: n, before: true) }
            observer(n)
            if let plan = placement?.bands[n] { runBands(plan) } else if !(placement?.runsFolded[n] ?? false) { execute(step) }
            if let placement { codecStep(placement, node: n, before: false) }
        }
    }

    /// Before node `n` (`before`): decodes its coded inputs into their step-local raw buffers and points the
    /// tensors (and its coded outputs) at raw buffers. After it: encodes its coded outputs into their slots.
    @inline(__always)
    private func codecStep(_ p: CodecPlacement, node n: Int, before: Bool) {
        let base = arena.baseAddress!
        let symbols = bindings.scratch.assumingMemoryBound(to: UInt8.self)
        if before {
            for a in p.decodes[n] {
                let c = p.coded[a.coded]
                let values = (base + a.rawOffset).assumingMemoryBound(to: Float.self)
                if !c.codec.decode(UnsafeRawBufferPointer(start: base + c.slotOffset, count: c.codec.worstCaseBytes), into: values, scratch: symbols) {
                    values.update(repeating: 0, count: c.codec.count)
                    codecFailures &+= 1
                }
                pointers[a.tensor] = base + a.rawOffset
            }
            for a in p.encodes[n] { pointers[a.tensor] = base + a.rawOffset }
            return
        }
        for a in p.encodes[n] {
            let c = p.coded[a.coded]
            let slot = UnsafeMutableRawBufferPointer(start: base + c.slotOffset, count: c.codec.worstCaseBytes)
            if let bytes = c.codec.encode((base + a.rawOffset).assumingMemoryBound(to: Float.self), into: slot, scratch: symbols) {
                encodedBytes[a.coded] = bytes
            } else {
                codecFailures &+= 1
            }
        }
    }

    /// Runs a node row band by row band (`BandPlan`): per band, fills the input windows (decoding the CAT tiles
    /// that overlap the window's rows, or copying rows of an uncoded input), runs the band's step variant on them,
    /// and encodes the band as one tile of the output slot (or copies it into the uncoded output).
    private func runBands(_ plan: BandPlan) {
        let base = arena.baseAddress!
        let symbols = bindings.scratch.assumingMemoryBound(to: UInt8.self)
        if plan.lineRows > 0 {
            runLineBuffered(plan, base: base, symbols: symbols)
        } else {
            // Rows the first input's window held after the previous band (windowed steps have one row input; an
            // elementwise band overwrites its window, and its bands do not overlap anyway).
            var previous: Range<Int>? = nil
            for b in plan.bands.indices {
                computeBand(plan, b, previous: previous, base: base, symbols: symbols)
                previous = plan.bands[b].inRows
                finishBand(plan, b, base: base, symbols: symbols)
            }
        }
        // Uncoded tensors go back to their place in the arena for the other steps (a folded-away map has none).
        var p: BandPlan? = plan
        while let q = p {
            restorePointers(q, base: base)
            p = q.folded.first
        }
    }

    /// Band b of `plan` into its band buffer: fills its input windows (the first one keeping the rows it shares
    /// with `previous`), then runs the band's variant.
    private func computeBand(_ plan: BandPlan, _ b: Int, previous: Range<Int>?, base: UnsafeMutableRawPointer,
                             symbols: UnsafeMutablePointer<UInt8>) {
        let band = plan.bands[b]
        for (j, x) in plan.inputs.enumerated() {
            let window = base + x.windowOffset
            fillWindow(x, rows: band.inRows, previous: j == 0 && plan.inPlaceInput < 0 ? previous : nil, window: window,
                       base: base, symbols: symbols)
            pointers[x.tensor] = window
        }
        pointers[plan.output] = base + plan.bandOffset
        let values = (base + plan.bandOffset).assumingMemoryBound(to: Float.self)
        if plan.reducesRows {
            // Per-channel sums in row order, then the mean after the last band (GlobalAveragePoolStep's floats).
            let x = plan.inputs[0], n = band.inRows.count * x.width
            let window = (base + x.windowOffset).assumingMemoryBound(to: Float.self)
            if b == 0 { values.update(repeating: 0, count: plan.channels) }
            FP32Pool.accumulateChannelSums(window, channels: plan.channels, length: n, into: values)
            if b < plan.bands.count - 1 { return }
            let inv = 1 / Float(x.height * x.width)
            for c in 0..<plan.channels { values[c] *= inv }
        } else {
            execute(plan.variants[band.variant])
        }
    }

    /// Band b of `plan`, in its band buffer, goes on: through its folded consumer (on the same rows: its input that
    /// is this node's output is the band), or into the output (`store`).
    private func finishBand(_ plan: BandPlan, _ b: Int, base: UnsafeMutableRawPointer, symbols: UnsafeMutablePointer<UInt8>) {
        guard let next = plan.folded.first else {
            store(plan, band: plan.bands[b], base: base, symbols: symbols)
            return
        }
        let nb = next.bands[b]
        for x in next.inputs {
            if x.tensor != plan.output {
                fillWindow(x, rows: nb.inRows, previous: nil, window: base + x.windowOffset, base: base, symbols: symbols)
            }
            pointers[x.tensor] = base + x.windowOffset
        }
        pointers[next.output] = base + next.bandOffset
        execute(next.variants[nb.variant])
        finishBand(next, b, base: base, symbols: symbols)
    }

    /// `plan` with a line-buffered consumer (`BandPlan.lineRows`): per consumer band, the rows its window shares with
    /// the band before move up, and this node's one-row bands make the others, each row going into the window as the
    /// consumer reads it (bytes on an int8 conv's input grid, else floats); the consumer's band then goes on as any
    /// band (`finishBand`).
    private func runLineBuffered(_ plan: BandPlan, base: UnsafeMutableRawPointer, symbols: UnsafeMutablePointer<UInt8>) {
        let d = plan.folded[0], x = d.inputs[0]
        let window = base + x.windowOffset
        let values = (base + plan.bandOffset).assumingMemoryBound(to: Float.self)
        let w = plan.width, codec = plan.lineCodec, channels = plan.channels
        let holdsBytes = x.byteMap != nil
        // The row's C·W floats become C·W bytes in place, at the front of the band buffer: one quantize call per row,
        // not per channel (a forward pass reads each float before a byte lands on it).
        let bytes = UnsafeMutableRawPointer(values).assumingMemoryBound(to: UInt8.self)
        let map = x.byteMapIsIdentity ? [] : x.byteMap ?? []
        // An int8 conv reading an uncoded map quantizes it on its own grid.
        var grid: ConvStep? = nil
        if holdsBytes, codec == nil, case .conv(let conv) = d.variants[0] { grid = conv }
        var previous: Range<Int>? = nil, made: Range<Int>? = nil  // the consumer's and this node's last window rows
        map.withUnsafeBufferPointer { m in
            let mapped = codec == nil || m.isEmpty ? nil : m.baseAddress  // an empty array may still have a base address
            for (j, band) in d.bands.enumerated() {
                let rows = band.inRows, n = rows.count
                var first = rows.lowerBound
                if let previous, previous.upperBound > rows.lowerBound {
                    moveKeptRows(window, rows: rows, previous: previous, channels: channels, rowBytes: holdsBytes ? w : 4 * w)
                    first = previous.upperBound
                }
                for r in first..<rows.upperBound {
                    computeBand(plan, r, previous: made, base: base, symbols: symbols)
                    made = plan.bands[r].inRows
                    let at = r - rows.lowerBound
                    if let codec {
                        codec.quantizer.quantize(UnsafeBufferPointer(start: values, count: channels * w),
                                                 into: UnsafeMutableBufferPointer(start: bytes, count: channels * w))
                    } else if let grid {
                        QuantizeRows.uint8(values, count: channels * w, scale: grid.p.inputScale, zeroPoint: grid.p.inputZeroPoint, into: bytes)
                    }
                    if holdsBytes {
                        if let m = mapped { ByteTableLookup.map(bytes, count: channels * w, table: m, into: bytes) }
                        for c in 0..<channels {
                            (window + (c * n + at) * w).copyMemory(from: bytes + c * w, byteCount: w)
                        }
                    } else {
                        // Floats: what decoding the row's tiles would give (its CAT symbols dequantized), or the row.
                        let floats = window.assumingMemoryBound(to: Float.self)
                        for c in 0..<channels {
                            let dst = floats + (c * n + at) * w
                            if let codec {
                                codec.quantizer.dequantize(UnsafeBufferPointer(start: bytes + c * w, count: w),
                                                           into: UnsafeMutableBufferPointer(start: dst, count: w))
                            } else {
                                dst.update(from: values + c * w, count: w)
                            }
                        }
                    }
                }
                previous = rows
                pointers[plan.output] = window
                pointers[d.output] = base + d.bandOffset
                execute(d.variants[band.variant])
                finishBand(d, j, base: base, symbols: symbols)
            }
        }
    }

    /// The rows a window of `rows` shares with the `previous` rows it held move to their place in it ([C][rows][W],
    /// `rowBytes` per row): channel c's from c·nOld + shift to c·n (row units), never upwards past a later channel's
    /// source when n ≤ nOld (increasing c), never over an earlier channel's when n > nOld (decreasing c).
    private func moveKeptRows(_ window: UnsafeMutableRawPointer, rows: Range<Int>, previous: Range<Int>, channels: Int, rowBytes: Int) {
        let n = rows.count, nOld = previous.count, shift = rows.lowerBound - previous.lowerBound
        let kept = min(rows.upperBound, previous.upperBound) - rows.lowerBound
        for i in 0..<channels {
            let c = n <= nOld ? i : channels - 1 - i
            moveBytes(window + c * n * rowBytes, from: window + (c * nOld + shift) * rowBytes, count: kept * rowBytes)
        }
    }

    private func restorePointers(_ p: BandPlan, base: UnsafeMutableRawPointer) {
        for x in p.inputs where x.codec == nil && x.sourceOffset >= 0 { pointers[x.tensor] = base + x.sourceOffset }
        if p.outputCodec == nil && p.outputOffset >= 0 { pointers[p.output] = base + p.outputOffset }
    }

    /// Band `band` of `plan`'s output, in its band buffer: encoded as its tiles into the output slot, or copied into
    /// the uncoded output.
    private func store(_ plan: BandPlan, band: Band, base: UnsafeMutableRawPointer, symbols: UnsafeMutablePointer<UInt8>) {
        let values = (base + plan.bandOffset).assumingMemoryBound(to: Float.self)
        if let codec = plan.outputCodec {
            let slot = UnsafeMutableRawBufferPointer(start: base + plan.outputOffset, count: codec.worstCaseBytes)
            // A band of several tiles is encoded as those tiles, in order (each starts where the last ended).
            let tiles = plan.reducesRows ? 0..<1
                : band.outRows.lowerBound / plan.tileRows..<(band.outRows.upperBound + plan.tileRows - 1) / plan.tileRows
            if let bytes = codec.encodeTiles(tiles, band: values, into: slot, symbols: symbols) {
                encodedBytes[plan.outputCoded] = bytes
            } else {
                codecFailures &+= 1
            }
        } else {
            let raw = (base + plan.outputOffset).assumingMemoryBound(to: Float.self)
            let rows = band.outRows.count, w = plan.width
            for c in 0..<plan.channels {
                (raw + (c * plan.height + band.outRows.lowerBound) * w).update(from: values + c * rows * w, count: rows * w)
            }
        }
    }

    /// Rows `rows` of every channel of `x` into `window` ([C][rows][W]): floats, or bytes through `x.byteMap`.
    ///
    /// A coded input keeps the rows it shares with the window's `previous` rows (the band before, a conv or pool's
    /// overlapping rows): they move down in the window, and only tiles with rows it lacks are decoded again.
    private func fillWindow(_ x: BandInput, rows: Range<Int>, previous: Range<Int>?, window raw: UnsafeMutableRawPointer,
                            base: UnsafeMutableRawPointer, symbols: UnsafeMutablePointer<UInt8>) {
        let w = x.width, n = rows.count
        let window = raw.assumingMemoryBound(to: Float.self)
        guard let codec = x.codec else {
            let raw = (base + x.sourceOffset).assumingMemoryBound(to: Float.self)
            for c in 0..<x.channels { (window + c * n * w).update(from: raw + (c * x.height + rows.lowerBound) * w, count: n * w) }
            return
        }
        var kept = rows.lowerBound..<rows.lowerBound
        if let previous, previous.lowerBound <= rows.lowerBound, previous.upperBound > rows.lowerBound {
            kept = rows.lowerBound..<min(rows.upperBound, previous.upperBound)
            moveKeptRows(raw, rows: rows, previous: previous, channels: x.channels, rowBytes: w * (x.byteMap == nil ? 4 : 1))
        }
        let slot = UnsafeRawBufferPointer(start: base + x.sourceOffset, count: codec.worstCaseBytes)
        let tileRows = codec.layout.segment / w
        for k in rows.lowerBound / tileRows...(rows.upperBound - 1) / tileRows {
            if min(rows.upperBound, (k + 1) * tileRows) <= kept.upperBound { continue }  // every row it gives is kept
            guard codec.decodeTile(k, slot, symbols: symbols) else {
                raw.initializeMemory(as: UInt8.self, repeating: 0, count: (x.byteMap == nil ? 4 : 1) * x.channels * n * w)
                codecFailures &+= 1
                return
            }
            let t0 = k * tileRows, tn = codec.layout.segmentRange(k).count / w
            let r0 = max(rows.lowerBound, t0), r1 = min(rows.upperBound, t0 + tn)
            let count = (r1 - r0) * w
            // A tile whose rows are all in the window is mapped in place in one pass (1-row tiles give 4–16 bytes
            // per channel: one loop per channel cost more than its lookups), then copied row block by row block.
            let mapsWhole = x.byteMap != nil && !x.byteMapIsIdentity && r1 - r0 == tn
            if mapsWhole, let map = x.byteMap {
                let all = x.channels * tn * w
                map.withUnsafeBufferPointer { ByteTableLookup.map(symbols, count: all, table: $0.baseAddress!, into: symbols) }
            }
            for c in 0..<x.channels {
                let src = symbols + (c * tn + r0 - t0) * w, at = (c * n + r0 - rows.lowerBound) * w
                if x.byteMapIsIdentity || mapsWhole {
                    moveBytes(raw + at, from: UnsafeRawPointer(src), count: count)
                } else if let map = x.byteMap {
                    let dst = raw.assumingMemoryBound(to: UInt8.self) + at
                    map.withUnsafeBufferPointer { ByteTableLookup.map(src, count: count, table: $0.baseAddress!, into: dst) }
                } else {
                    codec.quantizer.dequantize(UnsafeBufferPointer(start: src, count: count),
                                               into: UnsafeMutableBufferPointer(start: window + at, count: count))
                }
            }
        }
    }

    /// Arena bytes the current codec's plan uses (tensors or compressed slots, step buffers, scratch).
    public var arenaUsed: Int { placement?.totalBytes ?? model.plan.totalBytes }

    /// Bytes coded tensor `k` (an index into `model.placement(codec).coded`) took when it was last encoded,
    /// directory included: the achieved size. 0 before the first run or without a codec.
    public func compressedBytes(coded k: Int) -> Int {
        placement != nil && k >= 0 && k < model.graph.tensors.count ? encodedBytes[k] : 0
    }

    /// The current contents of a float tensor (constants included). Only meaningful while the tensor is live (inside
    /// `run(observer:)`; after `run()`, a map between chained bit-serial layers holds packed bits).
    public func tensorFloats(_ tensor: Int) -> UnsafeBufferPointer<Float>? {
        if tensor < 0 || tensor >= model.graph.tensors.count { return nil }
        let t = model.graph.tensors[tensor]
        if t.dtype != .float32 { return nil }
        return UnsafeBufferPointer(start: pointers[tensor].assumingMemoryBound(to: Float.self), count: t.elementCount)
    }

    /// Residual level for the whole session (docs/FORMAT.md §4.4): level L runs, in every ternary node, the
    /// edges whose level is <= L; -1 runs all edges. Valid: -1...model.maxResidualLevel. Effective at the
    /// next run; no reload, no allocation.
    public func setResidualLevel(_ level: Int) throws(NibbleError) {
        let maxLevel = model.maxResidualLevel
        if level < -1 || level > maxLevel {
            if !model.hasResidualEdges {
                throw .unsupported("residual level \(level) outside -1...0 (this model has no ternary residual edges)")
            }
            throw .invalidArgument("residual level \(level) outside -1...\(maxLevel) (-1 = all edges, 0 = the first ternary plane of every layer, \(maxLevel) = all)")
        }
        for n in model.graph.nodes.indices { enabledEdges[n] = Int32(edgesEnabled(layer: n, level: level)) }
    }

    /// Residual level for node `layer` only (the other nodes keep theirs). A node without residual edges
    /// accepts -1 and 0 only (NibbleError.unsupported otherwise).
    public func setResidualLevel(_ level: Int, layer: Int) throws(NibbleError) {
        if layer < 0 || layer >= model.graph.nodes.count {
            throw .invalidArgument("layer \(layer) out of range 0..<\(model.graph.nodes.count)")
        }
        let node = model.graph.nodes[layer]
        if model.residualEdgeCount(layer: layer) == 0 {
            if level < -1 || level > 0 {
                throw .unsupported("layer \(layer) '\(node.name)' (\(node.op.name), \(node.precision.name)) has no ternary residual edges; level \(level) outside -1...0")
            }
            return
        }
        let maxLevel = model.maxResidualLevel
        if level < -1 || level > maxLevel {
            throw .invalidArgument("layer \(layer) '\(node.name)': residual level \(level) outside -1...\(maxLevel) (its edges have levels \(model.edgeLevels[layer]))")
        }
        enabledEdges[layer] = Int32(edgesEnabled(layer: layer, level: level))
    }

    /// How many residual edges of node `layer` run now.
    public func enabledResidualEdges(layer: Int) -> Int {
        layer >= 0 && layer < model.graph.nodes.count ? Int(enabledEdges[layer]) : 0
    }

    private func edgesEnabled(layer: Int, level: Int) -> Int {
        let levels = model.edgeLevels[layer]
        if level < 0 { return levels.count }
        var k = 0
        while k < levels.count && levels[k] <= level { k += 1 }
        return k
    }
}

extension Session {
    /// Chooses how intermediate feature maps are held in the arena: `.none` (raw float32), `.cat`
    /// (quantized and entropy-coded with the model's tables, `CodecPlacement`) or `.transform` (channel-transform
    /// coefficients coded the same way where the model has transform entries, CAT elsewhere). No reload; effective at the
    /// next run. The tensors move, so set the inputs again afterwards. `.unsupported` when the model has no
    /// tables for the codec; `.insufficientMemory` when a caller arena is too small for it.
    public func setCodec(_ codec: FeatureMapCodec) throws(NibbleError) {
        let needed = try Session.arenaBytes(model, codec)
        if arena.count < needed {
            throw .insufficientMemory("arena too small for codec '\(codec.name)': needed \(needed) bytes, got \(arena.count)")
        }
        bind(codec)
    }
}

/// memmove for the window fill's short copies (a row or a few of one channel, often 4–32 bytes, per channel per
/// band): 8-byte words inline, in the direction that reads every byte before it is overwritten; the C call cost
/// more than the copy (memmove was ~3 % of a CAT run). Longer copies go to memmove.
@inline(__always)
private func moveBytes(_ dst: UnsafeMutableRawPointer, from src: UnsafeRawPointer, count: Int) {
    if count > 64 {
        dst.copyMemory(from: src, byteCount: count)
        return
    }
    if UnsafeRawPointer(dst) < src {
        var i = 0
        while i &+ 8 <= count { (dst + i).storeBytes(of: (src + i).loadUnaligned(as: UInt64.self), as: UInt64.self); i &+= 8 }
        while i < count { (dst + i).storeBytes(of: (src + i).load(as: UInt8.self), as: UInt8.self); i &+= 1 }
    } else {
        var i = count
        while i & 7 != 0 { i &-= 1; (dst + i).storeBytes(of: (src + i).load(as: UInt8.self), as: UInt8.self) }
        while i > 0 { i &-= 8; (dst + i).storeBytes(of: (src + i).loadUnaligned(as: UInt64.self), as: UInt64.self) }
    }
}
