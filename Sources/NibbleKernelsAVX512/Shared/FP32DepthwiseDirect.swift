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

    @inline(__always) static func clamp(_ v: FVec, _ lo: FVec, _ hi: FVec) -> FVec {
        v.replacing(with: hi, where: v .> hi).replacing(with: lo, where: v .< lo)
    }

    public static func scratchFloatCount(_ g: ConvGeometry) -> Int {
        paddedHeight(g) &* (paddedWidth(g) &+ 1) &+ 64
    }

    public static func run(_ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           scratch: UnsafeMutablePointer<Float>, outputMin: Float, outputMax: Float) {
        let hp = paddedHeight(g), wp = paddedWidth(g)
        let inH = g.inH, inW = g.inW, outH = g.outH, outW = g.outW
        let kH = g.kernelH, kW = g.kernelW, sh = g.strideH, sw = g.strideW, dh = g.dilationH, dw = g.dilationW
        let vw = FVec.scalarCount
        let lov = FVec(repeating: outputMin), hiv = FVec(repeating: outputMax)
        // Stride 2 stores each padded row as [even columns | odd columns], so every tap reads
        // consecutive floats for consecutive outputs, exactly like stride 1.
        let split = sw == 2
        let half = (wp &+ 1) / 2
        let rowStride = split ? 2 &* half : wp
        let vectorized = sw <= 2
        let sLo = Swift.min(Swift.max(g.padLeft, 0), wp)
        let sHi = Swift.max(sLo, Swift.min(wp, g.padLeft &+ inW))
        for ch in 0..<g.outC {
            let src = input + ch &* inH &* inW
            for r in 0..<hp {
                let ih = r &- g.padTop
                let dst = scratch + r &* rowStride
                if ih < 0 || ih >= inH {
                    dst.update(repeating: 0, count: rowStride)
                } else if split {
                    let row = src + ih &* inW
                    for t in 0..<half {
                        let iwE = 2 &* t &- g.padLeft, iwO = iwE &+ 1
                        dst[t] = (iwE >= 0 && iwE < inW) ? row[iwE] : 0
                        dst[half &+ t] = (iwO >= 0 && iwO < inW) ? row[iwO] : 0
                    }
                } else {
                    // Columns [sLo, sHi) come from the input row, the rest is padding.
                    dst.update(repeating: 0, count: sLo)
                    (dst + sLo).update(from: src + (ih &* inW &+ sLo &- g.padLeft), count: sHi &- sLo)
                    (dst + sHi).update(repeating: 0, count: wp &- sHi)
                }
            }
            (scratch + hp &* rowStride).update(repeating: 0, count: vw)
            let w = weights + ch &* kH &* kW
            let b: Float = bias?[ch] ?? 0
            let out = output + ch &* outH &* outW
            for oh in 0..<outH {
                let prow = UnsafePointer(scratch) + oh &* sh &* rowStride
                let orow = out + oh &* outW
                /// One vector of outputs from column ow: the bias, then the taps in (kh, kw) order, clamped.
                @inline(__always) func vector(at ow: Int) -> FVec {
                    var acc = FVec(repeating: b)
                    for kh in 0..<kH {
                        let rowBase = prow + kh &* dh &* rowStride
                        let wr = w + kh &* kW
                        for kw in 0..<kW {
                            let r = UnsafeRawPointer(rowBase + (column(kw &* dw, split: split, half: half) &+ ow))
                            acc = madd(acc, FVec(repeating: wr[kw]), r.loadUnaligned(as: FVec.self))
                        }
                    }
                    return clamp(acc, lov, hiv)
                }
                if vectorized && outW >= vw {
                    // Blocks of four vectors (four independent FMA chains), then single vectors; the
                    // last block is shifted left to end at outW (recomputing a few outputs) instead of
                    // running a scalar tail.
                    let block = outW >= 4 &* vw ? 4 &* vw : vw
                    var ow = 0
                    while true {
                        if ow &+ block > outW { ow = outW &- block }
                        if block == 4 &* vw {
                            var acc0 = FVec(repeating: b), acc1 = acc0, acc2 = acc0, acc3 = acc0
                            for kh in 0..<kH {
                                let rowBase = prow + kh &* dh &* rowStride
                                let wr = w + kh &* kW
                                for kw in 0..<kW {
                                    let r = UnsafeRawPointer(rowBase + (column(kw &* dw, split: split, half: half) &+ ow))
                                    let wv = FVec(repeating: wr[kw])
                                    acc0 = madd(acc0, wv, r.loadUnaligned(as: FVec.self))
                                    acc1 = madd(acc1, wv, r.loadUnaligned(fromByteOffset: vw &* 4, as: FVec.self))
                                    acc2 = madd(acc2, wv, r.loadUnaligned(fromByteOffset: vw &* 8, as: FVec.self))
                                    acc3 = madd(acc3, wv, r.loadUnaligned(fromByteOffset: vw &* 12, as: FVec.self))
                                }
                            }
                            let o = UnsafeMutableRawPointer(orow + ow)
                            o.storeBytes(of: clamp(acc0, lov, hiv), as: FVec.self)
                            o.storeBytes(of: clamp(acc1, lov, hiv), toByteOffset: vw &* 4, as: FVec.self)
                            o.storeBytes(of: clamp(acc2, lov, hiv), toByteOffset: vw &* 8, as: FVec.self)
                            o.storeBytes(of: clamp(acc3, lov, hiv), toByteOffset: vw &* 12, as: FVec.self)
                        } else {
                            UnsafeMutableRawPointer(orow + ow).storeBytes(of: vector(at: ow), as: FVec.self)
                        }
                        ow &+= block
                        if ow >= outW { break }
                    }
                } else if vectorized {
                    // Rows narrower than a vector (a MobileNet's 12×12 … 3×3 maps at 16 lanes): one vector of
                    // the same operations, its first outW lanes stored; the rest read the next row or the zeroed
                    // slack past the last one and are dropped.
                    let y = vector(at: 0)
                    for j in 0..<outW { orow[j] = y[j] }
                } else {
                    for ow in 0..<outW {
                        var acc = b
                        for kh in 0..<kH {
                            let rowBase = prow + kh &* dh &* rowStride
                            let wr = w + kh &* kW
                            for kw in 0..<kW {
                                let x = vectorized
                                    ? rowBase[column(kw &* dw, split: split, half: half) &+ ow]
                                    : rowBase[ow &* sw &+ kw &* dw]
                                acc = madd(acc, wr[kw], x)
                            }
                        }
                        orow[ow] = Swift.max(Swift.min(acc, outputMax), outputMin)
                    }
                }
            }
        }
    }

    /// Where padded column c + 2·ow lives for output ow: c/2 in the even half or half + (c-1)/2 in the
    /// odd half (stride 2); just c for stride 1.
    @inline(__always) static func column(_ c: Int, split: Bool, half: Int) -> Int {
        if !split { return c }
        return c & 1 == 0 ? c >> 1 : half &+ (c >> 1)
    }
}
