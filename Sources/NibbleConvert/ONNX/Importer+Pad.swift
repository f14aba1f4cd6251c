import NibbleFormat

/// A zero constant Pad of the spatial dims of an [N, C, H, W] tensor that the importer has not emitted: its readers
/// absorb it into their own pads (Conv always; MaxPool when the padded tensor is known to be ≥ 0). tf2onnx writes
/// Keras' ZeroPadding2D and the explicit padding of strided convs (MobileNetV2, ResNet50's pool1) this way.
struct PendingPad {
    let node: String
    /// [top, left, bottom, right], each ≥ 0.
    let pads: [Int]
}

extension ONNXImporter {
    /// The operators that may read a pending Pad (as input 0): Conv and MaxPool absorb it, QuantizeLinear/DequantizeLinear
    /// pass it on (zero is on every quantization grid and inside its range, so padding commutes with a Q/DQ pair), a
    /// second Pad adds to it.
    static let padReaders: Set<String> = ["Conv", "MaxPool", "QuantizeLinear", "DequantizeLinear", "Pad"]

    /// Pad (constant mode, value 0, spatial axes of a 4-D tensor, non-negative pads): no node; the output is the
    /// input tensor with a `PendingPad` that its reader folds into its own pads.
    static func lowerPad(_ n: NodeView, _ b: GraphBuilder) throws {
        try n.requireArity(inputs: 1...4, consumed: b.consumed)
        let x = try b.tensorInput(n, 0, "data")
        let xs = b.tensors[x].shape
        let mode = n.string("mode", default: "constant")
        if mode != "constant" { throw n.unsupported("mode '\(mode)' is not supported; supported: constant (with value 0), folded into the reading Conv") }
        var raw: [Int64]
        var value: Float = 0
        if b.opset < 11 {
            guard let p = try n.ints("pads") else { throw n.malformed("attribute pads is required") }
            raw = p.map { Int64($0) }
            value = try n.float("value", default: 0)
        } else {
            guard let p = try b.constantInput(n, 1, "pads") else { throw n.malformed("input pads is required") }
            guard let v = p.ints else { throw n.malformed("pads must be an int64 tensor") }
            raw = v
            if let c = try b.constantInput(n, 2, "constant_value") {
                if c.count != 1 || !c.isFloat { throw n.unsupported("constant_value '\(n.inputs[2])' is \(c.dtypeName) \(c.shape); expected a float32 scalar") }
                value = c.floats[0]
            }
            if let a = try b.constantInput(n, 3, "axes") {
                guard let axes = a.ints, raw.count == 2 * axes.count else { throw n.malformed("axes must be int64 with half as many values as pads") }
                var full = [Int64](repeating: 0, count: 2 * xs.count)
                for (i, ax) in axes.enumerated() {
                    let r = try ShapeRules.axis(Int(clamping: ax), rank: xs.count, n)
                    full[r] = raw[i]; full[r + xs.count] = raw[i + axes.count]
                }
                raw = full
            }
        }
        if value != 0 { throw n.unsupported("constant value \(value) is not supported; supported: 0 (folded into the reading Conv's pads)") }
        if raw.count != 2 * xs.count { throw n.malformed("pads has \(raw.count) values for input rank \(xs.count); expected \(2 * xs.count)") }
        if xs.count != 4 || raw[0] != 0 || raw[1] != 0 || raw[4] != 0 || raw[5] != 0 {
            throw n.unsupported("pads \(raw) on input \(xs) are not supported; supported: the spatial dims of a 4-D [N, C, H, W] tensor")
        }
        if let bad = raw.first(where: { $0 < 0 || $0 > 65535 }) {
            throw n.unsupported("pad \(bad) is not supported; supported: 0...65535 (negative pads crop)")
        }
        let pads = [raw[2], raw[3], raw[6], raw[7]].map { Int($0) }
        if let u = b.uses[n.inputs[0]] { b.uses[n.inputs[0]] = u - 1 }
        b.bind(n.outputs[0], .tensor(x))
        if pads == [0, 0, 0, 0] { return }
        var merged = pads
        if let inner = b.pendingPads[n.inputs[0]] { merged = zip(inner.pads, pads).map { $0 + $1 } }
        b.pendingPads[n.outputs[0]] = PendingPad(node: n.name, pads: merged)
    }

    /// Fails when a node other than `padReaders` reads a pending Pad.
    static func rejectPendingPads(_ n: NodeView, _ b: GraphBuilder) throws {
        for (k, name) in n.inputs.enumerated() where !name.isEmpty {
            guard let p = b.pendingPads[name] else { continue }
            if !padReaders.contains(n.op) || k > 0 {
                throw n.unsupported("input \(k) '\(name)' is the output of Pad '\(p.node)' (pads \(p.pads)); a zero Pad is only supported when a Conv (or a MaxPool of a non-negative tensor) reads it, folded into that node's pads")
            }
        }
    }

    /// The pending Pad a Conv/MaxPool reads as input 0 and the shape of the padded input, or nil.
    static func pendingPad(_ n: NodeView, _ b: GraphBuilder, input xs: [Int]) -> (pads: [Int], padded: [Int])? {
        guard let p = b.pendingPads[n.inputs[0]] else { return nil }
        return (p.pads, [xs[0], xs[1], xs[2] + p.pads[0] + p.pads[2], xs[3] + p.pads[1] + p.pads[3]])
    }

    /// Q/DQ on a pending Pad's output: the pad moves to the pair's output.
    static func forwardPendingPad(_ n: NodeView, _ b: GraphBuilder) {
        if let p = b.pendingPads[n.inputs[0]], let out = n.outputs.first { b.pendingPads[out] = p }
    }

    /// Whether every value of tensor `t` is ≥ 0 by construction (its producer clamps at ≥ 0, or is Relu/Sigmoid/HardSigmoid),
    /// so zero padding before a MaxPool equals the MaxPool's own (−∞) padding.
    static func isNonNegative(_ t: Int, _ b: GraphBuilder) -> Bool {
        guard let p = b.producer[t] else { return false }
        let node = b.nodes[p]
        if let lo = node.attribute(.outputMin)?.floats.first, lo >= 0 { return true }
        return [.relu, .sigmoid, .hardSigmoid].contains(node.op)
    }
}
