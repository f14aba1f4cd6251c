import NibbleFormat
import NibbleKernels

/// y = x·Wᵀ + b with W stored [out, in] (ONNX Gemm transB=1 layout; the converter transposes others).
/// fp32 or int8 like ConvStep. Input [1, in] (any shape whose trailing dims multiply to `in` and batch 1).
struct FullyConnectedStep {
    let inFeatures: Int, outFeatures: Int
    let input: Int, weights: Int, bias: Int, output: Int
    let precision: Precision
    let weightScales: Int
    let inputScale: Float
    let inputZeroPoint: Int32
    let outputMin: Float, outputMax: Float

    static func make(_ c: NodeChecker) throws(NibbleError) -> (FullyConnectedStep, scratchBytes: Int) {
        let int8 = c.node.precision == .int8
        try c.requireInputs(int8 ? 4...4 : 2...3)
        let x = try c.input(0), w = try c.input(1), b = c.optionalInput(2)
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
        if b != absentTensor {
            try c.requireConstant(b, "bias"); try c.require(b, dtype: .float32, "bias")
            if c.tensor(b).elementCount != ws[0] { throw c.fail("bias has \(c.tensor(b).elementCount) values, expected \(ws[0])") }
        }
        var scales = absentTensor
        var inputScale: Float = 0, zeroPoint: Int32 = 0
        if int8 {
            scales = try c.input(3)
            try c.requireConstant(scales, "weight scales"); try c.require(scales, dtype: .float32, "weight scales")
            if c.tensor(scales).elementCount != ws[0] { throw c.fail("weight scales have \(c.tensor(scales).elementCount) values, expected \(ws[0])") }
            inputScale = try c.float(.inputScale, default: 0)
            if !(inputScale > 0) || !inputScale.isFinite { throw c.fail("input_scale \(inputScale) must be a positive finite float") }
            let zp = try c.ints(.inputZeroPoint, count: 1)[0]
            if zp < 0 || zp > 255 { throw c.fail("input_zero_point \(zp) outside 0...255") }
            zeroPoint = Int32(zp)
        }
        let minV = try c.float(.outputMin, default: -.infinity), maxV = try c.float(.outputMax, default: .infinity)
        if minV > maxV { throw c.fail("output_min \(minV) > output_max \(maxV)") }
        let step = FullyConnectedStep(inFeatures: ws[1], outFeatures: ws[0], input: x, weights: w, bias: b, output: c.output,
                                      precision: c.node.precision, weightScales: scales, inputScale: inputScale,
                                      inputZeroPoint: zeroPoint, outputMin: minV, outputMax: maxV)
        let scratch = int8 ? Int8FullyConnected.scratchByteCount(inFeatures: ws[1], outFeatures: ws[0], batch: 1) : 0
        return (step, scratch)
    }

    var kernelName: String {
        precision == .int8 ? "int8 fully connected (\(KernelISA.current.name))" : "fp32 fully connected (\(KernelISA.current.name))"
    }

    @inline(__always)
    func run(_ b: Bindings) {
        if precision == .int8 {
            Int8FullyConnected.run(inFeatures: inFeatures, outFeatures: outFeatures, batch: 1, input: b.f32(input),
                                   inputScale: inputScale, inputZeroPoint: inputZeroPoint,
                                   weights: b.raw(weights).assumingMemoryBound(to: Int8.self), weightScales: b.f32(weightScales),
                                   bias: b.optionalF32(bias), output: b.f32(output), scratch: b.scratch,
                                   outputMin: outputMin, outputMax: outputMax)
        } else {
            FP32FullyConnected.run(inFeatures: inFeatures, outFeatures: outFeatures, batch: 1, input: b.f32(input),
                                   weights: b.f32(weights), bias: b.optionalF32(bias), output: b.f32(output),
                                   outputMin: outputMin, outputMax: outputMax)
        }
    }
}
