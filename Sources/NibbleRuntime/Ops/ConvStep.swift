import NibbleFormat
import NibbleKernels

/// Conv over NCHW (batch 1) with OIHW weights used in place; fp32 or int8 (per-channel weight scales,
/// per-tensor uint8 activations), with an optional fused clamp (ReLU, ReLU6, Clip) and then an optional fused Swish or
/// HardSwish (`FusedActivation`), so an expansion conv with its activation is one producer a line buffer can follow.
struct ConvStep {
    let geometry: ConvGeometry
    let input: Int, weights: Int, output: Int
    let precision: Precision
    let p: WeightedOpParameters
    /// int8 only: the input tensor holds bytes already quantized with `p.inputScale`/`p.inputZeroPoint` (a row-band
    /// window a CAT input was decoded into, see `BandPlan`), not floats.
    var quantizedInput = false
    /// int8: each output channel's weight sum, counted once at load (`Model`, `countingRowSums`) instead of on every run.
    var rowSums: [Int32] = []

    static func make(_ c: NodeChecker) throws(NibbleError) -> (ConvStep, scratchBytes: Int) {
        let int8 = c.node.precision == .int8
        try c.requireInputs(int8 ? 4...4 : 2...3)
        let x = try c.input(0), w = try c.input(1)
        try c.require(x, dtype: .float32, "input")
        try c.requireConstant(w, "weights")
        try c.require(w, dtype: int8 ? .int8 : .float32, "weights")
        let g = try geometry(c, input: x, weights: w)
        let ws = c.tensor(w).shape
        let step = ConvStep(geometry: g, input: x, weights: w, output: c.output, precision: c.node.precision,
                            p: try WeightedOpParameters.make(c, outChannels: ws[0], fusesActivation: true))
        let scratch = int8 ? Int8Conv.scratchByteCount(g) : FP32Conv.scratchFloatCount(g) * 4
        return (step, scratch)
    }

    /// Checks the input `x` and OIHW `weights` shapes, the attributes and the stored output shape against the
    /// conv shape rule; shared by every conv precision (ternary included).
    static func geometry(_ c: NodeChecker, input x: Int, weights w: Int) throws(NibbleError) -> ConvGeometry {
        try geometry(c, input: x, weightShape: c.tensor(w).shape)
    }

    /// The same with the logical OIHW weight shape given (bit-serial weights are stored packed).
    static func geometry(_ c: NodeChecker, input x: Int, weightShape ws: [Int]) throws(NibbleError) -> ConvGeometry {
        let xs = c.tensor(x).shape
        if xs.count != 4 || xs[0] != 1 { throw c.fail("input shape \(xs), expected [1, C, H, W]") }
        if ws.count != 4 { throw c.fail("weight shape \(ws), expected [O, C/group, kH, kW]") }
        let kernel = try c.ints(.kernelShape, count: 2, default: [ws[2], ws[3]])
        if kernel != [ws[2], ws[3]] { throw c.fail("kernel_shape \(kernel) disagrees with weights \(ws)") }
        let strides = try c.ints(.strides, count: 2, default: [1, 1])
        let pads = try c.ints(.pads, count: 4, default: [0, 0, 0, 0])
        let dil = try c.ints(.dilations, count: 2, default: [1, 1])
        let group = try c.ints(.group, count: 1, default: [1])[0]
        if strides.contains(where: { $0 < 1 }) || dil.contains(where: { $0 < 1 }) || pads.contains(where: { $0 < 0 }) {
            throw c.fail("strides \(strides), dilations \(dil) must be >= 1 and pads \(pads) >= 0")
        }
        let inC = xs[1], outC = ws[0]
        if group < 1 || inC % group != 0 || outC % group != 0 || ws[1] != inC / group {
            throw c.fail("group \(group) does not fit input channels \(inC), output channels \(outC), weights \(ws)")
        }
        let effH = (ws[2] - 1) * dil[0] + 1, effW = (ws[3] - 1) * dil[1] + 1
        let outH = (xs[2] + pads[0] + pads[2] - effH) / strides[0] + 1
        let outW = (xs[3] + pads[1] + pads[3] - effW) / strides[1] + 1
        if xs[2] + pads[0] + pads[2] < effH || xs[3] + pads[1] + pads[3] < effW {
            throw c.fail("kernel \(kernel) with dilations \(dil) is larger than the padded input \(xs)")
        }
        try c.requireShape(c.output, [1, outC, outH, outW], "output")
        try c.require(c.output, dtype: .float32, "output")
        // The kernels' scratch holds im2col panels of up to K × outH·outW values: refuse sizes that would
        // overflow or could never be allocated, before any kernel computes them.
        let (panel, overflow) = (ws[1] * ws[2] * ws[3]).multipliedReportingOverflow(by: outH * outW)
        if overflow || panel > Layout.maxScratchElements {
            throw c.fail("im2col of \(ws[1] * ws[2] * ws[3]) × \(outH * outW) values exceeds the limit of \(Layout.maxScratchElements)")
        }
        return ConvGeometry(inC: inC, inH: xs[2], inW: xs[3], outC: outC, outH: outH, outW: outW,
                             kernelH: ws[2], kernelW: ws[3], strideH: strides[0], strideW: strides[1],
                             padTop: pads[0], padLeft: pads[1], dilationH: dil[0], dilationW: dil[1], groups: group)
    }

    /// The step with its int8 weight sums counted from `file`'s weights (fp32 and depthwise: unchanged).
    func countingRowSums(_ file: ModelFile) -> ConvStep {
        guard precision == .int8, Int8Conv.usesRowSums(geometry), let w = file.constantBytes(weights).baseAddress else { return self }
        var step = self
        step.rowSums = Int8Conv.rowSums(geometry, weights: w.assumingMemoryBound(to: Int8.self))
        return step
    }

    /// The counted weight sums from output channel `first` on, or nil (each run counts them).
    @inline(__always)
    func withRowSums(from first: Int, _ body: (UnsafePointer<Int32>?) -> Void) {
        rowSums.withUnsafeBufferPointer { body(rowSums.count == geometry.outC ? $0.baseAddress.map { $0 + first } : nil) }
    }

    var kernelName: String {
        precision == .int8 ? "int8 conv (\(KernelISA.current.name))" : (geometry.groups == geometry.inC && geometry.groups > 1 ? "fp32 depthwise conv (\(KernelISA.current.name))" : "fp32 conv (\(KernelISA.current.name))")
    }

    @inline(__always)
    func run(_ b: Bindings) { runTask(b, task: 0, of: 1, scratch: b.scratch) }

    /// The quantized input from element `offset` on, or nil when the input holds floats.
    @inline(__always)
    func bytes(_ b: Bindings, from offset: Int) -> UnsafePointer<UInt8>? {
        quantizedInput ? UnsafePointer(b.raw(input).assumingMemoryBound(to: UInt8.self)) + offset : nil
    }

    /// Task `task` of `tasks`: a contiguous range of output channels (whole groups when grouped) as a conv of
    /// its own (`ConvSlice`), so every output is computed exactly as in the whole conv.
    /// int8 convs with few output channels and many pixels (a stem conv) split by output pixels instead: a
    /// channel slice would quantize the input and pack every im2col panel again for a short GEMM.
    @inline(__always)
    func runTask(_ b: Bindings, task: Int, of tasks: Int, scratch: UnsafeMutableRawPointer) {
        let g = geometry
        if precision == .int8 && tasks > 1 && g.groups == 1 && g.outC <= 64 && g.outPixels >= 64 * tasks {
            let pixels = TaskSplit.range(g.outPixels, task: task, of: tasks, multiple: 16)
            withRowSums(from: 0) { sums in
                Int8Conv.run(g, input: b.f32(self.input), inputScale: p.inputScale, inputZeroPoint: p.inputZeroPoint,
                             weights: b.raw(weights).assumingMemoryBound(to: Int8.self), weightScales: b.f32(p.weightScales),
                             bias: b.optionalF32(p.bias), output: b.f32(self.output), scratch: scratch, outputMin: p.outputMin,
                             outputMax: p.outputMax, outputPixels: pixels, quantizedInput: bytes(b, from: 0), rowSums: sums)
            }
            if let a = p.activation {
                for o in 0..<g.outC { a.apply(b.f32(self.output) + o * g.outPixels + pixels.lowerBound, count: pixels.count) }
            }
            return
        }
        // Tile rows: 6 for the fp32 microkernel, 4 for the int8 tiles on AVX2 and portable builds.
        guard let s = ConvSlice(geometry, task: task, of: tasks, tileRows: precision == .int8 ? 4 : FP32ConvTiled.tileRows) else { return }
        let input = b.f32(input) + s.firstInput * g.inH * g.inW
        let output = b.f32(output) + s.firstOutput * g.outPixels
        let bias = b.optionalF32(p.bias).map { $0 + s.firstOutput }
        let weightOffset = s.firstOutput * g.reductionLength
        if precision == .int8 {
            withRowSums(from: s.firstOutput) { sums in
                Int8Conv.run(s.geometry, input: input, inputScale: p.inputScale, inputZeroPoint: p.inputZeroPoint,
                             weights: b.raw(weights).assumingMemoryBound(to: Int8.self) + weightOffset,
                             weightScales: b.f32(p.weightScales) + s.firstOutput, bias: bias, output: output, scratch: scratch,
                             outputMin: p.outputMin, outputMax: p.outputMax, quantizedInput: bytes(b, from: s.firstInput * g.inH * g.inW),
                             rowSums: sums)
            }
        } else {
            FP32Conv.run(s.geometry, input: input, weights: b.f32(weights) + weightOffset, bias: bias, output: output,
                         scratch: scratch.assumingMemoryBound(to: Float.self), outputMin: p.outputMin, outputMax: p.outputMax)
        }
        p.activation?.apply(output, count: s.geometry.outC * g.outPixels)
    }
}
