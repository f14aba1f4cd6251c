// Public fp32 fully connected entry point (ONNX Gemm with transB = 1): picks the ISA build.
// The x86 ISA modules exist only in the SwiftPM build; the Embedded ARM build (scripts/test-arm) compiles
// these files into one module without them (#if false there), so every level runs the portable kernels.
#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX2
import NibbleKernelsAVX512
#endif

/// y[b][o] = clamp(Σ_i W[o][i]·x[b][i] + bias[o]); W row-major [outFeatures][inFeatures], used in place.
public enum FP32FullyConnected {
    public static func run(inFeatures: Int, outFeatures: Int, batch: Int, input: UnsafePointer<Float>,
                           weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                           output: UnsafeMutablePointer<Float>, outputMin: Float = -.infinity,
                           outputMax: Float = .infinity, isa: KernelISA = KernelISA.current) {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            NibbleKernelsAVX512.FP32FullyConnectedTiled.run(inFeatures: inFeatures, outFeatures: outFeatures, batch: batch,
                input: input, weights: weights, bias: bias, output: output, outputMin: outputMin, outputMax: outputMax)
        case .avx2:
            NibbleKernelsAVX2.FP32FullyConnectedTiled.run(inFeatures: inFeatures, outFeatures: outFeatures, batch: batch,
                input: input, weights: weights, bias: bias, output: output, outputMin: outputMin, outputMax: outputMax)
        #else
        case .avx512, .avx2:
            fallthrough  // no x86 ISA modules in this build: run the portable kernels
        #endif
        case .portable:
            FP32FullyConnectedTiled.run(inFeatures: inFeatures, outFeatures: outFeatures, batch: batch,
                input: input, weights: weights, bias: bias, output: output, outputMin: outputMin, outputMax: outputMax)
        case .reference:
            FP32FullyConnectedReference.run(inFeatures: inFeatures, outFeatures: outFeatures, batch: batch,
                input: input, weights: weights, bias: bias, output: output, outputMin: outputMin, outputMax: outputMax)
        }
    }
}
