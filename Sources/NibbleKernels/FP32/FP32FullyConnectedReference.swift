// Never tuned: the definition the optimized fp32 fully connected kernels are tested against.

/// Naive y[b][o] = clamp(Σ_i W[o][i]·x[b][i] + bias[o]).
public enum FP32FullyConnectedReference {
    public static func run(inFeatures: Int, outFeatures: Int, batch: Int, input: UnsafePointer<Float>,
                           weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                           output: UnsafeMutablePointer<Float>, outputMin: Float = -.infinity,
                           outputMax: Float = .infinity) {
        for b in 0..<batch {
            for o in 0..<outFeatures {
                var acc: Float = bias?[o] ?? 0
                for i in 0..<inFeatures { acc += weights[o * inFeatures + i] * input[b * inFeatures + i] }
                output[b * outFeatures + o] = Swift.max(Swift.min(acc, outputMax), outputMin)
            }
        }
    }
}
