/// The plain reference kernel for ternary residual edges (docs/FORMAT.md §4.4): never tuned, the twin that
/// `TernaryConv` is checked against bit for bit. Weights are rows of {−1, 0, +1} in OIHW order (FC: [out, in]; packed
/// planes are unpacked a row at a time by the step), activations uint8 with a zero point; each scale group of `groupSize` input channels × kH × kW taps
/// accumulates exactly in int32 and is scaled by its α in float.
public enum TernaryConvReference {
    /// output[o, pixel] += inputScale · Σ_groups α[o, group] · Σ_{c ∈ group, taps} T[o, c, kh, kw] · (q − zp)
    /// for one edge and one output channel `o`; `row` is T[o] in OIHW order (C/group · kH · kW values) and
    /// `alpha` its scales. Padding taps read the real value 0, i.e. q = zp, and contribute nothing.
    public static func accumulateRow(_ g: ConvGeometry, outChannel o: Int, input q: UnsafePointer<UInt8>, zeroPoint: Int32,
                              inputScale: Float, row: UnsafePointer<Int8>, alpha: UnsafePointer<Float>, groupSize: Int,
                              output: UnsafeMutablePointer<Float>) {
        let cg = g.inCPerGroup, og = g.outCPerGroup
        let groups = (cg + groupSize - 1) / groupSize
        let pixels = g.outH &* g.outW
        let cBase = (o / og) &* cg
        for oh in 0..<g.outH {
            for ow in 0..<g.outW {
                var sum: Float = 0
                for gi in 0..<groups {
                    let c0 = gi &* groupSize, c1 = Swift.min(cg, c0 &+ groupSize)
                    var acc: Int32 = 0
                    for c in c0..<c1 {
                        let channel = q + (cBase &+ c) &* g.inH &* g.inW
                        for kh in 0..<g.kernelH {
                            let ih = oh &* g.strideH &- g.padTop &+ kh &* g.dilationH
                            if ih < 0 || ih >= g.inH { continue }
                            for kw in 0..<g.kernelW {
                                let iw = ow &* g.strideW &- g.padLeft &+ kw &* g.dilationW
                                if iw < 0 || iw >= g.inW { continue }
                                let t = row[(c &* g.kernelH &+ kh) &* g.kernelW &+ kw]
                                if t == 0 { continue }
                                let x = Int32(channel[ih &* g.inW &+ iw]) &- zeroPoint
                                acc = t > 0 ? acc &+ x : acc &- x
                            }
                        }
                    }
                    sum += alpha[gi] * Float(acc)
                }
                output[o &* pixels &+ oh &* g.outW &+ ow] += sum * inputScale
            }
        }
    }

    /// y = clamp(y + bias[o]) over [outC, pixels].
    public static func epilogue(_ y: UnsafeMutablePointer<Float>, outC: Int, pixels: Int, bias: UnsafePointer<Float>?,
                         outputMin: Float, outputMax: Float) {
        for o in 0..<outC {
            let b = bias?[o] ?? 0
            for i in 0..<pixels {
                let v = y[o &* pixels &+ i] + b
                y[o &* pixels &+ i] = Swift.max(Swift.min(v, outputMax), outputMin)
            }
        }
    }
}
