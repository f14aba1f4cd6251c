// Never tuned: the definition the bit-serial convolutions are tested against, over unpacked integers.

/// Naive integer convolution: acc = Σ a·w over the valid window (padded taps contribute 0), then
/// y = clamp(Float(acc) · scales[o] + bias[o]) through the same shared epilogue as the kernels.
public enum BinaryConvReference {
    /// `activations`: NCHW integer values (±1 or 0…2^m−1), `weights`: OIHW integer values; groups 1.
    public static func run(_ g: ConvGeometry, activations: UnsafePointer<Int8>, weights: UnsafePointer<Int8>,
                           scales: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                           accumulators: UnsafeMutablePointer<Int32>?, output: UnsafeMutablePointer<Float>?,
                           outputMin: Float = -.infinity, outputMax: Float = .infinity) {
        for o in 0..<g.outC {
            for oh in 0..<g.outH {
                for ow in 0..<g.outW {
                    var acc: Int32 = 0
                    for c in 0..<g.inC {
                        for kh in 0..<g.kernelH {
                            let ih = oh * g.strideH - g.padTop + kh * g.dilationH
                            if ih < 0 || ih >= g.inH { continue }
                            for kw in 0..<g.kernelW {
                                let iw = ow * g.strideW - g.padLeft + kw * g.dilationW
                                if iw < 0 || iw >= g.inW { continue }
                                let a = Int32(activations[(c * g.inH + ih) * g.inW + iw])
                                let w = Int32(weights[((o * g.inC + c) * g.kernelH + kh) * g.kernelW + kw])
                                acc += a * w
                            }
                        }
                    }
                    let i = (o * g.outH + oh) * g.outW + ow
                    accumulators?[i] = acc
                    output?[i] = Int8Quantization.dequantize(acc, scale: scales[o], bias: bias?[o] ?? 0,
                                                             outputMin: outputMin, outputMax: outputMax)
                }
            }
        }
    }
}
