import NibbleFormat

/// The converter's last graph pass, after every recipe: a Swish or HardSwish node that alone reads an fp32 or int8
/// Conv's output becomes that conv's `output_activation` (FORMAT.md §4.3), applied by the conv step after its clamp —
/// the same floats. With a codec, the conv and its activation are then one producer: the pre-activation map is never
/// held, and the depthwise conv after an expansion can read its rows through a line buffer (EfficientNet's Swish,
/// MobileNetV3's HardSwish). Ternary, bit-serial and sparse convs have no such epilogue and keep the node, as does a
/// conv whose output carries a source model's quantization grid (`output_grid` describes the map before the activation).
enum ConvActivationFusion {
    /// Fuses every such pair in `result`; returns how many.
    static func apply(_ result: inout ONNXImporter.Result) -> Int {
        var g = result.graph
        var producer = [Int](repeating: -1, count: g.tensors.count)
        var readers = [Int](repeating: 0, count: g.tensors.count)
        for (n, node) in g.nodes.enumerated() {
            for o in node.outputs { producer[o] = n }
            for i in node.inputs where i != absentTensor { readers[i] += 1 }
        }
        for o in g.outputs { readers[o] += 1 }
        var removed = Set<Int>()
        for (m, node) in g.nodes.enumerated() {
            let code: Int64
            switch node.op {
            case .swish where node.attributes.isEmpty: code = 1
            case .hardSwish where node.attributes.isEmpty: code = 2
            default: continue
            }
            guard node.inputs.count == 1, node.outputs.count == 1, case let x = node.inputs[0], x != absentTensor, readers[x] == 1,
                  case let p = producer[x], p >= 0, g.nodes[p].op == .conv, g.nodes[p].outputs == [x],
                  g.nodes[p].precision == .float32 || g.nodes[p].precision == .int8,
                  g.nodes[p].attribute(.outputActivation) == nil, g.nodes[p].attribute(.outputGrid) == nil else { continue }
            g.nodes[p].attributes.append(Attribute(.outputActivation, ints: [code]))
            g.nodes[p].outputs = node.outputs
            producer[node.outputs[0]] = p
            removed.insert(m)
        }
        if removed.isEmpty { return 0 }
        g.nodes = g.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        result.graph = g
        result = DeadCodeElimination.run(result)  // drops the pre-activation tensors
        return removed.count
    }
}
