import NibbleFormat

/// int8 recipe: Conv and FullyConnected get int8 weights, symmetric per output channel
/// (scale = max|w| / 127), and uint8 activations, asymmetric per tensor from calibration
/// (scale = (max − min) / 255 with min ≤ 0 ≤ max, zero point = round(−min / scale)).
/// Node inputs become [X, Wq (int8, same shape), B (float32) or absent, weight scales (float32, [outC])].
enum Int8Recipe {
    /// The tensors whose ranges the recipe needs: the data input of every Conv/FullyConnected.
    static func observedTensors(_ g: Graph) -> Set<Int> {
        Set(g.nodes.filter { $0.op == .conv || $0.op == .fullyConnected }.map { $0.inputs[0] })
    }

    static func apply(_ r: inout ONNXImporter.Result, ranges: [Int: (min: Float, max: Float)]) throws {
        var names = UniqueNames(r.graph)
        // Nodes the model quantized itself (QDQRecipe) are int8 already.
        for i in r.graph.nodes.indices where (r.graph.nodes[i].op == .conv || r.graph.nodes[i].op == .fullyConnected)
            && r.graph.nodes[i].precision == .float32 {
            try quantize(&r, node: i, ranges: ranges, names: &names)
        }
        r = DeadCodeElimination.run(r)
    }

    /// Turns node `i` (Conv or FullyConnected with constant float weights) into its int8 form; the old float
    /// weights become dead (the caller runs DeadCodeElimination once at the end).
    static func quantize(_ r: inout ONNXImporter.Result, node i: Int, ranges: [Int: (min: Float, max: Float)],
                         names: inout UniqueNames) throws {
        let node = r.graph.nodes[i]
        let wIndex = node.inputs[1]
        guard let w = r.constants[wIndex], let outC = w.shape.first, outC > 0 else {
            throw ConvertError.malformed("node '\(node.name)' (\(node.op.name)): weights are not a constant")
        }
        let (inScale, zp) = try inputQuantization(r, node: node, ranges: ranges)
        let (q, scales) = quantizePerChannel(w.floats, outChannels: outC)
        install(&r, node: i, weights: q, scales: scales, inputScale: inScale, inputZeroPoint: zp, names: &names)
    }

    /// Rewrites node `i` to the int8 layout with int8 weights `q` (the shape of its float weights), per-output-channel
    /// `scales` and the uint8 input quantization.
    static func install(_ r: inout ONNXImporter.Result, node i: Int, weights q: [Int8], scales: [Float], inputScale inScale: Float,
                        inputZeroPoint zp: Int, names: inout UniqueNames) {
        let node = r.graph.nodes[i]
        let wIndex = node.inputs[1]
        let w = r.graph.tensors[wIndex]
        let outC = scales.count
        let wq = r.graph.tensors.count
        r.graph.tensors.append(TensorDesc(name: names.make("\(r.graph.tensors[wIndex].name)_int8"), dtype: .int8, shape: w.shape, role: .constant))
        r.constants[wq] = HostTensor(shape: w.shape, ints: q.map { Int64($0) })
        let st = r.graph.tensors.count
        r.graph.tensors.append(TensorDesc(name: names.make("\(node.name).weight_scale"), dtype: .float32, shape: [outC], role: .constant))
        r.constants[st] = HostTensor(shape: [outC], floats: scales)

        var n = node
        n.precision = .int8
        n.inputs = [node.inputs[0], wq, node.inputs.count > 2 ? node.inputs[2] : absentTensor, st]
        n.attributes.removeAll { $0.key == .inputScale || $0.key == .inputZeroPoint }
        n.attributes.append(Attribute(.inputScale, floats: [inScale]))
        n.attributes.append(Attribute(.inputZeroPoint, ints: [Int64(zp)]))
        r.graph.nodes[i] = n
    }

    /// The uint8 quantization of `node`'s input from its calibrated range.
    static func inputQuantization(_ r: ONNXImporter.Result, node: Node, ranges: [Int: (min: Float, max: Float)]) throws -> (scale: Float, zeroPoint: Int) {
        guard let range = ranges[node.inputs[0]] else {
            throw ConvertError.invalidInput("node '\(node.name)' (\(node.op.name)): calibration saw no finite values for its input '\(r.graph.tensors[node.inputs[0]].name)'")
        }
        return activationQuantization(min: range.min, max: range.max)
    }

    /// Symmetric per-output-channel int8: q = round(w / s), s = max|w| / 127 (1 for an all-zero channel).
    static func quantizePerChannel(_ w: [Float], outChannels: Int) -> ([Int8], [Float]) {
        let per = w.count / outChannels
        var q = [Int8](repeating: 0, count: w.count)
        var scales = [Float](repeating: 1, count: outChannels)
        for o in 0..<outChannels {
            var m: Float = 0
            for k in 0..<per { m = max(m, abs(w[o * per + k])) }
            let s: Float = m > 0 && m.isFinite ? m / 127 : 1
            scales[o] = s
            for k in 0..<per {
                let v = (w[o * per + k] / s).rounded()
                q[o * per + k] = Int8(max(-127, min(127, v.isNaN ? 0 : v)))
            }
        }
        return (q, scales)
    }

    /// Asymmetric uint8: the range is widened to include 0 so that zero (padding) is exact.
    static func activationQuantization(min lo: Float, max hi: Float) -> (scale: Float, zeroPoint: Int) {
        let l = Swift.min(lo, 0), h = Swift.max(hi, 0)
        let s = (h - l) / 255
        if !(s > 0) || !s.isFinite { return (1, 0) }
        let zp = Int((-l / s).rounded())
        return (s, Swift.max(0, Swift.min(255, zp)))
    }
}

/// Fresh tensor names for the tensors a recipe adds.
struct UniqueNames {
    var names: Set<String>

    init(_ g: Graph) { names = Set(g.tensors.map { $0.name }) }

    mutating func make(_ base: String) -> String {
        var n = base, i = 1
        while names.contains(n) { n = "\(base)_\(i)"; i += 1 }
        names.insert(n)
        return n
    }
}
