import NibbleFormat
import NibbleKernels

/// y = x·Wᵀ + b with W stored [out, in] (ONNX Gemm transB=1 layout; the converter transposes others).
/// fp32 or int8 like ConvStep. Input [1, in] (any shape whose trailing dims multiply to `in` and batch 1).
struct FullyConnectedStep {
    let inFeatures: Int, outFeatures: Int
    let input: Int, weights: Int, output: Int
    let precision: Precision
    let p: WeightedOpParameters
    /// int8: each output's weight sum, counted once at load (`Model`, `countingRowSums`) instead of on every run.
    var rowSums: [Int32] = []

    static func make(_ c: NodeChecker) throws(NibbleError) -> (FullyConnectedStep, scratchBytes: Int) {
        let int8 = c.node.precision == .int8
        try c.requireInputs(int8 ? 4...4 : 2...3)
        let x = try c.input(0), w = try c.input(1)
        try c.require(x, dtype: .float32, "input")
        try c.requireConstant(w, "weights")
        try c.require(w, dtype: int8 ? .int8 : .float32, "weights")
        let ws = c.tensor(w).shape
        if ws.count != 2 { throw c.fail("weight shape \(ws), expected [out, in]") }
        let xs = c.tensor(x).shape
        if xs.count != 2 || xs[0] != 1 || xs[1] != ws[1] {
            throw c.fail("input shape \(xs), expected [1, \(ws[1])]")
        }
        try c.requireShape(c.output, [1, ws[0]], "output")
        let step = FullyConnectedStep(inFeatures: ws[1], outFeatures: ws[0], input: x, weights: w, output: c.output,
                                      precision: c.node.precision, p: try WeightedOpParameters.make(c, outChannels: ws[0]))
        let scratch = int8 ? Int8FullyConnected.scratchByteCount(inFeatures: ws[1], outFeatures: ws[0], batch: 1) : 0
        return (step, scratch)
    }

    /// The step with its int8 weight sums counted from `file`'s weights (fp32: unchanged).
    func countingRowSums(_ file: ModelFile) -> FullyConnectedStep {
        guard precision == .int8, let w = file.constantBytes(weights).baseAddress else { return self }
        var step = self
        step.rowSums = Int8FullyConnected.rowSums(weights: w.assumingMemoryBound(to: Int8.self), inFeatures: inFeatures,
                                                  outFeatures: outFeatures)
        return step
    }

    var kernelName: String {
        precision == .int8 ? "int8 fully connected (\(KernelISA.current.name))" : "fp32 fully connected (\(KernelISA.current.name))"
    }

    @inline(__always)
    func run(_ b: Bindings) { runTask(b, task: 0, of: 1, scratch: b.scratch) }

    /// Task `task` of `tasks`: a contiguous range of output features (whole 4-row tiles), each computed as in
    /// the whole layer.
    @inline(__always)
    func runTask(_ b: Bindings, task: Int, of tasks: Int, scratch: UnsafeMutableRawPointer) {
        let r = TaskSplit.range(outFeatures, task: task, of: tasks, multiple: 4)
        if r.isEmpty { return }
        let first = r.lowerBound
        let bias = b.optionalF32(p.bias).map { $0 + first }
        if precision == .int8 {
            rowSums.withUnsafeBufferPointer { sums in
                Int8FullyConnected.run(inFeatures: inFeatures, outFeatures: r.count, batch: 1, input: b.f32(input),
                                       inputScale: p.inputScale, inputZeroPoint: p.inputZeroPoint,
                                       weights: b.raw(weights).assumingMemoryBound(to: Int8.self) + first * inFeatures,
                                       weightScales: b.f32(p.weightScales) + first, bias: bias, output: b.f32(output) + first,
                                       scratch: scratch, outputMin: p.outputMin, outputMax: p.outputMax,
                                       rowSums: sums.count == outFeatures ? sums.baseAddress.map { $0 + first } : nil)
            }
        } else {
            FP32FullyConnected.run(inFeatures: inFeatures, outFeatures: r.count, batch: 1, input: b.f32(input),
                                   weights: b.f32(weights) + first * inFeatures, bias: bias, output: b.f32(output) + first,
                                   outputMin: p.outputMin, outputMax: p.outputMax)
        }
    }
}
