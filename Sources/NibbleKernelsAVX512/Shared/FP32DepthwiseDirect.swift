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

    /// The padded plane (stride 2: both halves), slack, and the taps' offsets at the end.
    public static func scratchFloatCount(_ g: ConvGeometry) -> Int {
        if FP32DepthwiseBlocked.applies(g) { return FP32DepthwiseBlocked.scratchFloatCount(g) }
        return paddedHeight(g) &* (paddedWidth(g) &+ 1) &+ 64 &+ g.kernelH &* g.kernelW
    }

    public static func run(_ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           scratch: UnsafeMutablePointer<Float>, outputMin: Float, outputMax: Float) {
        if FP32DepthwiseBlocked.applies(g) {
            FP32DepthwiseBlocked.run(g, input: input, weights: weights, bias: bias, output: output, scratch: scratch,
                                     outputMin: outputMin, outputMax: outputMax)
            return
        }
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
        // Each tap's offset in the plane from a vector's first column, in the reference's (kh, kw) order.
        let offsets = UnsafeMutableRawPointer(scratch + (scratchFloatCount(g) &- kH &* kW))
        for kh in 0..<kH {
            for kw in 0..<kW {
                let o = kh &* dh &* rowStride &+ column(kw &* dw, split: split, half: half)
                offsets.storeBytes(of: Int32(truncatingIfNeeded: o), toByteOffset: 4 &* (kh &* kW &+ kw), as: Int32.self)
            }
        }
        for ch in 0..<g.outC {
            let src = input + ch &* inH &* inW
            for r in 0..<hp {
                let ih = r &- g.padTop
                let dst = scratch + r &* rowStride
                if ih < 0 || ih >= inH {
                    InlineCopy.zeroVectors(dst, count: rowStride)
                } else if split {
                    let row = src + ih &* inW
                    @inline(__always) func pair(_ t: Int) {
                        let iwE = 2 &* t &- g.padLeft, iwO = iwE &+ 1
                        dst[t] = (iwE >= 0 && iwE < inW) ? row[iwE] : 0
                        dst[half &+ t] = (iwO >= 0 && iwO < inW) ? row[iwO] : 0
                    }
                    @inline(__always) func split(_ v: SIMD16<Float>, at t: Int) {
                        UnsafeMutableRawPointer(dst + t).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
                        UnsafeMutableRawPointer(dst + (half &+ t)).storeBytes(of: v.oddHalf, as: SIMD8<Float>.self)
                    }
                    // The last 8 columns from their 16 inputs, zero past the row's ends (the column-by-column tail
                    // had become masked vgathers, a sixth of a stride-2 conv); earlier columns may overlap them.
                    let tailStart = half >= 8 ? half &- 8 : half
                    if half >= 8 {
                        var v = SIMD16<Float>()
                        let first = 2 &* tailStart &- g.padLeft
                        for i in 0..<16 where first &+ i >= 0 && first &+ i < inW { v[i] = row[first &+ i] }
                        split(v, at: tailStart)
                    }
                    // Columns whose sixteen inputs all lie in the row split with one shuffle for each half.
                    var t = 0
                    while t < tailStart && 2 &* t < g.padLeft { pair(t); t &+= 1 }
                    while t &+ 8 <= half && 2 &* t &- g.padLeft &+ 16 <= inW {
                        split(UnsafeRawPointer(row + (2 &* t &- g.padLeft)).loadUnaligned(as: SIMD16<Float>.self), at: t)
                        t &+= 8
                    }
                    while t < tailStart { pair(t); t &+= 1 }
                } else {
                    // Columns [sLo, sHi) come from the input row, the rest is padding; the zeros are stored first and
                    // the copy overwrites what they stored past sLo.
                    InlineCopy.zeroVectors(dst, count: sLo)
                    InlineCopy.bytes(src + (ih &* inW &+ sLo &- g.padLeft), to: dst + sLo, count: 4 &* (sHi &- sLo))
                    InlineCopy.zeroVectors(dst + sHi, count: wp &- sHi)
                }
            }
            InlineCopy.zeroVectors(scratch + hp &* rowStride, count: vw)
            let w = weights + ch &* kH &* kW
            let b: Float = bias?[ch] ?? 0
            let out = output + ch &* outH &* outW
            if vectorized {
                let taps = OrderedTaps(offsets: UnsafeRawPointer(offsets), weights: w, count: kH &* kW, bias: FVec(repeating: b),
                                       lo: lov, hi: hiv)
                @inline(__always) func source(_ oh: Int, _ ow: Int) -> UnsafePointer<Float> {
                    let at: Int = oh &* sh &* rowStride &+ ow
                    return UnsafePointer(scratch + at)
                }
                @inline(__always) func store(_ y: FVec, _ oh: Int, _ ow: Int) {
                    UnsafeMutableRawPointer(out + (oh &* outW &+ ow)).storeBytes(of: y, as: FVec.self)
                }
                if outW >= vw {
                    // A row's vectors four, then two at a time (independent chains hide the multiply-add latency); the
                    // last one shifted left to end at outW, recomputing a few outputs, instead of a scalar tail.
                    for oh in 0..<outH {
                        var ow = 0
                        while ow &+ 4 &* vw <= outW {
                            let y = taps.quad(source(oh, ow), source(oh, ow &+ vw), source(oh, ow &+ 2 &* vw),
                                              source(oh, ow &+ 3 &* vw))
                            store(y.0, oh, ow); store(y.1, oh, ow &+ vw)
                            store(y.2, oh, ow &+ 2 &* vw); store(y.3, oh, ow &+ 3 &* vw)
                            ow &+= 4 &* vw
                        }
                        while ow &+ 2 &* vw <= outW {
                            let (y0, y1) = taps.pair(source(oh, ow), source(oh, ow &+ vw))
                            store(y0, oh, ow); store(y1, oh, ow &+ vw)
                            ow &+= 2 &* vw
                        }
                        if ow &+ vw < outW {
                            let (y0, y1) = taps.pair(source(oh, ow), source(oh, outW &- vw))
                            store(y0, oh, ow); store(y1, oh, outW &- vw)
                        } else if ow < outW {
                            store(taps(source(oh, outW &- vw)), oh, outW &- vw)
                        }
                    }
                } else {
                    // Rows narrower than a vector (a MobileNet's 12×12 … 3×3 maps at 16 lanes), two rows at a time: a
                    // row's vector reads on into the next rows (or the zeroed slack) and spills its extra lanes into
                    // the next rows' outputs, stored after it, while it stays inside the channel.
                    @inline(__always) func storeRow(_ y: FVec, _ oh: Int) {
                        if oh &* outW &+ vw <= outH &* outW { store(y, oh, 0) } else {
                            for j in 0..<outW { out[oh &* outW &+ j] = y[j] }
                        }
                    }
                    var oh = 0
                    while oh &+ 4 <= outH {
                        let y = taps.quad(source(oh, 0), source(oh &+ 1, 0), source(oh &+ 2, 0), source(oh &+ 3, 0))
                        storeRow(y.0, oh); storeRow(y.1, oh &+ 1); storeRow(y.2, oh &+ 2); storeRow(y.3, oh &+ 3)
                        oh &+= 4
                    }
                    while oh &+ 2 <= outH {
                        let (y0, y1) = taps.pair(source(oh, 0), source(oh &+ 1, 0))
                        storeRow(y0, oh); storeRow(y1, oh &+ 1)
                        oh &+= 2
                    }
                    if oh < outH { storeRow(taps(source(oh, 0)), oh) }
                }
                continue
            }
            for oh in 0..<outH {
                let prow = UnsafePointer(scratch) + oh &* sh &* rowStride
                let orow = out + oh &* outW
                for ow in 0..<outW {
                    var acc = b
                    for kh in 0..<kH {
                        let rowBase = prow + kh &* dh &* rowStride
                        let wr = w + kh &* kW
                        for kw in 0..<kW { acc = madd(acc, wr[kw], rowBase[ow &* sw &+ kw &* dw]) }
                    }
                    orow[ow] = Swift.max(Swift.min(acc, outputMax), outputMin)
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

/// A depthwise channel's taps as one ordered chain per vector: the bias, then acc + w·x tap after tap (the reference's
/// order, so fp32 results match it bit for bit), clamped. `offsets` holds each tap's Int32 offset in floats.
struct OrderedTaps {
    let offsets: UnsafeRawPointer, weights: UnsafePointer<Float>, count: Int, bias: FVec, lo: FVec, hi: FVec

    @inline(__always) func offset(_ t: Int) -> Int { Int(offsets.load(fromByteOffset: 4 &* t, as: Int32.self)) }

    @inline(__always) func callAsFunction(_ p: UnsafePointer<Float>) -> FVec {
        var acc = bias
        for t in 0..<count { acc = madd(acc, FVec(repeating: weights[t]), UnsafeRawPointer(p + offset(t)).loadUnaligned(as: FVec.self)) }
        return clampLanes(acc, lo: lo, hi: hi)
    }

    /// Four vectors' chains side by side: one multiply-add each per tap covers the instruction's latency.
    @inline(__always) func quad(_ p0: UnsafePointer<Float>, _ p1: UnsafePointer<Float>, _ p2: UnsafePointer<Float>,
                                _ p3: UnsafePointer<Float>) -> (FVec, FVec, FVec, FVec) {
        var a0 = bias, a1 = bias, a2 = bias, a3 = bias
        for t in 0..<count {
            let wv = FVec(repeating: weights[t]), o = offset(t)
            a0 = madd(a0, wv, UnsafeRawPointer(p0 + o).loadUnaligned(as: FVec.self))
            a1 = madd(a1, wv, UnsafeRawPointer(p1 + o).loadUnaligned(as: FVec.self))
            a2 = madd(a2, wv, UnsafeRawPointer(p2 + o).loadUnaligned(as: FVec.self))
            a3 = madd(a3, wv, UnsafeRawPointer(p3 + o).loadUnaligned(as: FVec.self))
        }
        return (clampLanes(a0, lo: lo, hi: hi), clampLanes(a1, lo: lo, hi: hi),
                clampLanes(a2, lo: lo, hi: hi), clampLanes(a3, lo: lo, hi: hi))
    }

    /// Two vectors' chains side by side, so neither waits on its own latency alone.
    @inline(__always) func pair(_ p: UnsafePointer<Float>, _ q: UnsafePointer<Float>) -> (FVec, FVec) {
        var a = bias, c = bias
        for t in 0..<count {
            let wv = FVec(repeating: weights[t]), o = offset(t)
            a = madd(a, wv, UnsafeRawPointer(p + o).loadUnaligned(as: FVec.self))
            c = madd(c, wv, UnsafeRawPointer(q + o).loadUnaligned(as: FVec.self))
        }
        return (clampLanes(a, lo: lo, hi: hi), clampLanes(c, lo: lo, hi: hi))
    }
}
