import NibbleFormat

/// Add/Sub/Mul/Div (numpy broadcasting), activations (fused into Conv/FullyConnected where possible),
/// Clip, Softmax.
extension ONNXImporter {
    static func lowerBinary(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 2...2, consumed: b.consumed)
        if try fuseChannelAffine(n, b) { return }
        if fuseSwish(n, b) { return }
        guard let va = try b.value(n, 0), let vb = try b.value(n, 1) else { throw n.malformed("needs two inputs") }
        guard let shape = ShapeRules.broadcast(b.shape(va), b.shape(vb)) else {
            throw n.malformed("shapes \(b.shape(va)) and \(b.shape(vb)) do not broadcast")
        }
        let op: OpType = ["Add": .add, "Sub": .sub, "Mul": .mul][n.op] ?? .div
        let ta = try b.tensorInput(n, 0, "A"), tb = try b.tensorInput(n, 1, "B")
        let y = try b.addNode(n, op: op, inputs: [ta, tb], output: n.outputs[0], shape: shape)
        b.bind(n.outputs[0], .tensor(y))
    }

    /// Mul(x, Sigmoid(x)), SiLU as PyTorch exports it (EfficientNet's every activation), becomes one Swish node in the
    /// Sigmoid's place when nothing else reads the Sigmoid: the same floats (`Exponential.swish`), one pass, and one
    /// map fewer — with a codec, a map that was coded and then decoded again for the Mul.
    static func fuseSwish(_ n: NodeView, _ b: GraphBuilder) -> Bool {
        guard n.op == "Mul" else { return false }
        for k in 0..<2 {
            let s = n.inputs[k], x = n.inputs[1 - k]
            guard let p = b.soleProducer(of: s), b.nodes[p].op == .sigmoid, b.nodes[p].attributes.isEmpty,
                  case .tensor(let tx)? = b.values[x], b.nodes[p].inputs == [tx], case .tensor(let ts)? = b.values[s] else { continue }
            b.nodes[p].op = .swish
            if let u = b.uses[x] { b.uses[x] = u - 1 }  // the Mul's read of x; the Swish node still reads it
            b.alias(n.outputs[0], to: ts, absorbing: s)
            return true
        }
        return false
    }

    /// Clamps `name`'s producer (Conv/FullyConnected or Add/Sub/Mul/Div, with no other reader) to [lo, hi]; false if not possible.
    static func fuseClamp(_ n: NodeView, _ b: GraphBuilder, lo: Float, hi: Float) -> Bool {
        let input = n.inputs[0]
        guard let p = b.soleProducer(of: input), [.conv, .fullyConnected, .add, .sub, .mul, .div].contains(b.nodes[p].op),
              case .tensor(let t)? = b.values[input] else { return false }
        let oldLo = b.nodes[p].attribute(.outputMin)?.floats.first ?? -.infinity
        let oldHi = b.nodes[p].attribute(.outputMax)?.floats.first ?? .infinity
        // A new clamp may put values off a grid recorded by an earlier Q/DQ pair: the QDQ lowering records it again.
        b.nodes[p].attributes.removeAll { $0.key == .outputMin || $0.key == .outputMax || $0.key == .outputGrid }
        b.nodes[p].attributes.append(Attribute(.outputMin, floats: [max(oldLo, lo)]))
        b.nodes[p].attributes.append(Attribute(.outputMax, floats: [min(oldHi, hi)]))
        b.alias(n.outputs[0], to: t, absorbing: input)
        return true
    }

    static func lowerActivation(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 1...1, consumed: b.consumed)
        if n.op == "Relu" && fuseClamp(n, b, lo: 0, hi: .infinity) { return }
        let x = try b.tensorInput(n, 0, "X")
        var attrs: [Attribute] = []
        let op: OpType
        switch n.op {
        case "Relu": op = .relu
        case "Sigmoid": op = .sigmoid
        case "HardSwish": op = .hardSwish
        case "Tanh": op = .tanh
        case "LeakyRelu":
            op = .leakyRelu
            attrs = [Attribute(.alpha, floats: [try n.float("alpha", default: 0.01)])]
        default:
            op = .hardSigmoid
            attrs = [Attribute(.alpha, floats: [try n.float("alpha", default: 0.2)]),
                     Attribute(.beta, floats: [try n.float("beta", default: 0.5)])]
        }
        let y = try b.addNode(n, op: op, inputs: [x], output: n.outputs[0], shape: b.tensors[x].shape, attributes: attrs)
        b.bind(n.outputs[0], .tensor(y))
    }

    static func lowerClip(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 1...3, consumed: b.consumed)
        var lo = -Float.infinity, hi = Float.infinity
        if b.opset < 11 {
            lo = try n.float("min", default: -.greatestFiniteMagnitude)
            hi = try n.float("max", default: .greatestFiniteMagnitude)
        } else {
            // Opset 11 moved min/max to inputs; attributes left over from an older exporter would be ignored silently.
            if let a = ["min", "max"].first(where: n.has) {
                throw n.unsupported("attribute '\(a)' is not part of Clip at opset \(b.opset) (min and max are inputs since opset 11)")
            }
            for (k, what) in [(1, "min"), (2, "max")] {
                guard let c = try b.constantInput(n, k, what) else { continue }
                if c.count != 1 { throw n.unsupported("\(what) '\(n.inputs[k])' has shape \(c.shape); expected a scalar") }
                if k == 1 { lo = c.floats[0] } else { hi = c.floats[0] }
            }
        }
        if lo.isNaN || hi.isNaN || lo > hi { throw n.unsupported("min \(lo) / max \(hi) are not a valid range") }
        if fuseClamp(n, b, lo: lo, hi: hi) { return }
        let x = try b.tensorInput(n, 0, "input")
        let y = try b.addNode(n, op: .clip, inputs: [x], output: n.outputs[0], shape: b.tensors[x].shape,
                              attributes: [Attribute(.outputMin, floats: [lo]), Attribute(.outputMax, floats: [hi])])
        b.bind(n.outputs[0], .tensor(y))
    }

    /// Softmax. Opset ≥ 13 normalizes along `axis`; older opsets coerce the input to 2-D at `axis`
    /// (default 1), which is lowered as Reshape → Softmax(last axis) → Reshape unless it already is the last axis.
    static func lowerSoftmax(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 1...1, consumed: b.consumed)
        let x = try b.tensorInput(n, 0, "input")
        let xs = b.tensors[x].shape
        if xs.isEmpty { throw n.unsupported("input is a scalar") }
        let axis = try ShapeRules.axis(try n.int("axis", default: b.opset >= 13 ? -1 : 1), rank: xs.count, n)
        guard let out = n.outputs.first, !out.isEmpty else { throw n.malformed("has no output") }
        if b.opset >= 13 || xs[(axis + 1)...].allSatisfy({ $0 == 1 }) {
            let y = try b.addNode(n, op: .softmax, inputs: [x], output: out, shape: xs, attributes: [Attribute(.axis, ints: [Int64(axis)])])
            b.bind(out, .tensor(y))
            return
        }
        let flat = [xs[..<axis].reduce(1, *), xs[axis...].reduce(1, *)]
        let r1 = try b.addNode(n, name: "\(n.name)_flatten", op: .reshape, inputs: [x], output: "\(out)_2d", shape: flat)
        let s = try b.addNode(n, op: .softmax, inputs: [r1], output: "\(out)_softmax2d", shape: flat, attributes: [Attribute(.axis, ints: [1])])
        let y = try b.addNode(n, name: "\(n.name)_unflatten", op: .reshape, inputs: [s], output: out, shape: xs)
        b.bind(out, .tensor(y))
    }
}
