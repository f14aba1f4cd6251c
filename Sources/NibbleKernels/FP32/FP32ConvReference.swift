// Never tuned: the definition the optimized fp32 convolutions are tested against.

/// Naive direct fp32 convolution (NCHW, OIHW, groups, dilation, asymmetric padding).
public enum FP32ConvReference {
    public static func run(_ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           outputMin: Float = -.infinity, outputMax: Float = .infinity) {
        let icg = g.inC / g.groups, ocg = g.outC / g.groups
        for o in 0..<g.outC {
            let grp = o / ocg
            for oh in 0..<g.outH {
                for ow in 0..<g.outW {
                    var acc: Float = bias?[o] ?? 0
                    for ci in 0..<icg {
                        let c = grp * icg + ci
                        for kh in 0..<g.kernelH {
                            let ih = oh * g.strideH - g.padTop + kh * g.dilationH
                            if ih < 0 || ih >= g.inH { continue }
                            for kw in 0..<g.kernelW {
                                let iw = ow * g.strideW - g.padLeft + kw * g.dilationW
                                if iw < 0 || iw >= g.inW { continue }
                                let x = input[(c * g.inH + ih) * g.inW + iw]
                                let w = weights[((o * icg + ci) * g.kernelH + kh) * g.kernelW + kw]
                                acc += x * w
                            }
                        }
                    }
                    output[(o * g.outH + oh) * g.outW + ow] = Swift.max(Swift.min(acc, outputMax), outputMin)
                }
            }
        }
    }
}
