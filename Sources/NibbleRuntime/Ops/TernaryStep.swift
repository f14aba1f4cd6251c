import NibbleFormat
import NibbleKernels

/// One ternary residual edge of a node: a plane of {−1, 0, +1} — two packed bit masks (bits64 [2, O, ⌈R/64⌉],
/// `TernaryPlanes`) or, in files written before packing, int8 with the weights' shape — its group scales
/// (float32 [O, groups]) and the level at which the session turns it on (docs/FORMAT.md §4.4).
struct ResidualEdge {
    let plane: Int
    let packed: Bool
    let scales: Int
    let level: Int
}

/// Conv or FullyConnected with FGQ ternary residual edges: y = clamp(Σ_{enabled e} αₑ ⊙ Tₑ ∗ x + b).
/// Inputs [X, T₁, B or absent, S₁, T₂, S₂, …]; attributes group_size, edge_levels, input_scale,
/// input_zero_point (the input is quantized to uint8 as for int8). The session's enabled-edge count for this
/// node (`Bindings.enabledEdges[layer]`) says how many edges, in order, run.
struct TernaryStep {
    /// Fully connected runs as a 1×1 conv over a 1×1 image.
    let geometry: ConvGeometry
    let isConv: Bool
    let layer: Int
    let input: Int, output: Int
    let edges: [ResidualEdge]
    let groupSize: Int
    let p: WeightedOpParameters
    /// Weights per output channel (C/group · kH · kW) and the scratch offset of the unpacked row (packed planes).
    let rowLength: Int, rowOffset: Int
    /// Largest input code: 255, or 2^M − 1 with `activation_bits` M < 8 (FORMAT.md §4.4, `--act-bits`).
    let maxCode: UInt8

    static func make(_ c: NodeChecker) throws(NibbleError) -> (TernaryStep, scratchBytes: Int) {
        try c.requireInputs(4...(2 + 2 * Layout.maxResidualEdges))
        let n = c.node.inputs.count
        if n % 2 != 0 {
            throw c.fail("has \(n) inputs, expected an even count: X, T1, B (or absent), S1, then T_e, S_e per further edge")
        }
        let edgeCount = (n - 2) / 2
        let x = try c.input(0), w = try c.input(1), firstScales = try c.input(3)
        try c.require(x, dtype: .float32, "input")
        let packed = c.tensor(w).dtype == .bits64
        // Packed planes do not carry the weights' shape: out channels come from the scales [O, groups], the kernel
        // from kernel_shape (required then, as for bit-serial nodes), in channels per group from the input and group.
        let scalesShape = c.tensor(firstScales).shape
        if packed && (scalesShape.count != 2 || scalesShape[0] < 1) {
            throw c.fail("edge 0 scales '\(c.tensor(firstScales).name)' have shape \(scalesShape), expected [out channels, groups]")
        }
        let g: ConvGeometry
        if c.node.op == .conv {
            if packed {
                let xs = c.tensor(x).shape
                if xs.count != 4 { throw c.fail("input shape \(xs), expected [1, C, H, W]") }
                let kernel = try c.ints(.kernelShape, count: 2)
                if kernel.contains(where: { $0 < 1 || $0 > 4096 }) { throw c.fail("kernel_shape \(kernel) must be in 1...4096") }
                let group = try c.ints(.group, count: 1, default: [1])[0]
                if group < 1 || xs[1] % group != 0 { throw c.fail("group \(group) does not divide the \(xs[1]) input channels") }
                g = try ConvStep.geometry(c, input: x, weightShape: [scalesShape[0], xs[1] / group, kernel[0], kernel[1]])
            } else {
                g = try ConvStep.geometry(c, input: x, weights: w)
            }
        } else {
            let xs = c.tensor(x).shape
            let ws = packed ? [scalesShape[0], xs.count == 2 ? xs[1] : 0] : c.tensor(w).shape
            if ws.count != 2 { throw c.fail("weight shape \(ws), expected [out, in]") }
            if xs.count != 2 || xs[0] != 1 || xs[1] != ws[1] { throw c.fail("input shape \(xs), expected [1, \(ws[1])]") }
            try c.requireShape(c.output, [1, ws[0]], "output")
            try c.require(c.output, dtype: .float32, "output")
            g = ConvGeometry(inC: ws[1], inH: 1, inW: 1, outC: ws[0], outH: 1, outW: 1, kernelH: 1, kernelW: 1,
                             strideH: 1, strideW: 1, padTop: 0, padLeft: 0, dilationH: 1, dilationW: 1, groups: 1)
        }
        let groupSize = try c.ints(.groupSize, count: 1)[0]
        if groupSize < 1 { throw c.fail("group_size \(groupSize) must be >= 1") }
        let groups = (g.inCPerGroup + groupSize - 1) / groupSize
        let levels = try c.ints(.edgeLevels, count: edgeCount)
        let rowLength = g.inCPerGroup * g.kernelH * g.kernelW
        let planeShape = packed ? [2, g.outC, TernaryPlanes.wordsPerRow(rowLength)] : c.tensor(w).shape
        let planeRole = packed ? "plane (packed +1/−1 masks: [2, out channels, ⌈\(rowLength) weights per row / 64⌉] words)" : "plane"
        var edges: [ResidualEdge] = []
        for e in 0..<edgeCount {
            let plane = e == 0 ? 1 : 2 + 2 * e, scales = plane == 1 ? 3 : plane + 1
            let t = try c.input(plane), s = try c.input(scales)
            try c.requireConstant(t, "edge \(e) plane"); try c.require(t, dtype: packed ? .bits64 : .int8, "edge \(e) plane")
            try c.requireShape(t, planeShape, "edge \(e) \(planeRole)")
            try c.requireConstant(s, "edge \(e) scales"); try c.require(s, dtype: .float32, "edge \(e) scales")
            try c.requireShape(s, [g.outC, groups], "edge \(e) scales (one per output channel and group of \(groupSize) input channels)")
            let level = levels[e]
            if e == 0 && level != 0 { throw c.fail("edge_levels \(levels): edge 0 must have level 0") }
            if level < 0 || level > Layout.maxResidualLevel {
                throw c.fail("edge_levels \(levels): level \(level) outside 0...\(Layout.maxResidualLevel)")
            }
            if e > 0 && level < levels[e - 1] {
                throw c.fail("edge_levels \(levels) must not decrease: edge \(e) refines edge \(e - 1)'s residual")
            }
            edges.append(ResidualEdge(plane: t, packed: packed, scales: s, level: level))
        }
        // Optional k-bit activations: the uint8 codes clamped to 2^M − 1, unsigned (zero point 0), step input_scale.
        let bits = try c.ints(.activationBits, count: 1, default: [8])[0]
        if !(1...8).contains(bits) { throw c.fail("activation_bits \(bits) outside 1...8") }
        let params = try WeightedOpParameters.make(c, outChannels: g.outC)
        if bits < 8 && params.inputZeroPoint != 0 {
            throw c.fail("activation_bits \(bits) needs input_zero_point 0 (k-bit activations are unsigned), found \(params.inputZeroPoint)")
        }
        let rowOffset = Layout.alignUp(g.inC * g.inH * g.inW)
        let step = TernaryStep(geometry: g, isConv: c.node.op == .conv, layer: c.index, input: x, output: c.output,
                               edges: edges, groupSize: groupSize, p: params,
                               rowLength: rowLength, rowOffset: rowOffset, maxCode: UInt8((1 << bits) - 1))
        // Scratch: the uint8 input, then for packed planes one unpacked int8 row (reference) or the tiled kernel's
        // panel and expanded weight block, whichever is larger (the ISA level can be forced at run time).
        let tail = TernaryConv.supports(g) ? max(rowLength, TernaryConv.scratchByteCount(g, groupSize: groupSize)) : rowLength
        return (step, packed ? rowOffset + tail : g.inC * g.inH * g.inW)
    }

    /// Checks every plane value is −1, 0 or +1 and every scale finite (run once by `Model` on the weights).
    func validateWeights(_ file: ModelFile, node: Node) throws(NibbleError) {
        for (e, edge) in edges.enumerated() {
            let plane = file.constantBytes(edge.plane)
            if edge.packed, let base = plane.baseAddress {
                // Sections and constants are 64-byte aligned (FORMAT.md §1), so the words are read in place.
                let words = base.assumingMemoryBound(to: UInt64.self)
                if let bad = TernaryPlanes.firstInvalid(words, rows: geometry.outC, rowLength: rowLength) {
                    let why = bad.bothMasks ? "is set in both the +1 and the −1 mask" : "is a padding bit past the row's \(rowLength) weights and must be 0"
                    throw .malformedModel("node \(layer) '\(node.name)' (\(node.op.name)): edge \(e) plane '\(file.graph.tensors[edge.plane].name)': bit \(bad.position) of output channel \(bad.row) \(why)")
                }
            }
            for i in 0..<(edge.packed ? 0 : plane.count) {
                let v = Int8(bitPattern: plane[i])
                if v < -1 || v > 1 {
                    throw .malformedModel("node \(layer) '\(node.name)' (\(node.op.name)): edge \(e) plane '\(file.graph.tensors[edge.plane].name)' has value \(v) at element \(i), expected -1, 0 or 1")
                }
            }
            let scales = file.constantBytes(edge.scales)
            for i in 0..<(scales.count / 4) {
                let v = scales.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
                if !v.isFinite {
                    throw .malformedModel("node \(layer) '\(node.name)' (\(node.op.name)): edge \(e) scale \(i) of '\(file.graph.tensors[edge.scales].name)' is \(v), expected a finite float")
                }
            }
        }
    }

    /// Packed planes of a group-1 layer run the tiled kernel (TernaryConv); int8 planes of older files, grouped
    /// convs and NIBBLE_ISA=reference run the reference.
    var usesTiledKernel: Bool {
        edges.first?.packed == true && TernaryConv.supports(geometry) && KernelISA.current != .reference
    }

    var kernelName: String {
        let bits = maxCode == 255 ? "" : " a\(maxCode.nonzeroBitCount)"
        let isa = usesTiledKernel ? KernelISA.current.name : "reference"
        return isConv ? "ternary conv\(bits) (\(isa))" : "ternary fully connected\(bits) (\(isa))"
    }

    @inline(__always)
    func run(_ b: Bindings) {
        let g = geometry
        let y = b.f32(output)
        let q = b.scratch.assumingMemoryBound(to: UInt8.self)
        QuantizeRows.uint8(b.f32(input), count: g.inC &* g.inH &* g.inW, scale: p.inputScale,
                             zeroPoint: p.inputZeroPoint, into: q)
        if maxCode != 255 {
            for i in 0..<(g.inC &* g.inH &* g.inW) { q[i] = Swift.min(q[i], maxCode) }
        }
        let enabled = Swift.min(Int(b.enabledEdges[layer]), edges.count)
        if usesTiledKernel && enabled > 0 {
            // The first edge stores, the last adds bias and clamps (TernaryEdgeOutput): no zeroing, no epilogue pass.
            let scratch = b.scratch + rowOffset
            TernaryConv.prepareInput(g, groupSize: groupSize, input: q, zeroPoint: p.inputZeroPoint, scratch: scratch)
            let chunk = TernaryConv.chunkPixels(g)
            var start = 0
            while start < g.outPixels {
                let count = Swift.min(chunk, g.outPixels &- start)
                TernaryConv.buildPanel(g, groupSize: groupSize, input: q, zeroPoint: p.inputZeroPoint, pixelStart: start, count: count,
                                       scratch: scratch)
                for e in 0..<enabled {
                    let out = TernaryEdgeOutput(y, first: e == 0, last: e == enabled &- 1, bias: b.optionalF32(p.bias),
                                                outputMin: p.outputMin, outputMax: p.outputMax)
                    TernaryConv.accumulateEdge(g, groupSize: groupSize, scratch: scratch, count: count, pixelStart: start,
                                               planes: b.raw(edges[e].plane).assumingMemoryBound(to: UInt64.self),
                                               alpha: b.f32(edges[e].scales), zeroPoint: p.inputZeroPoint, inputScale: p.inputScale,
                                               output: out)
                }
                start &+= count
            }
            return
        }
        y.update(repeating: 0, count: g.outC &* g.outPixels)
        let groups = (g.inCPerGroup + groupSize - 1) / groupSize
        let unpacked = (b.scratch + rowOffset).assumingMemoryBound(to: Int8.self)
        for e in 0..<enabled {
            let edge = edges[e]
            let scales = b.f32(edge.scales)
            for o in 0..<g.outC {
                let row: UnsafePointer<Int8>
                if edge.packed {
                    TernaryPlanes.unpackRow(b.raw(edge.plane).assumingMemoryBound(to: UInt64.self), rows: g.outC,
                                            rowLength: rowLength, row: o, into: unpacked)
                    row = UnsafePointer(unpacked)
                } else {
                    row = UnsafePointer(b.raw(edge.plane).assumingMemoryBound(to: Int8.self) + o &* rowLength)
                }
                TernaryConvReference.accumulateRow(g, outChannel: o, input: q, zeroPoint: p.inputZeroPoint, inputScale: p.inputScale,
                                               row: row, alpha: scales + o &* groups, groupSize: groupSize, output: y)
            }
        }
        TernaryConvReference.epilogue(y, outC: g.outC, pixels: g.outPixels, bias: b.optionalF32(p.bias),
                                  outputMin: p.outputMin, outputMax: p.outputMax)
    }
}
