import NibbleFormat
import NibbleKernels

/// Options of the `ternary` recipe (docs/FORMAT.md §4.4).
public struct TernaryOptions: Sendable, Equatable {
    /// Input channels per scale group (FGQ's N). 16 by default: FGQ (Mellempudi et al. 2017) found small
    /// groups (N = 4) most accurate and N = 64 cheapest; 16 keeps one float32 α per 16·kH·kW weights
    /// (0.22 extra bits per weight on a 3×3 conv, 2 on a fully connected layer) with accuracy close to N = 4,
    /// and divides the 64-channel words of the packed kernels.
    public var groupSize: Int = 16
    /// Residual edges per ternary layer: W ≈ Σ_{e<E} αₑ·Tₑ.
    public var residualEdges: Int = 2
    /// Per-node precision overrides by node name: "int8", "ternary" or "fp32" (`--layer NAME=P`).
    public var overrides: [String: String] = [:]
    /// Activation bits of the ternary layers (`--act-bits`): 8 (uint8 with a calibrated range), or 1...7: unsigned
    /// k-bit codes with the MSE-optimal step on the calibration set, for layers whose input is ReLU-bounded (the others
    /// keep 8 bits).
    public var activationBits: Int = 8

    public init(groupSize: Int = 16, residualEdges: Int = 2, overrides: [String: String] = [:], activationBits: Int = 8) {
        self.groupSize = groupSize; self.residualEdges = residualEdges; self.overrides = overrides
        self.activationBits = activationBits
    }
}

/// FGQ ternarization (Mellempudi et al. 2017, "Ternary Neural Networks with Fine-Grained Quantization") with
/// ternary residual edges: T₁, α₁ approximate W per group; R₁ = W − α₁T₁ is ternarized the same way, and so on.
/// A group is `groupSize` contiguous input channels of one output channel with all their kH × kW taps, i.e. a
/// contiguous run of the OIHW row (FGQ's grouping); the last group of a row is shorter when the group size
/// does not divide the channels.
enum TernaryRecipe {
    /// One group's optimal threshold: keeping the k largest |w| as ±1 with α = mean of those |w| minimizes
    /// ‖w − αT‖² when k maximizes (Σ_{i≤k} |w|₍ᵢ₎)² / k (FGQ eq. 3, searched over the sorted magnitudes).
    /// Ties are kept or dropped together, so T is exactly {i : |wᵢ| > threshold}. An all-zero group gives α 0, k 0.
    static func optimalThreshold(_ w: ArraySlice<Float>) -> (threshold: Float, alpha: Float, kept: Int) {
        let a = w.map { abs($0) }.sorted(by: >)
        var best = (threshold: a.first ?? 0, alpha: Float(0), kept: 0)
        var bestScore = 0.0
        var sum = 0.0
        for k in 1...max(a.count, 1) where k <= a.count {
            sum += Double(a[k - 1])
            if k < a.count && a[k] == a[k - 1] { continue }  // a threshold cannot split equal magnitudes
            let score = sum * sum / Double(k)
            if score > bestScore {
                bestScore = score
                best = (k < a.count ? a[k] : 0, Float(sum / Double(k)), k)
            }
        }
        return best
    }

    /// Ternarizes every group of `w` (rows of `rowLength` = channels × taps values): plane values and one α per group.
    static func ternarize(_ w: [Float], rows: Int, channels: Int, taps: Int, groupSize: Int) -> (plane: [Int8], scales: [Float]) {
        let groups = (channels + groupSize - 1) / groupSize
        var plane = [Int8](repeating: 0, count: w.count)
        var scales = [Float](repeating: 0, count: rows * groups)
        for o in 0..<rows {
            for g in 0..<groups {
                let start = o * channels * taps + g * groupSize * taps
                let end = o * channels * taps + min(channels, (g + 1) * groupSize) * taps
                let (threshold, alpha, kept) = optimalThreshold(w[start..<end])
                scales[o * groups + g] = alpha
                if kept == 0 { continue }
                for i in start..<end where abs(w[i]) > threshold { plane[i] = w[i] > 0 ? 1 : -1 }
            }
        }
        return (plane, scales)
    }

    /// W ≈ Σₑ αₑ·Tₑ with `edges` residual edges.
    static func decompose(_ w: [Float], rows: Int, channels: Int, taps: Int, groupSize: Int, edges: Int) -> [(plane: [Int8], scales: [Float])] {
        var residual = w
        var out: [(plane: [Int8], scales: [Float])] = []
        let groups = (channels + groupSize - 1) / groupSize
        for _ in 0..<edges {
            let (plane, scales) = ternarize(residual, rows: rows, channels: channels, taps: taps, groupSize: groupSize)
            for o in 0..<rows {
                for c in 0..<channels {
                    let alpha = scales[o * groups + c / groupSize]
                    for t in 0..<taps {
                        let i = (o * channels + c) * taps + t
                        residual[i] -= alpha * Float(plane[i])
                    }
                }
            }
            out.append((plane, scales))
        }
        return out
    }

    /// ‖W − Σ_{e<k} αₑTₑ‖ / ‖W‖ for k = 1…edges.
    static func relativeErrors(_ w: [Float], _ edges: [(plane: [Int8], scales: [Float])], rows: Int, channels: Int, taps: Int, groupSize: Int) -> [Double] {
        let groups = (channels + groupSize - 1) / groupSize
        var approx = [Float](repeating: 0, count: w.count)
        let norm = w.reduce(0.0) { $0 + Double($1) * Double($1) }
        var errors: [Double] = []
        for edge in edges {
            for i in w.indices {
                let o = i / (channels * taps), c = (i / taps) % channels
                approx[i] += edge.scales[o * groups + c / groupSize] * Float(edge.plane[i])
            }
            var e = 0.0
            for i in w.indices { let d = Double(w[i] - approx[i]); e += d * d }
            errors.append(norm > 0 ? (e / norm).squareRoot() : 0)
        }
        return errors
    }

    /// Which precision each Conv/FullyConnected node gets: ternary, except the first and last of them and
    /// depthwise convs (int8: the most sensitive layers, and depthwise weights are too few per output channel
    /// for groups to pay), unless `overrides` says otherwise. Unknown override names are errors.
    static func plan(_ g: Graph, options: TernaryOptions) throws -> [Int: Precision] {
        let heavy = LayerPlan.weightedNodes(g)
        var out: [Int: Precision] = [:]
        for i in heavy {
            let node = g.nodes[i]
            let groups = node.attribute(.group)?.ints.first ?? 1
            let depthwise = node.op == .conv && groups > 1 && Int(groups) == g.tensors[node.inputs[0]].shape[1]
            out[i] = i == heavy.first || i == heavy.last || depthwise ? .int8 : .ternary
        }
        for (name, value) in options.overrides {
            let i = try LayerPlan.overriddenNode(name, value: value, among: heavy, in: g)
            switch value {
            case "int8": out[i] = .int8
            case "ternary": out[i] = .ternary
            case "fp32": out[i] = .float32
            default: throw ConvertError.invalidInput("--layer \(name)=\(value): unknown precision '\(value)'; use int8, ternary or fp32")
            }
        }
        return out
    }

    struct LayerInfo {
        /// Node name (indices move when dead tensors and nodes are dropped).
        var name: String
        /// ‖W − Σ_{e<k} αₑTₑ‖ / ‖W‖ for k = 1…edges.
        var weightErrors: [Double]
        /// 8, or the `--act-bits` this layer got.
        var activationBits: Int = 8
    }

    /// Applies the recipe: int8 or ternary per `plan`, edge e of every ternary node at provisional level e
    /// (the converter reassigns levels by sensitivity afterwards). Returns the ternary nodes' weight errors.
    static func apply(_ r: inout ONNXImporter.Result, ranges: [Int: (min: Float, max: Float)], samples: [Int: [Float]] = [:],
                      options: TernaryOptions) throws -> [LayerInfo] {
        if !(1...8).contains(options.activationBits) {
            throw ConvertError.invalidInput("--act-bits \(options.activationBits) outside 1...8 (8 = uint8 activations)")
        }
        if options.groupSize < 1 || options.groupSize > 4096 {
            throw ConvertError.invalidInput("--group-size \(options.groupSize) outside 1...4096")
        }
        if options.residualEdges < 1 || options.residualEdges > Layout.maxResidualEdges {
            throw ConvertError.invalidInput("--residual-edges \(options.residualEdges) outside 1...\(Layout.maxResidualEdges)")
        }
        let precisions = try plan(r.graph, options: options)
        var names = UniqueNames(r.graph)
        var infos: [LayerInfo] = []
        for i in precisions.keys.sorted() where r.graph.nodes[i].precision == .float32 {  // QDQ nodes are int8 already
            switch precisions[i]! {
            case .int8: try Int8Recipe.quantize(&r, node: i, ranges: ranges, names: &names)
            case .ternary: infos.append(try ternarize(&r, node: i, ranges: ranges, samples: samples, options: options, names: &names))
            case .float32, .bitSerial, .sparse: continue
            }
        }
        r = DeadCodeElimination.run(r)
        return infos
    }

    static func ternarize(_ r: inout ONNXImporter.Result, node i: Int, ranges: [Int: (min: Float, max: Float)],
                          samples: [Int: [Float]] = [:], options: TernaryOptions, names: inout UniqueNames) throws -> LayerInfo {
        let node = r.graph.nodes[i]
        let wIndex = node.inputs[1]
        guard let w = r.constants[wIndex], w.shape.count >= 2, w.shape[0] > 0 else {
            throw ConvertError.malformed("node '\(node.name)' (\(node.op.name)): weights are not a constant")
        }
        let rows = w.shape[0], channels = w.shape[1], taps = w.shape.dropFirst(2).reduce(1, *)
        var (inScale, zp) = try Int8Recipe.inputQuantization(r, node: node, ranges: ranges)
        // k-bit activations (FORMAT.md §4.4 activation_bits): unsigned codes, so only for ReLU-bounded inputs; the step
        // minimises the squared error on the calibration values (the bit-serial recipe's quantizer, WRPN).
        var activationBits = 8
        if options.activationBits < 8, BitSerialRecipe.isNonNegative(r.graph, tensor: node.inputs[0], depth: 0),
           let values = samples[node.inputs[0]], !values.isEmpty {
            activationBits = options.activationBits
            inScale = BitSerialRecipe.activationStep(values, bits: activationBits)
            zp = 0
        }
        let g = options.groupSize
        let groups = (channels + g - 1) / g
        let edges = decompose(w.floats, rows: rows, channels: channels, taps: taps, groupSize: g, edges: options.residualEdges)
        var inputs = [node.inputs[0]]
        let base = r.graph.tensors[wIndex].name
        for (e, edge) in edges.enumerated() {
            // Stored as two packed bit masks per edge (FORMAT.md §4.4, `TernaryPlanes`): 2 bits per weight.
            let rowLength = channels * taps
            var words = [UInt64](repeating: 0, count: TernaryPlanes.wordCount(rows: rows, rowLength: rowLength))
            edge.plane.withUnsafeBufferPointer { v in
                words.withUnsafeMutableBufferPointer { TernaryPlanes.pack(v.baseAddress!, rows: rows, rowLength: rowLength, into: $0.baseAddress!) }
            }
            let planeShape = [2, rows, TernaryPlanes.wordsPerRow(rowLength)]
            let t = r.graph.tensors.count
            r.graph.tensors.append(TensorDesc(name: names.make("\(base).ternary\(e)"), dtype: .bits64, shape: planeShape, role: .constant))
            r.constants[t] = HostTensor(shape: planeShape, ints: words.map { Int64(bitPattern: $0) })
            let s = r.graph.tensors.count
            r.graph.tensors.append(TensorDesc(name: names.make("\(base).alpha\(e)"), dtype: .float32, shape: [rows, groups], role: .constant))
            r.constants[s] = HostTensor(shape: [rows, groups], floats: edge.scales)
            if e == 0 {
                inputs += [t, node.inputs.count > 2 ? node.inputs[2] : absentTensor, s]
            } else {
                inputs += [t, s]
            }
        }
        var n = node
        n.precision = .ternary
        n.inputs = inputs
        n.attributes.removeAll { [.inputScale, .inputZeroPoint, .groupSize, .edgeLevels, .activationBits].contains($0.key) }
        if activationBits < 8 { n.attributes.append(Attribute(.activationBits, ints: [Int64(activationBits)])) }
        n.attributes.append(Attribute(.inputScale, floats: [inScale]))
        n.attributes.append(Attribute(.inputZeroPoint, ints: [Int64(zp)]))
        n.attributes.append(Attribute(.groupSize, ints: [Int64(g)]))
        n.attributes.append(Attribute(.edgeLevels, ints: (0..<edges.count).map { Int64($0) }))
        r.graph.nodes[i] = n
        let errors = relativeErrors(w.floats, edges, rows: rows, channels: channels, taps: taps, groupSize: g)
        return LayerInfo(name: node.name, weightErrors: errors, activationBits: activationBits)
    }
}
