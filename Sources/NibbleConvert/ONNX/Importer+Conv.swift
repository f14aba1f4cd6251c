import NibbleFormat

/// Conv, BatchNormalization (folded), MaxPool/AveragePool, GlobalAveragePool.
extension ONNXImporter {
    /// Reads a 2-element spatial attribute with a default, each value in `range`.
    static func spatial(_ n: NodeView, _ key: String, count: Int, default d: [Int], range: ClosedRange<Int>) throws -> [Int] {
        let v = try n.ints(key) ?? d
        if v.count != count { throw n.unsupported("\(key) \(v) must have \(count) values (2-D \(n.op) only)") }
        for x in v where !range.contains(x) { throw n.unsupported("\(key) \(v): value \(x) outside the supported range \(range)") }
        return v
    }

    /// Explicit pads [top, left, bottom, right] from `pads` (ONNX order x1_begin, x2_begin, x1_end, x2_end) or auto_pad.
    static func resolvePads(_ n: NodeView, input: [Int], kernel: [Int], strides: [Int], dilations: [Int]) throws -> [Int] {
        let autoPad = n.string("auto_pad", default: "NOTSET")
        switch autoPad {
        case "NOTSET", "":
            return try spatial(n, "pads", count: 4, default: [0, 0, 0, 0], range: 0...65535)
        case "VALID":
            return [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            let upper = autoPad == "SAME_UPPER"
            let h = ShapeRules.samePads(input: input[2], kernel: kernel[0], stride: strides[0], dilation: dilations[0], upper: upper)
            let w = ShapeRules.samePads(input: input[3], kernel: kernel[1], stride: strides[1], dilation: dilations[1], upper: upper)
            return [h.0, w.0, h.1, w.1]
        default:
            throw n.unsupported("auto_pad '\(autoPad)' is not supported; supported: NOTSET, VALID, SAME_UPPER, SAME_LOWER")
        }
    }

    static func spatialInput(_ n: NodeView, _ b: GraphBuilder) throws -> (Int, [Int]) {
        let x = try b.tensorInput(n, 0, "X")
        let xs = b.tensors[x].shape
        if xs.count != 4 {
            throw n.unsupported("input '\(n.inputs[0])' has shape \(xs); only 2-D \(n.op) on [N, C, H, W] is supported")
        }
        return (x, xs)
    }

    static func lowerConv(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 2...3, consumed: b.consumed)
        let (x, xs) = try spatialInput(n, b)
        guard let w = try b.constantInput(n, 1, "weight W") else { throw n.malformed("missing weight input W") }
        if !w.isFloat || w.shape.count != 4 {
            throw n.unsupported("weight '\(n.inputs[1])' is \(w.dtypeName) \(w.shape); expected float32 [M, C/group, kH, kW]")
        }
        let ws = w.shape
        let kernel = try spatial(n, "kernel_shape", count: 2, default: [ws[2], ws[3]], range: 1...65535)
        if kernel != [ws[2], ws[3]] { throw n.malformed("kernel_shape \(kernel) disagrees with weight shape \(ws)") }
        let strides = try spatial(n, "strides", count: 2, default: [1, 1], range: 1...65535)
        let dilations = try spatial(n, "dilations", count: 2, default: [1, 1], range: 1...65535)
        let group = try n.int("group", default: 1)
        if group < 1 || group > xs[1] || ws[0] % group != 0 || xs[1] != ws[1] * group {
            throw n.unsupported("group \(group) does not fit input channels \(xs[1]) and weight shape \(ws) (needs C = \(ws[1]) × group, M divisible by group)")
        }
        var pads = try resolvePads(n, input: xs, kernel: kernel, strides: strides, dilations: dilations)
        if let pending = pendingPad(n, b, input: xs) {
            // A zero Pad before the Conv (Importer+Pad.swift): auto_pad sees the padded input, then both pads add up.
            let own = try resolvePads(n, input: pending.padded, kernel: kernel, strides: strides, dilations: dilations)
            pads = zip(own, pending.pads).map { $0 + $1 }
        }
        let oh = ShapeRules.windowOutput(input: xs[2], kernel: kernel[0], stride: strides[0], padBegin: pads[0], padEnd: pads[2], dilation: dilations[0], ceil: false)
        let ow = ShapeRules.windowOutput(input: xs[3], kernel: kernel[1], stride: strides[1], padBegin: pads[1], padEnd: pads[3], dilation: dilations[1], ceil: false)
        if oh < 1 || ow < 1 {
            throw n.unsupported("kernel \(kernel) with dilations \(dilations) does not fit the padded input \(xs) (pads \(pads))")
        }
        var bias = absentTensor
        if let bv = try b.constantInput(n, 2, "bias B") {
            if bv.count != ws[0] { throw n.malformed("bias '\(n.inputs[2])' has \(bv.count) values, expected \(ws[0])") }
            bias = try b.tensorInput(n, 2, "bias B")
        }
        let wt = try b.tensorInput(n, 1, "weight W")
        let out = try b.addNode(n, op: .conv, inputs: [x, wt, bias], output: n.outputs[0], shape: [1, ws[0], oh, ow], attributes: [
            Attribute(.kernelShape, ints: kernel.map { Int64($0) }),
            Attribute(.strides, ints: strides.map { Int64($0) }),
            Attribute(.pads, ints: pads.map { Int64($0) }),
            Attribute(.dilations, ints: dilations.map { Int64($0) }),
            Attribute(.group, ints: [Int64(group)]),
        ])
        b.bind(n.outputs[0], .tensor(out))
        try recordPrequantized(n, b, outputAxis: 0, outChannels: ws[0])
    }

    /// BatchNormalization (inference): folded into the producing Conv/FullyConnected when that node's
    /// output feeds only the BN; otherwise y = x·s + t with per-channel constants shaped [C, 1, …].
    static func lowerBatchNorm(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 5...5, consumed: b.consumed)
        if try n.int("training_mode", default: 0) != 0 { throw n.unsupported("training_mode=1 is not supported; export the model in eval mode") }
        let x = try b.tensorInput(n, 0, "X")
        let xs = b.tensors[x].shape
        if xs.count < 2 { throw n.unsupported("input shape \(xs): expected [N, C, …]") }
        let c = xs[1]
        var params: [[Float]] = []
        for (k, what) in ["scale", "B", "mean", "var"].enumerated() {
            guard let p = try b.constantInput(n, k + 1, what), p.isFloat, p.count == c else {
                throw n.unsupported("\(what) must be a float32 constant with \(c) values")
            }
            params.append(p.floats)
        }
        let eps = try n.float("epsilon", default: 1e-5)
        var s = [Float](repeating: 0, count: c), t = [Float](repeating: 0, count: c)
        for i in 0..<c {
            s[i] = params[0][i] / (params[3][i] + eps).squareRoot()
            t[i] = params[1][i] - params[2][i] * s[i]
        }
        guard let out = n.outputs.first, !out.isEmpty else { throw n.malformed("has no output") }
        if let p = b.soleProducer(of: n.inputs[0]), try scaleOutputChannels(of: p, by: s, shift: t, b, n) {
            b.alias(out, to: x, absorbing: n.inputs[0])
            return
        }
        let cshape = [c] + [Int](repeating: 1, count: xs.count - 2)
        let sc = try b.addConstant(name: "\(n.name).scale", HostTensor(shape: cshape, floats: s), context: n.where_())
        let sh = try b.addConstant(name: "\(n.name).shift", HostTensor(shape: cshape, floats: t), context: n.where_())
        let mid = try b.addNode(n, name: "\(n.name)_scale", op: .mul, inputs: [x, sc], output: "\(out)_scaled", shape: xs)
        let y = try b.addNode(n, name: "\(n.name)_shift", op: .add, inputs: [mid, sh], output: out, shape: xs)
        b.bind(out, .tensor(y))
    }

    static func lowerPool(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 1...1, consumed: b.consumed)
        let isMax = n.op == "MaxPool"
        let (x, xs) = try spatialInput(n, b)
        guard let kernel = try n.ints("kernel_shape") else { throw n.malformed("kernel_shape is required") }
        let k = try spatial(n, "kernel_shape", count: 2, default: kernel, range: 1...65535)
        let strides = try spatial(n, "strides", count: 2, default: [1, 1], range: 1...65535)
        let dilations = try spatial(n, "dilations", count: 2, default: [1, 1], range: 1...65535)
        if !isMax && dilations != [1, 1] { throw n.unsupported("dilations \(dilations) are not supported for AveragePool; supported: [1, 1]") }
        let storageOrder = try n.int("storage_order", default: 0)
        if isMax && storageOrder != 0 { throw n.unsupported("storage_order=1 is not supported") }
        let ceil = try n.int("ceil_mode", default: 0)
        if ceil != 0 && ceil != 1 { throw n.malformed("ceil_mode \(ceil), expected 0 or 1") }
        var pads = try resolvePads(n, input: xs, kernel: k, strides: strides, dilations: dilations)
        if let pending = pendingPad(n, b, input: xs) {
            // Zero padding equals MaxPool's own padding when the input is ≥ 0 and every window keeps a real value.
            if !isMax || !isNonNegative(x, b) {
                throw n.unsupported("input '\(n.inputs[0])' is the output of Pad '\(b.pendingPads[n.inputs[0]]!.node)'; a zero Pad folds into a MaxPool only when its input is non-negative (after Relu or a clamp at ≥ 0)")
            }
            let own = try resolvePads(n, input: pending.padded, kernel: k, strides: strides, dilations: dilations)
            pads = zip(own, pending.pads).map { $0 + $1 }
        }
        if pads[0] >= k[0] || pads[2] >= k[0] || pads[1] >= k[1] || pads[3] >= k[1] {
            throw n.unsupported("pads \(pads) must be smaller than the kernel \(k)")
        }
        let oh = ShapeRules.windowOutput(input: xs[2], kernel: k[0], stride: strides[0], padBegin: pads[0], padEnd: pads[2], dilation: dilations[0], ceil: ceil == 1)
        let ow = ShapeRules.windowOutput(input: xs[3], kernel: k[1], stride: strides[1], padBegin: pads[1], padEnd: pads[3], dilation: dilations[1], ceil: ceil == 1)
        if oh < 1 || ow < 1 { throw n.unsupported("kernel \(k) does not fit the padded input \(xs) (pads \(pads))") }
        var attrs = [
            Attribute(.kernelShape, ints: k.map { Int64($0) }),
            Attribute(.strides, ints: strides.map { Int64($0) }),
            Attribute(.pads, ints: pads.map { Int64($0) }),
            Attribute(.ceilMode, ints: [Int64(ceil)]),
        ]
        if isMax {
            attrs.append(Attribute(.dilations, ints: dilations.map { Int64($0) }))
        } else {
            let include = try n.int("count_include_pad", default: 0)
            if include != 0 && include != 1 { throw n.malformed("count_include_pad \(include), expected 0 or 1") }
            attrs.append(Attribute(.countIncludePad, ints: [Int64(include)]))
        }
        let y = try b.addNode(n, op: isMax ? .maxPool : .averagePool, inputs: [x], output: n.outputs[0], shape: [1, xs[1], oh, ow], attributes: attrs)
        b.bind(n.outputs[0], .tensor(y))
    }

    static func lowerGlobalAveragePool(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 1...1, consumed: b.consumed)
        let x = try b.tensorInput(n, 0, "X")
        let xs = b.tensors[x].shape
        if xs.count < 3 { throw n.unsupported("input shape \(xs): expected [N, C, spatial…]") }
        let y = try b.addNode(n, op: .globalAveragePool, inputs: [x], output: n.outputs[0],
                              shape: [xs[0], xs[1]] + [Int](repeating: 1, count: xs.count - 2))
        b.bind(n.outputs[0], .tensor(y))
    }
}
