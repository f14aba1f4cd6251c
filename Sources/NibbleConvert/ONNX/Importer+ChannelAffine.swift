import NibbleFormat

/// Per-output-channel affine maps folded into the Conv/FullyConnected before them: BatchNormalization, and the
/// Mul-then-Add that exporters write instead (tf2onnx keeps a depthwise conv's batch norm as `batchnorm/mul_1` and
/// `batchnorm/add_1` with [1, C, 1, 1] constants; onnxruntime folds the same pairs, ConvMulFusion/ConvAddFusion).
/// Folded, y = s·(W∗x + b) + t becomes (s·W)∗x + (s·b + t): no elementwise pass over the map, and a clamp after
/// it can fuse into the conv too.
extension ONNXImporter {
    /// Mul(x, c) or Add(x, c) right after a Conv/FullyConnected whose output has no other reader and no clamp yet, with
    /// c one value per output channel or one for all: Mul scales the node's weights and bias, Add joins its bias.
    /// Returns false when the pattern does not apply.
    static func fuseChannelAffine(_ n: NodeView, _ b: GraphBuilder) throws -> Bool {
        guard n.op == "Mul" || n.op == "Add", n.inputs.count == 2 else { return false }
        for (dyn, cst) in [(0, 1), (1, 0)] {
            guard case .tensor(let x)? = try b.value(n, dyn), case .constant(let c)? = try b.value(n, cst), c.isFloat,
                  let p = b.soleProducer(of: n.inputs[dyn]), let values = channelValues(c, of: b.nodes[p], output: b.tensors[x].shape)
            else { continue }
            let channels = values.count
            let folded = n.op == "Mul"
                ? try scaleOutputChannels(of: p, by: values, shift: [Float](repeating: 0, count: channels), b, n)
                : try scaleOutputChannels(of: p, by: [Float](repeating: 1, count: channels), shift: values, b, n)
            if !folded { continue }
            b.alias(n.outputs[0], to: x, absorbing: n.inputs[dyn])
            return true
        }
        return false
    }

    /// Constant `c`'s value for each output channel of Conv/FullyConnected `node` (output shape `shape`) when it
    /// broadcasts along the channels only: shaped [1, C, 1, 1], [C, 1, 1] or [C] after a conv's [N, C, H, W]
    /// (`[C]` there would broadcast along W: refused), [1, C] or [C] after a FullyConnected, or a single value.
    static func channelValues(_ c: HostTensor, of node: Node, output shape: [Int]) -> [Float]? {
        guard shape.count >= 2 else { return nil }
        let channels = shape[1]
        let expected: [Int]
        switch node.op {
        case .fullyConnected where shape.count == 2: expected = [1, channels]
        case .conv where shape.count == 4: expected = [1, channels, 1, 1]
        default: return nil
        }
        if c.count == 1 && c.shape.count <= expected.count { return [Float](repeating: c.floats[0], count: channels) }
        if c.shape.count > expected.count { return nil }
        let padded = [Int](repeating: 1, count: expected.count - c.shape.count) + c.shape
        return padded == expected ? c.floats : nil
    }

    /// Folds y = s[o]·y + t[o] into Conv/FullyConnected `p` (no clamp, constant weights with s.count output channels):
    /// new weight and bias constants (the old ones may have other readers), and a pre-quantized node's weight
    /// scales follow (w·s[o] = q·(scale[o]·|s[o]|) up to q's sign). False when `p` does not qualify.
    static func scaleOutputChannels(of p: Int, by s: [Float], shift t: [Float], _ b: GraphBuilder, _ n: NodeView) throws -> Bool {
        let producer = b.nodes[p], c = s.count
        guard [.conv, .fullyConnected].contains(producer.op),
              producer.attribute(.outputMin) == nil, producer.attribute(.outputMax) == nil,
              let w = b.constants[producer.inputs[1]], w.shape.first == c else { return false }
        var bias = producer.inputs[2] == absentTensor ? [Float](repeating: 0, count: c) : (b.constants[producer.inputs[2]]?.floats ?? [])
        if bias.count != c { throw n.malformed("bias of '\(producer.name)' has \(bias.count) values, expected \(c)") }
        if s.contains(where: { $0 != 1 }) {
            let perChannel = w.count / c
            var wf = w.floats
            for o in 0..<c { for k in 0..<perChannel { wf[o * perChannel + k] *= s[o] } }
            b.nodes[p].inputs[1] = try b.addConstant(name: "\(producer.name).weight_\(n.op.lowercased())", HostTensor(shape: w.shape, floats: wf),
                                                     context: n.where_())
            if var q = b.prequantized[producer.name] {
                let scales = q.weightScales
                q.weightScales = (0..<c).map { scales[scales.count == c ? $0 : 0] * abs(s[$0]) }
                b.prequantized[producer.name] = q
            }
        }
        for o in 0..<c { bias[o] = bias[o] * s[o] + t[o] }
        b.nodes[p].inputs[2] = try b.addConstant(name: "\(producer.name).bias_\(n.op.lowercased())", HostTensor(shape: [c], floats: bias),
                                                 context: n.where_())
        return true
    }
}
