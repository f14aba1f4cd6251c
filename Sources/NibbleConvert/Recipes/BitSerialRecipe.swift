import NibbleFormat
import NibbleKernels

/// Options of the `wKaM` bit-serial recipes (`--recipe w4a4|w2a2|w1a1|wKaM`, docs/FORMAT.md §4.5).
public struct BitSerialOptions: Sendable, Equatable {
    /// K: weight bits, 1...4 (1 = bipolar sign weights, 2...4 = symmetric two's complement).
    public var weightBits: Int
    /// M: activation bits, 1...4 (unsigned, after ReLU-like ops).
    public var activationBits: Int
    /// Per-node precision overrides by node name: "int8", "fp32" or "wKaM"/"bit-serial" (`--layer NAME=P`).
    public var overrides: [String: String]

    public static let bitRange = 1...4

    public init(weightBits: Int = 2, activationBits: Int = 2, overrides: [String: String] = [:]) {
        self.weightBits = weightBits; self.activationBits = activationBits; self.overrides = overrides
    }

    /// "w2a2" style name.
    public var name: String { "w\(weightBits)a\(activationBits)" }

    /// Parses "wKaM" (e.g. "w4a4", "w1a2"). Nil when `recipe` does not have that form; throws when it does
    /// but K or M is outside 1...4.
    public static func parse(_ recipe: String) throws -> BitSerialOptions? {
        let chars = Array(recipe)
        guard chars.first == "w", let a = chars.firstIndex(of: "a"), a > 1, a < chars.count - 1,
              let k = Int(String(chars[1..<a])), let m = Int(String(chars[(a + 1)...])) else { return nil }
        if !bitRange.contains(k) {
            throw ConvertError.invalidInput("recipe \(recipe): \(k)-bit weights are not supported; the bit-serial kernels take weight bits 1...4 (1 = bipolar sign)")
        }
        if !bitRange.contains(m) {
            throw ConvertError.invalidInput("recipe \(recipe): \(m)-bit activations are not supported; the bit-serial kernels take activation bits 1...4 (unsigned)")
        }
        return BitSerialOptions(weightBits: k, activationBits: m)
    }
}

/// WRPN-style uniform quantizers (Mishra et al. 2017, "WRPN: Wide Reduced-Precision Networks") for the
/// bit-serial kernels (`BinaryConv`):
/// - activations (ReLU-bounded inputs only): unsigned M-bit, q = clamp(round_half_even(x/step), 0, 2^M − 1),
///   step = α / (2^M − 1) with the clip α chosen on the calibration set to minimise the mean squared error;
/// - weights, K ≥ 2: K − 1 magnitude bits and a sign, q ∈ [−(2^(K−1) − 1), 2^(K−1) − 1] (stored as K-bit two's
///   complement planes; the most negative code is unused), one scale per output channel chosen to minimise
///   ‖w − scale·q‖²; K = 1: bipolar q = sign(w) (w ≥ 0 → +1) with scale = mean |w| (the L2-optimal scale).
/// Node inputs become [X, packed W (bits64), B or absent, weight scales (float32 [O])].
enum BitSerialRecipe {
    /// Which precision each Conv/FullyConnected node gets: bit-serial, except the first and last of them,
    /// grouped/depthwise convs (the kernel takes group 1) and nodes whose input can be negative (the kernel's
    /// M-bit activations are unsigned), which stay int8; `overrides` may say otherwise. Unknown names are errors.
    static func plan(_ g: Graph, options: BitSerialOptions) throws -> [Int: Precision] {
        let heavy = LayerPlan.weightedNodes(g)
        var out: [Int: Precision] = [:]
        for i in heavy {
            out[i] = i == heavy.first || i == heavy.last || ineligibility(g, node: i) != nil ? .int8 : .bitSerial
        }
        for (name, value) in options.overrides {
            let i = try LayerPlan.overriddenNode(name, value: value, among: heavy, in: g)
            switch value {
            case "int8": out[i] = .int8
            case "fp32": out[i] = .float32
            case "bit-serial", options.name:
                if let why = ineligibility(g, node: i) {
                    throw ConvertError.invalidInput("--layer \(name)=\(value): node '\(name)' cannot run bit-serial: \(why)")
                }
                out[i] = .bitSerial
            default:
                throw ConvertError.invalidInput("--layer \(name)=\(value): unknown precision '\(value)'; use int8, fp32 or \(options.name)")
            }
        }
        return out
    }

    /// Why node `i` cannot run bit-serial, or nil.
    static func ineligibility(_ g: Graph, node i: Int) -> String? {
        let node = g.nodes[i]
        if node.op == .conv, let group = node.attribute(.group)?.ints.first, group != 1 {
            return "group \(group) (the bit-serial kernel takes group 1; grouped and depthwise convs stay int8)"
        }
        if !isNonNegative(g, tensor: node.inputs[0], depth: 0) {
            return "its input '\(g.tensors[node.inputs[0]].name)' is not ReLU-bounded (M-bit activations are unsigned; signed activations are not supported by the kernel for M > 1)"
        }
        return nil
    }

    /// True when every value of `tensor` is ≥ 0 by construction: the output of Relu, of a clamp with min ≥ 0
    /// (fused into Conv/FullyConnected or a Clip), of Sigmoid/HardSigmoid, or of pooling/reshaping such values.
    static func isNonNegative(_ g: Graph, tensor t: Int, depth: Int) -> Bool {
        if depth > 64 { return false }
        guard let producer = g.nodes.first(where: { $0.outputs.contains(t) }) else { return false }
        func minAtLeastZero() -> Bool { (producer.attribute(.outputMin)?.floats.first ?? -.infinity) >= 0 }
        switch producer.op {
        case .relu, .sigmoid, .hardSigmoid: return true
        case .clip, .conv, .fullyConnected: return minAtLeastZero()
        case .maxPool, .averagePool, .globalAveragePool, .reshape, .transpose, .slice:
            return minAtLeastZero() || isNonNegative(g, tensor: producer.inputs[0], depth: depth + 1)
        case .concat, .add, .mul:
            return minAtLeastZero() || producer.inputs.allSatisfy { isNonNegative(g, tensor: $0, depth: depth + 1) }
        default: return minAtLeastZero()
        }
    }

    struct LayerInfo {
        var name: String
        /// ‖W − Ŵ‖ / ‖W‖ of the quantized weights.
        var weightError: Double
        var activationStep: Float
    }

    static func apply(_ r: inout ONNXImporter.Result, ranges: [Int: (min: Float, max: Float)], samples: [Int: [Float]],
                      options: BitSerialOptions) throws -> [LayerInfo] {
        if !BitSerialOptions.bitRange.contains(options.weightBits) || !BitSerialOptions.bitRange.contains(options.activationBits) {
            throw ConvertError.invalidInput("recipe \(options.name): weight and activation bits must be in 1...4")
        }
        let precisions = try plan(r.graph, options: options)
        var names = UniqueNames(r.graph)
        var infos: [LayerInfo] = []
        for i in precisions.keys.sorted() where r.graph.nodes[i].precision == .float32 {  // QDQ nodes are int8 already
            switch precisions[i]! {
            case .int8: try Int8Recipe.quantize(&r, node: i, ranges: ranges, names: &names)
            case .bitSerial: infos.append(try quantize(&r, node: i, samples: samples, options: options, names: &names))
            default: continue
            }
        }
        r = DeadCodeElimination.run(r)
        return infos
    }

    static func quantize(_ r: inout ONNXImporter.Result, node i: Int, samples: [Int: [Float]], options: BitSerialOptions,
                         names: inout UniqueNames) throws -> LayerInfo {
        let node = r.graph.nodes[i]
        let wIndex = node.inputs[1]
        guard let w = r.constants[wIndex], w.shape.count >= 2, w.shape[0] > 0 else {
            throw ConvertError.malformed("node '\(node.name)' (\(node.op.name)): weights are not a constant")
        }
        guard let values = samples[node.inputs[0]], !values.isEmpty else {
            throw ConvertError.invalidInput("node '\(node.name)' (\(node.op.name)): calibration saw no finite values for its input '\(r.graph.tensors[node.inputs[0]].name)'")
        }
        let outC = w.shape[0], inC = w.shape[1]
        let kH = w.shape.count == 4 ? w.shape[2] : 1, kW = w.shape.count == 4 ? w.shape[3] : 1
        let step = activationStep(values, bits: options.activationBits)
        let (q, scales) = quantizeWeights(w.floats, outChannels: outC, bits: options.weightBits)
        let encoding: BitPlaneEncoding = options.weightBits == 1 ? .bipolar : .twosComplement
        let layout = BitPlaneLayout.weights(outChannels: outC, inChannels: inC, kernelH: kH, kernelW: kW,
                                            encoding: encoding, bits: options.weightBits)
        var words = [UInt64](repeating: 0, count: layout.wordCount)
        q.withUnsafeBufferPointer { qp in
            words.withUnsafeMutableBufferPointer { BitPacking.packWeights(values: qp.baseAddress!, outChannels: outC, layout: layout, into: $0.baseAddress!) }
        }
        let shape = [layout.bits, layout.vectors, layout.wordsPerVector]
        let base = r.graph.tensors[wIndex].name
        let wq = r.graph.tensors.count
        r.graph.tensors.append(TensorDesc(name: names.make("\(base).\(options.name)"), dtype: .bits64, shape: shape, role: .constant))
        r.constants[wq] = HostTensor(shape: shape, ints: words.map { Int64(bitPattern: $0) })
        let st = r.graph.tensors.count
        r.graph.tensors.append(TensorDesc(name: names.make("\(node.name).weight_scale"), dtype: .float32, shape: [outC], role: .constant))
        r.constants[st] = HostTensor(shape: [outC], floats: scales)

        var n = node
        n.precision = .bitSerial
        n.inputs = [node.inputs[0], wq, node.inputs.count > 2 ? node.inputs[2] : absentTensor, st]
        let keys: [AttributeKey] = [.inputScale, .inputZeroPoint, .weightBits, .weightEncoding, .activationBits, .activationEncoding, .activationStep, .kernelShape]
        n.attributes.removeAll { keys.contains($0.key) }
        if node.op == .conv { n.attributes.append(Attribute(.kernelShape, ints: [Int64(kH), Int64(kW)])) }
        n.attributes.append(Attribute(.weightBits, ints: [Int64(options.weightBits)]))
        n.attributes.append(Attribute(.weightEncoding, ints: [Int64(encoding.rawValue)]))
        n.attributes.append(Attribute(.activationBits, ints: [Int64(options.activationBits)]))
        n.attributes.append(Attribute(.activationEncoding, ints: [Int64(BitPlaneEncoding.unsigned.rawValue)]))
        n.attributes.append(Attribute(.activationStep, floats: [step]))
        r.graph.nodes[i] = n

        let wf = w.floats
        var err = 0.0, norm = 0.0
        let per = wf.count / outC
        for k in wf.indices {
            let d = Double(wf[k]) - Double(scales[k / per]) * Double(q[k])
            err += d * d; norm += Double(wf[k]) * Double(wf[k])
        }
        return LayerInfo(name: node.name, weightError: norm > 0 ? (err / norm).squareRoot() : 0, activationStep: step)
    }

    /// Per-output-channel weights: K = 1 bipolar sign with scale mean |w|; K ≥ 2 symmetric levels ±(2^(K−1) − 1)
    /// with the scale that minimises the squared error, searched over clips of max |w|.
    static func quantizeWeights(_ w: [Float], outChannels: Int, bits: Int) -> (q: [Int8], scales: [Float]) {
        let per = w.count / outChannels
        var q = [Int8](repeating: 0, count: w.count)
        var scales = [Float](repeating: 0, count: outChannels)
        for o in 0..<outChannels {
            let row = w[(o * per)..<((o + 1) * per)]
            if bits == 1 {
                var sum: Double = 0
                for (k, v) in row.enumerated() { q[o * per + k] = v >= 0 ? 1 : -1; sum += Double(abs(v)) }
                scales[o] = Float(sum / Double(max(per, 1)))
                continue
            }
            let levels = Float((1 << (bits - 1)) - 1)
            let m = row.reduce(Float(0)) { max($0, abs($1)) }
            if !(m > 0) || !m.isFinite { scales[o] = 1; continue }
            let scale = bestScale(row, maxAbs: m, lower: -levels, upper: levels)
            scales[o] = scale
            for (k, v) in row.enumerated() { q[o * per + k] = Int8(max(-levels, min(levels, (v / scale).rounded(.toNearestOrEven)))) }
        }
        return (q, scales)
    }

    /// Activation step for unsigned `bits`-bit codes minimising the mean squared error on `samples`
    /// (the clip α is searched over fractions of the largest sample; step = α / (2^bits − 1)).
    static func activationStep(_ samples: [Float], bits: Int) -> Float {
        let m = samples.reduce(Float(0)) { max($0, $1) }
        if !(m > 0) || !m.isFinite { return 1 }
        let levels = Float((1 << bits) - 1)
        return bestScale(samples[...], maxAbs: m, lower: 0, upper: levels)
    }

    /// The step s (clip = s · upper) in (0, maxAbs/upper] minimising Σ (x − s·clamp(round(x/s), lower, upper))²:
    /// 100 clips evenly in [0.01, 1]·maxAbs, then 20 finer ones around the best.
    static func bestScale(_ x: ArraySlice<Float>, maxAbs: Float, lower: Float, upper: Float) -> Float {
        func error(_ s: Float) -> Double {
            var e = 0.0
            for v in x {
                let d = Double(v) - Double(s * max(lower, min(upper, (v / s).rounded(.toNearestOrEven))))
                e += d * d
            }
            return e
        }
        var best = (fraction: Float(1), error: Double.infinity)
        for k in 1...100 {
            let f = Float(k) / 100
            let e = error(maxAbs * f / upper)
            if e < best.error { best = (f, e) }
        }
        let center = best.fraction
        for k in -10...10 {
            let f = center + Float(k) / 1000
            if f <= 0 || f > 1 { continue }
            let e = error(maxAbs * f / upper)
            if e < best.error { best = (f, e) }
        }
        return maxAbs * best.fraction / upper
    }
}
