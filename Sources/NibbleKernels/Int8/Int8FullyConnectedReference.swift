// Never tuned: the definition the optimized int8 fully connected kernels are tested against (bit-exactly).

/// Naive int8 fully connected: acc = Σ_i (q[b][i] - zp)·W[o][i] in int32, then the shared epilogue.
public enum Int8FullyConnectedReference {
    public static func run(inFeatures: Int, outFeatures: Int, batch: Int, input: UnsafePointer<Float>,
                           inputScale: Float, inputZeroPoint: Int32, weights: UnsafePointer<Int8>,
                           weightScales: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                           output: UnsafeMutablePointer<Float>, outputMin: Float = -.infinity,
                           outputMax: Float = .infinity) {
        for b in 0..<batch {
            for o in 0..<outFeatures {
                var acc: Int32 = 0
                for i in 0..<inFeatures {
                    let q = Int32(Int8Quantization.quantize(input[b * inFeatures + i], scale: inputScale,
                                                            zeroPoint: inputZeroPoint))
                    acc += (q - inputZeroPoint) * Int32(weights[o * inFeatures + i])
                }
                output[b * outFeatures + o] = Int8Quantization.dequantize(
                    acc, scale: inputScale * weightScales[o], bias: bias?[o] ?? 0,
                    outputMin: outputMin, outputMax: outputMax)
            }
        }
    }
}
