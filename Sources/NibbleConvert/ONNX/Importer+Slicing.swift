import NibbleFormat

/// Slice and Split of run-time tensors (→ Slice nodes: a strided view, FORMAT.md §4.2), and ReduceMean over the
/// spatial axes (→ GlobalAveragePool): ShuffleNetV2's channel split and MNASNet's head as PyTorch exports them.
extension ONNXImporter {
    static func lowerSlice(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: b.opset < 10 ? 1...1 : 3...5, consumed: b.consumed)
        let x = try b.tensorInput(n, 0, "data")
        var known: [HostTensor?] = [nil]
        for (k, what) in ["starts", "ends", "axes", "steps"].enumerated() where k + 1 < n.inputs.count {
            known.append(try b.constantInput(n, k + 1, what))
        }
        let window = try ShapeRules.slice(b.tensors[x].shape, try ConstantFolder.sliceArguments(n, known, opset: b.opset), n)
        try addSlice(n, b, x, window, output: n.outputs[0])
    }

    /// Split along `axis` into the given sizes (input 1 from opset 13, attribute `split` before), or into
    /// `num_outputs` (opset 18) or as many equal parts as the node has outputs; each output a Slice.
    static func lowerSplit(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 1...2, outputs: n.outputs.count, consumed: b.consumed)
        let x = try b.tensorInput(n, 0, "input")
        let xs = b.tensors[x].shape
        let axis = try ShapeRules.axis(try n.int("axis", default: 0), rank: xs.count, n)
        let parts = n.outputs.count, extent = xs[axis]
        var sizes: [Int]
        if b.opset >= 13, n.inputs.count > 1 {
            guard let s = try b.constantInput(n, 1, "split"), let v = s.ints else { throw n.malformed("split must be an int64 tensor") }
            sizes = v.map { Int(clamping: $0) }
        } else if b.opset < 13, let v = try n.ints("split") {
            sizes = v
        } else {
            // Equal parts, the last one smaller when the extent does not divide (opset 18's num_outputs rule).
            let part = (extent + parts - 1) / parts
            sizes = (0..<parts).map { min(part, max(0, extent - $0 * part)) }
        }
        if sizes.count != parts || sizes.contains(where: { $0 < 1 }) || sizes.reduce(0, +) != extent {
            throw n.malformed("split sizes \(sizes) do not divide axis \(axis) of \(xs) into its \(parts) outputs")
        }
        var first = 0
        for (k, size) in sizes.enumerated() {
            var begin = [Int](repeating: 0, count: xs.count), count = xs
            begin[axis] = first; count[axis] = size
            if !n.outputs[k].isEmpty {
                try addSlice(n, b, x, (begin, [Int](repeating: 1, count: xs.count), count), output: n.outputs[k],
                             name: parts > 1 ? "\(n.name):\(k)" : nil)
            }
            first += size
        }
    }

    /// One Slice node reading `window` of `x` into `output` (an alias when the window is all of x). A dimension that
    /// keeps one index stores step 1: its step is never applied, and an exporter's huge one would not load.
    static func addSlice(_ n: NodeView, _ b: GraphBuilder, _ x: Int, _ window: (begin: [Int], step: [Int], count: [Int]),
                         output: String, name: String? = nil) throws {
        if window.count == b.tensors[x].shape && window.step.allSatisfy({ $0 == 1 }) {
            b.alias(output, to: x, absorbing: n.inputs[0])
            return
        }
        let y = try b.addNode(n, name: name, op: .slice, inputs: [x], output: output, shape: window.count,
                              attributes: [Attribute(.starts, ints: window.begin.map { Int64($0) }),
                                           Attribute(.steps, ints: zip(window.step, window.count).map { Int64($1 == 1 ? 1 : $0) })])
        b.bind(output, .tensor(y))
    }

    /// ReduceMean over all spatial axes of an [N, C, spatial…] tensor: a GlobalAveragePool, then with keepdims = 0
    /// a Reshape to [N, C]. Other axes are not supported.
    static func lowerReduceMean(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 1...2, consumed: b.consumed)
        let x = try b.tensorInput(n, 0, "data")
        let xs = b.tensors[x].shape
        var axes: [Int]
        if b.opset >= 18 {
            axes = []
            if let h = try b.constantInput(n, 1, "axes") {
                guard let v = h.ints else { throw n.malformed("axes must be an int64 tensor") }
                axes = v.map { Int(clamping: $0) }
            }
        } else {
            axes = try n.ints("axes") ?? []
        }
        let noop = try n.int("noop_with_empty_axes", default: 0) != 0
        if axes.isEmpty && !noop { axes = Array(0..<xs.count) }
        let normalized = try Set(axes.map { try ShapeRules.axis($0, rank: xs.count, n, "axes entry") })
        guard xs.count >= 3, normalized == Set(2..<xs.count) else {
            throw n.unsupported("ReduceMean over axes \(axes.sorted()) of \(xs) is not supported; only over all spatial axes (2…) of an [N, C, spatial…] tensor (a global average pool)")
        }
        let keep = try n.int("keepdims", default: 1) != 0
        let pooled = [xs[0], xs[1]] + [Int](repeating: 1, count: xs.count - 2)
        let gap = try b.addNode(n, name: keep ? nil : "\(n.name):pool", op: .globalAveragePool, inputs: [x],
                                output: keep ? n.outputs[0] : "\(n.outputs[0]):pooled", shape: pooled)
        if keep { b.bind(n.outputs[0], .tensor(gap)); return }
        let y = try b.addNode(n, op: .reshape, inputs: [gap], output: n.outputs[0], shape: [xs[0], xs[1]])
        b.bind(n.outputs[0], .tensor(y))
    }
}
