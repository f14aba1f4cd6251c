import NibbleFormat
import NibbleKernels

/// Conv or FullyConnected with sparse weights (docs/FORMAT.md §4.6) used in place from the file: FullyConnected and
/// 1x1 convs (stride 1, no padding, group 1) run `SparseGEMM` (CSR or N:M); other convs with stride 1, dilation 1 and
/// group 1 run the direct sparse convolution `SparseConv` (CSR only). Values are fp32, or int8 with one scale per
/// output channel and the int8 input quantization (input_scale, input_zero_point) of precision int8.
/// Inputs: CSR [X, V, B or absent, S or absent, column indices (int32 [nnz]), row pointers (int32 [O+1])];
/// N:M [X, V ([O, slots]), B or absent, S or absent, slot indices (uint8 [O, ⌈slots/4⌉])].
struct SparseStep {
    let isConv: Bool
    let rows: Int, columns: Int, pixels: Int
    /// 0 CSR, 1 N:M (the `sparse_format` codes).
    let format: Int
    let n: Int, m: Int
    let int8: Bool
    /// Set for convs that run `SparseConv` (K×K or padded); nil for the GEMM forms.
    let direct: ConvGeometry?
    let input: Int, values: Int, indices: Int, rowPointers: Int, output: Int
    let p: WeightedOpParameters

    static func make(_ c: NodeChecker) throws(NibbleError) -> (SparseStep, scratchBytes: Int) {
        let format = try c.ints(.sparseFormat, count: 1)[0]
        if format != 0 && format != 1 { throw c.fail("sparse_format \(format), expected 0 (CSR) or 1 (N:M)") }
        try c.requireInputs(format == 0 ? 6...6 : 5...5)
        let x = try c.input(0), v = try c.input(1), ix = try c.input(4)
        try c.require(x, dtype: .float32, "input")
        try c.requireConstant(v, "sparse values")
        let int8 = c.tensor(v).dtype == .int8
        if !int8 { try c.require(v, dtype: .float32, "sparse values") }
        if !int8 && c.optionalInput(3) != absentTensor { throw c.fail("input 3 (weight scales) must be absent for float32 values") }
        try c.requireConstant(ix, format == 0 ? "column indices" : "slot indices")

        // Output channels: from the row pointers (CSR) or the values' first dimension (N:M).
        var rp = absentTensor, rows: Int
        var n = 0, m = 0
        if format == 0 {
            rp = try c.input(5)
            try c.requireConstant(rp, "row pointers"); try c.require(rp, dtype: .int32, "row pointers")
            try c.require(ix, dtype: .int32, "column indices")
            if c.tensor(rp).shape.count != 1 || c.tensor(rp).shape[0] < 2 {
                throw c.fail("row pointers '\(c.tensor(rp).name)' have shape \(c.tensor(rp).shape), expected [out channels + 1]")
            }
            rows = c.tensor(rp).shape[0] - 1
            if c.tensor(v).shape.count != 1 || c.tensor(ix).shape != c.tensor(v).shape {
                throw c.fail("sparse values \(c.tensor(v).shape) and column indices \(c.tensor(ix).shape) must both have shape [nonzeros]")
            }
        } else {
            let nm = try c.ints(.sparseNM, count: 2)
            n = nm[0]; m = nm[1]
            if !SparseNM.supports(n: n, m: m) { throw c.fail("sparse_nm \(nm), expected N:M with 1 ≤ N < M ≤ 4") }
            try c.require(ix, dtype: .uint8, "slot indices")
            if c.tensor(v).shape.count != 2 { throw c.fail("sparse values have shape \(c.tensor(v).shape), expected [out channels, slots]") }
            rows = c.tensor(v).shape[0]
        }
        let params = try WeightedOpParameters.make(c, outChannels: rows, int8Weights: int8)

        let isConv = c.node.op == .conv
        let columns: Int, pixels: Int
        let xs = c.tensor(x).shape
        var direct: ConvGeometry? = nil
        if isConv {
            if xs.count != 4 { throw c.fail("input shape \(xs), expected [1, C, H, W]") }
            let kernel = try c.ints(.kernelShape, count: 2, default: [1, 1])
            if kernel.contains(where: { $0 < 1 || $0 > 4096 }) { throw c.fail("kernel_shape \(kernel) must be in 1...4096") }
            let g = try ConvStep.geometry(c, input: x, weightShape: [rows, xs[1], kernel[0], kernel[1]])
            let gemm = kernel == [1, 1] && g.groups == 1 && g.strideH == 1 && g.strideW == 1 && g.padTop == 0 && g.padLeft == 0
                && g.outH == g.inH && g.outW == g.inW
            if !gemm {
                if format != 0 || !SparseConv.supports(g) {
                    throw c.fail("sparse convs other than 1x1 (stride 1, no padding) need CSR, stride 1, dilation 1 and group 1; got \(format == 0 ? "CSR" : "N:M"), kernel \(kernel), strides [\(g.strideH), \(g.strideW)], dilations [\(g.dilationH), \(g.dilationW)], group \(g.groups)")
                }
                direct = g
            }
            columns = g.reductionLength; pixels = g.outH * g.outW
        } else {
            if xs.count != 2 || xs[0] != 1 { throw c.fail("input shape \(xs), expected [1, in]") }
            try c.requireShape(c.output, [1, rows], "output")
            try c.require(c.output, dtype: .float32, "output")
            columns = xs[1]; pixels = 1
        }
        if format == 1 {
            let slots = SparseNM.slotsPerRow(columns: columns, n: n, m: m)
            try c.requireShape(v, [rows, slots], "sparse values ([out channels, ⌈in / M⌉ · N])")
            try c.requireShape(ix, [rows, SparseNM.indexBytesPerRow(columns: columns, n: n, m: m)],
                               "slot indices ([out channels, ⌈slots / 4⌉] bytes)")
        }
        let step = SparseStep(isConv: isConv, rows: rows, columns: columns, pixels: pixels, format: format, n: n, m: m,
                              int8: int8, direct: direct, input: x, values: v, indices: ix, rowPointers: rp, output: c.output, p: params)
        let slots = format == 1 ? SparseNM.slotsPerRow(columns: columns, n: n, m: m) : 0
        if let g = direct { return (step, SparseConv.scratchByteCount(g)) }
        return (step, SparseGEMM.scratchByteCount(nmSlotsPerRow: slots, columns: columns, pixels: pixels, int8: int8))
    }

    /// Checks every index and row pointer (FORMAT.md §4.6) once at load, so the kernels index without checks.
    func validateWeights(_ file: ModelFile, node: Node, index: Int) throws(NibbleError) {
        func fail(_ what: Message) -> NibbleError {
            .malformedModel("node \(index) '\(node.name)' (\(node.op.name)): \(what)")
        }
        let vBytes = file.constantBytes(values), iBytes = file.constantBytes(indices)
        let stored = file.graph.tensors[values].elementCount
        func isZero(_ j: Int) -> Bool {
            int8 ? vBytes.load(fromByteOffset: j, as: Int8.self) == 0 : vBytes.load(fromByteOffset: 4 * j, as: Float.self) == 0
        }
        let problem: String?
        if format == 0 {
            let rpBytes = file.constantBytes(rowPointers)
            let rp = rpBytes.baseAddress!.assumingMemoryBound(to: Int32.self)
            let ci = iBytes.baseAddress!.assumingMemoryBound(to: Int32.self)
            // Tensors cannot be empty: a layer without nonzeros stores one unused entry (index 0, value 0).
            let empty = rp[rows] == 0 && stored == 1
            if empty && (ci[0] != 0 || !isZero(0)) {
                throw fail("a CSR layer without nonzeros must store one unused entry with column index 0 and value 0")
            }
            problem = SparseValidation.check(SparseCSR(rows: rows, columns: columns, rowPointers: rp, columnIndices: ci),
                                             valueCount: empty ? 0 : stored, indexCount: empty ? 0 : stored)
            if let problem { throw fail("CSR '\(file.graph.tensors[rowPointers].name)' / '\(file.graph.tensors[indices].name)': \(problem)") }
        } else {
            let s = SparseNM(rows: rows, columns: columns, n: n, m: m, indices: iBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
            problem = SparseValidation.check(s, isZero: isZero)
            if let problem { throw fail("\(n):\(m) slot indices '\(file.graph.tensors[indices].name)': \(problem)") }
        }
    }

    var kernelName: String {
        let op = direct.map { "conv\($0.kernelH)x\($0.kernelW) direct" } ?? (isConv ? "conv1x1" : "fully connected")
        return "sparse \(format == 0 ? "CSR" : "\(n):\(m)") \(int8 ? "int8" : "fp32") \(op) (\(KernelISA.current.name))"
    }

    @inline(__always)
    func run(_ b: Bindings) {
        let layout: SparseLayout
        let ix = UnsafeRawPointer(b.raw(indices))
        if format == 0 {
            layout = .csr(SparseCSR(rows: rows, columns: columns,
                                    rowPointers: UnsafePointer(b.raw(rowPointers).assumingMemoryBound(to: Int32.self)),
                                    columnIndices: ix.assumingMemoryBound(to: Int32.self)))
        } else {
            layout = .nm(SparseNM(rows: rows, columns: columns, n: n, m: m, indices: ix.assumingMemoryBound(to: UInt8.self)))
        }
        if let g = direct, case .csr(let csr) = layout {
            if int8 {
                SparseConv.run(g, csr, values: UnsafePointer(b.raw(values).assumingMemoryBound(to: Int8.self)), input: b.f32(input),
                               inputScale: p.inputScale, inputZeroPoint: p.inputZeroPoint, weightScales: b.f32(p.weightScales),
                               bias: b.optionalF32(p.bias), output: b.f32(output), scratch: b.scratch,
                               outputMin: p.outputMin, outputMax: p.outputMax)
            } else {
                SparseConv.run(g, csr, values: UnsafePointer(b.f32(values)), input: b.f32(input), bias: b.optionalF32(p.bias),
                               output: b.f32(output), scratch: b.scratch, outputMin: p.outputMin, outputMax: p.outputMax)
            }
            return
        }
        if int8 {
            SparseGEMM.run(layout, pixels: pixels, batch: 1, values: UnsafePointer(b.raw(values).assumingMemoryBound(to: Int8.self)),
                           input: b.f32(input), inputScale: p.inputScale, inputZeroPoint: p.inputZeroPoint,
                           weightScales: b.f32(p.weightScales), bias: b.optionalF32(p.bias), output: b.f32(output),
                           scratch: b.scratch, outputMin: p.outputMin, outputMax: p.outputMax)
        } else {
            SparseGEMM.run(layout, pixels: pixels, batch: 1, values: UnsafePointer(b.f32(values)), input: b.f32(input),
                           bias: b.optionalF32(p.bias), output: b.f32(output), scratch: b.scratch,
                           outputMin: p.outputMin, outputMax: p.outputMax)
        }
    }
}
