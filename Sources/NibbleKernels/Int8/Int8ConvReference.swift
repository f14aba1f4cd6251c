// Never tuned: the definition the optimized int8 convolutions are tested against (bit-exactly:
// quantize and dequantize are the shared Int8Quantization functions, the sum is exact int32).

/// Naive int8 convolution: acc = Σ (q - zp)·w over the valid window (padding is quantized 0.0).
public enum Int8ConvReference {
    public static func run(_ g: ConvGeometry, input: UnsafePointer<Float>, inputScale: Float, inputZeroPoint: Int32,
                           weights: UnsafePointer<Int8>, weightScales: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           outputMin: Float = -.infinity, outputMax: Float = .infinity) {
        let icg = g.inC / g.groups, ocg = g.outC / g.groups
        for o in 0..<g.outC {
            let grp = o / ocg
            for oh in 0..<g.outH {
                for ow in 0..<g.outW {
                    var acc: Int32 = 0
                    for ci in 0..<icg {
                        let c = grp * icg + ci
                        for kh in 0..<g.kernelH {
                            let ih = oh * g.strideH - g.padTop + kh * g.dilationH
                            if ih < 0 || ih >= g.inH { continue }
                            for kw in 0..<g.kernelW {
                                let iw = ow * g.strideW - g.padLeft + kw * g.dilationW
                                if iw < 0 || iw >= g.inW { continue }
                                let q = Int32(Int8Quantization.quantize(input[(c * g.inH + ih) * g.inW + iw],
                                                                        scale: inputScale, zeroPoint: inputZeroPoint))
                                let w = Int32(weights[((o * icg + ci) * g.kernelH + kh) * g.kernelW + kw])
                                acc += (q - inputZeroPoint) * w
                            }
                        }
                    }
                    output[(o * g.outH + oh) * g.outW + ow] = Int8Quantization.dequantize(
                        acc, scale: inputScale * weightScales[o], bias: bias?[o] ?? 0,
                        outputMin: outputMin, outputMax: outputMax)
                }
            }
        }
    }
}
