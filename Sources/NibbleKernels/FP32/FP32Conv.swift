// Public fp32 convolution entry point: picks the ISA build of the shared tiled kernels.
import NibbleKernelsAVX2
import NibbleKernelsAVX512

/// fp32 2-D convolution, NCHW input (batch 1), OIHW weights used in place, fused bias and clamp.
public enum FP32Conv {
    /// Floats of scratch `run` needs at any level this host runs; pass a 64-byte aligned pointer.
    /// (Only levels the host supports are asked: their code may not execute elsewhere.)
    public static func scratchFloatCount(_ g: ConvGeometry) -> Int {
        var n = FP32ConvTiled.scratchFloatCount(g)
        if KernelISA.detected >= .avx2 { n = Swift.max(n, NibbleKernelsAVX2.FP32ConvTiled.scratchFloatCount(g.forAVX2)) }
        if KernelISA.detected >= .avx512 { n = Swift.max(n, NibbleKernelsAVX512.FP32ConvTiled.scratchFloatCount(g.forAVX512)) }
        return n
    }

    /// output[outC][outH][outW] = clamp(conv(input, weights) + bias, outputMin, outputMax).
    /// ReLU: outputMin 0, outputMax +inf; no activation: -inf / +inf.
    public static func run(_ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           scratch: UnsafeMutablePointer<Float>, outputMin: Float = -.infinity,
                           outputMax: Float = .infinity, isa: KernelISA = KernelISA.current) {
        switch isa {
        case .avx512:
            NibbleKernelsAVX512.FP32ConvTiled.run(g.forAVX512, input: input, weights: weights, bias: bias, output: output,
                                                  scratch: scratch, outputMin: outputMin, outputMax: outputMax)
        case .avx2:
            NibbleKernelsAVX2.FP32ConvTiled.run(g.forAVX2, input: input, weights: weights, bias: bias, output: output,
                                                scratch: scratch, outputMin: outputMin, outputMax: outputMax)
        case .portable:
            FP32ConvTiled.run(g, input: input, weights: weights, bias: bias, output: output,
                              scratch: scratch, outputMin: outputMin, outputMax: outputMax)
        case .reference:
            FP32ConvReference.run(g, input: input, weights: weights, bias: bias, output: output,
                                  outputMin: outputMin, outputMax: outputMax)
        }
    }
}
