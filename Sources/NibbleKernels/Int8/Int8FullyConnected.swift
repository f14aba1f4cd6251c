// Public int8 fully connected entry point: picks the ISA build (VNNI on AVX-512).
// The x86 ISA modules exist only in the SwiftPM build; the Embedded ARM build (scripts/test-arm) compiles
// these files into one module without them (#if false there), so every level runs the portable kernels.
#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX2
import NibbleKernelsAVX512
#endif

/// y[b][o] = clamp(Σ_i (q[b][i] - zp)·W[o][i] · inputScale · weightScales[o] + bias[o]);
/// W int8 row-major [outFeatures][inFeatures], used in place. `rowSums`: Σ_i W[o][i] per output (`rowSums(weights:…)`),
/// computed once by the caller (a model at load); without them each run counts them again.
public enum Int8FullyConnected {
    /// Bytes of scratch `run` needs (any level); pass a 64-byte aligned pointer.
    public static func scratchByteCount(inFeatures: Int, outFeatures: Int, batch: Int) -> Int {
        Int8FullyConnectedTiled.scratchByteCount(inFeatures: inFeatures, outFeatures: outFeatures, batch: batch)
    }

    /// Σ_i W[o][i] for every output feature: what `run` takes as `rowSums`.
    public static func rowSums(weights: UnsafePointer<Int8>, inFeatures: Int, outFeatures: Int) -> [Int32] {
        var sums = [Int32](repeating: 0, count: outFeatures)
        sums.withUnsafeMutableBufferPointer {
            if let base = $0.baseAddress { Int8Quantization.rowSums(weights, rows: outFeatures, length: inFeatures, into: base) }
        }
        return sums
    }

    public static func run(inFeatures: Int, outFeatures: Int, batch: Int, input: UnsafePointer<Float>,
                           inputScale: Float, inputZeroPoint: Int32, weights: UnsafePointer<Int8>,
                           weightScales: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                           output: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer,
                           outputMin: Float = -.infinity, outputMax: Float = .infinity,
                           rowSums: UnsafePointer<Int32>? = nil, isa: KernelISA = KernelISA.current) {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            NibbleKernelsAVX512.Int8FullyConnectedTiled.run(inFeatures: inFeatures, outFeatures: outFeatures, batch: batch,
                input: input, inputScale: inputScale, inputZeroPoint: inputZeroPoint, weights: weights,
                weightScales: weightScales, bias: bias, output: output, scratch: scratch,
                outputMin: outputMin, outputMax: outputMax, rowSums: rowSums)
        case .avx2:
            NibbleKernelsAVX2.Int8FullyConnectedTiled.run(inFeatures: inFeatures, outFeatures: outFeatures, batch: batch,
                input: input, inputScale: inputScale, inputZeroPoint: inputZeroPoint, weights: weights,
                weightScales: weightScales, bias: bias, output: output, scratch: scratch,
                outputMin: outputMin, outputMax: outputMax, rowSums: rowSums)
        #else
        case .avx512, .avx2:
            fallthrough  // no x86 ISA modules in this build: run the portable kernels
        #endif
        case .portable:
            Int8FullyConnectedTiled.run(inFeatures: inFeatures, outFeatures: outFeatures, batch: batch,
                input: input, inputScale: inputScale, inputZeroPoint: inputZeroPoint, weights: weights,
                weightScales: weightScales, bias: bias, output: output, scratch: scratch,
                outputMin: outputMin, outputMax: outputMax, rowSums: rowSums)
        case .reference:
            Int8FullyConnectedReference.run(inFeatures: inFeatures, outFeatures: outFeatures, batch: batch,
                input: input, inputScale: inputScale, inputZeroPoint: inputZeroPoint, weights: weights,
                weightScales: weightScales, bias: bias, output: output, outputMin: outputMin, outputMax: outputMax)
        }
    }
}
