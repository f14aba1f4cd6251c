import NibbleFormat

/// QuantizeLinear / DequantizeLinear (the ONNX QDQ format, as onnxruntime.quantization writes it and as
/// ONNX Runtime's QDQ transformers read it: a DequantizeLinear of integer weights and Q→DQ pairs on activations
/// around each float operator mark what runs quantized).
///
/// - On constants both fold: the float value is what the rest of the importer sees, and `dequantizedWeights`
///   remembers the integer grid so a Conv/Gemm/MatMul reading it becomes int8 with the model's own scales.
/// - On a run-time tensor, Q→DQ is fake quantization. Nibble applies its range exactly (a clamp to
///   [(qmin − zp)·s, (qmax − zp)·s], fused into the producer when possible — this is what keeps a Relu that the
///   quantizer removed) and its rounding where a Conv/FullyConnected reads the pair (its uint8 input quantization is
///   the pair's scale and zero point). Elsewhere the rounding is dropped: an error of at most s/2 per pair.
extension ONNXImporter {
    /// Any operator but DequantizeLinear reading the integer output of a QuantizeLinear on a run-time tensor.
    static func rejectQuantizedInputs(_ n: NodeView, _ b: GraphBuilder) throws {
        if n.op == "DequantizeLinear" { return }
        for (k, name) in n.inputs.enumerated() where !name.isEmpty {
            if let p = b.pendingQuantizations[name] {
                throw n.unsupported("input \(k) '\(name)' is the integer output of QuantizeLinear '\(p.node)'; only a DequantizeLinear may read it (integer arithmetic between Q and DQ is not supported)")
            }
        }
    }

    /// Reads and checks a Q/DQ node's scale (input 1) and zero point (input 2) for data of `shape`.
    /// `dataType`: the integer type of the data (DequantizeLinear) when known; QuantizeLinear takes the type from its
    /// zero point, its `output_dtype` (opset 21) or uint8 (the ONNX default).
    static func quantizationParameters(_ n: NodeView, _ b: GraphBuilder, shape: [Int], dataType: QuantizedType?) throws -> QuantizationParameters {
        try n.requireArity(inputs: 2...3, consumed: b.consumed)
        if let blockSize = try n.ints("block_size")?.first, blockSize != 0 {
            throw n.unsupported("blocked quantization (block_size \(blockSize)) is not supported; supported: one scale per tensor or per axis")
        }
        guard let scale = try b.constantInput(n, 1, "scale") else { throw n.malformed("scale (input 1) is missing") }
        if !scale.isFloat { throw n.unsupported("scale '\(n.inputs[1])' is \(scale.dtypeName); expected float32") }
        if scale.count == 0 { throw n.malformed("scale '\(n.inputs[1])' is empty") }
        for s in scale.floats where !(s > 0 && s.isFinite) {
            throw n.unsupported("scale '\(n.inputs[1])' holds \(s); supported: positive finite scales")
        }
        let zero = try b.constantInput(n, 2, "zero point")
        var type = dataType
        if let zero {
            guard let code = zero.sourceType, let zt = QuantizedType.from(code: code) else {
                throw n.unsupported("zero point '\(n.inputs[2])' has type \(zero.sourceType.map { HostTensor.dataTypeName($0) } ?? zero.dtypeName); supported: \(QuantizedType.supportedNames)")
            }
            if let dataType, dataType != zt {
                throw n.malformed("zero point '\(n.inputs[2])' is \(zt.name) but the quantized data is \(dataType.name); they must have the same type")
            }
            type = zt
        }
        if type == nil {
            let code = try n.int("output_dtype", default: 0)
            if code != 0 {
                guard let t = QuantizedType.from(code: Int32(clamping: code)) else {
                    throw n.unsupported("output_dtype \(HostTensor.dataTypeName(Int32(clamping: code))) is not supported; supported: \(QuantizedType.supportedNames)")
                }
                type = t
            }
        }
        let qtype = type ?? QuantizedType.from(code: 2)!
        var axis: Int? = nil
        if scale.count > 1 || scale.shape.count == 1 && scale.shape[0] > 1 {
            if scale.shape.count != 1 { throw n.unsupported("scale '\(n.inputs[1])' has shape \(scale.shape); supported: a scalar (per tensor) or 1-D (per axis)") }
            let a = try ShapeRules.axis(try n.int("axis", default: 1), rank: shape.count, n)
            if shape[a] != scale.count {
                throw n.malformed("scale '\(n.inputs[1])' has \(scale.count) values but axis \(a) of the data \(shape) has \(shape[a])")
            }
            axis = a
        }
        var zeros = [Int64](repeating: 0, count: scale.count)
        if let zero {
            guard let v = zero.ints, v.count == scale.count else {
                throw n.malformed("zero point '\(n.inputs[2])' has shape \(zero.shape) but scale '\(n.inputs[1])' has \(scale.shape); they must match")
            }
            if let bad = v.first(where: { $0 < qtype.min || $0 > qtype.max }) {
                throw n.malformed("zero point '\(n.inputs[2])' holds \(bad), outside \(qtype.name) \(qtype.min)...\(qtype.max)")
            }
            zeros = v
        }
        if qtype.code == 6 && zeros.contains(where: { $0 != 0 }) {
            throw n.malformed("int32 data needs zero point 0, found \(zeros.first { $0 != 0 }!)")
        }
        return QuantizationParameters(scales: scale.floats, zeroPoints: zeros, axis: axis, type: qtype)
    }

    static func lowerQuantizeLinear(_ n: NodeView, _ b: GraphBuilder) throws {
        guard let v = try b.value(n, 0) else { throw n.malformed("input x is missing") }
        let p = try quantizationParameters(n, b, shape: b.shape(v), dataType: nil)
        if p.type.code == 6 { throw n.unsupported("quantizing to int32 is not supported; supported: uint8, int8, uint4, int4, uint16, int16") }
        guard let out = n.outputs.first, !out.isEmpty else { throw n.malformed("has no output") }
        switch v {
        case .constant(let x):
            // ONNX QuantizeLinear: y = saturate(round_half_even(x / scale) + zero_point).
            if !x.isFloat { throw n.unsupported("input '\(n.inputs[0])' is \(x.dtypeName); expected float32") }
            let f = x.floats
            var q = [Int64](repeating: 0, count: f.count)
            for i in f.indices {
                let (s, zp) = p.parameters(at: i, shape: x.shape)
                let r = (f[i] / s).rounded(.toNearestOrEven)
                q[i] = r.isNaN ? zp : Int64(max(Float(p.type.min), min(Float(p.type.max), r + Float(zp))))
            }
            var y = HostTensor(shape: x.shape, ints: q)
            y.sourceType = p.type.code
            b.bind(out, .constant(y))
        case .tensor(let t):
            if b.tensors[t].dtype != .float32 { throw n.unsupported("input '\(n.inputs[0])' is not float32") }
            b.pendingQuantizations[out] = PendingQuantization(node: n.name, parameters: p)
            b.alias(out, to: t, absorbing: n.inputs[0])
            forwardPendingPad(n, b)
        }
    }

    static func lowerDequantizeLinear(_ n: NodeView, _ b: GraphBuilder) throws {
        guard let v = try b.value(n, 0) else { throw n.malformed("input x is missing") }
        guard let out = n.outputs.first, !out.isEmpty else { throw n.malformed("has no output") }
        switch v {
        case .constant(let x):
            guard let code = x.sourceType, let xt = QuantizedType.from(code: code), !x.isFloat else {
                throw n.unsupported("input '\(n.inputs[0])' is \(x.sourceType.map { HostTensor.dataTypeName($0) } ?? x.dtypeName); supported: \(QuantizedType.supportedNames)")
            }
            let p = try quantizationParameters(n, b, shape: x.shape, dataType: xt)
            // ONNX DequantizeLinear: y = (x − zero_point) · scale, in float32 as ONNX Runtime computes it.
            let q = x.ints ?? []
            var y = [Float](repeating: 0, count: q.count)
            for i in q.indices {
                let (s, zp) = p.parameters(at: i, shape: x.shape)
                y[i] = Float(q[i] - zp) * s
            }
            b.bind(out, .constant(HostTensor(shape: x.shape, floats: y)))
            b.dequantizedWeights[out] = DequantizedWeight(node: n.name, parameters: p)
        case .tensor(let t):
            guard let pending = b.pendingQuantizations[n.inputs[0]] else {
                throw n.unsupported("input '\(n.inputs[0])' is a float32 tensor computed at run time; DequantizeLinear must read an integer constant or the output of a QuantizeLinear")
            }
            let p = try quantizationParameters(n, b, shape: b.tensors[t].shape, dataType: pending.parameters.type)
            if p != pending.parameters {
                throw n.unsupported("its scale/zero point \(describe(p)) differ from QuantizeLinear '\(pending.node)' \(describe(pending.parameters)); requantization between different scales is not supported")
            }
            if p.axis != nil {
                throw n.unsupported("per-axis activation quantization (axis \(p.axis!)) is not supported; supported: one scale per activation tensor")
            }
            if p.type.max - p.type.min > 255 {
                throw n.unsupported("\(p.type.name) activations are not supported; supported: 8- and 4-bit activation quantization (uint8, int8, uint4, int4)")
            }
            let s = p.scales[0], zp = p.zeroPoints[0]
            let lo = Float(p.type.min - zp) * s, hi = Float(p.type.max - zp) * s
            if !fuseClamp(n, b, lo: lo, hi: hi) {
                let y = try b.addNode(n, op: .clip, inputs: [t], output: out, shape: b.tensors[t].shape,
                                      attributes: [Attribute(.outputMin, floats: [lo]), Attribute(.outputMax, floats: [hi])])
                b.bind(out, .tensor(y))
            }
            b.activationQuantizations[out] = ActivationQuantization(scale: s, zeroPoint: Int(zp - p.type.min),
                                                                    source: "QuantizeLinear '\(pending.node)' → DequantizeLinear '\(n.name)'")
            recordGrid(out, b, step: s, zeroPoint: zp - p.type.min, bits: p.type.max - p.type.min == 15 ? 4 : 8)
            forwardPendingPad(n, b)
        }
    }

    /// Marks the node producing `name` with the pair's grid (`output_grid`, docs/FORMAT.md §4.3): Nibble drops the
    /// pair's rounding at run time, and the feature-map codec quantizes the map exactly there (`CodecFitter.modelGrid`), so a
    /// model trained with low-bit activations keeps its few levels in the arena.
    static func recordGrid(_ name: String, _ b: GraphBuilder, step: Float, zeroPoint: Int64, bits: Int) {
        guard case .tensor(let t)? = b.values[name], let p = b.nodes.lastIndex(where: { $0.outputs.contains(t) }) else { return }
        b.nodes[p].attributes.removeAll { $0.key == .outputGrid }
        b.nodes[p].attributes.append(Attribute(.outputGrid, floats: [step, Float(zeroPoint), Float(bits)]))
    }

    static func describe(_ p: QuantizationParameters) -> String {
        let axis = p.axis.map { " axis \($0)" } ?? ""
        let s = p.scales.count > 4 ? "\(p.scales.prefix(4))…" : "\(p.scales)"
        return "(\(p.type.name)\(axis), scale \(s), zero point \(p.zeroPoints.count > 4 ? "\(p.zeroPoints.prefix(4))…" : "\(p.zeroPoints)"))"
    }

    /// Called by Conv/Gemm/MatMul lowering after it emitted node `n.name`: when the weights came from a
    /// DequantizeLinear, records the node as pre-quantized with one weight scale per output channel (`outputAxis` of
    /// the ONNX weight, `outChannels` of them, times Gemm's |alpha|) and the Q/DQ quantization of its input if any.
    static func recordPrequantized(_ n: NodeView, _ b: GraphBuilder, outputAxis: Int, outChannels: Int, alpha: Float = 1) throws {
        guard let w = n.input(1), let dq = b.dequantizedWeights[w] else { return }
        let p = dq.parameters
        if p.type.code == 6 || p.type.max - p.type.min > 255 {
            throw n.unsupported("weight '\(w)' is dequantized by '\(dq.node)' from \(p.type.name); supported weight types: int8, uint8, int4, uint4")
        }
        var scales: [Float]
        if let axis = p.axis {
            if axis != outputAxis {
                throw n.unsupported("weight '\(w)' is dequantized by '\(dq.node)' with one scale per slice of axis \(axis); Nibble's int8 weights take one scale per output channel (axis \(outputAxis) here) or one per tensor")
            }
            scales = p.scales
        } else {
            scales = [Float](repeating: p.scales[0], count: outChannels)
        }
        if alpha != 1 { scales = scales.map { $0 * abs(alpha) } }
        b.prequantized[n.name] = QDQLayer(weightScales: scales, weightSource: dq.node,
                                          input: n.input(0).flatMap { b.activationQuantizations[$0] })
    }
}
