import NibbleFormat

/// Gemm and MatMul. A constant right-hand side becomes FullyConnected with weights [out, in]
/// (transposed here when the ONNX layout is [in, out]); two run-time operands become MatMul.
extension ONNXImporter {
    static func lowerGemm(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 2...3, consumed: b.consumed)
        let transA = try n.int("transA", default: 0), transB = try n.int("transB", default: 0)
        let alpha = try n.float("alpha", default: 1), beta = try n.float("beta", default: 1)
        if transA != 0 { throw n.unsupported("transA=\(transA) is not supported; supported: transA=0") }
        let a = try b.tensorInput(n, 0, "A")
        let sa = b.tensors[a].shape
        guard let w = try b.constantInput(n, 1, "B") else { throw n.malformed("missing input B") }
        if !w.isFloat || w.shape.count != 2 { throw n.unsupported("B '\(n.inputs[1])' is \(w.dtypeName) \(w.shape); expected a float32 2-D constant") }
        let (k, outN) = transB != 0 ? (w.shape[1], w.shape[0]) : (w.shape[0], w.shape[1])
        if sa.count != 2 || sa[0] != 1 || sa[1] != k {
            throw n.unsupported("input A '\(n.inputs[0])' has shape \(sa) (batch 1); expected [1, \(k)] for B \(w.shape) transB=\(transB)")
        }
        var weight = transB != 0 ? w : w.transposed([1, 0])
        if alpha != 1 { weight = HostTensor(shape: weight.shape, floats: weight.floats.map { $0 * alpha }) }
        var bias: HostTensor? = nil
        if let c = try b.constantInput(n, 2, "C") {
            let sc = [Int](repeating: 1, count: max(0, 2 - c.shape.count)) + c.shape
            if !c.isFloat || sc.count != 2 || sc[0] != 1 || (sc[1] != outN && sc[1] != 1) {
                throw n.unsupported("C '\(n.inputs[2])' is \(c.dtypeName) \(c.shape); supported: float32 [\(outN)], [1, \(outN)] or a scalar")
            }
            let v = c.floats
            bias = HostTensor(shape: [outN], floats: (0..<outN).map { beta * v[v.count == 1 ? 0 : $0] })
        }
        let wt = try b.addConstant(name: transB != 0 && alpha == 1 ? n.inputs[1] : "\(n.name).weight", weight, context: n.where_())
        let bt = try bias.map { try b.addConstant(name: beta == 1 ? n.inputs[2] : "\(n.name).bias", $0, context: n.where_()) } ?? absentTensor
        let y = try b.addNode(n, op: .fullyConnected, inputs: [a, wt, bt], output: n.outputs[0], shape: [1, outN])
        b.bind(n.outputs[0], .tensor(y))
        try recordPrequantized(n, b, outputAxis: transB != 0 ? 0 : 1, outChannels: outN, alpha: alpha)
    }

    static func lowerMatMul(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 2...2, consumed: b.consumed)
        guard let va = try b.value(n, 0), let vb = try b.value(n, 1) else { throw n.malformed("needs inputs A and B") }
        let sa = b.shape(va), sb = b.shape(vb)
        if case .tensor(let a) = va, case .constant(let w) = vb, w.isFloat, w.shape.count == 2, sa.count == 2, sa[0] == 1 {
            if sa[1] != w.shape[0] { throw n.malformed("shapes \(sa) × \(w.shape) do not multiply") }
            let wt = try b.addConstant(name: "\(n.name).weight", w.transposed([1, 0]), context: n.where_())
            let y = try b.addNode(n, op: .fullyConnected, inputs: [a, wt, absentTensor], output: n.outputs[0], shape: [1, w.shape[1]])
            b.bind(n.outputs[0], .tensor(y))
            try recordPrequantized(n, b, outputAxis: 1, outChannels: w.shape[1])
            return
        }
        if sa.count < 2 || sb.count < 2 {
            throw n.unsupported("shapes \(sa) × \(sb): 1-D operands are not supported; supported: [.., M, K] × [K, N] or equal leading dims")
        }
        let lead = Array(sa[..<(sa.count - 2)])
        if sa[sa.count - 1] != sb[sb.count - 2] || (sb.count > 2 && Array(sb[..<(sb.count - 2)]) != lead) {
            throw n.unsupported("shapes \(sa) × \(sb) are not supported; supported: [.., M, K] × [K, N] or [.., K, N] with the same leading dims")
        }
        let ta = try b.tensorInput(n, 0, "A"), tb = try b.tensorInput(n, 1, "B")
        let y = try b.addNode(n, op: .matMul, inputs: [ta, tb], output: n.outputs[0], shape: lead + [sa[sa.count - 2], sb[sb.count - 1]])
        b.bind(n.outputs[0], .tensor(y))
    }
}
