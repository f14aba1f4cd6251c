import NibbleFormat
import NibbleKernels

/// `nibble convert --sparsity S` / `--nm N:M` (issue 4, "Pruning recipes").
public struct PruningOptions: Sendable, Equatable {
    /// Unstructured magnitude pruning: the fraction 0 < S < 1 of each layer's weights set to zero.
    public var sparsity: Double?
    /// N:M pruning along input channels: N of every M consecutive input channels kept (per output channel and tap).
    public var nm: (n: Int, m: Int)?
    /// Which eligible layers are stored sparse.
    public var storage: Storage

    public enum Storage: String, Sendable, CaseIterable {
        /// Where `SparseCostModel` predicts the sparse kernel is faster (the default).
        case auto
        /// Every eligible layer (FullyConnected, 1x1 conv), e.g. to measure or to test the sparse kernels.
        case sparse
        /// None: the pruned weights stay dense (zeros stored).
        case dense
    }

    public init(sparsity: Double? = nil, nm: (n: Int, m: Int)? = nil, storage: Storage = .auto) {
        self.sparsity = sparsity; self.nm = nm; self.storage = storage
    }

    public static func == (a: PruningOptions, b: PruningOptions) -> Bool {
        a.sparsity == b.sparsity && a.nm?.n == b.nm?.n && a.nm?.m == b.nm?.m && a.storage == b.storage
    }

    public var isEnabled: Bool { sparsity != nil || nm != nil }

    /// "unstructured 90%" or "2:4".
    public var name: String {
        if let nm { return "\(nm.n):\(nm.m)" }
        if let s = sparsity { return "unstructured \(Int((s * 1000).rounded()) / 10)%" }
        return "none"
    }

    /// Checks the combination; the message names the option and the valid range.
    public func validate() throws {
        if sparsity != nil && nm != nil { throw ConvertError.invalidInput("--sparsity and --nm exclude each other; choose one") }
        if let s = sparsity, !(s > 0 && s < 1) { throw ConvertError.invalidInput("--sparsity \(s) must be in (0, 1), e.g. 0.9 for 90 % zeros") }
        if let nm, !SparseNM.supports(n: nm.n, m: nm.m) {
            throw ConvertError.invalidInput("--nm \(nm.n):\(nm.m) is not supported; N:M needs 1 ≤ N < M ≤ 4 (2-bit indices), e.g. 2:4")
        }
    }

    /// Parses "N:M".
    public static func parseNM(_ text: String) throws -> (n: Int, m: Int) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let n = Int(parts[0]), let m = Int(parts[1]) else {
            throw ConvertError.invalidInput("--nm \(text): expected N:M, e.g. 2:4")
        }
        return (n, m)
    }
}

/// Magnitude pruning of Conv (group 1) and FullyConnected weights, then sparse storage where the kernels pay
/// (docs/FORMAT.md §4.6). Pruning runs on the fp32 weights before calibration, so the int8 recipe calibrates and
/// quantizes the pruned model; `encode` runs after the recipe and stores each eligible layer (FullyConnected,
/// 1x1 Conv with stride 1, no padding; with CSR also K×K convs with stride 1) sparse when `SparseCostModel`
/// predicts the sparse kernel is faster,
/// else keeps it dense with its zeros. Depthwise and other grouped convs are not pruned (few weights, and
/// accuracy suffers most there, as in Han et al. 2015's per-layer sensitivity).
enum PruningRecipe {
    /// Zeroes weights in place: per layer the ⌊S·count⌋ smallest |w| (ties: lower index first), or in every group
    /// of M input channels (per output channel and kernel tap) all but the N largest |w|.
    static func prune(_ r: inout ONNXImporter.Result, options: PruningOptions) throws {
        try options.validate()
        for node in r.graph.nodes where node.op == .conv || node.op == .fullyConnected {
            if node.op == .conv, let g = node.attribute(.group)?.ints.first, g != 1 { continue }
            guard node.inputs.count > 1, let w = r.constants[node.inputs[1]], w.isFloat, let outC = w.shape.first, outC > 0 else {
                throw ConvertError.malformed("node '\(node.name)' (\(node.op.name)): weights are not a float constant")
            }
            var v = w.floats
            if let s = options.sparsity {
                let k = Int(s * Double(v.count))
                let order = v.indices.sorted { abs(v[$0]) < abs(v[$1]) || (abs(v[$0]) == abs(v[$1]) && $0 < $1) }
                for i in order.prefix(k) { v[i] = 0 }
            } else if let nm = options.nm {
                // OIHW: input channel c of tap t is at (o·C + c)·taps + t.
                let channels = w.shape.count > 1 ? w.shape[1] : 1
                let taps = v.count / (outC * channels)
                for o in 0..<outC {
                    for t in 0..<taps {
                        var c0 = 0
                        while c0 < channels {
                            let group = (c0..<min(c0 + nm.m, channels)).map { (o * channels + $0) * taps + t }
                            let ranked = group.sorted { abs(v[$0]) > abs(v[$1]) || (abs(v[$0]) == abs(v[$1]) && $0 < $1) }
                            for i in ranked.dropFirst(nm.n) { v[i] = 0 }
                            c0 += nm.m
                        }
                    }
                }
            }
            r.constants[node.inputs[1]] = HostTensor(shape: w.shape, floats: v)
        }
    }

    /// Stores eligible fp32/int8 layers sparse (CSR, or N:M with `options.nm`) when the cost model says so.
    /// Returns, for every pruned layer, what was chosen.
    static func encode(_ r: inout ONNXImporter.Result, options: PruningOptions) throws -> [String: ConversionReport.SparseLayer] {
        var names = UniqueNames(r.graph)
        var layers: [String: ConversionReport.SparseLayer] = [:]
        for i in r.graph.nodes.indices {
            let node = r.graph.nodes[i]
            guard node.op == .conv || node.op == .fullyConnected, node.precision == .float32 || node.precision == .int8 else { continue }
            if node.op == .conv, let g = node.attribute(.group)?.ints.first, g != 1 { continue }
            guard let w = r.constants[node.inputs[1]], let rows = w.shape.first, rows > 0 else { continue }
            let int8 = node.precision == .int8
            let columns = w.count / rows
            let xShape = r.graph.tensors[node.inputs[0]].shape, yShape = r.graph.tensors[node.outputs[0]].shape
            let pixels = node.op == .conv && yShape.count == 4 ? yShape[2] * yShape[3] : 1
            let zeros = int8 ? (w.ints ?? []).filter { $0 == 0 }.count : w.floats.filter { $0 == 0 }.count
            var layer = ConversionReport.SparseLayer(sparsity: Double(zeros) / Double(max(w.count, 1)), storage: "dense",
                                                     denseBytes: w.count * (int8 ? 1 : 4), storedBytes: w.count * (int8 ? 1 : 4),
                                                     predictedSpeedup: 1)
            defer { layers[node.name] = layer }
            guard eligible(node, weightShape: w.shape, inputShape: xShape, csr: options.nm == nil) else {
                layer.storage = options.nm == nil ? "dense (stride/dilation ≠ 1)" : "dense (N:M: FC and 1x1 only)"
                continue
            }

            let stored = options.nm.map { SparseNM.slotsPerRow(columns: columns, n: $0.n, m: $0.m) * rows } ?? (w.count - zeros)
            // The GEMM forms read whole pixel rows; the direct conv one output row (width outW) per weight.
            let gemm = eligible(node, weightShape: w.shape, inputShape: xShape, csr: false)
            let run = gemm || yShape.count != 4 ? pixels : yShape[3]
            let speedup = SparseCostModel.predictedSpeedup(rows: rows, columns: columns, pixels: pixels, storedValues: stored,
                                                           int8: int8, nm: options.nm != nil, runLength: run)
            layer.predictedSpeedup = speedup
            if options.storage == .dense { layer.storage = "dense (--sparse-storage dense)"; continue }
            if options.storage == .auto && speedup <= 1 { layer.storage = "dense (model: sparse slower)"; continue }

            var n = node
            n.precision = .sparse
            let valueDType: DType = int8 ? .int8 : .float32
            func addConstant(_ suffix: String, _ dtype: DType, _ shape: [Int], _ h: HostTensor) -> Int {
                let t = r.graph.tensors.count
                r.graph.tensors.append(TensorDesc(name: names.make("\(r.graph.tensors[node.inputs[1]].name)_\(suffix)"), dtype: dtype,
                                                  shape: shape, role: .constant))
                r.constants[t] = h
                return t
            }
            func host(_ values: [Float], _ ints: [Int64], shape: [Int]) -> HostTensor {
                int8 ? HostTensor(shape: shape, ints: ints) : HostTensor(shape: shape, floats: values)
            }
            let bias = node.inputs.count > 2 ? node.inputs[2] : absentTensor
            let scales = int8 ? node.inputs[3] : absentTensor
            if let nm = options.nm {
                let slots = SparseNM.slotsPerRow(columns: columns, n: nm.n, m: nm.m)
                let bytes = SparseNM.indexBytesPerRow(columns: columns, n: nm.n, m: nm.m)
                let values: [Float], ints: [Int64], indices: [UInt8]
                if int8 {
                    guard let e = SparseEncoding.nm((w.ints ?? []).map { Int8($0) }, rows: rows, columns: columns, n: nm.n, m: nm.m) else {
                        throw ConvertError.malformed("node '\(node.name)': weights are not \(nm.n):\(nm.m) sparse after pruning")
                    }
                    (values, ints, indices) = ([], e.values.map { Int64($0) }, e.indices)
                } else {
                    guard let e = SparseEncoding.nm(w.floats, rows: rows, columns: columns, n: nm.n, m: nm.m) else {
                        throw ConvertError.malformed("node '\(node.name)': weights are not \(nm.n):\(nm.m) sparse after pruning")
                    }
                    (values, ints, indices) = (e.values, [], e.indices)
                }
                let v = addConstant("nm_values", valueDType, [rows, slots], host(values, ints, shape: [rows, slots]))
                let ix = addConstant("nm_indices", .uint8, [rows, bytes], HostTensor(shape: [rows, bytes], ints: indices.map { Int64($0) }))
                n.inputs = [node.inputs[0], v, bias, scales, ix]
                n.attributes.append(Attribute(.sparseFormat, ints: [1]))
                n.attributes.append(Attribute(.sparseNM, ints: [Int64(nm.n), Int64(nm.m)]))
                layer.storage = "\(nm.n):\(nm.m)"
                layer.storedBytes = rows * slots * (int8 ? 1 : 4) + rows * bytes
            } else {
                var rp: [Int32], ci: [Int32], values: [Float] = [], ints: [Int64] = []
                if int8 {
                    let e = SparseEncoding.csr((w.ints ?? []).map { Int8($0) }, rows: rows, columns: columns)
                    (rp, ci, ints) = (e.rowPointers, e.columnIndices, e.values.map { Int64($0) })
                } else {
                    let e = SparseEncoding.csr(w.floats, rows: rows, columns: columns)
                    (rp, ci, values) = (e.rowPointers, e.columnIndices, e.values)
                }
                // Tensors cannot be empty (FORMAT.md §4.1): a layer of zeros stores one unused entry.
                if ci.isEmpty { ci = [0]; values = int8 ? [] : [0]; ints = int8 ? [0] : [] }
                let nnz = ci.count
                let v = addConstant("csr_values", valueDType, [nnz], host(values, ints, shape: [nnz]))
                let ix = addConstant("csr_columns", .int32, [nnz], HostTensor(shape: [nnz], ints: ci.map { Int64($0) }))
                let p = addConstant("csr_rows", .int32, [rows + 1], HostTensor(shape: [rows + 1], ints: rp.map { Int64($0) }))
                n.inputs = [node.inputs[0], v, bias, scales, ix, p]
                n.attributes.append(Attribute(.sparseFormat, ints: [0]))
                layer.storage = "csr"
                layer.storedBytes = nnz * (int8 ? 5 : 8) + (rows + 1) * 4
            }
            r.graph.nodes[i] = n
        }
        r = DeadCodeElimination.run(r)
        return layers
    }

    /// The sparse kernels run FullyConnected and 1x1 convs with stride 1, no padding, group 1 (CSR or N:M), and,
    /// with CSR, any conv with stride 1, dilation 1 and group 1 (the direct sparse convolution).
    static func eligible(_ node: Node, weightShape ws: [Int], inputShape xs: [Int], csr: Bool) -> Bool {
        if node.op == .fullyConnected { return ws.count == 2 && xs.count == 2 }
        let ones = [Int64](repeating: 1, count: 2)
        let strideOne = (node.attribute(.strides)?.ints ?? ones) == ones && (node.attribute(.group)?.ints.first ?? 1) == 1
        guard ws.count == 4, xs.count == 4, strideOne else { return false }
        if csr { return (node.attribute(.dilations)?.ints ?? ones) == ones }
        return ws[2] == 1 && ws[3] == 1 && (node.attribute(.pads)?.ints ?? []).allSatisfy { $0 == 0 }
    }
}
