// Shared source (symlinked into every kernel module). Depthwise convolution is memory-bound with
// K = kH*kW, so im2col would only add traffic: each channel is copied once into a zero-padded plane
// and the kernel loops directly, one native vector of output columns at a time.

/// Depthwise fp32 convolution (groups == inC == outC), any kernel size, stride, dilation.
public enum FP32DepthwiseDirect {
    @inline(__always) static func paddedHeight(_ g: ConvGeometry) -> Int {
        (g.outH &- 1) &* g.strideH &+ (g.kernelH &- 1) &* g.dilationH &+ 1
    }
    @inline(__always) static func paddedWidth(_ g: ConvGeometry) -> Int {
        (g.outW &- 1) &* g.strideW &+ (g.kernelW &- 1) &* g.dilationW &+ 1
    }

    public static func scratchFloatCount(_ g: ConvGeometry) -> Int {
        paddedHeight(g) &* paddedWidth(g) &+ 64
    }

    public static func run(_ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           scratch: UnsafeMutablePointer<Float>, outputMin: Float, outputMax: Float) {
        let hp = paddedHeight(g), wp = paddedWidth(g)
        let inH = g.inH, inW = g.inW, outH = g.outH, outW = g.outW
        let kH = g.kernelH, kW = g.kernelW, sh = g.strideH, sw = g.strideW, dh = g.dilationH, dw = g.dilationW
        let vw = FVec.scalarCount
        let lov = FVec(repeating: outputMin), hiv = FVec(repeating: outputMax)
        for ch in 0..<g.outC {
            let src = input + ch &* inH &* inW
            // Zero-padded copy: padded (r, s) holds input (r - padTop, s - padLeft).
            for r in 0..<hp {
                let ih = r &- g.padTop
                let dst = scratch + r &* wp
                if ih < 0 || ih >= inH {
                    for s in 0..<wp { dst[s] = 0 }
                } else {
                    let row = src + ih &* inW
                    for s in 0..<wp {
                        let iw = s &- g.padLeft
                        dst[s] = (iw >= 0 && iw < inW) ? row[iw] : 0
                    }
                }
            }
            let w = weights + ch &* kH &* kW
            let b: Float = bias?[ch] ?? 0
            let out = output + ch &* outH &* outW
            for oh in 0..<outH {
                let prow = UnsafePointer(scratch) + oh &* sh &* wp
                let orow = out + oh &* outW
                var ow = 0
                if sw == 1 {
                    while ow &+ vw <= outW {
                        var acc = FVec(repeating: b)
                        for kh in 0..<kH {
                            let r = UnsafeRawPointer(prow + (kh &* dh &* wp &+ ow))
                            let wr = w + kh &* kW
                            for kw in 0..<kW {
                                let x = r.loadUnaligned(fromByteOffset: kw &* dw &* 4, as: FVec.self)
                                acc = madd(acc, FVec(repeating: wr[kw]), x)
                            }
                        }
                        acc = acc.replacing(with: hiv, where: acc .> hiv).replacing(with: lov, where: acc .< lov)
                        UnsafeMutableRawPointer(orow + ow).storeBytes(of: acc, as: FVec.self)
                        ow &+= vw
                    }
                }
                while ow < outW {
                    var acc = b
                    for kh in 0..<kH {
                        let r = prow + (kh &* dh &* wp &+ ow &* sw)
                        let wr = w + kh &* kW
                        for kw in 0..<kW {
                            acc = madd(acc, wr[kw], r[kw &* dw])
                        }
                    }
                    orow[ow] = Swift.max(Swift.min(acc, outputMax), outputMin)
                    ow &+= 1
                }
            }
        }
    }
}
