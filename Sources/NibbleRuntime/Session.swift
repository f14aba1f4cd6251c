import NibbleCodec
import NibbleFormat

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
    private let bindings: Bindings

    /// Creates a session. `arena`: caller memory of at least `model.plan.totalBytes` bytes,
    /// `Layout.alignment`-aligned, used until the session ends; nil lets the session allocate it.
    public init(model: Model, arena callerArena: UnsafeMutableRawBufferPointer? = nil) throws(NibbleError) {
        let needed = model.plan.totalBytes
        let arena: UnsafeMutableRawBufferPointer
        if let callerArena {
            guard let base = callerArena.baseAddress else { throw .invalidArgument("arena: null buffer") }
            if Int(bitPattern: base) % Layout.alignment != 0 {
                throw .invalidArgument("arena at \(base) is not \(Layout.alignment)-byte aligned")
            }
            if callerArena.count < needed {
                throw .insufficientMemory("arena too small: needed \(needed) bytes, got \(callerArena.count)")
            }
            arena = callerArena
            ownsArena = false
        } else {
            arena = UnsafeMutableRawBufferPointer.allocate(byteCount: max(needed, Layout.alignment), alignment: Layout.alignment)
            ownsArena = true
        }
        arena.initializeMemory(as: UInt8.self, repeating: 0)
        let graph = model.graph
        let base = arena.baseAddress!
        let pointers = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: max(graph.tensors.count, 1))
        let weightsBase = UnsafeMutableRawPointer(mutating: model.file.weights.baseAddress ?? UnsafeRawPointer(base))
        for (i, t) in graph.tensors.enumerated() {
            if t.role == .constant {
                pointers[i] = weightsBase + t.dataOffset
            } else {
                // Tensors nobody reads or writes (offset -1) still get a valid, harmless address.
                pointers[i] = base + max(model.plan.offsets[i], 0)
            }
        }
        let enabledEdges = UnsafeMutablePointer<Int32>.allocate(capacity: max(graph.nodes.count, 1))
        for n in graph.nodes.indices { enabledEdges[n] = Int32(model.residualEdgeCount(layer: n)) }
        self.model = model
        self.arena = arena
        self.pointers = pointers
        self.enabledEdges = enabledEdges
        self.bindings = Bindings(pointers: pointers, scratch: base + model.plan.scratchOffset, enabledEdges: enabledEdges)
    }

    deinit {
        pointers.deallocate()
        enabledEdges.deallocate()
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
        for step in model.steps { step.run(bindings) }
    }

    /// Runs, calling `observer(nodeIndex)` before each node: the node's inputs are live then
    /// (calibration reads them with `tensorFloats`).
    public func run(observer: (Int) -> Void) {
        for (n, step) in model.steps.enumerated() {
            observer(n)
            step.run(bindings)
        }
    }

    /// The current contents of a float tensor (constants included). Only meaningful while the tensor is live.
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
    /// Chooses the feature-map codec. Models carry no codec tables yet, so only `.none` is accepted.
    public func setCodec(_ codec: FeatureMapCodec) throws(NibbleError) {
        if codec != .none {
            throw .unsupported("codec '\(codec.name)' needs codec tables in the model; this model has none (convert with --codec)")
        }
    }
}
