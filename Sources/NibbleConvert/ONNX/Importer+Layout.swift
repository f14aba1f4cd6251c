import NibbleFormat

/// Reshape/Flatten/Squeeze/Unsqueeze (→ Reshape with the resolved shape), Concat, Transpose,
/// Identity/Dropout/Cast (→ aliases), Shape and Constant (→ convert-time data).
extension ONNXImporter {
    static func lowerReshape(_ n: NodeView, _ b: GraphBuilder) throws {
        let x = try b.tensorInput(n, 0, "data")
        let xs = b.tensors[x].shape
        let shape: [Int]
        switch n.op {
        case "Reshape":
            try n.requireArity(inputs: 2...2, consumed: b.consumed)
            guard let spec = try b.constantInput(n, 1, "shape"), let v = spec.ints else {
                throw n.malformed("shape input must be an int64 tensor")
            }
            shape = try ShapeRules.reshape(xs, to: v, allowZero: try n.int("allowzero", default: 0) != 0, n)
        case "Flatten":
            try n.requireArity(inputs: 1...1, consumed: b.consumed)
            shape = try ShapeRules.flatten(xs, axis: try n.int("axis", default: 1), n)
        case "Unsqueeze":
            try n.requireArity(inputs: 1...2, consumed: b.consumed)
            guard let ax = try axes(n, b) else { throw n.malformed("axes are required") }
            shape = try ShapeRules.unsqueeze(xs, axes: ax, n)
        default:
            try n.requireArity(inputs: 1...2, consumed: b.consumed)
            shape = try ShapeRules.squeeze(xs, axes: try axes(n, b), n)
        }
        if shape == xs {
            b.alias(n.outputs[0], to: x, absorbing: n.inputs[0])
            return
        }
        let y = try b.addNode(n, op: .reshape, inputs: [x], output: n.outputs[0], shape: shape)
        b.bind(n.outputs[0], .tensor(y))
    }

    /// Squeeze/Unsqueeze axes: an attribute before opset 13, the second input from 13 on.
    static func axes(_ n: NodeView, _ b: GraphBuilder) throws -> [Int]? {
        if b.opset < 13 { return try n.ints("axes") }
        guard let a = try b.constantInput(n, 1, "axes") else { return nil }
        guard let v = a.ints else { throw n.malformed("axes must be an int64 tensor") }
        return v.map { Int(clamping: $0) }
    }

    static func lowerConcat(_ n: NodeView, _ b: GraphBuilder) throws {
        if n.inputs.isEmpty { throw n.malformed("has no inputs") }
        try n.requireArity(inputs: 1...Int.max, consumed: b.consumed)
        var shapes: [[Int]] = []
        for k in n.inputs.indices {
            guard let v = try b.value(n, k) else { throw n.malformed("input \(k) is empty") }
            shapes.append(b.shape(v))
        }
        let (shape, axis) = try ShapeRules.concat(shapes, axis: try n.int("axis", default: 0), n)
        let inputs = try n.inputs.indices.map { try b.tensorInput(n, $0, "input \($0)") }
        let y = try b.addNode(n, op: .concat, inputs: inputs, output: n.outputs[0], shape: shape,
                              attributes: [Attribute(.axis, ints: [Int64(axis)])])
        b.bind(n.outputs[0], .tensor(y))
    }

    static func lowerTranspose(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 1...1, consumed: b.consumed)
        let x = try b.tensorInput(n, 0, "data")
        let xs = b.tensors[x].shape
        let perm = try ShapeRules.permutation(try n.ints("perm"), rank: xs.count, n)
        if perm == Array(0..<xs.count) {
            b.alias(n.outputs[0], to: x, absorbing: n.inputs[0])
            return
        }
        let y = try b.addNode(n, op: .transpose, inputs: [x], output: n.outputs[0], shape: perm.map { xs[$0] },
                              attributes: [Attribute(.perm, ints: perm.map { Int64($0) })])
        b.bind(n.outputs[0], .tensor(y))
    }

    /// Identity, Dropout (inference: identity) and Cast to float32 of a float32 tensor: no node, an alias.
    static func lowerIdentity(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 1...(n.op == "Dropout" ? 3 : 1), consumed: b.consumed)
        if n.op == "Cast" {
            let to = try n.int("to", default: 0)
            if to != 1 { throw n.unsupported("cast of a run-time tensor to \(HostTensor.dataTypeName(Int32(truncatingIfNeeded: to))) is not supported; supported: float32") }
        }
        if n.op == "Dropout", let mode = try b.value(n, 2) {
            guard case .constant(let m) = mode, (m.ints ?? [1]).allSatisfy({ $0 == 0 }) else {
                throw n.unsupported("training_mode must be a constant false; only inference Dropout is supported")
            }
        }
        let x = try b.tensorInput(n, 0, "input")
        b.alias(n.outputs[0], to: x, absorbing: n.inputs[0])
    }

    /// Shape of a run-time tensor: its static shape (batch 1) becomes convert-time data.
    static func lowerShape(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 1...1, consumed: b.consumed)
        guard let v = try b.value(n, 0) else { throw n.malformed("missing input") }
        b.bind(n.outputs[0], .constant(ConstantFolder.shape(of: b.shape(v), n)))
    }

    static func lowerConstant(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 0...0, consumed: b.consumed)
        let value: HostTensor
        if let a = n.attribute("value") {
            value = try HostTensor(proto: a.t, context: "\(n.where_()) attribute value")
        } else if let a = n.attribute("value_float") {
            value = HostTensor(shape: [], floats: [a.f])
        } else if let a = n.attribute("value_floats") {
            value = HostTensor(shape: [a.floats.count], floats: a.floats)
        } else if let a = n.attribute("value_int") {
            value = HostTensor(shape: [], ints: [a.i])
        } else if let a = n.attribute("value_ints") {
            value = HostTensor(shape: [a.ints.count], ints: a.ints)
        } else {
            let names = n.proto.attribute.map { $0.name }
            throw n.unsupported("attribute \(names) is not supported; supported: value, value_float(s), value_int(s)")
        }
        b.bind(n.outputs[0], .constant(value))
    }
}
