import NibbleFormat
import NibbleKernels

/// Conv or FullyConnected with `wKaM` bit-serial weights (docs/FORMAT.md §4.5), run by `BinaryConv`:
/// the float input is quantized with one step (q = clamp(round_half_even(x/step), 0, 2^M − 1), or its sign
/// for bipolar 1-bit), packed into bit-planes, convolved with the packed weight planes in the file, and
/// y = clamp(acc · weightScale[o] · step + B[o]).
/// Inputs [X, W (bits64 [K, O·kH·kW, ⌈C/64⌉]), B or absent, weight scales (float32 [O])].
/// FullyConnected runs as a 1×1 conv over one pixel.
struct BitSerialStep {
    let geometry: ConvGeometry
    let isConv: Bool
    let input: Int, weights: Int, output: Int
    let weightScales: Int
    let activationStep: Float
    let activationLayout: BitPlaneLayout
    let weightLayout: BitPlaneLayout
    let p: WeightedOpParameters
    /// Scratch byte offsets (64-byte aligned): combined scales, packed input, kernel scratch.
    let scalesOffset: Int, packedOffset: Int, kernelOffset: Int
    /// Set by `Model.chainingBitSerial` when this step's output feeds only the next bit-serial step: the output tensor
    /// then holds that step's 1-bit packed input, not floats — bit = signs[o] · sum ≥ thresholds[o]
    /// (BinaryChainThresholds, from this step's scales, bias and clamp and the next step's packing).
    var packsNext: (thresholds: [Int32], signs: [Int32])? = nil
    /// Set on that next step: its input tensor already holds its packed activations.
    var inputIsPacked = false
    /// Set by `Model.foldingResidualAdds` when this step's float output is read only by the next step, a residual Add
    /// of the same shape (`BinaryStep.isFolded`): the epilogue writes the Add's output, clamp(y + skip, low, high).
    var residualAdd: (skip: Int, output: Int, low: Float, high: Float)? = nil
    /// With `inputIsPacked`: phase 0 copies the packed input into scratch, because the folded Add's output may share
    /// its bytes (the plan made that output live only from the Add on); a few KiB, 1/32 of the float map.
    var copiesPackedInput = false
    /// Set by `Model.handingOffPackedInputs` on a step whose float output (or folded Add's) the next bit-serial steps
    /// read as their 1-bit input: the epilogue also writes their packed input at this offset in the arena's scratch,
    /// above every step's own scratch, bit = y ≥ threshold.
    var packsCopy: (scratchOffset: Int, threshold: Float)? = nil
    /// Set on those readers: their packed input is already at this scratch offset, so they skip packing.
    var packedInputOffset: Int? = nil

    static func make(_ c: NodeChecker) throws(NibbleError) -> (BitSerialStep, scratchBytes: Int) {
        try c.requireInputs(4...4)
        let x = try c.input(0), w = try c.input(1), s = try c.input(3)
        try c.require(x, dtype: .float32, "input")
        try c.requireConstant(w, "packed weights"); try c.require(w, dtype: .bits64, "packed weights")
        try c.requireConstant(s, "weight scales"); try c.require(s, dtype: .float32, "weight scales")
        let outC = c.tensor(s).elementCount
        if c.tensor(s).shape.count != 1 { throw c.fail("weight scales '\(c.tensor(s).name)' have shape \(c.tensor(s).shape), expected [out channels]") }

        let k = try c.ints(.weightBits, count: 1)[0], m = try c.ints(.activationBits, count: 1)[0]
        let weCode = try c.ints(.weightEncoding, count: 1)[0], aeCode = try c.ints(.activationEncoding, count: 1)[0]
        guard weCode >= 0 && weCode <= 2, let we = BitPlaneEncoding(rawValue: UInt8(weCode)) else {
            throw c.fail("weight_encoding \(weCode), expected 0 (bipolar), 1 (unsigned) or 2 (two's complement)")
        }
        guard aeCode >= 0 && aeCode <= 1, let ae = BitPlaneEncoding(rawValue: UInt8(aeCode)) else {
            throw c.fail("activation_encoding \(aeCode), expected 0 (bipolar) or 1 (unsigned); signed activations are not supported")
        }
        if !(1...4).contains(k) || (we == .bipolar && k != 1) {
            throw c.fail("weight_bits \(k) invalid for \(we) weights: expected \(we == .bipolar ? "1" : "1...4")")
        }
        if !(1...4).contains(m) || (ae == .bipolar && m != 1) {
            throw c.fail("activation_bits \(m) invalid for \(ae) activations: expected \(ae == .bipolar ? "1" : "1...4")")
        }
        if !BinaryConv.supports(activations: ae, weights: we) {
            throw c.fail("\(ae) activations × \(we) weights are not supported; bipolar activations need bipolar weights")
        }
        let step = try c.float(.activationStep, default: 0)
        if !(step > 0) || !step.isFinite { throw c.fail("activation_step \(step) must be a positive finite float") }

        let g: ConvGeometry
        let isConv = c.node.op == .conv
        if isConv {
            let kernel = try c.ints(.kernelShape, count: 2)
            let xs = c.tensor(x).shape
            if xs.count != 4 { throw c.fail("input shape \(xs), expected [1, C, H, W]") }
            if kernel.contains(where: { $0 < 1 || $0 > 4096 }) { throw c.fail("kernel_shape \(kernel) must be in 1...4096") }
            g = try ConvStep.geometry(c, input: x, weightShape: [outC, xs[1], kernel[0], kernel[1]])
            if g.groups != 1 { throw c.fail("group \(g.groups): bit-serial convs take group 1 only (keep grouped convs int8)") }
        } else {
            let xs = c.tensor(x).shape
            if xs.count != 2 || xs[0] != 1 { throw c.fail("input shape \(xs), expected [1, in]") }
            try c.requireShape(c.output, [1, outC], "output")
            try c.require(c.output, dtype: .float32, "output")
            g = ConvGeometry(inC: xs[1], inH: 1, inW: 1, outC: outC, outH: 1, outW: 1, kernelH: 1, kernelW: 1)
        }
        if ae == .bipolar && g.kernelH * g.kernelW > 64 {
            throw c.fail("bipolar activations take kernels of up to 64 taps, got \(g.kernelH)×\(g.kernelW)")
        }
        let wl = BitPlaneLayout.weights(outChannels: g.outC, inChannels: g.inC, kernelH: g.kernelH, kernelW: g.kernelW,
                                        encoding: we, bits: k)
        try c.requireShape(w, [k, wl.vectors, wl.wordsPerVector],
                           "packed weights ([weight bits, out channels × kH × kW, ⌈in channels / 64⌉] words)")
        let al = BitPlaneLayout.activations(channels: g.inC, height: g.inH, width: g.inW, encoding: ae, bits: m)
        let params = try WeightedOpParameters.make(c, outChannels: g.outC)

        let scalesOffset = 0
        let packedOffset = Layout.alignUp(scalesOffset + 4 * g.outC)
        let kernelOffset = Layout.alignUp(packedOffset + 8 * al.wordCount)
        let total = kernelOffset + BinaryConv.scratchByteCount(g, activationBits: m, weightBits: k, activationEncoding: ae)
        let stepValue = BitSerialStep(geometry: g, isConv: isConv, input: x, weights: w, output: c.output, weightScales: s,
                                      activationStep: step, activationLayout: al, weightLayout: wl, p: params,
                                      scalesOffset: scalesOffset, packedOffset: packedOffset,
                                      kernelOffset: kernelOffset)
        return (stepValue, total)
    }

    /// Checks that the bits past the input channels in each vector's last word are zero (the kernels count
    /// them) and that every weight scale is finite (run once by `Model` on the weights).
    func validateWeights(_ file: ModelFile, node: Node, index: Int) throws(NibbleError) {
        let words = file.constantBytes(weights)
        let wpv = weightLayout.wordsPerVector
        let used = weightLayout.channels - (wpv - 1) * 64
        let mask: UInt64 = used == 64 ? 0 : ~((1 << UInt64(used)) - 1)
        var i = wpv - 1
        while i < weightLayout.wordCount {
            let v = UInt64(littleEndian: words.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
            if v & mask != 0 {
                throw .malformedModel("node \(index) '\(node.name)' (\(node.op.name)): packed weights '\(file.graph.tensors[weights].name)' word \(i) has bits set past input channel \(weightLayout.channels), expected zero padding")
            }
            i += wpv
        }
        let scales = file.constantBytes(weightScales)
        for j in 0..<(scales.count / 4) {
            let v = scales.loadUnaligned(fromByteOffset: 4 * j, as: Float.self)
            if !v.isFinite {
                throw .malformedModel("node \(index) '\(node.name)' (\(node.op.name)): weight scale \(j) of '\(file.graph.tensors[weightScales].name)' is \(v), expected a finite float")
            }
        }
    }

    var kernelName: String {
        "w\(weightLayout.bits)a\(activationLayout.bits) bit-serial \(isConv ? "conv" : "fully connected") (\(KernelISA.current.name))"
    }

    func run(_ b: Bindings) {
        runTask(b, phase: 0, task: 0, of: 1, scratch: b.scratch + kernelOffset)
        runTask(b, phase: 1, task: 0, of: 1, scratch: b.scratch + kernelOffset)
    }

    /// Phase 0: a range of the combined scales and of the packed input pixels (bounds at multiples of 8, so each
    /// pixel is packed as in one pass). Phase 1, after all of phase 0: the conv for a range of output pixels when
    /// the layer has few output channels and many pixels (each task then gathers only its own panels), else a
    /// range of output channels (whole 4-row tiles; small maps divide badly into 8-pixel panels).
    /// Out of line: `run` and the workers share one copy (code size of the embedded core).
    @inline(never)
    func runTask(_ b: Bindings, phase: Int, task: Int, of tasks: Int, scratch: UnsafeMutableRawPointer) {
        let g = geometry
        let scales = (b.scratch + scalesOffset).assumingMemoryBound(to: Float.self)
        let packed = (b.scratch + packedOffset).assumingMemoryBound(to: UInt64.self)
        if phase == 0 {
            let ws = b.f32(weightScales)
            for o in TaskSplit.range(g.outC, task: task, of: tasks) { scales[o] = ws[o] * activationStep }
            let pixels = TaskSplit.range(activationLayout.vectors, task: task, of: tasks, multiple: 8)
            if !pixels.isEmpty && !inputIsPacked && packedInputOffset == nil {
                BitPacking.packActivations(b.f32(input), step: activationStep, layout: activationLayout, into: packed, pixels: pixels)
            } else if !pixels.isEmpty && copiesPackedInput {
                // One plane: chained inputs are 1-bit.
                let words = activationLayout.wordsPerVector, start = pixels.lowerBound * words
                (packed + start).update(from: b.raw(input).assumingMemoryBound(to: UInt64.self) + start, count: pixels.count * words)
            }
            return
        }
        let byPixels = tasks > 1 && g.outC <= 128 && g.outPixels >= 32 * tasks
        // Packed output: a task owns whole 64-channel output words (BinaryConv.run's contract).
        let wholeWords = packsNext != nil || packsCopy != nil
        let channels = byPixels ? 0..<g.outC : TaskSplit.range(g.outC, task: task, of: tasks, multiple: wholeWords ? 64 : 4)
        let pixels = byPixels ? TaskSplit.range(g.outPixels, task: task, of: tasks, multiple: 8) : 0..<g.outPixels
        if channels.isEmpty || pixels.isEmpty { return }
        let activations = packedInputOffset.map { UnsafePointer((b.scratch + $0).assumingMemoryBound(to: UInt64.self)) }
            ?? (inputIsPacked && !copiesPackedInput ? UnsafePointer(b.raw(input).assumingMemoryBound(to: UInt64.self)) : UnsafePointer(packed))
        guard let packsNext else {
            conv(b, activations: activations, scratch: scratch, channels: channels, pixels: pixels, packedOutput: nil)
            return
        }
        packsNext.thresholds.withUnsafeBufferPointer { t in packsNext.signs.withUnsafeBufferPointer { sg in
            conv(b, activations: activations, scratch: scratch, channels: channels, pixels: pixels,
                 packedOutput: (b.raw(output).assumingMemoryBound(to: UInt64.self), t.baseAddress!, sg.baseAddress!))
        }}
    }

    /// The kernel call of phase 1: floats (with the folded Add and the packed copy, when set) or the chained packed
    /// output. One call site, out of line: BinaryConv.run's dispatch is inlined once (code size of the embedded core).
    @inline(never)
    private func conv(_ b: Bindings, activations: UnsafePointer<UInt64>, scratch: UnsafeMutableRawPointer, channels: Range<Int>,
                      pixels: Range<Int>,
                      packedOutput: (words: UnsafeMutablePointer<UInt64>, thresholds: UnsafePointer<Int32>, signs: UnsafePointer<Int32>)?) {
        let floats = packedOutput == nil
        let residual = floats ? residualAdd.map { (values: UnsafePointer(b.f32($0.skip)), min: $0.low, max: $0.high) } : nil
        let copy = floats ? packsCopy.map { (words: (b.scratch + $0.scratchOffset).assumingMemoryBound(to: UInt64.self), threshold: $0.threshold) } : nil
        BinaryConv.run(geometry, activations: activations, activationLayout: activationLayout,
                       weights: UnsafePointer(b.raw(weights).assumingMemoryBound(to: UInt64.self)), weightLayout: weightLayout,
                       scales: (b.scratch + scalesOffset).assumingMemoryBound(to: Float.self), bias: floats ? b.optionalF32(p.bias) : nil,
                       accumulators: nil, output: floats ? b.f32(residualAdd?.output ?? output) : nil, scratch: scratch,
                       outputMin: p.outputMin, outputMax: p.outputMax, outputChannels: channels, outputPixels: pixels,
                       packedOutput: packedOutput, residual: residual, packedCopy: copy)
    }
}
