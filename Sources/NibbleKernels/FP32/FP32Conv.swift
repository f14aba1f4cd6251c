// Public fp32 convolution entry point: picks the ISA build of the shared tiled kernels.
// The x86 ISA modules exist only in the SwiftPM build; the Embedded ARM build (scripts/test-arm) compiles
// these files into one module without them (#if false there), so every level runs the portable kernels.
#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX2
import NibbleKernelsAVX512
#endif

/// fp32 2-D convolution, NCHW input (batch 1), OIHW weights used in place, fused bias and clamp.
public enum FP32Conv {
    /// Floats of scratch `run` needs at any level this host runs; pass a 64-byte aligned pointer.
    /// (Only levels the host supports are asked: their code may not execute elsewhere.)
    public static func scratchFloatCount(_ g: ConvGeometry) -> Int {
        var n = FP32ConvTiled.scratchFloatCount(g)
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        if KernelISA.detected >= .avx2 { n = Swift.max(n, NibbleKernelsAVX2.FP32ConvTiled.scratchFloatCount(g.forAVX2)) }
        if KernelISA.detected >= .avx512 { n = Swift.max(n, NibbleKernelsAVX512.FP32ConvTiled.scratchFloatCount(g.forAVX512)) }
        #endif
        return n
    }

    /// output[outC][outH][outW] = clamp(conv(input, weights) + bias, outputMin, outputMax).
    /// ReLU: outputMin 0, outputMax +inf; no activation: -inf / +inf.
    public static func run(_ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           scratch: UnsafeMutablePointer<Float>, outputMin: Float = -.infinity,
                           outputMax: Float = .infinity, isa: KernelISA = KernelISA.current) {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            NibbleKernelsAVX512.FP32ConvTiled.run(g.forAVX512, input: input, weights: weights, bias: bias, output: output,
                                                  scratch: scratch, outputMin: outputMin, outputMax: outputMax)
        case .avx2:
            NibbleKernelsAVX2.FP32ConvTiled.run(g.forAVX2, input: input, weights: weights, bias: bias, output: output,
                                                scratch: scratch, outputMin: outputMin, outputMax: outputMax)
        #else
        case .avx512, .avx2:
            fallthrough  // no x86 ISA modules in this build: run the portable kernels
        #endif
        case .portable:
            FP32ConvTiled.run(g, input: input, weights: weights, bias: bias, output: output,
                              scratch: scratch, outputMin: outputMin, outputMax: outputMax)
        case .reference:
            FP32ConvReference.run(g, input: input, weights: weights, bias: bias, output: output,
                                  outputMin: outputMin, outputMax: outputMax)
        }
    }
}
