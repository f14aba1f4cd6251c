// Public int8 fully connected entry point: picks the ISA build (VNNI on AVX-512).
// The x86 ISA modules exist only in the SwiftPM build; the Embedded ARM build (scripts/test-arm) compiles
// these files into one module without them (#if false there), so every level runs the portable kernels.
#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX2
import NibbleKernelsAVX512
#endif

/// y[b][o] = clamp(Σ_i (q[b][i] - zp)·W[o][i] · inputScale · weightScales[o] + bias[o]);
/// W int8 row-major [outFeatures][inFeatures], used in place.
public enum Int8FullyConnected {
    /// Bytes of scratch `run` needs (any level); pass a 64-byte aligned pointer.
    public static func scratchByteCount(inFeatures: Int, outFeatures: Int, batch: Int) -> Int {
        Int8FullyConnectedTiled.scratchByteCount(inFeatures: inFeatures, outFeatures: outFeatures, batch: batch)
    }

    public static func run(inFeatures: Int, outFeatures: Int, batch: Int, input: UnsafePointer<Float>,
                           inputScale: Float, inputZeroPoint: Int32, weights: UnsafePointer<Int8>,
                           weightScales: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                           output: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer,
                           outputMin: Float = -.infinity, outputMax: Float = .infinity,
                           isa: KernelISA = KernelISA.current) {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            NibbleKernelsAVX512.Int8FullyConnectedTiled.run(inFeatures: inFeatures, outFeatures: outFeatures, batch: batch,
                input: input, inputScale: inputScale, inputZeroPoint: inputZeroPoint, weights: weights,
                weightScales: weightScales, bias: bias, output: output, scratch: scratch,
                outputMin: outputMin, outputMax: outputMax)
        case .avx2:
            NibbleKernelsAVX2.Int8FullyConnectedTiled.run(inFeatures: inFeatures, outFeatures: outFeatures, batch: batch,
                input: input, inputScale: inputScale, inputZeroPoint: inputZeroPoint, weights: weights,
                weightScales: weightScales, bias: bias, output: output, scratch: scratch,
                outputMin: outputMin, outputMax: outputMax)
        #else
        case .avx512, .avx2:
            fallthrough  // no x86 ISA modules in this build: run the portable kernels
        #endif
        case .portable:
            Int8FullyConnectedTiled.run(inFeatures: inFeatures, outFeatures: outFeatures, batch: batch,
                input: input, inputScale: inputScale, inputZeroPoint: inputZeroPoint, weights: weights,
                weightScales: weightScales, bias: bias, output: output, scratch: scratch,
                outputMin: outputMin, outputMax: outputMax)
        case .reference:
            Int8FullyConnectedReference.run(inFeatures: inFeatures, outFeatures: outFeatures, batch: batch,
                input: input, inputScale: inputScale, inputZeroPoint: inputZeroPoint, weights: weights,
                weightScales: weightScales, bias: bias, output: output, outputMin: outputMin, outputMax: outputMax)
        }
    }
}
